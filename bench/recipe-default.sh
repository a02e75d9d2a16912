#!/usr/bin/env bash
# Does the bare fine-tuning command give the recipe? Runs pg's three commands with no options beyond the data
# (convert's and finetune's defaults: 4/2 bits, 8-bit weights and first layer, one epoch, target sparsity 0.85,
# weights trained, final calibration) on a float model and the full Fashion-MNIST, and prints test accuracy
# against float, sparsity, and the whole model's activation bits and BitOps against static B bits.
# Usage (after pnpm build; Debian's dataset-fashion-mnist): bash bench/recipe-default.sh [MODEL] [OUT]
# e.g. a second model trained with another seed:
#   /usr/bin/python3 fixtures/make_fixtures.py --only resnet --resnet-seed 7 --models-dir .cache/resnet-seed7
#   bash bench/recipe-default.sh .cache/resnet-seed7/resnet-fmnist.onnx out/recipe-seed7
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-fixtures/models/resnet-fmnist.onnx}
OUT=${2:-out/recipe-default}
pg() { node packages/cli/bin/run.js "$@"; }
mkdir -p "$OUT"
pg convert "$MODEL" -o "$OUT/gated.onnx" --json > "$OUT/convert.json"
pg finetune "$OUT/gated.onnx" --data fashion-mnist:train -o "$OUT/tuned.onnx" --json > "$OUT/finetune.json"
pg report "$OUT/tuned.onnx" --data fashion-mnist:test --baseline "$MODEL" --json > "$OUT/report.json"
node -e '
  const read = (f) => JSON.parse(require("fs").readFileSync(f)).result;
  const f = read(process.argv[1]), r = read(process.argv[2]), w = r.whole_model;
  const pct = (x) => (100 * x).toFixed(2) + "%";
  console.log(`${process.argv[3]}: accuracy ${pct(r.accuracy)} (float ${pct(r.baseline_accuracy)}, ${(100 * (r.baseline_accuracy - r.accuracy)).toFixed(2)} points below) on ${r.samples} test images`);
  console.log(`  gated layers: sparsity ${r.sparsity.toFixed(4)} (target ${f.target_sparsity}), B_avg ${r.bavg.toFixed(3)}`);
  console.log(`  whole model: act_bits ${w.act_bits.toFixed(3)}, bitops_vs_static_b ${w.bitops_vs_static_b.toFixed(3)}, gated_mac_fraction ${w.gated_mac_fraction.toFixed(3)}`);
  console.log(`  finetune: ${f.steps} steps, epochs ${f.epochs}, trained ${f.trained.length} tensors, final_calibration ${f.final_calibration}, seed ${f.seed}, median step ${f.step_ms_median.toFixed(0)} ms, ${(f.elapsed_ms / 1000).toFixed(0)} s`);
' "$OUT/finetune.json" "$OUT/report.json" "$MODEL"
