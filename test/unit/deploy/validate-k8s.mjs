/**
 * Validates Kubernetes objects against the API's OpenAPI schemas with
 * kubernetes-models. Reads a JSON array of objects on stdin and prints one
 * result per object: null when valid, else the reason. A separate process
 * because kubernetes-models is an ES module only, which Jest's CommonJS
 * runtime cannot load.
 */
import process from "node:process";

async function modelFor(apiVersion, kind) {
  // kubernetes-models/<group>/<version>/<Kind>, core group as "v1".
  if (!/^[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z]+$/.test(kind)) return;
  try {
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return module[kind];
  } catch {
    return undefined;
  }
}

async function validate(object) {
  const { apiVersion, kind } = object ?? {};
  if (typeof apiVersion !== "string" || typeof kind !== "string") return "no apiVersion and kind";
  const Model = await modelFor(apiVersion, kind);
  if (!Model) return `unknown kind ${kind} in ${apiVersion}`;
  try {
    new Model(object).validate();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = await Promise.all(JSON.parse(input).map(validate));
process.stdout.write(JSON.stringify(results));
