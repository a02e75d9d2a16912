#!/usr/bin/env bash
# The README's first command (`pnpm demo`, after a build): the README's three commands on the bundled model,
# convert -> finetune -> report, writing into out/ and printing the report. They take no options beyond the
# data: pg's defaults are its recipe (4/2 bits, 8-bit weights and first layer, residual sums gated; one epoch at target sparsity 0.85,
# weights trained, final calibration). Uses the full Fashion-MNIST when
# Debian's dataset-fashion-mnist is installed (or PG_DATA_DIR points to it), the bundled subset otherwise.
# PG_DEMO_MODEL runs it on another float model (e.g. fixtures/models/tiny-cnn.onnx for a quick check).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${PG_DEMO_MODEL:-fixtures/models/resnet-fmnist.onnx}
OUT=out
pg() { node packages/cli/bin/run.js "$@"; }

if [[ -n "${PG_DATA_DIR:-}" ]]; then
  echo "Data: Fashion-MNIST from PG_DATA_DIR=$PG_DATA_DIR"
elif [[ "${PG_DATA_SOURCE:-auto}" != bundled && -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  echo "Data: the full Fashion-MNIST from /usr/share/datasets/fashion-mnist"
else
  echo "Data: the bundled Fashion-MNIST subset (2,000 train / 1,000 test images)."
  echo "      For the full set: sudo apt-get install dataset-fashion-mnist"
fi
mkdir -p "$OUT"

echo
echo "== pg convert"
# The stem is quantized at 8 bits by default (--first-layer-bits), so the path from the input to every gate is
# integer and an export takes the same gate decisions in any runtime (docs/gated-format.md).
pg convert "$MODEL" -o "$OUT/gated.onnx"

echo
echo "== pg finetune"
pg finetune "$OUT/gated.onnx" --data fashion-mnist:train -o "$OUT/tuned.onnx"

echo
echo "== pg report"
pg report "$OUT/tuned.onnx" --data fashion-mnist:test --baseline "$MODEL" | tee "$OUT/report.txt"

echo
echo "== pg export (standard ONNX ops, for any runtime)"
pg export "$OUT/tuned.onnx" --format onnx -o "$OUT/tuned.standard.onnx"

echo
echo "Models and the report are in $OUT/. Add --json to any command for machine-readable output."
