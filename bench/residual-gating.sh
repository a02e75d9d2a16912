#!/usr/bin/env bash
# Residual-aware gating (pg convert's default, --gate-residual) against the plain placement (--no-gate-residual), on the bundled ResNet and on a
# ResNet of the same shape trained with another seed: the README's recipe (convert at 4/2/8 bits, one epoch of
# finetune at target sparsity 0.85 with --train-weights --final-calibration --seed 1 on fashion-mnist:train),
# reported on all of fashion-mnist:test against the float model.
# Usage (after pnpm build; the full data set from Debian's dataset-fashion-mnist; the second ResNet from
#   /usr/bin/python3 fixtures/make_fixtures.py --only resnet --resnet-seed 7 --models-dir .cache/resnet-seed7):
#   bash bench/residual-gating.sh [VARIANT...]      VARIANT: plain, residual (default both)
#   PG_MODELS="M.onnx ..." picks the models (default: the bundled ResNet and the seed-7 one)
# Writes one JSON line per model and variant to $OUT/results.jsonl (bench/results/residual-gating.jsonl keeps a run,
# bench/results/residual-gating/ its reports).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PG_BENCH_OUT:-out/residual-gating}
SEED7=${PG_SEED7_MODEL:-.cache/resnet-seed7/resnet-fmnist.onnx}
VARIANTS=("${@:-plain residual}")
pg() { nice -n 5 node packages/cli/bin/run.js "$@"; }
mkdir -p "$OUT"
for variant in ${VARIANTS[*]}; do
  flags=(--no-gate-residual)
  [ "$variant" = residual ] && flags=(--gate-residual)
  for model in ${PG_MODELS:-fixtures/models/resnet-fmnist.onnx $SEED7}; do
    if [ ! -f "$model" ]; then echo "skipped $model ($variant): no such file (see Usage)" >&2; continue; fi
    tag="$(basename "$(dirname "$model")")-$variant"
    pg convert "$model" -o "$OUT/$tag.gated.onnx" --bits 4 --hbits 2 --wbits 8 "${flags[@]}" --json > "$OUT/$tag.convert.json"
    pg inspect "$model" "${flags[@]}" --json > "$OUT/$tag.inspect.json"
    start=$(date +%s)
    pg finetune "$OUT/$tag.gated.onnx" --data fashion-mnist:train -o "$OUT/$tag.tuned.onnx" --epochs 1 --target-sparsity 0.85 \
      --train-weights --final-calibration --seed 1 --json > "$OUT/$tag.finetune.json"
    seconds=$(( $(date +%s) - start ))
    pg report "$OUT/$tag.tuned.onnx" --data fashion-mnist:test --baseline "$model" --json > "$OUT/$tag.report.json"
    node -e '
      const [report, inspect, model, variant, seconds] = process.argv.slice(1);
      const r = JSON.parse(require("fs").readFileSync(report)).result;
      const i = JSON.parse(require("fs").readFileSync(inspect)).result;
      const w = r.whole_model;
      console.log(JSON.stringify({
        model, variant, finetune_seconds: Number(seconds), samples: r.samples,
        accuracy: r.accuracy, baseline_accuracy: r.baseline_accuracy, accuracy_drop: r.accuracy_drop,
        sparsity: r.sparsity, bavg: r.bavg,
        gated_mac_fraction: w.gated_mac_fraction, inspect_gated_mac_fraction: i.gated_mac_fraction ?? null,
        act_bits: w.act_bits, bitops_vs_static_b: w.bitops_vs_static_b, bitops_vs_seernet: w.bitops_vs_seernet,
        gated_layers: r.layers.filter((l) => l.gated).length, layers: r.layers.length,
      }));
    ' "$OUT/$tag.report.json" "$OUT/$tag.inspect.json" "$model" "$variant" "$seconds" | tee -a "$OUT/results.jsonl"
  done
done
