/**
 * The app: TypeORM through @nestjs/typeorm (forRoot for the connection and the shipped migrations,
 * forFeature for the repositories), the package's datastore as a provider, and the routes.
 */
import { Body, Controller, Get, HttpCode, Module, Post, UnauthorizedException, UseGuards } from "@nestjs/common";
import { InjectRepository, TypeOrmModule } from "@nestjs/typeorm";
import { DataSource, Repository } from "typeorm";
import { InvalidFieldsError } from "typeorm-security-models";
import { FsRefreshTracker, Role, User, WebAuthn } from "./entities";
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

/**
 * Refresh tokens (schema version 4): a token names its family and generation. The example hands them out as
 * `<family>.<generation>`; a real app signs them (a JWT, or itsdangerous as Flask-Security does), so that a
 * client cannot make one up, and keeps them as secret as a password.
 */
@Controller("refresh-tokens")
export class RefreshTokenController {
  /** How long a family lives: Flask-Security's SECURITY_REFRESH_TOKEN_MAX_AGE (its default is 30 days). */
  static readonly maxAgeMs = 30 * 86_400_000;

  constructor(private readonly datastore: UserDatastore) {}

  /** A new family for the signed-in user, at generation 1. */
  @Post()
  @HttpCode(201)
  @UseGuards(SignedInGuard)
  async create(@CurrentUser() user: User, @Body() body: { device?: string }): Promise<{ refreshToken: string }> {
    const tracker = await this.datastore.createRefreshTracker(user, {
      name: body.device ?? "unnamed device",
      expiresAt: new Date(Date.now() + RefreshTokenController.maxAgeMs),
    });
    return { refreshToken: `${tracker.refreshFamily}.${tracker.gen}` };
  }

  /**
   * Trades a refresh token for the next one. Each generation works once: a second use of it (a stolen token,
   * or a replay) answers 401 and revokes the family, so the owner's next exchange fails too and they sign in
   * again; the app should also tell them.
   */
  @Post("exchange")
  @HttpCode(200)
  async exchange(@Body() body: { refreshToken?: unknown }): Promise<{ refreshToken: string }> {
    const [family, gen] = typeof body.refreshToken === "string" ? body.refreshToken.split(".") : [];
    if (!family || !/^[1-9]\d{0,8}$/.test(gen ?? "")) throw new UnauthorizedException("not a refresh token");
    const result = await this.datastore.exchangeRefreshTracker(family, Number(gen)).catch((error: unknown) => {
      // A family no tracker can have (too long, a NUL): the datastore refuses it before any query.
      if (error instanceof InvalidFieldsError) throw new UnauthorizedException("not a refresh token");
      throw error;
    });
    if (result.outcome === "reused") throw new UnauthorizedException("refresh token reused: every token of this sign-in is revoked");
    if (result.outcome !== "exchanged") throw new UnauthorizedException(`refresh token ${result.outcome}`);
    return { refreshToken: `${family}.${result.tracker.gen}` };
  }
}

@Module({
  imports: [
    TypeOrmModule.forRootAsync({ useFactory: () => databaseOptions() }),
    TypeOrmModule.forFeature([User, Role, WebAuthn, FsRefreshTracker]),
  ],
  controllers: [AccountController, RefreshTokenController],
  providers: [
    { provide: UserDatastore, inject: [DataSource], useFactory: (dataSource: DataSource) => new UserDatastore(dataSource, User, Role) },
    SignedInGuard,
    PermissionGuard,
  ],
  exports: [UserDatastore],
})
export class AppModule {}
