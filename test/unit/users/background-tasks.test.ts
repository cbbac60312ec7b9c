import { BackgroundTasks } from "../../../services/users/background-tasks";

describe("background tasks", () => {
  it("lets the caller go on, logs failures, and drains before shutdown", async () => {
    const failures: string[] = [];
    const tasks = new BackgroundTasks((task) => failures.push(task));
    let finished = false;
    tasks.run("slow", async () => {
      await new Promise((r) => setTimeout(r, 30));
      finished = true;
    });
    tasks.run("broken", async () => {
      throw new Error("boom");
    });
    expect(finished).toBe(false);
    await tasks.drain();
    expect(finished).toBe(true);
    expect(failures).toEqual(["broken"]);
  });
});
