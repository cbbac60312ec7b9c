import { ORDER_REFERENCE, OrderStatus } from "../../lib/contracts/orders";
import { pageParams } from "../../lib/pagination";
import type { CheckoutRequest } from "./checkout.use-case";
import { MAX_LINE_QUANTITY, MAX_ORDER_LINES } from "./domain/checkout";
import { ORDER_STATUSES } from "./domain/order";

/**
 * Request schemas (fastest-validator). POST /orders uses `$$strict: "remove"`
 * at every level: fields the service does not read — a client's prices and
 * totals above all — are dropped, never trusted. Rules across fields (cart
 * or lines, address or address id) live in checkout.use-case.ts.
 */
const uuid = { type: "uuid" };
const text = (max: number) => ({ type: "string", trim: true, min: 1, max });

const line = {
  type: "object",
  strict: "remove",
  props: {
    productId: uuid,
    quantity: { type: "number", integer: true, min: 1, max: MAX_LINE_QUANTITY },
  },
};

const shippingAddress = {
  type: "object",
  strict: "remove",
  props: {
    name: text(100),
    line1: text(200),
    line2: { type: "string", trim: true, max: 200, optional: true },
    city: text(100),
    postalCode: text(20),
    country: {
      type: "string",
      trim: true,
      pattern: /^[A-Za-z]{2}$/,
      patternMessage: "country must be an ISO 3166-1 alpha-2 code, e.g. DE or US",
    },
  },
};

const paymentMethod = {
  type: "object",
  strict: "remove",
  props: {
    type: { type: "enum", values: ["card", "cash_on_delivery", "bank_transfer"] },
    // A provider's token (e.g. tok_visa), never card data.
    token: {
      type: "string",
      min: 1,
      max: 255,
      pattern: /^[A-Za-z0-9_.:-]+$/,
      patternMessage: "token must be the payment provider's token",
      optional: true,
    },
  },
};

export const placeOrderParams = {
  $$strict: "remove",
  cartId: { ...uuid, optional: true },
  lines: { type: "array", optional: true, min: 1, max: MAX_ORDER_LINES, items: line },
  shippingAddress: { ...shippingAddress, optional: true },
  shippingAddressId: { ...uuid, optional: true },
  paymentMethod,
};
export type PlaceOrderParams = CheckoutRequest;

export const listOrdersParams = { $$strict: true, ...pageParams };
export interface ListOrdersParams {
  page?: number;
  pageSize?: number;
}

export const orderIdParams = { $$strict: true, id: uuid };
export interface OrderIdParams {
  id: string;
}

/** orders.findByReference: the eight hex digits of an email's subject. */
export const referenceParams = {
  $$strict: true,
  reference: {
    type: "string",
    pattern: ORDER_REFERENCE,
    messages: {
      stringPattern: "reference must be the eight letters and digits of an order's emails",
    },
  },
};
export interface ReferenceParams {
  reference: string;
}

/** The longest a read may wait for its order to change (below the broker's request timeout). */
export const MAX_ORDER_WAIT_SEC = 8;

const statusList = `(?:${ORDER_STATUSES.join("|")})`;

/**
 * GET /orders/:id: with `wait` (seconds) and `whileStatus` (one status or
 * several, comma-separated), the answer waits while the order is in one of them.
 */
export const getOrderParams = {
  $$strict: true,
  id: uuid,
  wait: {
    type: "number",
    convert: true,
    integer: true,
    min: 0,
    max: MAX_ORDER_WAIT_SEC,
    optional: true,
  },
  whileStatus: {
    type: "string",
    max: 100,
    pattern: new RegExp(`^${statusList}(?:,${statusList})*$`),
    patternMessage: `whileStatus must be order statuses separated by commas: ${ORDER_STATUSES.join(", ")}`,
    optional: true,
  },
};
export interface GetOrderParams extends OrderIdParams {
  wait?: number;
  whileStatus?: string;
}

export const setStatusParams = {
  $$strict: true,
  id: uuid,
  status: { type: "enum", values: ORDER_STATUSES },
  trackingNumber: { type: "string", trim: true, min: 1, max: 100, optional: true },
};
export interface SetStatusParams {
  id: string;
  status: OrderStatus;
  trackingNumber?: string;
}
