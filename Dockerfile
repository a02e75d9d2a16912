# pg's image: Node.js 20 on Debian 12, oneDNN, pg installed from its npm tarballs (scripts/pack.mjs) with the
# native addon built on install, run as a non-root user.
# Build: docker build -t pg .   Use: docker run --rm -v "$PWD:/work" pg sweep /work/model.onnx ...
# How the Kubernetes Job and the GitHub workflow in deploy/ use it: docs/scale-out.md.

FROM node:20-bookworm-slim AS pack
RUN npm install -g pnpm@12.4.2
WORKDIR /src
COPY . .
# PG_NATIVE=0: the addon is compiled where the tarballs are installed (below), not here.
RUN PG_NATIVE=0 pnpm install --frozen-lockfile && PG_NATIVE=0 pnpm build && node scripts/pack.mjs /pack

FROM node:20-bookworm-slim
COPY --from=pack /pack /tmp/pack
# libdnnl-dev + g++ let @pg/native-kernels' install script compile the oneDNN addon; PG_NATIVE_REQUIRED=1
# makes a failed compile an error instead of an image that silently runs the slower pure-wasm kernels. The
# compiler goes afterwards; libdnnl2 (the library the addon links to) stays. ONNXRUNTIME_NODE_INSTALL=skip:
# onnxruntime-node's own install script would download CUDA parts pg does not use.
RUN apt-get update \
  && apt-get install -y --no-install-recommends libdnnl2 libdnnl-dev g++ \
  && cd /tmp/pack \
  && PG_NATIVE_REQUIRED=1 ONNXRUNTIME_NODE_INSTALL=skip npm install -g ./pg-cli-*.tgz \
  && apt-get purge -y --auto-remove libdnnl-dev g++ \
  && rm -rf /var/lib/apt/lists/* /tmp/pack /root/.npm
# node:20 images ship the user 'node' (uid 1000); the Kubernetes Job runs as that uid too.
USER node
WORKDIR /work
ENTRYPOINT ["pg"]
CMD ["--help"]
