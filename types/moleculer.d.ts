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
    openapi?: {
      summary?: string;
      description?: string;
      tags?: string[];
      /** Success status (default 200). */
      status?: number;
      /** Example or JSON schema of the success body. */
      response?: Record<string, unknown>;
    };
  }
}
