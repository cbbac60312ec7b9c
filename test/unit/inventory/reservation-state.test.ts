import type { ReservationStatus } from "../../../lib/contracts/catalog";
import {
  assertTransition,
  canTransition,
  decide,
  isExpired,
  isTerminal,
  RESERVATION_STATUSES,
  toOutcome,
  toView,
} from "../../../services/inventory/domain/reservation";

describe("reservation state machine", () => {
  const allowed: [ReservationStatus, ReservationStatus][] = [
    ["RESERVED", "COMMITTED"],
    ["RESERVED", "RELEASED"],
    ["COMMITTED", "RETURNED"],
  ];

  it("allows exactly RESERVED → COMMITTED, RESERVED → RELEASED and COMMITTED → RETURNED", () => {
    for (const from of RESERVATION_STATUSES) {
      for (const to of RESERVATION_STATUSES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect([from, to, canTransition(from, to)]).toEqual([from, to, expected]);
      }
    }
  });

  it("has REJECTED, RELEASED and RETURNED as terminal states", () => {
    expect(RESERVATION_STATUSES.filter(isTerminal)).toEqual(["REJECTED", "RELEASED", "RETURNED"]);
  });

  it("rejects an illegal transition with a 409 naming the current status", () => {
    expect(() => assertTransition("RESERVED", "COMMITTED")).not.toThrow();
    expect(() => assertTransition("RELEASED", "COMMITTED")).toThrow(
      expect.objectContaining({
        code: 409,
        type: "CONFLICT",
        data: { details: [expect.objectContaining({ field: "status", status: "RELEASED" })] },
      }),
    );
    expect(() => assertTransition("REJECTED", "RESERVED")).toThrow(
      expect.objectContaining({ code: 409 }),
    );
  });

  it("decides a commit from each state: apply, repeat or refuse with a reason", () => {
    expect(decide("RESERVED", "commit")).toEqual({ kind: "apply", to: "COMMITTED" });
    expect(decide("COMMITTED", "commit")).toEqual({ kind: "repeat" });
    expect(decide("RELEASED", "commit")).toEqual({
      kind: "refuse",
      reason: "CANNOT_COMMIT_RELEASED",
    });
    expect(decide("REJECTED", "commit")).toEqual({
      kind: "refuse",
      reason: "CANNOT_COMMIT_REJECTED",
    });
  });

  it("decides a release from each state", () => {
    expect(decide("RESERVED", "release")).toEqual({ kind: "apply", to: "RELEASED" });
    expect(decide("RELEASED", "release")).toEqual({ kind: "repeat" });
    expect(decide("COMMITTED", "release")).toEqual({
      kind: "refuse",
      reason: "CANNOT_RELEASE_COMMITTED",
    });
    expect(decide("REJECTED", "release")).toEqual({
      kind: "refuse",
      reason: "CANNOT_RELEASE_REJECTED",
    });
  });

  it("decides a return from each state: only a committed reservation can be returned", () => {
    expect(decide("COMMITTED", "return")).toEqual({ kind: "apply", to: "RETURNED" });
    expect(decide("RETURNED", "return")).toEqual({ kind: "repeat" });
    expect(decide("RESERVED", "return")).toEqual({
      kind: "refuse",
      reason: "CANNOT_RETURN_RESERVED",
    });
    expect(decide("RELEASED", "return")).toEqual({
      kind: "refuse",
      reason: "CANNOT_RETURN_RELEASED",
    });
    expect(decide("REJECTED", "return")).toEqual({
      kind: "refuse",
      reason: "CANNOT_RETURN_REJECTED",
    });
    // A returned reservation is over: it can be neither committed nor released again.
    expect(decide("RETURNED", "commit")).toMatchObject({ kind: "refuse" });
    expect(decide("RETURNED", "release")).toMatchObject({ kind: "refuse" });
  });

  it("calls a reservation expired only while RESERVED and past its deadline", () => {
    expect(isExpired({ status: "RESERVED", expiresAt: 1000 }, 999)).toBe(false);
    expect(isExpired({ status: "RESERVED", expiresAt: 1000 }, 1000)).toBe(true);
    expect(isExpired({ status: "COMMITTED", expiresAt: 1000 }, 5000)).toBe(false);
    expect(isExpired({ status: "RELEASED", expiresAt: null }, 5000)).toBe(false);
  });

  it("shows an outcome with shortages and reason only when there are some", () => {
    const base = {
      id: "r-1",
      lines: [{ productId: "p-1", quantity: 2 }],
      expiresAt: null,
      createdAt: 0,
      updatedAt: 1000,
    };
    expect(toOutcome({ ...base, status: "RESERVED", reason: null, shortages: null })).toEqual({
      reservationId: "r-1",
      status: "RESERVED",
      lines: [{ productId: "p-1", quantity: 2 }],
    });
    const shortages = [{ productId: "p-1", requested: 2, available: 1 }];
    expect(
      toOutcome({ ...base, status: "REJECTED", reason: "OUT_OF_STOCK", shortages }),
    ).toMatchObject({ status: "REJECTED", reason: "OUT_OF_STOCK", shortages });
    expect(toView({ ...base, status: "RESERVED", reason: null, shortages: null })).toMatchObject({
      expiresAt: null,
      createdAt: "1970-01-01T00:00:00.000Z",
      updatedAt: "1970-01-01T00:00:01.000Z",
    });
  });
});
