import fs from "node:fs";
import path from "node:path";
import { CONFIG_KEYS } from "../../lib/config";

describe("README", () => {
  const readme = fs.readFileSync(path.join(__dirname, "../../README.md"), "utf8");

  it("documents every configuration variable the code reads", () => {
    const missing = Object.values(CONFIG_KEYS)
      .map((k) => k.env)
      .filter((env) => !readme.includes(`\`${env}\``));
    expect(missing).toEqual([]);
  });

  it("starts with the install-and-start and the test commands", () => {
    const firstBlock = readme.split("```")[1];
    expect(firstBlock).toContain("npm install && npm start");
    expect(firstBlock).toContain("npm test");
  });
});
