// Tests build their configuration explicitly; the shell's settings must not leak in.
for (const name of ["MYSQL_URL", "REDIS_URL", "CHANNELS_URL", "TRANSPORTER", "NODE_ENV_OVERRIDE"]) {
  delete process.env[name];
}
process.env.NODE_ENV = "test";
