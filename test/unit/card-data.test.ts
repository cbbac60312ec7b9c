import {
  containsCardData,
  findCardData,
  looksLikeCardNumber,
  passesLuhn,
} from "../../lib/security/card-data";

/**
 * The card-data detector the gateway runs on every JSON body: real card
 * numbers of every major brand and card fields are caught wherever they
 * sit; ids, timestamps and other long numbers that fail the Luhn check are not.
 */
describe("card-data detector", () => {
  // Published test numbers of the major networks (all pass the Luhn check).
  const pans = {
    visa: "4242424242424242",
    visa13: "4222222222222",
    mastercard: "5555555555554444",
    mastercard2series: "2223003122003222",
    amex: "378282246310005",
    discover: "6011111111111117",
    diners: "3056930009020004",
    jcb: "3566002020360505",
    unionpay19: "6205500000000000004",
  };

  it.each(Object.entries(pans))("finds a %s card number", (_brand, pan) => {
    expect(passesLuhn(pan)).toBe(true);
    expect(containsCardData({ note: pan })).toBe(true);
  });

  it("finds card numbers written in groups, with spaces or dashes, or as JSON numbers", () => {
    expect(looksLikeCardNumber("4242 4242 4242 4242")).toBe(true);
    expect(looksLikeCardNumber("4242-4242-4242-4242")).toBe(true);
    expect(looksLikeCardNumber(" 3782 822463 10005 ")).toBe(true);
    expect(looksLikeCardNumber(4242424242424242)).toBe(true);
    expect(containsCardData({ paymentMethod: { type: "card", token: 5555555555554444 } })).toBe(
      true,
    );
  });

  it("lets through long numbers that fail the Luhn check: order ids, timestamps, phone numbers", () => {
    const notCards = [
      "4242424242424241", // one digit off
      "1718035200000", // a millisecond timestamp
      "1718035200009",
      "20240611123456789", // a date-time id
      "0049301234567", // a phone number
      "1234567890123456",
      1718035200000,
    ];
    for (const value of notCards) {
      expect(passesLuhn(String(value))).toBe(false);
      expect(findCardData({ id: value })).toBeNull();
    }
  });

  it("ignores numbers too short or too long to be a card, and text around digits", () => {
    expect(looksLikeCardNumber("424242424242")).toBe(false); // 12 digits
    expect(looksLikeCardNumber("42424242424242424242")).toBe(false); // 20 digits
    expect(looksLikeCardNumber("4242  4242 4242 4242")).toBe(false); // double space
    expect(looksLikeCardNumber("card 4242424242424242")).toBe(false);
    expect(looksLikeCardNumber(42.5)).toBe(false);
    expect(containsCardData({ quantity: 3, price: { amount: 1999, currency: "EUR" } })).toBe(false);
  });

  it("searches nested objects and arrays and reports the path, never the value", () => {
    const body = {
      shippingAddress: { name: "Sam", line1: "1 Main St" },
      items: [{ productId: "p-1" }, { notes: ["call first", "4000 0566 5566 5556"] }],
    };
    const finding = findCardData(body);
    expect(finding).toEqual({ path: "items[1].notes[1]", reason: "card-number" });
    expect(JSON.stringify(finding)).not.toContain("5556");
    expect(findCardData("4242424242424242")).toEqual({ path: "(body)", reason: "card-number" });
  });

  it("refuses keys named like a card number or security code, in any case, whatever their value", () => {
    const keys = [
      "cardNumber",
      "card_number",
      "CardNumber",
      "pan",
      "PAN",
      "cvv",
      "CVC",
      "cvv2",
      "securityCode",
      "security_code",
    ];
    for (const key of keys) {
      expect(findCardData({ paymentMethod: { type: "card", [key]: "x" } })).toEqual({
        path: `paymentMethod.${key}`,
        reason: "card-field",
      });
    }
    expect(findCardData({ cvv: null })).not.toBeNull();
  });

  it("treats `number` as a card number only inside a card or payment method object", () => {
    expect(findCardData({ card: { number: "x" } })).toEqual({
      path: "card.number",
      reason: "card-field",
    });
    expect(findCardData({ paymentMethod: { number: 1 } })?.reason).toBe("card-field");
    expect(findCardData({ payment_method: { Number: 1 } })?.reason).toBe("card-field");
    expect(findCardData({ address: { number: "12" }, order: { number: 7 } })).toBeNull();
  });

  it("handles deeply nested bodies without overflowing the stack", () => {
    let deep: unknown = { token: "tok_visa" };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findCardData(deep)).toBeNull();
    let withCard: unknown = { cvc: "123" };
    for (let i = 0; i < 100_000; i++) withCard = { nested: withCard };
    expect(containsCardData(withCard)).toBe(true);
  });
});
