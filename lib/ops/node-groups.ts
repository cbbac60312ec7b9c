/**
 * How the platform splits into nodes (ARCHITECTURE §1): the groups
 * `npm run start:cluster` starts, each with `SERVICES` naming its service
 * folders, and the topology the split end-to-end suite runs. The Compose
 * file and the Kubernetes manifests use the same groups.
 */
export interface NodeGroup {
  name: string;
  /** Folders under services/ (what `SERVICES` lists). */
  services: readonly string[];
}

export const NODE_GROUPS = [
  { name: "gateway", services: ["api"] },
  { name: "users", services: ["users", "ops"] },
  { name: "catalog", services: ["catalog", "inventory", "search"] },
  { name: "cart", services: ["cart"] },
  { name: "orders", services: ["orders"] },
  { name: "payments", services: ["payments"] },
  { name: "notifications", services: ["notifications"] },
] as const satisfies readonly NodeGroup[];

export type NodeGroupName = (typeof NODE_GROUPS)[number]["name"];
