/**
 * The app: TypeORM through @nestjs/typeorm (forRoot for the connection and the shipped migrations,
 * forFeature for the repositories), the package's datastore as a provider, and the routes.
 */
import { Body, Controller, Get, HttpCode, Module, Post, UseGuards } from "@nestjs/common";
import { InjectRepository, TypeOrmModule } from "@nestjs/typeorm";
import { DataSource, Repository } from "typeorm";
import { Role, User, WebAuthn } from "./entities";
import { databaseOptions } from "./database";
import { CurrentUser, PermissionGuard, RequirePermission, SignedInGuard, UserDatastore } from "./security";

@Controller()
export class AccountController {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  /** The signed-in user's security payload (what the app's session or token carries). */
  @Get("me")
  @UseGuards(SignedInGuard)
  me(@CurrentUser() user: User): Record<string, unknown> {
    return user.getSecurityPayload();
  }

  /** Only for users whose roles grant "post-write". */
  @Post("posts")
  @HttpCode(201)
  @UseGuards(SignedInGuard, PermissionGuard)
  @RequirePermission("post-write")
  createPost(@CurrentUser() user: User, @Body() body: { title?: string }): { title: string; author: string } {
    return { title: body.title ?? "untitled", author: user.calcUsername() };
  }

  /** Every user, as `toJSON()` writes them: no password hash, TOTP secrets or uniquifiers. */
  @Get("users")
  @UseGuards(SignedInGuard, PermissionGuard)
  @RequirePermission("user-admin")
  list(): Promise<User[]> {
    return this.users.find({ relations: { roles: true }, order: { id: "ASC" } });
  }
}

@Module({
  imports: [TypeOrmModule.forRootAsync({ useFactory: () => databaseOptions() }), TypeOrmModule.forFeature([User, Role, WebAuthn])],
  controllers: [AccountController],
  providers: [
    { provide: UserDatastore, inject: [DataSource], useFactory: (dataSource: DataSource) => new UserDatastore(dataSource, User, Role) },
    SignedInGuard,
    PermissionGuard,
  ],
  exports: [UserDatastore],
})
export class AppModule {}
