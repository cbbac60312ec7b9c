import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { signAccessToken } from "../../lib/auth/jwt";
import { keyId } from "../../lib/auth/keys";
import type { RequestMeta } from "../../lib/auth/meta";
import { AppError } from "../../lib/errors";
import { infrastructureOf } from "../../lib/infra";
import { DatabaseMixin, DatabaseThis } from "../../mixins/database.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { AuthUseCases } from "./auth.use-cases";
import { BackgroundTasks } from "./background-tasks";
import { LoginThrottle } from "./domain/login-throttle";
import { warmUpPasswordHashing } from "./domain/passwords";
import { serviceMigrations } from "../migrations";
import { ProfileUseCases } from "./profile.use-cases";
import { UserRepository } from "./user-repository";
import type { UsersOutbox } from "./user-events";
import * as P from "./users.params";

/**
 * The users service (ARCHITECTURE §3, §8): accounts, sessions, password
 * reset, profile and address book. Moleculer glue only: each action checks
 * its input and hands over to a use case (auth.use-cases.ts, profile.use-cases.ts).
 */
interface UsersLocals extends DatabaseThis {
  outbox: UsersOutbox;
  auth: AuthUseCases;
  profile: ProfileUseCases;
  background: BackgroundTasks;
}

/** moleculer-web sends `$location` as the Location header of a 201. */
type Ctx<P> = Context<P, RequestMeta & { $location?: string }>;

/** The caller the gateway authenticated (only `auth: "user"` actions rely on it). */
function callerId(ctx: Ctx<unknown>): string {
  const user = ctx.meta.user;
  if (!user) throw AppError.unauthorized();
  return user.id;
}

function respondWith(ctx: Ctx<unknown>, status: number): void {
  ctx.meta.$statusCode = status;
}

function respondCreated(ctx: Ctx<unknown>, location: string): void {
  ctx.meta.$statusCode = 201;
  ctx.meta.$location = `/api/v1${location}`;
}

const UsersService: ServiceSchema<ServiceSettingSchema, Record<string, never>, UsersLocals> = {
  name: "users",
  mixins: [DatabaseMixin({ migrations: serviceMigrations.users }), OutboxMixin()],
  settings: { rest: "/" },

  actions: {
    register: {
      rest: "POST /auth/register",
      auth: "public",
      openapi: { summary: "Create a customer account", tags: ["auth"], status: 201 },
      params: P.registerParams,
      async handler(ctx: Ctx<P.RegisterParams>) {
        const user = await this.auth.register(ctx.params, ctx);
        respondCreated(ctx, "/users/me");
        return user;
      },
    },

    login: {
      rest: "POST /auth/login",
      auth: "public",
      openapi: { summary: "Exchange email and password for tokens", tags: ["auth"] },
      params: P.loginParams,
      handler(ctx: Ctx<P.LoginParams>) {
        return this.auth.login(ctx.params);
      },
    },

    refresh: {
      rest: "POST /auth/refresh",
      auth: "public",
      openapi: { summary: "Rotate a refresh token into a new token pair", tags: ["auth"] },
      params: P.refreshTokenParams,
      handler(ctx: Ctx<P.RefreshTokenParams>) {
        return this.auth.refresh(ctx.params.refreshToken);
      },
    },

    logout: {
      rest: "POST /auth/logout",
      // The refresh token itself is the credential: whoever holds it may end its session.
      auth: "public",
      openapi: { summary: "Revoke the session of a refresh token", tags: ["auth"], status: 204 },
      params: P.refreshTokenParams,
      async handler(ctx: Ctx<P.RefreshTokenParams>) {
        await this.auth.logout(ctx.params.refreshToken);
        respondWith(ctx, 204);
      },
    },

    forgotPassword: {
      rest: "POST /auth/password/forgot",
      auth: "public",
      openapi: { summary: "Email a password reset link", tags: ["auth"], status: 202 },
      params: P.forgotPasswordParams,
      async handler(ctx: Ctx<P.ForgotPasswordParams>) {
        await this.auth.requestPasswordReset(ctx.params.email, ctx);
        respondWith(ctx, 202);
        return { message: "If an account exists for this email, a reset link is on its way." };
      },
    },

    resetPassword: {
      rest: "POST /auth/password/reset",
      auth: "public",
      openapi: { summary: "Set a new password with a reset token", tags: ["auth"], status: 204 },
      params: P.resetPasswordParams,
      async handler(ctx: Ctx<P.ResetPasswordParams>) {
        await this.auth.resetPassword(ctx.params);
        respondWith(ctx, 204);
      },
    },

    me: {
      rest: "GET /users/me",
      openapi: { summary: "The signed-in user's profile", tags: ["users"] },
      params: { $$strict: true },
      handler(ctx: Ctx<Record<string, never>>) {
        return this.profile.ownProfile(callerId(ctx));
      },
    },

    updateMe: {
      rest: "PATCH /users/me",
      openapi: { summary: "Change name or phone", tags: ["users"] },
      params: P.updateProfileParams,
      handler(ctx: Ctx<P.UpdateProfileParams>) {
        return this.profile.updateOwnProfile(callerId(ctx), ctx.params);
      },
    },

    listAddresses: {
      rest: "GET /users/me/addresses",
      openapi: { summary: "The signed-in user's addresses", tags: ["users"] },
      params: P.listAddressesParams,
      handler(ctx: Ctx<P.ListAddressesParams>) {
        return this.profile.listAddresses(callerId(ctx), ctx.params);
      },
    },

    createAddress: {
      rest: "POST /users/me/addresses",
      openapi: { summary: "Add an address", tags: ["users"], status: 201 },
      params: P.createAddressParams,
      async handler(ctx: Ctx<P.CreateAddressParams>) {
        const address = await this.profile.addAddress(callerId(ctx), ctx.params);
        respondCreated(ctx, `/users/me/addresses/${address.id}`);
        return address;
      },
    },

    getMyAddress: {
      rest: "GET /users/me/addresses/:id",
      openapi: { summary: "One of the signed-in user's addresses", tags: ["users"] },
      params: P.addressIdParams,
      handler(ctx: Ctx<P.AddressIdParams>) {
        return this.profile.address(callerId(ctx), ctx.params.id);
      },
    },

    updateAddress: {
      rest: "PATCH /users/me/addresses/:id",
      openapi: { summary: "Change an address", tags: ["users"] },
      params: P.updateAddressParams,
      handler(ctx: Ctx<P.UpdateAddressParams>) {
        const { id, ...changes } = ctx.params;
        return this.profile.updateAddress(callerId(ctx), id, changes);
      },
    },

    deleteAddress: {
      rest: "DELETE /users/me/addresses/:id",
      openapi: { summary: "Remove an address", tags: ["users"], status: 204 },
      params: P.addressIdParams,
      async handler(ctx: Ctx<P.AddressIdParams>) {
        await this.profile.removeAddress(callerId(ctx), ctx.params.id);
        respondWith(ctx, 204);
      },
    },

    // Internal actions (no REST route) for other services.

    get: {
      visibility: "public",
      params: P.getUserParams,
      handler(ctx: Ctx<P.GetUserParams>) {
        return this.profile.publicProfile(ctx.params.id);
      },
    },

    getAddress: {
      visibility: "public",
      params: P.getAddressParams,
      handler(ctx: Ctx<P.GetAddressParams>) {
        return this.profile.address(ctx.params.userId, ctx.params.addressId);
      },
    },
  },

  async started() {
    const infra = infrastructureOf(this.broker);
    const { config } = infra;
    const { privateKey } = infra.signingKeys((msg) => this.logger.warn(msg));
    if (!privateKey) throw new Error("The users service needs JWT_PRIVATE_KEY to sign tokens");
    // The id each token's `kid` carries: what an operator compares with the gateways' during a rotation.
    this.logger.info(`Access tokens are signed with key ${keyId(privateKey)}`);
    const repository = new UserRepository(this.db.sequelize);
    const database = this.db;
    this.background = new BackgroundTasks((task, err) =>
      this.logger.error(`Background task failed: ${task}`, err),
    );
    this.profile = new ProfileUseCases(repository, database);
    this.auth = new AuthUseCases({
      repository,
      database,
      outbox: this.outbox,
      throttle: new LoginThrottle(infra.kv, {
        maxFailures: config.loginMaxFailures,
        windowSec: config.loginFailureWindowSec,
      }),
      signAccessToken: (claims) =>
        signAccessToken(claims, privateKey, {
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          ttlSec: config.accessTokenTtlSec,
        }),
      sealer: infra.messageSealer((msg) => this.logger.warn(msg)),
      background: this.background,
      settings: {
        accessTokenTtlSec: config.accessTokenTtlSec,
        refreshTokenTtlSec: config.refreshTokenTtlSec,
        passwordResetTtlSec: config.passwordResetTtlSec,
        passwordResetUrl: config.passwordResetUrl,
      },
      warn: (message, details) => this.logger.warn(message, details),
    });
    await warmUpPasswordHashing();
    if (config.adminEmail && config.adminPassword) {
      const outcome = await this.auth.provisionAdmin(config.adminEmail, config.adminPassword);
      this.logger.info(`Admin account from ADMIN_EMAIL: ${outcome}`);
    }
  },

  async stopped() {
    // Runs before the mixins' stopped hooks, so the database is still open.
    await this.background?.drain();
  },
};

// Brokers and tests take untyped schemas; the typed `this` above is for the handlers.
export default UsersService as unknown as ServiceSchema;
