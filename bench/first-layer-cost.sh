#!/usr/bin/env bash
# What the default 8-bit first layer costs in accuracy against a float one (--first-layer-bits float), on the
# bundled ResNet and the full Fashion-MNIST test set: converted before any fine-tuning (static scales calibrated
# on the training set, thresholds 0), and after the README's recipe (convert, then one epoch of finetune at
# target sparsity 0.85 with --final-calibration --train-weights --seed 1).
# Usage (after pnpm build; the full data set from Debian's dataset-fashion-mnist): bash bench/first-layer-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=fixtures/models/resnet-fmnist.onnx
OUT=${PG_BENCH_OUT:-out/first-layer-cost}
pg() { node packages/cli/bin/run.js "$@"; }
mkdir -p "$OUT"
summary() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1])).result;
    console.log(`${process.argv[2].padEnd(34)} accuracy ${(100 * r.accuracy).toFixed(2)}% (float ${(100 * r.baseline_accuracy).toFixed(2)}%)  sparsity ${r.sparsity.toFixed(4)}  B_avg ${r.bavg.toFixed(3)}  (${r.samples} test images)`);
  ' "$1" "$2"
}
for first in 8 float; do
  pg convert "$MODEL" -o "$OUT/converted-$first.onnx" --bits 4 --hbits 2 --wbits 8 --first-layer-bits "$first" --data fashion-mnist:train --json > /dev/null
  pg report "$OUT/converted-$first.onnx" --data fashion-mnist:test --baseline "$MODEL" --json > "$OUT/converted-$first.report.json"
  summary "$OUT/converted-$first.report.json" "first layer $first, converted"
  pg convert "$MODEL" -o "$OUT/gated-$first.onnx" --bits 4 --hbits 2 --wbits 8 --first-layer-bits "$first" --json > /dev/null
  pg finetune "$OUT/gated-$first.onnx" --data fashion-mnist:train -o "$OUT/tuned-$first.onnx" --epochs 1 --target-sparsity 0.85 \
    --final-calibration --train-weights --seed 1 --json > "$OUT/tuned-$first.finetune.json"
  pg report "$OUT/tuned-$first.onnx" --data fashion-mnist:test --baseline "$MODEL" --json > "$OUT/tuned-$first.report.json"
  summary "$OUT/tuned-$first.report.json" "first layer $first, fine-tuned (README)"
done
