/** What an action's `openapi` property says about its route in the generated document. */
export interface ActionOpenApi {
  summary?: string;
  description?: string;
  tags?: string[];
  /** Success status (default 200). */
  status?: number;
  /** Example or JSON schema of the success body. */
  response?: Record<string, unknown>;
}
