import "moleculer";

/**
 * Custom action properties, enforced by the gateway:
 *  - auth: "public" (anyone), "user" (a valid access token; the default when
 *    omitted) or "admin" (role admin).
 *  - openapi: what the generated OpenAPI document says about the route.
 */
declare module "moleculer" {
  interface ActionSchema {
    auth?: "public" | "user" | "admin";
    openapi?: import("../lib/openapi-meta").ActionOpenApi;
  }
}
