import { DataTypes, Sequelize } from "sequelize";
import { openDatabase, RelationalDatabase } from "../../lib/infra/relational";

/**
 * The embedded database must behave like a real one under concurrency:
 * parallel transactions each commit or roll back on their own.
 */
describe("embedded relational database under concurrency", () => {
  let db: RelationalDatabase;
  beforeEach(async () => {
    db = await openDatabase("concurrency", {
      sqliteStorage: ":memory:",
      perServiceDatabase: false,
    });
    await db.migrate([
      {
        name: "0001-counters",
        up: async (qi) => {
          await qi.createTable("counters", {
            id: { type: DataTypes.STRING, primaryKey: true },
            value: { type: DataTypes.INTEGER, allowNull: false },
          });
          await qi.bulkInsert("counters", [{ id: "c", value: 0 }]);
        },
      },
    ]);
  });
  afterEach(() => db.close());

  const value = async (s: Sequelize) =>
    (
      (await s.query("SELECT value FROM counters WHERE id = 'c'", { plain: true })) as {
        value: number;
      }
    ).value;

  it("runs 20 concurrent read-modify-write transactions without losing an update", async () => {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const current = (await db.sequelize.query("SELECT value FROM counters WHERE id = 'c'", {
            plain: true,
            transaction: tx,
          })) as { value: number };
          await db.sequelize.query("UPDATE counters SET value = ? WHERE id = 'c'", {
            replacements: [current.value + 1],
            transaction: tx,
          });
        }),
      ),
    );
    expect(await value(db.sequelize)).toBe(20);
  });

  it("keeps a write made outside a transaction when a concurrent transaction rolls back", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const failing = db
      .transaction(async (tx) => {
        await db.sequelize.query("UPDATE counters SET value = 100 WHERE id = 'c'", {
          transaction: tx,
        });
        await held;
        throw new Error("roll back");
      })
      .catch((err: Error) => err.message);
    const outside = db.sequelize.query("INSERT INTO counters (id, value) VALUES ('d', 1)");
    setTimeout(release, 50);
    expect(await failing).toBe("roll back");
    await outside;
    expect(await value(db.sequelize)).toBe(0);
    const d = (await db.sequelize.query("SELECT value FROM counters WHERE id = 'd'", {
      plain: true,
    })) as { value: number };
    expect(d.value).toBe(1);
  });
});
