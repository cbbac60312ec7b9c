import {
  DataTypes,
  Model,
  ModelStatic,
  Op,
  Optional,
  QueryTypes,
  Sequelize,
  Transaction,
} from "sequelize";
import type { AddressFields, AddressRecord } from "./domain/addresses";
import type { RefreshTokenRecord } from "./domain/refresh-tokens";
import type { ResetTokenRecord } from "./domain/reset-tokens";
import type { PublicProfile, Role, UserRecord } from "./domain/user";

/**
 * Persistence of the users service (tables in migrations.ts). Models are
 * defined on the service's own Sequelize instance, never as global classes,
 * so several brokers in one process (tests, all-in-one) don't share them.
 * Writes take the caller's transaction (required): on embedded SQLite every
 * transaction shares one connection, and a write outside them would silently
 * join, and roll back with, whichever transaction happens to be open.
 */
type NewUser = Optional<UserRecord, "phone" | "role" | "emailVerified" | "createdAt" | "updatedAt">;
type NewAddress = Optional<AddressRecord, "createdAt" | "updatedAt">;

type UserModel = ModelStatic<Model<UserRecord, NewUser>>;
type AddressModel = ModelStatic<Model<AddressRecord, NewAddress>>;
type RefreshTokenModel = ModelStatic<Model<RefreshTokenRecord, RefreshTokenRecord>>;
type ResetTokenModel = ModelStatic<Model<ResetTokenRecord, ResetTokenRecord>>;

export interface Page<T> {
  rows: T[];
  total: number;
}

export class UserRepository {
  private readonly users: UserModel;
  private readonly addresses: AddressModel;
  private readonly refreshTokens: RefreshTokenModel;
  private readonly resetTokens: ResetTokenModel;

  constructor(private readonly sequelize: Sequelize) {
    this.users = defineUsers(sequelize);
    this.addresses = defineAddresses(sequelize);
    this.refreshTokens = defineRefreshTokens(sequelize);
    this.resetTokens = defineResetTokens(sequelize);
  }

  // ---- users

  async findUserById(id: string, tx?: Transaction): Promise<UserRecord | null> {
    return plain(await this.users.findByPk(id, { transaction: tx }));
  }

  /**
   * The profile other services read (users.get: once per notification sent),
   * as one plain statement naming only its columns: the password hash never
   * leaves the table for it, and no model instance is built.
   */
  async findPublicProfile(id: string): Promise<PublicProfile | null> {
    const [row] = await this.sequelize.query<PublicProfile>(
      "SELECT id, email, name, phone, role FROM users WHERE id = ?",
      { replacements: [id], type: QueryTypes.SELECT },
    );
    return row ?? null;
  }

  async findUserByEmail(email: string, tx?: Transaction): Promise<UserRecord | null> {
    return plain(await this.users.findOne({ where: { email }, transaction: tx }));
  }

  /** Throws UniqueConstraintError when the email is taken (see isUniqueViolation). */
  async insertUser(user: NewUser, tx: Transaction): Promise<UserRecord> {
    const complete = { phone: null, role: "customer" as Role, emailVerified: false, ...user };
    return plain(await this.users.create(complete, { transaction: tx }))!;
  }

  async updateUser(
    id: string,
    changes: Partial<Pick<UserRecord, "name" | "phone" | "passwordHash" | "role">>,
    tx: Transaction,
  ): Promise<void> {
    await this.users.update(changes, { where: { id }, transaction: tx });
  }

  /**
   * Locks the user's row until `tx` ends (MySQL), serialising writers of the
   * same account's address book. SQLite serialises all writers anyway.
   */
  async lockUser(id: string, tx: Transaction): Promise<boolean> {
    return (await this.users.findByPk(id, { transaction: tx, lock: tx.LOCK.UPDATE })) !== null;
  }

  // ---- refresh tokens

  async insertRefreshToken(record: RefreshTokenRecord, tx: Transaction): Promise<void> {
    await this.refreshTokens.create(record, { transaction: tx });
  }

  async findRefreshTokenByHash(
    tokenHash: string,
    tx?: Transaction,
  ): Promise<RefreshTokenRecord | null> {
    return plain(await this.refreshTokens.findOne({ where: { tokenHash }, transaction: tx }));
  }

  /**
   * Reads the token and locks its row until `tx` ends (MySQL), so everything
   * done with one token happens one transaction at a time, in the same lock order.
   */
  async lockRefreshTokenByHash(
    tokenHash: string,
    tx: Transaction,
  ): Promise<RefreshTokenRecord | null> {
    return plain(
      await this.refreshTokens.findOne({
        where: { tokenHash },
        transaction: tx,
        lock: tx.LOCK.UPDATE,
      }),
    );
  }

  /**
   * Marks the token used only if nobody did before (a conditional update, so
   * of two concurrent refreshes exactly one sees `true`).
   */
  async markRefreshTokenUsed(id: string, now: Date, tx: Transaction): Promise<boolean> {
    const [changed] = await this.refreshTokens.update(
      { usedAt: now },
      { where: { id, usedAt: null, revokedAt: null }, transaction: tx },
    );
    return changed === 1;
  }

  async revokeRefreshFamily(familyId: string, now: Date, tx: Transaction): Promise<void> {
    await this.refreshTokens.update(
      { revokedAt: now },
      { where: { familyId, revokedAt: null }, transaction: tx },
    );
  }

  async revokeAllRefreshTokensOf(userId: string, now: Date, tx: Transaction): Promise<void> {
    await this.refreshTokens.update(
      { revokedAt: now },
      { where: { userId, revokedAt: null }, transaction: tx },
    );
  }

  // ---- password reset tokens

  async insertResetToken(record: ResetTokenRecord, tx: Transaction): Promise<void> {
    await this.resetTokens.create(record, { transaction: tx });
  }

  async findResetTokenByHash(
    tokenHash: string,
    tx?: Transaction,
  ): Promise<ResetTokenRecord | null> {
    return plain(await this.resetTokens.findOne({ where: { tokenHash }, transaction: tx }));
  }

  /** Uses the token up if it is still unused and unexpired; false when someone was first. */
  async consumeResetToken(id: string, now: Date, tx: Transaction): Promise<boolean> {
    const [changed] = await this.resetTokens.update(
      { usedAt: now },
      { where: { id, usedAt: null, expiresAt: { [Op.gt]: now } }, transaction: tx },
    );
    return changed === 1;
  }

  /** After a reset, links sent earlier must not work either. */
  async expireResetTokensOf(userId: string, now: Date, tx: Transaction): Promise<void> {
    await this.resetTokens.update(
      { usedAt: now },
      { where: { userId, usedAt: null }, transaction: tx },
    );
  }

  // ---- addresses (every query is scoped by user id: object-level authorization)

  async listAddresses(
    userId: string,
    page: { offset: number; limit: number },
  ): Promise<Page<AddressRecord>> {
    const { rows, count } = await this.addresses.findAndCountAll({
      where: { userId },
      order: [
        ["createdAt", "ASC"],
        ["id", "ASC"],
      ],
      offset: page.offset,
      limit: page.limit,
    });
    return { rows: rows.map((row) => plain(row)!), total: count };
  }

  async countAddresses(userId: string, tx: Transaction): Promise<number> {
    return this.addresses.count({ where: { userId }, transaction: tx });
  }

  async findAddress(
    userId: string,
    addressId: string,
    tx?: Transaction,
  ): Promise<AddressRecord | null> {
    return plain(
      await this.addresses.findOne({ where: { id: addressId, userId }, transaction: tx }),
    );
  }

  async insertAddress(address: NewAddress, tx: Transaction): Promise<AddressRecord> {
    return plain(await this.addresses.create(address, { transaction: tx }))!;
  }

  async updateAddress(
    userId: string,
    addressId: string,
    changes: Partial<AddressFields>,
    tx: Transaction,
  ): Promise<void> {
    await this.addresses.update(changes, { where: { id: addressId, userId }, transaction: tx });
  }

  /** False when the user has no such address. */
  async deleteAddress(userId: string, addressId: string, tx: Transaction): Promise<boolean> {
    const removed = await this.addresses.destroy({
      where: { id: addressId, userId },
      transaction: tx,
    });
    return removed > 0;
  }

  /** Leaves at most one default address: the one being saved. */
  async clearDefaultAddressExcept(userId: string, keepId: string, tx: Transaction): Promise<void> {
    await this.addresses.update(
      { isDefault: false },
      { where: { userId, isDefault: true, id: { [Op.ne]: keepId } }, transaction: tx },
    );
  }
}

function plain<T extends object, C extends object>(row: Model<T, C> | null): T | null {
  return row ? row.get({ plain: true }) : null;
}

// Factories, not shared objects: Sequelize writes `field` into each attribute definition.
const uuidKey = () => ({ type: DataTypes.UUID, primaryKey: true, allowNull: false });
const userReference = () => ({ type: DataTypes.UUID, allowNull: false });
const timestamp = () => ({ type: DataTypes.DATE(3), allowNull: false });
const nullableTimestamp = () => ({ type: DataTypes.DATE(3), allowNull: true });

function defineUsers(sequelize: Sequelize): UserModel {
  return sequelize.define<Model<UserRecord, NewUser>>(
    "User",
    {
      id: uuidKey(),
      email: { type: DataTypes.STRING(254), allowNull: false, unique: true },
      passwordHash: { type: DataTypes.STRING(255), allowNull: false },
      name: { type: DataTypes.STRING(100), allowNull: false },
      phone: { type: DataTypes.STRING(32), allowNull: true },
      role: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "customer" as Role },
      emailVerified: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      createdAt: timestamp(),
      updatedAt: timestamp(),
    },
    { tableName: "users", underscored: true },
  );
}

function defineAddresses(sequelize: Sequelize): AddressModel {
  return sequelize.define<Model<AddressRecord, NewAddress>>(
    "Address",
    {
      id: uuidKey(),
      userId: userReference(),
      name: { type: DataTypes.STRING(100), allowNull: false },
      line1: { type: DataTypes.STRING(200), allowNull: false },
      line2: { type: DataTypes.STRING(200), allowNull: true },
      city: { type: DataTypes.STRING(100), allowNull: false },
      postalCode: { type: DataTypes.STRING(20), allowNull: false },
      country: { type: DataTypes.CHAR(2), allowNull: false },
      phone: { type: DataTypes.STRING(32), allowNull: true },
      isDefault: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      createdAt: timestamp(),
      updatedAt: timestamp(),
    },
    { tableName: "addresses", underscored: true },
  );
}

function defineRefreshTokens(sequelize: Sequelize): RefreshTokenModel {
  return sequelize.define<Model<RefreshTokenRecord, RefreshTokenRecord>>(
    "RefreshToken",
    {
      id: uuidKey(),
      userId: userReference(),
      familyId: { type: DataTypes.UUID, allowNull: false },
      tokenHash: { type: DataTypes.CHAR(64), allowNull: false, unique: true },
      expiresAt: timestamp(),
      usedAt: nullableTimestamp(),
      revokedAt: nullableTimestamp(),
    },
    { tableName: "refresh_tokens", underscored: true, updatedAt: false },
  );
}

function defineResetTokens(sequelize: Sequelize): ResetTokenModel {
  return sequelize.define<Model<ResetTokenRecord, ResetTokenRecord>>(
    "PasswordResetToken",
    {
      id: uuidKey(),
      userId: userReference(),
      tokenHash: { type: DataTypes.CHAR(64), allowNull: false, unique: true },
      expiresAt: timestamp(),
      usedAt: nullableTimestamp(),
    },
    { tableName: "password_reset_tokens", underscored: true, updatedAt: false },
  );
}
