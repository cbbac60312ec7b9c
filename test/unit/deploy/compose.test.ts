import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { isKnownNodeVariable, requiredEnv, ROOT, serviceFolders, servicesOf } from "./node-groups";

/**
 * docker-compose.yml: Compose accepts it with the variables of .env.example
 * and refuses it without secrets; every node group gets what its services
 * need; containers start after the servers they use are healthy; images are
 * pinned; Prometheus scrapes every node group.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- the Compose file is untyped YAML */
type ComposeService = Record<string, any>;

const COMPOSE_FILE = path.join(ROOT, "docker-compose.yml");
const ENV_EXAMPLE = path.join(ROOT, ".env.example");
const compose = parse(fs.readFileSync(COMPOSE_FILE, "utf8"), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = Object.entries(compose.services);
/** Containers of our own image (./Dockerfile). */
const ours = services.filter(([, s]) => s.build !== undefined);
/** The platform's nodes: our image running services picked by SERVICES. */
const nodes = ours.filter(([, s]) => s.environment?.SERVICES);
const envOf = (s: ComposeService): Record<string, string> => s.environment ?? {};
/** Servers whose ports stay on the stack's network; only UIs and the gateway are published. */
const PUBLISHED = ["gateway", "mailcatcher", "jaeger", "prometheus", "grafana"];

describe("docker-compose.yml", () => {
  it("runs every service of the code base on some node", () => {
    const deployed = new Set(nodes.flatMap(([, s]) => servicesOf(envOf(s).SERVICES)));
    expect(serviceFolders().filter((s) => !deployed.has(s))).toEqual([]);
    expect([...deployed].filter((s) => !serviceFolders().includes(s))).toEqual([]);
  });

  it("gives every node what a split node and its services need", () => {
    const missing = nodes.flatMap(([name, s]) =>
      requiredEnv(servicesOf(envOf(s).SERVICES))
        .filter((key) => !envOf(s)[key])
        .map((key) => `${name}: ${key}`),
    );
    expect(missing).toEqual([]);
  });

  it("gives a setting shared by several nodes the same value on each", () => {
    const values = new Map<string, Set<string>>();
    for (const [, s] of nodes)
      for (const [key, value] of Object.entries(envOf(s)))
        if (key !== "SERVICES") values.set(key, (values.get(key) ?? new Set()).add(String(value)));
    const differing = [...values].filter(([, v]) => v.size > 1).map(([key]) => key);
    expect(differing).toEqual([]);
  });

  it("sets only variables the nodes read (config keys, <SERVICE>_MYSQL_URL, SERVICES)", () => {
    const unknown = ours.flatMap(([name, s]) =>
      Object.keys(envOf(s))
        .filter((key) => !isKnownNodeVariable(key))
        .map((key) => `${name}: ${key}`),
    );
    expect(unknown).toEqual([]);
  });

  it("takes every secret from the environment (.env), with no default", () => {
    const secretish = /(PASSWORD|SECRET|API_KEY|PRIVATE_KEY)$|^MYSQL_URL$/;
    const literal = services.flatMap(([name, s]) =>
      Object.entries(envOf(s))
        .filter(([key]) => secretish.test(key))
        .filter(([, value]) => !/\$\{[A-Z_]+:\?[^}]+\}/.test(String(value)))
        .map(([key]) => `${name}: ${key}`),
    );
    expect(literal).toEqual([]);
  });

  it("starts a container only once the dependencies that have a healthcheck are healthy", () => {
    const wrong = services.flatMap(([name, s]) => {
      const dependsOn = s.depends_on ?? {};
      if (Array.isArray(dependsOn)) return [`${name}: depends_on as a list waits for nothing`];
      return Object.entries(dependsOn as Record<string, { condition?: string }>).flatMap(
        ([dep, { condition }]) => {
          const target = compose.services[dep];
          if (!target) return [`${name}: depends on unknown ${dep}`];
          const expected = target.healthcheck ? "service_healthy" : "service_started";
          return condition === expected ? [] : [`${name} → ${dep}: ${condition}`];
        },
      );
    });
    expect(wrong).toEqual([]);
    expect(nodes.every(([, s]) => s.depends_on?.kafka && s.depends_on?.redis)).toBe(true);
  });

  it("gives every container a healthcheck", () => {
    expect(services.filter(([, s]) => !s.healthcheck?.test).map(([name]) => name)).toEqual([]);
  });

  it("pins every image to a version, never latest", () => {
    const unpinned = services
      .map(([name, s]) => [name, String(s.image ?? "")] as const)
      .filter(([, image]) => {
        const tag = /:([^/:]+)$/.exec(image)?.[1];
        return !tag || tag === "latest";
      });
    expect(unpinned).toEqual([]);
    const thirdParty = services.filter(([, s]) => s.build === undefined);
    for (const [, s] of thirdParty) expect(s.image).toMatch(/:v?\d/);
  });

  it("publishes only the gateway and the UIs on the host", () => {
    const published = services.filter(([, s]) => s.ports?.length).map(([name]) => name);
    expect(published.sort()).toEqual([...PUBLISHED].sort());
  });

  it("has Prometheus scrape every node on its metrics port", () => {
    const prometheus = parse(
      fs.readFileSync(path.join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8"),
    );
    const job = prometheus.scrape_configs.find(
      (j: { job_name: string }) => j.job_name === "commerce",
    );
    const [sd] = job.dns_sd_configs;
    expect([...sd.names].sort()).toEqual(nodes.map(([name]) => name).sort());
    for (const [, s] of nodes) expect(Number(envOf(s).METRICS_PORT)).toBe(sd.port);
  });
});

/**
 * Compose's own check (`config -q`). Needs the docker-compose command (no
 * engine): on CI a missing one fails the suite; elsewhere it is left out.
 */
function composeCommandAvailable(): boolean {
  if (spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0) return true;
  if (process.env.CI === "true" || process.env.CI === "1")
    throw new Error(
      "CI needs docker-compose to validate docker-compose.yml (apt-get install docker-compose)",
    );
  return false;
}

if (composeCommandAvailable())
  describe("docker-compose config", () => {
    let dir: string;

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-config-"));
    });

    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Only PATH: no variable of this shell may stand in for the env file. */
    function config(envFile: string) {
      return spawnSync(
        "docker-compose",
        ["--env-file", envFile, "-f", COMPOSE_FILE, "--project-directory", ROOT, "config", "-q"],
        { encoding: "utf8", env: { PATH: process.env.PATH }, cwd: dir },
      );
    }

    it("accepts the file with the variables of .env.example", () => {
      const result = config(ENV_EXAMPLE);
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
    });

    it("refuses to run without the secrets, naming the one missing", () => {
      const withoutJwtKey = path.join(dir, "without-jwt-key.env");
      fs.writeFileSync(
        withoutJwtKey,
        fs
          .readFileSync(ENV_EXAMPLE, "utf8")
          .split("\n")
          .filter((line) => !line.startsWith("JWT_PRIVATE_KEY="))
          .join("\n"),
      );
      const result = config(withoutJwtKey);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("set JWT_PRIVATE_KEY in .env");
    });
  });
