import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { infrastructureOf } from "../lib/infra";
import type { Migration, RelationalDatabase } from "../lib/infra/relational";

/**
 * Gives a service its own relational database (ARCHITECTURE §3), migrated
 * before the service starts:
 *
 *   mixins: [DatabaseMixin({ migrations: [...outboxMigrations, ...ownMigrations] }), OutboxMixin()],
 *
 * Migrations apply in list order; names are unique per service. The
 * database is closed with the node's infrastructure when the broker stops.
 */
export interface DatabaseThis {
  db: RelationalDatabase;
  /**
   * The opened and migrated database. Moleculer runs the `started` hooks of
   * later mixins first, so other mixins that need the database await this
   * instead of reading `this.db`.
   */
  databaseReady(): Promise<RelationalDatabase>;
}

type DatabaseMethods = Pick<DatabaseThis, "databaseReady">;

const opening = new WeakMap<Service, Promise<RelationalDatabase>>();

export function DatabaseMixin(opts: { migrations: Migration[] }): Partial<ServiceSchema> {
  const names = opts.migrations.map((m) => m.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new Error(`Migration "${duplicate}" is listed twice`);

  const schema: Partial<ServiceSchema<ServiceSettingSchema, DatabaseMethods, DatabaseThis>> = {
    methods: {
      databaseReady(): Promise<RelationalDatabase> {
        let ready = opening.get(this);
        if (!ready) {
          ready = (async () => {
            const db = await infrastructureOf(this.broker).database(this.name);
            const applied = await db.migrate(opts.migrations);
            if (applied.length) this.logger.info(`Applied migrations: ${applied.join(", ")}`);
            this.db = db;
            return db;
          })();
          // A failed start may be retried (the runner restarts the service).
          ready.catch(() => opening.delete(this));
          opening.set(this, ready);
        }
        return ready;
      },
    },

    async started() {
      await this.databaseReady();
    },

    async stopped() {
      opening.delete(this);
    },
  };
  // Services mix it into their own typed schemas.
  return schema as Partial<ServiceSchema>;
}
