# syntax=docker/dockerfile:1
# multinic-agent image: the compiled agent, its production dependencies, and the two host tools it calls
# from inside the container (nsenter to enter the host's namespaces, ip for link changes).
#
#   docker build -t multinic-agent:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/multinic-agent:0.1.0 --push .
#
# Node 22 is a long-term-support line; the agent is tested on Node 20 and later.
ARG NODE_IMAGE=node:22-bookworm-slim

# Build: TypeScript to JavaScript once, on the build machine's own architecture (the output is portable).
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --omit=peer skips the packages only the chart and image tests use.
RUN npm ci --omit=peer --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies only (all pure JavaScript, so this step runs on any target platform).
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="multinic-agent" \
      org.opencontainers.image.description="Keeps a Kubernetes node's secondary NICs equal to the OpenStack port table" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 util-linux \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY --from=build /src/dist ./dist
# `kubectl exec ... -- multinic-agent plan` works in a running pod.
RUN chmod 0755 /app/dist/cli.js /app/dist/bundle/cli.mjs \
    && ln -s /app/dist/bundle/cli.mjs /usr/local/bin/multinic-agent
# Runs as root on purpose: the chart makes the container privileged to change the host's network, and
# writes nothing to the image's own filesystem, which can be mounted read-only.
# The entry point is the one-file bundle (scripts/bundle.mjs). The flags trade JIT speed the agent does not
# need for memory, measured on the daemon in the sandbox (npm run bench, figure 9; README "Footprint"):
# a 1 MB young generation keeps the heap from growing between cycles, --jitless (with wasm off, which it
# requires) drops the compilers' code and memory, and one V8 worker thread with single-threaded GC avoids
# waking threads for a heap this small. Together ~59 MB resident instead of ~72, at the same CPU per cycle.
# --jitless turns WebAssembly off: the daemon uses none (Node's own fetch() would need it; the agent
# does not call it), and the bundle test runs the bundle under these flags.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--jitless", "--no-expose-wasm", "--v8-pool-size=1", "--single-threaded-gc", "/app/dist/bundle/cli.mjs"]
CMD ["run"]
