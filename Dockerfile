# pg's image: Node.js 20 on Debian 12, oneDNN, pg built with its native addon, run as a non-root user.
# Build: docker build -t pg .   Use: docker run --rm -v "$PWD:/work" pg sweep /work/model.onnx ...
# How the Kubernetes Job and the GitHub workflow in deploy/ use it: docs/scale-out.md.

FROM node:20-bookworm-slim AS build
# libdnnl-dev + g++: the oneDNN addon (packages/native-kernels) is compiled by pnpm build; PG_NATIVE_REQUIRED=1
# makes a failed build an error here instead of an image that silently runs the slower pure-wasm kernels.
RUN apt-get update \
  && apt-get install -y --no-install-recommends libdnnl-dev g++ make python3 \
  && rm -rf /var/lib/apt/lists/*
RUN npm install -g pnpm@12.4.2
WORKDIR /src
COPY . .
ENV PG_NATIVE_REQUIRED=1
# /opt/pg holds only what pg runs: the CLI, its workspace packages (the built addon included) and their
# production dependencies.
RUN pnpm install --frozen-lockfile && pnpm build && pnpm --filter @pg/cli deploy --prod /opt/pg

FROM node:20-bookworm-slim
# The oneDNN runtime library the addon links to (libdnnl-dev's library package), without the compiler.
RUN apt-get update \
  && apt-get install -y --no-install-recommends libdnnl2 \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pg /opt/pg
RUN ln -s /opt/pg/bin/run.js /usr/local/bin/pg && chmod +x /opt/pg/bin/run.js
# node:20 images ship the user 'node' (uid 1000); the Kubernetes Job runs as that uid too.
USER node
WORKDIR /work
ENTRYPOINT ["pg"]
CMD ["--help"]
