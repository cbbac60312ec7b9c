# One image runs any node: SERVICES picks the services (unset = all of them),
# e.g. SERVICES=api for the gateway. `node dist/bin/sandbox-provider.js` runs
# the sandbox payment provider from the same image.

# Every dependency, dev ones included, to compile the TypeScript. sqlite3 and
# argon2 build from source when no prebuilt binary fits, hence the toolchain.
FROM node:22-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY . .
# tsc into dist/, then postbuild copies the notification templates next to it.
RUN npm run build

# Production dependencies only: the same native builds, minus the dev tree
# (TypeScript, Jest, and the `node` package — the image has its own Node 22).
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
# glibc malloc settings (lib/runtime/malloc.ts; docs/performance.md): two
# arenas instead of one per thread, and large blocks (a password hash's
# 19 MiB) mapped and given back rather than kept. Set here, the node does not
# need to start itself again to get them.
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=4194304
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Root owns the code; the process runs as the unprivileged `node` user (uid
# 1000). With every server configured a node writes nothing; DATA_DIR is
# writable for the embedded fallbacks (e.g. `.eml` files without SMTP_URL).
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# Gateway HTTP, metrics endpoint, sandbox payment provider.
EXPOSE 3000 3030 4100
# The Node flags of lib/runtime/node-flags.ts, given here so the node need not
# start itself again for them either.
CMD ["node", "--experimental-async-context-frame", "dist/bin/start.js"]
