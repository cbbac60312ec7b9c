import { MAX_PAGE } from "../../lib/pagination";
import { PASSWORD_MAX_LENGTH } from "./domain/password-policy";

/**
 * Request schemas (fastest-validator). `$$strict: true` turns any field not
 * listed into a 400, which is what keeps `role`, `email` or `emailVerified`
 * out of profile updates (mass assignment). Password rules beyond the type
 * live in domain/password-policy.ts so they apply to every way in.
 */
const email = { type: "email", mode: "precise", normalize: true, max: 254 };
// Login and forgot take any string: a malformed email is just an unknown account there.
const anyEmail = { type: "string", trim: true, min: 1, max: 254 };
// The policy reports length itself (naming the field); this bound only stops absurd bodies.
const newPassword = { type: "string", max: PASSWORD_MAX_LENGTH * 8 };
const personName = { type: "string", trim: true, min: 1, max: 100 };
const phone = {
  type: "string",
  trim: true,
  pattern: /^\+?[0-9][0-9 ()./-]{4,30}$/,
  patternMessage: "phone must be digits, optionally with +, spaces, dashes or brackets",
};
const opaqueToken = { type: "string", min: 1, max: 512 };
const uuid = { type: "uuid" };
const text = (max: number) => ({ type: "string", trim: true, min: 1, max });
const pageParams = {
  page: {
    type: "number",
    integer: true,
    positive: true,
    max: MAX_PAGE,
    convert: true,
    optional: true,
  },
  pageSize: {
    type: "number",
    integer: true,
    positive: true,
    max: 100,
    convert: true,
    optional: true,
  },
};

export const registerParams = { $$strict: true, email, password: newPassword, name: personName };
export interface RegisterParams {
  email: string;
  password: string;
  name: string;
}

export const loginParams = {
  $$strict: true,
  email: anyEmail,
  password: { type: "string", max: 1024 },
};
export interface LoginParams {
  email: string;
  password: string;
}

export const refreshTokenParams = { $$strict: true, refreshToken: opaqueToken };
export interface RefreshTokenParams {
  refreshToken: string;
}

export const forgotPasswordParams = { $$strict: true, email: anyEmail };
export interface ForgotPasswordParams {
  email: string;
}

export const resetPasswordParams = { $$strict: true, token: opaqueToken, password: newPassword };
export interface ResetPasswordParams {
  token: string;
  password: string;
}

export const updateProfileParams = {
  $$strict: true,
  name: { ...personName, optional: true },
  phone: { ...phone, optional: true, nullable: true },
};
export interface UpdateProfileParams {
  name?: string;
  phone?: string | null;
}

const addressFields = {
  name: text(100),
  line1: text(200),
  line2: { type: "string", trim: true, max: 200, optional: true, nullable: true },
  city: text(100),
  postalCode: text(20),
  // Membership in ISO 3166-1 is checked by domain/addresses.ts, with a readable message.
  country: { type: "string", trim: true, length: 2 },
  phone: { ...phone, optional: true, nullable: true },
  isDefault: { type: "boolean", optional: true },
};

export const listAddressesParams = { $$strict: true, ...pageParams };
export interface ListAddressesParams {
  page?: number;
  pageSize?: number;
}

export const createAddressParams = { $$strict: true, ...addressFields };
export interface CreateAddressParams {
  name: string;
  line1: string;
  line2?: string | null;
  city: string;
  postalCode: string;
  country: string;
  phone?: string | null;
  isDefault?: boolean;
}

export const updateAddressParams = {
  $$strict: true,
  id: uuid,
  name: { ...addressFields.name, optional: true },
  line1: { ...addressFields.line1, optional: true },
  line2: addressFields.line2,
  city: { ...addressFields.city, optional: true },
  postalCode: { ...addressFields.postalCode, optional: true },
  country: { ...addressFields.country, optional: true },
  phone: addressFields.phone,
  isDefault: addressFields.isDefault,
};
export type UpdateAddressParams = { id: string } & Partial<CreateAddressParams>;

export const addressIdParams = { $$strict: true, id: uuid };
export interface AddressIdParams {
  id: string;
}

export const getUserParams = { $$strict: true, id: uuid };
export interface GetUserParams {
  id: string;
}

export const getAddressParams = { $$strict: true, userId: uuid, addressId: uuid };
export interface GetAddressParams {
  userId: string;
  addressId: string;
}
