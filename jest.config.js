/** Jest runs the TypeScript sources through SWC (type checking is `npm run typecheck`). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" } }] },
  setupFiles: ["<rootDir>/test/setup-env.ts"],
  testTimeout: 30000,
  // Real servers keep sockets open for a moment after close; do not let that hang the run.
  forceExit: true,
};
