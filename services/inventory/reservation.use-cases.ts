import type { Transaction } from "sequelize";
import type {
  ReservationLine,
  ReservationOutcome,
  ReservationStatus,
} from "../../lib/contracts/catalog";
import { AppError } from "../../lib/errors";
import { processOnce } from "../../lib/messaging/inbox";
import { EventTypes } from "../../lib/messaging/topics";
import { normalizeLines } from "./domain/lines";
import {
  decide,
  DEFAULT_RELEASE_REASON,
  EXPIRED,
  illegalTransition,
  isExpired,
  NOT_FOUND,
  OUT_OF_STOCK,
  RESERVATION_STATUSES,
  ReservationCommandName,
  ReservationRecord,
  ReservationView,
  Shortage,
  toOutcome,
  toView,
} from "./domain/reservation";
import { toStockLevel } from "./domain/stock";
import {
  eventFor,
  InventoryOutbox,
  ReservationEventType,
  reservationEvent,
  stockChanged,
} from "./inventory-events";
import type { InventoryRepository } from "./inventory-repository";
import type { CallOptions, Clock, Transactional } from "./use-case-support";

/**
 * Reserve, commit, release and return stock for a reservation (the order
 * id), and expire reservations nobody finished. Each use case is one transaction that
 * decides from the reservation's stored state, so every call is idempotent:
 * a repeat returns the stored outcome and changes nothing. A reserve that
 * finds too little stock is rolled back whole and recorded as REJECTED in a
 * transaction of its own.
 */
export type ReservationResult =
  /** A new state was recorded; its event is in the outbox. */
  | { kind: "changed"; outcome: ReservationOutcome }
  /** The reservation already had this outcome: nothing changed. */
  | { kind: "unchanged"; outcome: ReservationOutcome }
  /** Not allowed in the reservation's state (or it does not exist): nothing changed. */
  | {
      kind: "refused";
      outcome: ReservationOutcome;
      reason: string;
      current?: ReservationStatus;
    }
  /** This command message was handled before: nothing changed, nothing answered. */
  | { kind: "duplicate" };

export interface ReservationStatusReport {
  reservations: Record<ReservationStatus, number>;
  /** Still RESERVED after their time to live: the sweeper's backlog. */
  expiredUnreleased: number;
}

/** Why a command's lines could not be reserved at all (the reservation is recorded REJECTED). */
export const INVALID_LINES = "INVALID_LINES";

const DUPLICATE: ReservationResult = { kind: "duplicate" };
const EXPIRY_BATCH = 100;

/** Thrown inside the reserve transaction to roll it back. */
class InsufficientStock extends Error {
  constructor(readonly shortages: Shortage[]) {
    super("insufficient stock");
  }
}

export interface ReservationUseCasesDeps {
  repository: InventoryRepository;
  database: Transactional;
  outbox: InventoryOutbox;
  /** How long a reservation stays RESERVED before the sweeper releases it. */
  reservationTtlMs: number;
  now?: Clock;
}

export class ReservationUseCases {
  private readonly repository: InventoryRepository;
  private readonly database: Transactional;
  private readonly outbox: InventoryOutbox;
  private readonly ttlMs: number;
  private readonly now: Clock;

  constructor(deps: ReservationUseCasesDeps) {
    this.repository = deps.repository;
    this.database = deps.database;
    this.outbox = deps.outbox;
    this.ttlMs = deps.reservationTtlMs;
    this.now = deps.now ?? Date.now;
  }

  /**
   * All lines or none. Stock rows are changed in product-id order with
   * `reserved = reserved + q … WHERE on_hand - reserved >= q`; the first row
   * that cannot give its quantity rolls everything back.
   */
  async reserve(
    reservationId: string,
    requested: readonly ReservationLine[],
    opts: CallOptions = {},
  ): Promise<ReservationResult> {
    let lines: ReservationLine[];
    try {
      lines = normalizeLines(requested);
    } catch (err) {
      // An action answers 400; a command is answered (and recorded) as rejected.
      if (!opts.command || !(err instanceof AppError)) throw err;
      return this.recordRejection(reservationId, [], null, INVALID_LINES, opts);
    }
    try {
      return await this.database.transaction(async (tx) => {
        if (!(await this.firstTime(tx, opts))) return DUPLICATE;
        const now = this.now();
        const record = { id: reservationId, status: "RESERVED" as const, lines };
        const created = await this.repository.insertReservation(
          tx,
          { ...record, expiresAt: now + this.ttlMs },
          now,
        );
        if (!created) return this.repeatReserve(tx, reservationId, opts);
        for (const [i, line] of lines.entries()) {
          if (!(await this.repository.reserveStock(tx, line.productId, line.quantity, now)))
            throw new InsufficientStock(await this.shortages(tx, lines.slice(i)));
        }
        const outcome: ReservationOutcome = { reservationId, status: "RESERVED", lines };
        await this.sendWithStock(tx, lines, EventTypes.StockReserved, outcome, opts);
        return { kind: "changed", outcome };
      });
    } catch (err) {
      if (!(err instanceof InsufficientStock)) throw err;
      return this.recordRejection(reservationId, lines, err.shortages, OUT_OF_STOCK, opts);
    }
  }

  /** RESERVED → COMMITTED: the units leave the warehouse (on_hand and reserved go down). */
  commit(reservationId: string, opts: CallOptions = {}): Promise<ReservationResult> {
    return this.database.transaction(async (tx) => {
      if (!(await this.firstTime(tx, opts))) return DUPLICATE;
      const record = await this.repository.lockReservation(reservationId, tx);
      if (!record) return this.refuse(tx, notFoundOutcome(reservationId), NOT_FOUND, opts);
      return this.apply(tx, record, "commit", null, opts);
    });
  }

  /**
   * COMMITTED → RETURNED: the units of an order cancelled after its stock
   * was committed come back on hand.
   */
  returnStock(
    reservationId: string,
    reason: string | null = null,
    opts: CallOptions = {},
  ): Promise<ReservationResult> {
    return this.database.transaction(async (tx) => {
      if (!(await this.firstTime(tx, opts))) return DUPLICATE;
      const record = await this.repository.lockReservation(reservationId, tx);
      if (!record) return this.refuse(tx, notFoundOutcome(reservationId), NOT_FOUND, opts);
      return this.apply(tx, record, "return", reason, opts);
    });
  }

  /**
   * RESERVED → RELEASED: the units become available again. An unknown id is
   * recorded as a RELEASED tombstone, so a ReserveStock that arrives after
   * the saga gave up on it is not applied.
   */
  release(
    reservationId: string,
    reason: string = DEFAULT_RELEASE_REASON,
    opts: CallOptions = {},
  ): Promise<ReservationResult> {
    return this.database.transaction(async (tx) => {
      if (!(await this.firstTime(tx, opts))) return DUPLICATE;
      let record = await this.repository.lockReservation(reservationId, tx);
      if (!record) {
        const now = this.now();
        const tombstone = { id: reservationId, status: "RELEASED" as const, reason, lines: [] };
        if (await this.repository.insertReservation(tx, tombstone, now)) {
          const outcome: ReservationOutcome = {
            reservationId,
            status: "RELEASED",
            lines: [],
            reason,
          };
          await this.send(tx, EventTypes.StockReleased, outcome, opts);
          return { kind: "changed", outcome };
        }
        // A concurrent reserve got there first: release what it made.
        record = await this.repository.findReservation(reservationId, tx, "update");
        if (!record) throw new Error(`reservation ${reservationId} vanished`);
      }
      return this.apply(tx, record, "release", reason, opts);
    });
  }

  /**
   * Releases (reason EXPIRED) the reservations still RESERVED after their
   * time to live, one transaction each. Safe on several nodes at once: each
   * release is a conditional transition, so a reservation is released once.
   * Returns how many this call released.
   */
  async expireDue(shouldStop: () => boolean = () => false): Promise<number> {
    let released = 0;
    for (;;) {
      const due = await this.repository.dueForExpiry(this.now(), EXPIRY_BATCH);
      let inBatch = 0;
      for (const id of due) {
        if (shouldStop()) return released + inBatch;
        if (await this.expire(id)) inBatch++;
      }
      released += inBatch;
      // A full batch of which this node released nothing: another node is on it.
      if (due.length < EXPIRY_BATCH || inBatch === 0) return released;
    }
  }

  /** Releases one reservation if it is (still) expired. */
  expire(reservationId: string): Promise<boolean> {
    return this.database.transaction(async (tx) => {
      const record = await this.repository.lockReservation(reservationId, tx);
      const now = this.now();
      if (!record || !isExpired(record, now)) return false;
      const result = await this.apply(tx, record, "release", EXPIRED, {}, now);
      return result.kind === "changed";
    });
  }

  async get(reservationId: string): Promise<ReservationView> {
    const record = await this.repository.findReservation(reservationId);
    if (!record) throw AppError.notFound("Reservation");
    return toView(record);
  }

  async status(): Promise<ReservationStatusReport> {
    const counts = await this.repository.countByStatus();
    const reservations = Object.fromEntries(
      RESERVATION_STATUSES.map((s) => [s, counts[s] ?? 0]),
    ) as Record<ReservationStatus, number>;
    return { reservations, expiredUnreleased: await this.repository.countExpired(this.now()) };
  }

  // ---- steps

  /** Commit, release or return a locked reservation, per the state machine. */
  private async apply(
    tx: Transaction,
    record: ReservationRecord,
    command: ReservationCommandName,
    reason: string | null,
    opts: CallOptions,
    expiredBy?: number,
  ): Promise<ReservationResult> {
    const decision = decide(record.status, command);
    if (decision.kind === "repeat") {
      const outcome = toOutcome(record);
      if (opts.command) await this.send(tx, eventFor(record.status), outcome, opts);
      return { kind: "unchanged", outcome };
    }
    if (decision.kind === "refuse")
      return this.refuse(tx, toOutcome(record), decision.reason, opts, record.status);

    const now = this.now();
    const moved = await this.repository.transition(
      tx,
      record.id,
      record.status,
      decision.to,
      reason,
      now,
      expiredBy,
    );
    // The row is locked (or SQLite's one writer is us): only a bug gets here.
    if (!moved) throw new Error(`reservation ${record.id} changed under its lock`);
    const changeStock = {
      commit: this.repository.commitStock,
      release: this.repository.unreserveStock,
      return: this.repository.returnStock,
    }[command].bind(this.repository);
    for (const line of record.lines) {
      const ok = await changeStock(tx, line.productId, line.quantity, now);
      if (!ok)
        throw new Error(`stock of ${line.productId} does not cover reservation ${record.id}`);
    }
    const outcome = toOutcome({ ...record, status: decision.to, reason: reason ?? record.reason });
    await this.sendWithStock(tx, record.lines, eventFor(decision.to), outcome, opts);
    return { kind: "changed", outcome };
  }

  /** A reserve for an id that already has a reservation: its stored outcome. */
  private async repeatReserve(
    tx: Transaction,
    reservationId: string,
    opts: CallOptions,
  ): Promise<ReservationResult> {
    // A shared lock: the failed insert holds one already, and it reads the latest commit.
    const record = await this.repository.findReservation(reservationId, tx, "share");
    if (!record) throw new Error(`reservation ${reservationId} vanished`);
    const outcome = toOutcome(record);
    if (opts.command) {
      const answer =
        record.status === "RESERVED" || record.status === "COMMITTED"
          ? EventTypes.StockReserved
          : EventTypes.StockRejected;
      await this.send(tx, answer, outcome, opts);
    }
    return { kind: "unchanged", outcome };
  }

  /** Records a REJECTED reservation (after the reserve transaction rolled back). */
  private recordRejection(
    reservationId: string,
    lines: ReservationLine[],
    shortages: Shortage[] | null,
    reason: string,
    opts: CallOptions,
  ): Promise<ReservationResult> {
    return this.database.transaction(async (tx) => {
      if (!(await this.firstTime(tx, opts))) return DUPLICATE;
      const record = { id: reservationId, status: "REJECTED" as const, reason, shortages, lines };
      if (!(await this.repository.insertReservation(tx, record, this.now())))
        return this.repeatReserve(tx, reservationId, opts);
      const outcome: ReservationOutcome = { reservationId, status: "REJECTED", lines, reason };
      if (shortages?.length) outcome.shortages = shortages;
      await this.send(tx, EventTypes.StockRejected, outcome, opts);
      return { kind: "changed", outcome };
    });
  }

  /** Nothing changes; a command still gets an answer (StockRejected with the reason). */
  private async refuse(
    tx: Transaction,
    outcome: ReservationOutcome,
    reason: string,
    opts: CallOptions,
    current?: ReservationStatus,
  ): Promise<ReservationResult> {
    if (opts.command) await this.send(tx, EventTypes.StockRejected, { ...outcome, reason }, opts);
    return { kind: "refused", outcome, reason, current };
  }

  /**
   * What each short line lacks. `lines` starts with the line whose update
   * failed; the rows are read with a lock (MySQL), so the failed row reads as
   * the update saw it, and the rest in the same product-id order.
   */
  private async shortages(tx: Transaction, lines: ReservationLine[]): Promise<Shortage[]> {
    const out: Shortage[] = [];
    for (const line of lines) {
      const level = toStockLevel(
        line.productId,
        await this.repository.stockRow(line.productId, tx, "update"),
      );
      if (level.available < line.quantity)
        out.push({
          productId: line.productId,
          requested: line.quantity,
          available: level.available,
        });
    }
    return out;
  }

  /**
   * StockChanged with the new version of every row this transaction changed,
   * then the reservation's event, in one statement.
   */
  private async sendWithStock(
    tx: Transaction,
    lines: readonly ReservationLine[],
    type: ReservationEventType,
    outcome: ReservationOutcome,
    opts: CallOptions,
  ): Promise<void> {
    const messages = [];
    for (const { productId } of lines)
      messages.push(
        stockChanged(toStockLevel(productId, await this.repository.stockRow(productId, tx))),
      );
    messages.push(reservationEvent(type, outcome));
    await this.outbox.enqueueAll(tx, messages, opts.origin);
  }

  private async send(
    tx: Transaction,
    type: ReservationEventType,
    outcome: ReservationOutcome,
    opts: CallOptions,
  ): Promise<void> {
    await this.outbox.enqueue(tx, reservationEvent(type, outcome), opts.origin);
  }

  /** True unless this command message was already recorded (then nothing may happen). */
  private async firstTime(tx: Transaction, opts: CallOptions): Promise<boolean> {
    if (!opts.command) return true;
    return processOnce(tx, opts.command.consumer, opts.command.messageId);
  }
}

function notFoundOutcome(reservationId: string): ReservationOutcome {
  return { reservationId, status: "REJECTED", lines: [], reason: NOT_FOUND };
}

/**
 * What an action answers: the outcome, or the error a refusal means
 * (404 for an unknown reservation, 409 for a transition its state forbids).
 */
export function outcomeOf(
  result: ReservationResult,
  command: ReservationCommandName | "reserve",
): ReservationOutcome {
  switch (result.kind) {
    case "changed":
    case "unchanged":
      return result.outcome;
    case "refused":
      if (result.reason === NOT_FOUND) throw AppError.notFound("Reservation");
      throw illegalTransition(result.current ?? result.outcome.status, targetOf(command));
    case "duplicate":
      throw new Error("an action call cannot be a duplicate message");
  }
}

function targetOf(command: ReservationCommandName | "reserve"): ReservationStatus {
  const targets = {
    reserve: "RESERVED",
    commit: "COMMITTED",
    release: "RELEASED",
    return: "RETURNED",
  };
  return targets[command] as ReservationStatus;
}
