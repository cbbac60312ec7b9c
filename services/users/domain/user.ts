import type { Role } from "../../../lib/auth/jwt";

export type { Role };

export const ROLES: readonly Role[] = ["customer", "admin"];

export interface UserRecord {
  id: string;
  email: string;
  passwordHash: string;
  name: string;
  phone: string | null;
  role: Role;
  emailVerified: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** What the account's owner sees of it (no hash, no internals). */
export interface OwnProfile {
  id: string;
  email: string;
  name: string;
  phone: string | null;
  role: Role;
  emailVerified: boolean;
  createdAt: string;
  updatedAt: string;
}

/** What other services get from `users.get`. */
export interface PublicProfile {
  id: string;
  email: string;
  name: string;
  phone: string | null;
  role: Role;
}

/** Emails compare trimmed and lower-cased, everywhere (unique index, login, throttle key). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function toOwnProfile(user: UserRecord): OwnProfile {
  return {
    ...toPublicProfile(user),
    emailVerified: user.emailVerified,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

export function toPublicProfile(user: UserRecord): PublicProfile {
  return { id: user.id, email: user.email, name: user.name, phone: user.phone, role: user.role };
}
