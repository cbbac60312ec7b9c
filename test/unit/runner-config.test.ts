import { BrokerOptions, Runner } from "moleculer";

/**
 * Every deployed node starts through moleculer-runner (bin/start.ts), which
 * overwrites broker options from same-named env vars after loading
 * moleculer.config.ts. TRANSPORTER is one of them: the transporter the node
 * uses must still be the one built from configuration, with its TLS and
 * Kafka SASL settings, not the bare URL.
 */
describe("moleculer.config.ts under moleculer-runner", () => {
  const env = {
    TRANSPORTER: "kafka://kafka-1:9092,kafka-2:9092",
    KAFKA_SSL: "true",
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: "shop",
    KAFKA_SASL_PASSWORD: "secret-from-env",
    NAMESPACE: "staging",
  };

  afterEach(() => {
    for (const name of Object.keys(env)) delete process.env[name];
  });

  function runnerConfig(): Partial<BrokerOptions> {
    Object.assign(process.env, env);
    let config: Partial<BrokerOptions> = {};
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      config = require("../../moleculer.config") as Partial<BrokerOptions>;
    });
    const runner = new Runner();
    runner.flags = {};
    runner.mergeOptions(config);
    return runner.config;
  }

  it("keeps the Kafka transporter with its TLS and SASL settings", () => {
    const { transporter } = runnerConfig() as {
      transporter: { type: string; options: Record<string, Record<string, unknown>> };
    };
    expect(transporter.type).toBe("Kafka");
    expect(transporter.options.bootstrapBrokers).toEqual(["kafka-1:9092", "kafka-2:9092"]);
    for (const client of ["producer", "consumer", "admin"])
      expect(transporter.options[client]).toMatchObject({
        tls: expect.any(Object),
        sasl: { mechanism: "SCRAM-SHA-512", username: "shop", password: "secret-from-env" },
      });
  });

  it("still takes the namespace from NAMESPACE, as nodes and the REPL agree on it", () => {
    expect(runnerConfig().namespace).toBe("staging");
  });
});
