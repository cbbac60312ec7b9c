import { randomUUID } from "node:crypto";
import { AppError } from "../../lib/errors";
import {
  AddressFields,
  AddressView,
  assertRoomForAnotherAddress,
  normalizeCountry,
  toAddressView,
} from "./domain/addresses";
import { OwnProfile, PublicProfile, toOwnProfile } from "./domain/user";
import type { UserRepository } from "./user-repository";
import { PageOf, PageRequest, pageWindow } from "../../lib/pagination";
import { Transactional } from "./use-case-support";

/**
 * The signed-in user's profile and address book, and the read-only views
 * other services use. Every address step is scoped by the owner's id, so
 * another user's address is simply "not found" (its existence is not revealed).
 */
export interface ProfileChanges {
  name?: string;
  phone?: string | null;
}

export type NewAddressInput = Omit<AddressFields, "line2" | "phone" | "isDefault"> &
  Partial<Pick<AddressFields, "line2" | "phone" | "isDefault">>;

export type AddressChanges = Partial<AddressFields>;

export class ProfileUseCases {
  constructor(
    private readonly repository: UserRepository,
    private readonly database: Transactional,
  ) {}

  async ownProfile(userId: string): Promise<OwnProfile> {
    const user = await this.repository.findUserById(userId);
    if (!user) throw AppError.notFound("User");
    return toOwnProfile(user);
  }

  async updateOwnProfile(userId: string, changes: ProfileChanges): Promise<OwnProfile> {
    if (Object.keys(changes).length)
      await this.database.transaction((tx) => this.repository.updateUser(userId, changes, tx));
    return this.ownProfile(userId);
  }

  async publicProfile(userId: string): Promise<PublicProfile> {
    const profile = await this.repository.findPublicProfile(userId);
    if (!profile) throw AppError.notFound("User");
    return profile;
  }

  async listAddresses(userId: string, request: PageRequest): Promise<PageOf<AddressView>> {
    const { page, pageSize, offset } = pageWindow(request);
    const { rows, total } = await this.repository.listAddresses(userId, {
      offset,
      limit: pageSize,
    });
    return { items: rows.map(toAddressView), page, pageSize, total };
  }

  async address(userId: string, addressId: string): Promise<AddressView> {
    const address = await this.repository.findAddress(userId, addressId);
    if (!address) throw AppError.notFound("Address");
    return toAddressView(address);
  }

  /** The first address becomes the default; a new default takes over from the old one. */
  async addAddress(userId: string, input: NewAddressInput): Promise<AddressView> {
    const fields = completeAddress(input);
    return this.database.transaction(async (tx) => {
      if (!(await this.repository.lockUser(userId, tx))) throw AppError.notFound("User");
      const existing = await this.repository.countAddresses(userId, tx);
      assertRoomForAnotherAddress(existing);
      const isDefault = fields.isDefault || existing === 0;
      const address = await this.repository.insertAddress(
        { ...fields, isDefault, id: randomUUID(), userId },
        tx,
      );
      if (isDefault) await this.repository.clearDefaultAddressExcept(userId, address.id, tx);
      return toAddressView(address);
    });
  }

  async updateAddress(
    userId: string,
    addressId: string,
    changes: AddressChanges,
  ): Promise<AddressView> {
    const normalized = normalizeAddressChanges(changes);
    return this.database.transaction(async (tx) => {
      await this.repository.lockUser(userId, tx);
      if (!(await this.repository.findAddress(userId, addressId, tx)))
        throw AppError.notFound("Address");
      await this.repository.updateAddress(userId, addressId, normalized, tx);
      if (normalized.isDefault)
        await this.repository.clearDefaultAddressExcept(userId, addressId, tx);
      return toAddressView((await this.repository.findAddress(userId, addressId, tx))!);
    });
  }

  async removeAddress(userId: string, addressId: string): Promise<void> {
    const removed = await this.database.transaction((tx) =>
      this.repository.deleteAddress(userId, addressId, tx),
    );
    if (!removed) throw AppError.notFound("Address");
  }
}

function completeAddress(input: NewAddressInput): AddressFields {
  return {
    ...input,
    country: normalizeCountry(input.country),
    line2: input.line2 ?? null,
    phone: input.phone ?? null,
    isDefault: input.isDefault ?? false,
  };
}

function normalizeAddressChanges(changes: AddressChanges): AddressChanges {
  return changes.country === undefined
    ? changes
    : { ...changes, country: normalizeCountry(changes.country) };
}
