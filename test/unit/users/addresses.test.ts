import {
  assertRoomForAnotherAddress,
  MAX_ADDRESSES_PER_USER,
  normalizeCountry,
} from "../../../services/users/domain/addresses";
import { normalizeEmail } from "../../../services/users/domain/user";

describe("addresses", () => {
  it("accepts assigned ISO 3166-1 alpha-2 codes in any case", () => {
    expect(normalizeCountry("de")).toBe("DE");
    expect(normalizeCountry(" Us ")).toBe("US");
  });

  it("refuses unassigned or malformed codes, naming the field", () => {
    for (const bad of ["XX", "UK", "EU", "DEU", "D", ""]) {
      expect(() => normalizeCountry(bad)).toThrow(
        expect.objectContaining({
          code: 400,
          data: { details: [expect.objectContaining({ field: "country" })] },
        }),
      );
    }
  });

  it("bounds the address book", () => {
    expect(() => assertRoomForAnotherAddress(MAX_ADDRESSES_PER_USER - 1)).not.toThrow();
    expect(() => assertRoomForAnotherAddress(MAX_ADDRESSES_PER_USER)).toThrow(
      expect.objectContaining({ code: 422 }),
    );
  });
});

describe("emails", () => {
  it("are compared trimmed and lower-cased", () => {
    expect(normalizeEmail("  Ann.Smith@Example.COM ")).toBe("ann.smith@example.com");
  });
});
