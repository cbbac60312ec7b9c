import type {
  ReservationLine,
  ReservationOutcome,
  ReservationStatus,
} from "../../../lib/contracts/catalog";
import { AppError } from "../../../lib/errors";

/**
 * A reservation's state machine, in one place:
 *
 *   (none) ──reserve──▶ RESERVED ──commit──▶ COMMITTED ──return──▶ RETURNED
 *      │                   └──────release──▶ RELEASED
 *      ├──reserve (short)──▶ REJECTED
 *      └──release──▶ RELEASED (a tombstone: the saga cancelled before the reserve arrived)
 *
 * REJECTED, RELEASED and RETURNED are terminal. Asking for the state a
 * reservation is already in is a repeat (idempotent, no effect); anything
 * else not drawn above is illegal.
 */
export const RESERVATION_STATUSES: readonly ReservationStatus[] = [
  "RESERVED",
  "REJECTED",
  "COMMITTED",
  "RELEASED",
  "RETURNED",
];

const TRANSITIONS: Readonly<Record<ReservationStatus, readonly ReservationStatus[]>> = {
  RESERVED: ["COMMITTED", "RELEASED"],
  REJECTED: [],
  // An order cancelled after its stock left: the units come back on hand.
  COMMITTED: ["RETURNED"],
  RELEASED: [],
  RETURNED: [],
};

export function canTransition(from: ReservationStatus, to: ReservationStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(status: ReservationStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

/** Throws CONFLICT for a transition the machine does not allow. */
export function assertTransition(from: ReservationStatus, to: ReservationStatus): void {
  if (!canTransition(from, to)) throw illegalTransition(from, to);
}

export type ReservationCommandName = "commit" | "release" | "return";

const TARGET: Record<ReservationCommandName, ReservationStatus> = {
  commit: "COMMITTED",
  release: "RELEASED",
  return: "RETURNED",
};

/** What a commit, release or return means for a reservation in `current` state. */
export type Decision =
  | { kind: "apply"; to: ReservationStatus }
  | { kind: "repeat" }
  | { kind: "refuse"; reason: string };

export function decide(current: ReservationStatus, command: ReservationCommandName): Decision {
  const to = TARGET[command];
  if (current === to) return { kind: "repeat" };
  if (canTransition(current, to)) return { kind: "apply", to };
  return { kind: "refuse", reason: refusalReason(command, current) };
}

/**
 * Machine-readable reason carried by the answer to a command that cannot be
 * applied, e.g. `CANNOT_COMMIT_RELEASED`; a reserve that finds a reservation
 * already released gets `CANNOT_RESERVE_RELEASED`.
 */
export function refusalReason(
  command: "reserve" | ReservationCommandName,
  current: ReservationStatus,
): string {
  return `CANNOT_${command.toUpperCase()}_${current}`;
}

export function illegalTransition(from: ReservationStatus, to: ReservationStatus): AppError {
  return AppError.conflict(`A ${from} reservation cannot become ${to}`, [
    { field: "status", message: `${from} → ${to} is not allowed`, status: from },
  ]);
}

/** Why a reserve was rejected for lack of stock. */
export const OUT_OF_STOCK = "OUT_OF_STOCK";
/** Why a reservation still RESERVED after its time to live was released. */
export const EXPIRED = "EXPIRED";
/** Reason of a release that names none. */
export const DEFAULT_RELEASE_REASON = "CANCELLED";
/** Reason of a command about a reservation that does not exist. */
export const NOT_FOUND = "NOT_FOUND";

export interface Shortage {
  productId: string;
  requested: number;
  available: number;
}

/** A reservation as stored. Times are epoch milliseconds. */
export interface ReservationRecord {
  id: string;
  status: ReservationStatus;
  reason: string | null;
  shortages: Shortage[] | null;
  lines: ReservationLine[];
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** What callers and inventory.events see of a reservation. */
export function toOutcome(record: ReservationRecord): ReservationOutcome {
  const outcome: ReservationOutcome = {
    reservationId: record.id,
    status: record.status,
    lines: record.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
  };
  if (record.shortages?.length) outcome.shortages = record.shortages;
  if (record.reason) outcome.reason = record.reason;
  return outcome;
}

export interface ReservationView extends ReservationOutcome {
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toView(record: ReservationRecord): ReservationView {
  return {
    ...toOutcome(record),
    expiresAt: record.expiresAt == null ? null : new Date(record.expiresAt).toISOString(),
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

/** Still RESERVED at `now` although its time to live is over. */
export function isExpired(
  record: Pick<ReservationRecord, "status" | "expiresAt">,
  now: number,
): boolean {
  return record.status === "RESERVED" && record.expiresAt != null && record.expiresAt <= now;
}
