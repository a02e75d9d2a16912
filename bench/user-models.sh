#!/usr/bin/env bash
# The models users bring (fixtures/make_user_models.py) through the README's recipe on the full Fashion-MNIST:
# the ResNet exported with BatchNormalization kept and half its BN scales negative against its folded twin (the
# same trained network), and the MLP behind Flatten. Each: pg convert with its defaults, one epoch of
# pg finetune at target sparsity 0.85 with --final-calibration --train-weights --seed 1, pg report on the test set
# against the float model.
# Usage (after pnpm build; the full data set from Debian's dataset-fashion-mnist): bash bench/user-models.sh [NAME...]
# (NAME among resnet-bn-unfolded resnet-bn-folded mlp-fmnist; all three by default)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PG_BENCH_OUT:-out/user-models}
pg() { node packages/cli/bin/run.js "$@"; }
mkdir -p "$OUT"
echo "commit $(git rev-parse --short HEAD)"
for name in ${@:-resnet-bn-unfolded resnet-bn-folded mlp-fmnist}; do
  model=fixtures/models/$name.onnx
  pg convert "$model" -o "$OUT/$name.gated.onnx" --bits 4 --hbits 2 --wbits 8 --force --json > "$OUT/$name.convert.json"
  pg finetune "$OUT/$name.gated.onnx" --data fashion-mnist:train -o "$OUT/$name.tuned.onnx" --epochs 1 --target-sparsity 0.85 \
    --final-calibration --train-weights --seed 1 --force --json > "$OUT/$name.finetune.json"
  pg report "$OUT/$name.tuned.onnx" --data fashion-mnist:test --baseline "$model" --json > "$OUT/$name.report.json"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1])).result;
    const w = r.whole_model;
    console.log(`${process.argv[2].padEnd(20)} accuracy ${(100 * r.accuracy).toFixed(2)}% (float ${(100 * r.baseline_accuracy).toFixed(2)}%)  gated-layer sparsity ${r.sparsity.toFixed(3)}  whole model: gated MACs ${(100 * w.gated_mac_fraction).toFixed(1)}%, act bits ${w.act_bits.toFixed(3)}, ${w.bitops_vs_static_b.toFixed(3)}x static ${r.bits}-bit  (${r.samples} test images)`);
  ' "$OUT/$name.report.json" "$name"
done
