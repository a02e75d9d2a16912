#!/usr/bin/env bash
# Does --final-calibration put the sparsity on the target without costing accuracy? Fine-tunes the bundled
# ResNet at 4/2 bits a few steps (the demo's flags, --max-steps instead of one epoch) with and without it, and
# reports both on the test set. Usage (after pnpm build): bash bench/final-calibration.sh [STEPS] [TEST_LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-20}
LIMIT=${2:-2000}
OUT=${PG_BENCH_OUT:-out/final-calibration}
pg() { node packages/cli/bin/run.js "$@"; }
mkdir -p "$OUT"
pg convert fixtures/models/resnet-fmnist.onnx -o "$OUT/gated.onnx" --bits 4 --hbits 2 --wbits 8 --json > /dev/null
for variant in no-final-calibration final-calibration; do
  pg finetune "$OUT/gated.onnx" --data fashion-mnist:train -o "$OUT/$variant.onnx" --max-steps "$STEPS" \
    --target-sparsity 0.85 --train-weights --seed 1 --"$variant" --json > "$OUT/$variant.finetune.json"
  pg report "$OUT/$variant.onnx" --data fashion-mnist:test --limit "$LIMIT" --json > "$OUT/$variant.report.json"
  node -e '
    const f = JSON.parse(require("fs").readFileSync(process.argv[1])).result;
    const r = JSON.parse(require("fs").readFileSync(process.argv[2])).result;
    console.log(`${process.argv[3].padEnd(22)} steps ${f.steps}  last-batch sparsity ${f.final_sparsity.toFixed(3)}  test: accuracy ${(100 * r.accuracy).toFixed(2)}%  sparsity ${r.sparsity.toFixed(4)}  B_avg ${r.bavg.toFixed(3)}  (${r.samples} samples)`);
  ' "$OUT/$variant.finetune.json" "$OUT/$variant.report.json" "--$variant"
done
