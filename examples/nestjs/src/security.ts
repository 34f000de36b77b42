/**
 * Who is asking, and may they: a guard that loads the signed-in user with roles, and a guard for
 * `@RequirePermission(...)` that asks the user's roles (`hasPermission`).
 *
 * Signing in is the app's business, not this package's: here the example takes the user's `fs_uniquifier`
 * from the `X-Fs-Uniquifier` header, standing in for the session or token the app's sign-in set (where
 * Flask-Security keeps the same value). Rotating the uniquifier therefore signs the user out.
 */
import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  SetMetadata,
  UnauthorizedException,
  createParamDecorator,
} from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { SecurityDatastore } from "typeorm-security-models";
import { Role, User } from "./entities";

/** The datastore over the app's entities, as a Nest provider. */
export class UserDatastore extends SecurityDatastore<User, Role> {}

/** The HTTP request as the guards see it (Express underneath). */
type SignedInRequest = { headers: Record<string, string | string[] | undefined>; user?: User };

/** Loads the user the request is signed in as, with roles; 401 when there is none or it is deactivated. */
@Injectable()
export class SignedInGuard implements CanActivate {
  constructor(private readonly datastore: UserDatastore) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<SignedInRequest>();
    const uniquifier = request.headers["x-fs-uniquifier"];
    const user = typeof uniquifier === "string" ? await this.datastore.findUserByUniquifier(uniquifier, { withRoles: true }) : null;
    if (!user || !user.active) throw new UnauthorizedException("sign in first");
    request.user = user;
    return true;
  }
}

const PERMISSION = "requiredPermission";

/** Marks a route as needing a permission some role of the user grants. Use after `SignedInGuard`. */
export const RequirePermission = (permission: string) => SetMetadata(PERMISSION, permission);

/** 403 unless one of the signed-in user's roles grants the route's `@RequirePermission`. */
@Injectable()
export class PermissionGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const permission = this.reflector.getAllAndOverride<string | undefined>(PERMISSION, [context.getHandler(), context.getClass()]);
    if (!permission) return true;
    const user = context.switchToHttp().getRequest<SignedInRequest>().user;
    if (!user?.hasPermission(permission)) throw new ForbiddenException(`needs the permission "${permission}"`);
    return true;
  }
}

/** The user `SignedInGuard` loaded. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext) => context.switchToHttp().getRequest<SignedInRequest>().user,
);
