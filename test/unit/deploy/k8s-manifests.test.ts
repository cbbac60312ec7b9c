import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import {
  foldersWithDatabases,
  isKnownNodeVariable,
  requiredEnv,
  ROOT,
  serviceFolders,
  servicesOf,
} from "./node-groups";

/**
 * The Kubernetes manifests under k8s/: every object is valid for the API
 * (schemas of kubernetes-models), the kustomizations list what their folders
 * hold, and the objects fit together — every node group gets the settings
 * its services need, probes, limits and a non-root sandbox, and Services,
 * HPAs and the Ingress point at things that exist.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped YAML */
type Manifest = Record<string, any>;

interface Loaded {
  file: string;
  doc: Manifest;
}

const K8S = path.join(ROOT, "k8s");
const KUSTOMIZATION = "kustomization.yaml";
const isTemplate = (file: string) => file.endsWith(".example.yaml");

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(entry.name) ? [full] : [];
  });
}

function load(file: string): Manifest[] {
  return parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((d): d is Manifest => d !== null);
}

const files = yamlFiles(K8S);
const all: Loaded[] = files.flatMap((file) => load(file).map((doc) => ({ file, doc })));
const kustomizations = all.filter((m) => path.basename(m.file) === KUSTOMIZATION);
const objects = all.filter((m) => path.basename(m.file) !== KUSTOMIZATION);
/** What `kubectl apply -k k8s/base` creates (the template is applied by hand, never from here). */
const applied = objects.filter(
  (m) => m.file.startsWith(path.join(K8S, "base")) && !isTemplate(m.file),
);
const ofKind = (kind: string) => applied.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const rel = (file: string) => path.relative(ROOT, file);

const deployments = ofKind("Deployment");
const configMaps = ofKind("ConfigMap");
const secretTemplate = objects.find((m) => isTemplate(m.file) && m.doc.kind === "Secret")?.doc;
const containersOf = (d: Manifest): Manifest[] => d.spec.template.spec.containers;
const podLabels = (d: Manifest): Record<string, string> => d.spec.template.metadata.labels;

/** Variables a container gets, by name: its own env, then every ConfigMap it imports. */
function environmentOf(container: Manifest): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const from of container.envFrom ?? []) {
    const map = configMaps.find((c) => c.metadata.name === from.configMapRef?.name);
    for (const [k, v] of Object.entries(map?.data ?? {})) env.set(k, String(v));
  }
  for (const e of container.env ?? []) env.set(e.name, e.value);
  return env;
}

/** Deployments that run platform services (those setting SERVICES), with their service folders. */
const nodeGroups = deployments.flatMap((d) =>
  containersOf(d).flatMap((c) => {
    const services = environmentOf(c).get("SERVICES");
    return services ? [{ name: d.metadata.name as string, services: servicesOf(services), c }] : [];
  }),
);

function validateWithSchemas(docs: Manifest[]): (string | null)[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, "validate-k8s.mjs")], {
    input: JSON.stringify(docs),
    encoding: "utf8",
  });
  return JSON.parse(out);
}

describe("Kubernetes manifests", () => {
  it("are found, in the kustomize layout", () => {
    expect(files.map(rel)).toEqual(
      expect.arrayContaining(["k8s/base/kustomization.yaml", "k8s/base/secret.example.yaml"]),
    );
    expect(deployments.length).toBeGreaterThan(0);
  });

  it("are each valid against the Kubernetes schema of their kind", () => {
    const results = validateWithSchemas(objects.map((m) => m.doc));
    const invalid = objects
      .map((m, i) => ({
        at: `${rel(m.file)} ${m.doc.kind}/${m.doc.metadata?.name}`,
        error: results[i],
      }))
      .filter((r) => r.error !== null);
    expect(invalid).toEqual([]);
  });

  it("are rejected when they are not: a wrong type, a missing field, an unknown kind", () => {
    const [badReplicas, noContainers, unknown] = validateWithSchemas([
      { ...deployments[0], spec: { ...deployments[0].spec, replicas: "two" } },
      {
        ...deployments[0],
        spec: { ...deployments[0].spec, template: { spec: { securityContext: {} } } },
      },
      { apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } },
    ]);
    expect(badReplicas).toMatch(/replicas must be integer/);
    expect(noContainers).toMatch(/containers/);
    expect(unknown).toMatch(/unknown kind Deploymnet/);
  });

  describe.each(kustomizations.map((k) => [rel(k.file), k] as const))("%s", (_name, k) => {
    const dir = path.dirname(k.file);
    const resources: string[] = k.doc.resources ?? [];

    it("lists every manifest of its folder, and no template", () => {
      const inFolder = fs
        .readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f) && f !== KUSTOMIZATION && !isTemplate(f));
      const listedFiles = resources.filter((r) => !r.includes("/"));
      expect([...listedFiles].sort()).toEqual([...inFolder].sort());
      expect(resources.filter(isTemplate)).toEqual([]);
    });

    it("refers only to folders that are kustomizations", () => {
      for (const r of resources.filter((r) => r.includes("/")))
        expect(fs.existsSync(path.join(dir, r, KUSTOMIZATION))).toBe(true);
    });
  });

  it("set only variables the nodes read (config keys, <SERVICE>_MYSQL_URL, SERVICES)", () => {
    const names = [
      ...deployments.flatMap((d) =>
        containersOf(d).flatMap((c) => (c.env ?? []).map((e: Manifest) => e.name)),
      ),
      ...configMaps.flatMap((c) => Object.keys(c.data ?? {})),
      ...Object.keys(secretTemplate?.stringData ?? {}),
    ];
    expect(names.length).toBeGreaterThan(0);
    expect([...new Set(names.filter((n) => !isKnownNodeVariable(n)))]).toEqual([]);
  });

  it("run every service of the code base on some node group", () => {
    const deployed = new Set(nodeGroups.flatMap((g) => g.services));
    expect(serviceFolders().filter((s) => !deployed.has(s))).toEqual([]);
    expect([...deployed].filter((s) => !serviceFolders().includes(s))).toEqual([]);
  });

  it("give each node group what its services need, secrets from the Secret by key", () => {
    expect(foldersWithDatabases().length).toBeGreaterThan(0);
    const missing = nodeGroups.flatMap((g) => {
      const env = environmentOf(g.c);
      return requiredEnv(g.services)
        .filter((name) => !env.has(name))
        .map((name) => `${g.name}: ${name}`);
    });
    expect(missing).toEqual([]);
    for (const g of nodeGroups)
      if (g.services.some((s) => foldersWithDatabases().includes(s)))
        expect(environmentOf(g.c).has("MYSQL_URL")).toBe(true);
  });

  it("take secrets only from the templated Secret, by keys it documents", () => {
    expect(secretTemplate).toBeDefined();
    const refs = deployments.flatMap((d) =>
      containersOf(d).flatMap((c) =>
        (c.env ?? [])
          .filter((e: Manifest) => e.valueFrom?.secretKeyRef)
          .map((e: Manifest) => e.valueFrom.secretKeyRef),
      ),
    );
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref.name).toBe(secretTemplate!.metadata.name);
      expect(Object.keys(secretTemplate!.stringData)).toContain(ref.key);
    }
    // No Secret with values is applied from the repository.
    expect(ofKind("Secret")).toEqual([]);
  });

  describe.each(deployments.map((d) => [d.metadata.name as string, d] as const))(
    "Deployment %s",
    (_name, d) => {
      const pod = d.spec.template.spec;

      it("runs as a non-root user with no privileges to gain", () => {
        expect(pod.securityContext.runAsNonRoot).toBe(true);
        expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
        for (const c of containersOf(d)) {
          expect(c.securityContext).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
          });
          expect(c.securityContext.capabilities.drop).toContain("ALL");
        }
      });

      it("has readiness and liveness probes on ports it declares", () => {
        for (const c of containersOf(d)) {
          const ports = (c.ports ?? []).flatMap((p: Manifest) => [p.name, p.containerPort]);
          for (const probe of [c.readinessProbe, c.livenessProbe]) {
            expect(probe).toBeDefined();
            const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
            if (port !== undefined) expect(ports).toContain(port);
            else expect(probe.exec?.command?.length).toBeGreaterThan(0);
          }
        }
      });

      it("requests and limits CPU and memory", () => {
        for (const c of containersOf(d)) {
          expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
          expect(Object.keys(c.resources.limits).sort()).toEqual(["cpu", "memory"]);
        }
      });
    },
  );

  it("autoscale every node group with an HPA that owns its replica count", () => {
    const hpas = ofKind("HorizontalPodAutoscaler");
    for (const hpa of hpas) {
      const target = deployments.find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
      expect(target).toBeDefined();
      expect(target!.spec.replicas).toBeUndefined();
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      for (const c of containersOf(target!)) expect(c.resources.requests.cpu).toBeDefined();
    }
    const scaled = new Set(hpas.map((h) => h.spec.scaleTargetRef.name));
    expect(nodeGroups.map((g) => g.name).filter((n) => !scaled.has(n))).toEqual([]);
  });

  it("have Services that select a Deployment's pods and target ports they declare", () => {
    for (const service of ofKind("Service")) {
      const selector: Record<string, string> = service.spec.selector;
      const target = deployments.find((d) =>
        Object.entries(selector).every(([k, v]) => podLabels(d)[k] === v),
      );
      expect({ service: service.metadata.name, found: !!target }).toEqual({
        service: service.metadata.name,
        found: true,
      });
      const ports = containersOf(target!).flatMap((c) =>
        (c.ports ?? []).flatMap((p: Manifest) => [p.name, p.containerPort]),
      );
      for (const p of service.spec.ports) expect(ports).toContain(p.targetPort ?? p.port);
    }
  });

  it("expose the gateway through an Ingress with TLS for every host it serves", () => {
    const [ingress] = ofKind("Ingress");
    expect(ingress).toBeDefined();
    const tlsHosts = ingress.spec.tls.flatMap((t: Manifest) => {
      expect(t.secretName).toEqual(expect.any(String));
      return t.hosts;
    });
    for (const rule of ingress.spec.rules) {
      expect(tlsHosts).toContain(rule.host);
      for (const p of rule.http.paths) {
        const service = ofKind("Service").find((s) => s.metadata.name === p.backend.service.name);
        expect(service?.metadata.name).toBe("gateway");
        expect(service!.spec.ports.map((sp: Manifest) => sp.name)).toContain(
          p.backend.service.port.name,
        );
      }
    }
  });
});
