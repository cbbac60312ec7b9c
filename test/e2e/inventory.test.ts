import { randomBytes, randomUUID } from "node:crypto";
import type { ProductSnapshot, ReservationOutcome, StockLevel } from "../../lib/contracts/catalog";
import CatalogService from "../../services/catalog/catalog.service";
import InventoryService from "../../services/inventory/inventory.service";
import UsersService from "../../services/users/users.service";
import { cleanUpChannels } from "../helpers/channels";
import {
  Platform,
  accessTokenFor,
  newCustomerToken,
  startPlatform,
  withRealServers,
} from "../helpers/platform";
import { adaptersFor, servers, uniqueName } from "../helpers/servers";

/**
 * Stock levels over HTTP: `PUT/GET /products/:id/stock` through the real
 * gateway, with the real users (tokens) and catalog (the product must exist)
 * services — embedded, and on MariaDB + Redis when TEST_MYSQL_URL and
 * TEST_REDIS_URL are set. Each test creates its own products.
 */
const available = adaptersFor("mysql", "redis");
const modes =
  available.includes("mysql") && available.includes("redis")
    ? ["embedded", "mariadb+redis"]
    : ["embedded"];

interface ErrorBody {
  error: {
    type: string;
    message: string;
    code: number;
    details: { field?: string; [k: string]: unknown }[];
  };
}

const PASSWORD = "correct horse battery staple";

describe.each(modes)("inventory end to end (%s)", (mode) => {
  const adminEmail = `${uniqueName("admin")}@example.com`;
  const adminPassword = randomBytes(18).toString("base64url");
  const channelsPrefix = uniqueName("inventory");
  const real = mode === "embedded" ? undefined : withRealServers("mysql", "redis");
  let platform: Platform;
  let api: Platform["request"];
  let admin: string;
  let customer: string;
  let categoryId: string;

  beforeAll(async () => {
    platform = await startPlatform({
      services: [UsersService, CatalogService, InventoryService],
      env: {
        RATE_LIMIT_MAX: "0",
        AUTH_RATE_LIMIT_MAX: "0",
        ADMIN_EMAIL: adminEmail,
        ADMIN_PASSWORD: adminPassword,
        CHANNELS_PREFIX: channelsPrefix,
        RESERVATION_SWEEP_INTERVAL_MS: "0",
        ...(real ? { ...real.env, CHANNELS_URL: servers.redis! } : {}),
      },
    });
    api = platform.request;
    admin = await login(adminEmail, adminPassword);
    customer = await newCustomerToken(platform, PASSWORD);
    const category = await api<{ id: string }>("POST", "/categories", {
      token: admin,
      body: { name: `Category ${uniqueName("c")}` },
    });
    expect(category.status).toBe(201);
    categoryId = category.body.id;
  });

  afterAll(async () => {
    await platform?.stop();
    await real?.cleanup();
    if (real) await cleanUpChannels("redis", channelsPrefix);
  });

  const login = (email: string, password: string) => accessTokenFor(platform, email, password);

  async function newProduct(): Promise<string> {
    const res = await api<ProductSnapshot>("POST", "/products", {
      token: admin,
      body: {
        sku: uniqueName("SKU").replace(/_/g, "-"),
        name: `Product ${uniqueName("p")}`,
        description: "Something to keep in stock.",
        brand: "Acme",
        categoryId,
        price: { amount: 1250, currency: "EUR" },
        status: "active",
      },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /** `token`: the admin's unless given; null sends none. */
  const putStock = (id: string, body: unknown, token: string | null = admin) =>
    api<StockLevel & ErrorBody>("PUT", `/products/${id}/stock`, {
      token: token ?? undefined,
      body,
    });
  const getStock = (id: string, token: string | null = admin) =>
    api<StockLevel & ErrorBody>("GET", `/products/${id}/stock`, { token: token ?? undefined });

  it("lets an admin set and read a product's stock", async () => {
    const id = await newProduct();
    expect((await getStock(id)).body).toEqual({
      productId: id,
      onHand: 0,
      reserved: 0,
      available: 0,
      version: 0,
    });

    const set = await putStock(id, { onHand: 7 });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ productId: id, onHand: 7, reserved: 0, available: 7, version: 1 });
    expect((await putStock(id, { onHand: 12 })).body).toMatchObject({ onHand: 12, version: 2 });

    const read = await getStock(id);
    expect(read.status).toBe(200);
    expect(read.body).toEqual({
      productId: id,
      onHand: 12,
      reserved: 0,
      available: 12,
      version: 2,
    });
    expect(read.headers["x-request-id"]).toBeTruthy();

    // The stock row is keyed by the id as the catalog spells it.
    expect((await putStock(id.toUpperCase(), { onHand: 13 })).body).toMatchObject({
      productId: id,
      onHand: 13,
      version: 3,
    });
  });

  it("refuses customers (403) and anonymous callers (401)", async () => {
    const id = await newProduct();
    for (const res of [await putStock(id, { onHand: 1 }, customer), await getStock(id, customer)]) {
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe("FORBIDDEN");
    }
    for (const res of [await putStock(id, { onHand: 1 }, null), await getStock(id, null)]) {
      expect(res.status).toBe(401);
      expect(res.body.error.type).toBe("UNAUTHORIZED");
    }
    expect((await getStock(id)).body).toMatchObject({ onHand: 0, version: 0 });
  });

  it("answers 409 naming onHand when it would fall below what is reserved", async () => {
    const id = await newProduct();
    await putStock(id, { onHand: 10 });
    const outcome = await platform.broker.call<ReservationOutcome, object>("inventory.reserve", {
      reservationId: randomUUID(),
      lines: [{ productId: id, quantity: 6 }],
    });
    expect(outcome.status).toBe("RESERVED");

    const res = await putStock(id, { onHand: 5 });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ type: "CONFLICT", code: 409 });
    expect(res.body.error.details).toEqual([
      expect.objectContaining({ field: "onHand", reserved: 6 }),
    ]);
    expect((await getStock(id)).body).toMatchObject({ onHand: 10, reserved: 6, available: 4 });
    expect((await putStock(id, { onHand: 6 })).body).toMatchObject({
      onHand: 6,
      reserved: 6,
      available: 0,
    });
  });

  it("answers 404 for a product the catalog does not have", async () => {
    for (const id of [randomUUID(), "not-a-product-id"]) {
      const res = await putStock(id, { onHand: 3 });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("NOT_FOUND");
    }
  });

  it("refuses a malformed body with 400", async () => {
    const id = await newProduct();
    for (const body of [
      { onHand: -1 },
      { onHand: 1.5 },
      { onHand: "3" },
      {},
      { onHand: 1, reserved: 0 },
    ]) {
      const res = await putStock(id, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.error.type).toBe("VALIDATION");
    }
  });

  it("documents the routes in the OpenAPI document", async () => {
    const res = await api<{ paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/openapi.json",
    );
    expect(Object.keys(res.body.paths["/products/{id}/stock"]).sort()).toEqual(["get", "put"]);
  });
});
