#!/usr/bin/env bash
# The ViT fixture (fixtures/models/vit-fmnist.onnx) through pg's recipe on the full Fashion-MNIST, next to a
# static 4-bit baseline trained the same way; the figures of docs/results.md ("Transformers").
#   gated:    pg convert (defaults: 4/2 bits, 8-bit weights, the patch conv at 8 bits, static scales), then one
#             epoch of pg finetune --target-sparsity 0.85 --final-calibration --train-weights --seed 1 (README).
#   static 4: the same conversion with every gate open (thresholds -1e30: each feed-forward output takes its
#             low-bit update, i.e. a static 4-bit layer), fine-tuned one epoch with --train-weights --seed 1 and
#             no gate terms (--penalty 0 --sparsity-weight 0, no target): every token layer quantized at 4 bits.
# Both reported on the 10k test set against the float model. Writes the JSON to bench/results/vit-fmnist.json
# (PG_BENCH_RESULT to change) and the models and reports to out/vit-results (PG_BENCH_OUT). PG_BENCH_EPOCHS
# (default 1, the recipe) shortens both fine-tunings alike, for a machine too loaded to run an epoch;
# PG_BENCH_BASELINE=0 runs the gated model alone (static_4bit null in the JSON).
# Usage (after pnpm build; the full data set from Debian's dataset-fashion-mnist): bash bench/vit-results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=fixtures/models/vit-fmnist.onnx
OUT=${PG_BENCH_OUT:-out/vit-results}
RESULT=${PG_BENCH_RESULT:-bench/results/vit-fmnist.json}
EPOCHS=${PG_BENCH_EPOCHS:-1}
BASELINE=${PG_BENCH_BASELINE:-1}
pg() { node packages/cli/bin/run.js "$@"; }
mkdir -p "$OUT" "$(dirname "$RESULT")"
started=$(date +%s)

pg convert "$MODEL" -o "$OUT/gated.onnx" --json > "$OUT/convert.json"
pg finetune "$OUT/gated.onnx" --data fashion-mnist:train -o "$OUT/tuned.onnx" --epochs "$EPOCHS" --target-sparsity 0.85 \
  --final-calibration --train-weights --seed 1 --json > "$OUT/tuned.finetune.json"
pg report "$OUT/tuned.onnx" --data fashion-mnist:test --baseline "$MODEL" --json > "$OUT/tuned.report.json"

if [ "$BASELINE" != 0 ]; then
node -e '
  const [src, dst] = process.argv.slice(1);
  import(`${process.cwd()}/packages/core/dist/internal.js`).then(async ({ readModel, writeModel, pgLayers, constTensor }) => {
    const m = await readModel(src);
    const initializers = new Map(m.graph.initializers);
    for (const l of pgLayers(m).filter((l) => l.gated)) {
      const t = initializers.get(l.threshold);
      initializers.set(l.threshold, constTensor(l.threshold, "float32", t.dims.slice(), new Float32Array(t.dims.reduce((a, b) => a * b, 1)).fill(-1e30)));
    }
    await writeModel({ ...m, graph: { ...m.graph, initializers } }, dst);
  });
' "$OUT/gated.onnx" "$OUT/static4.onnx"
pg finetune "$OUT/static4.onnx" --data fashion-mnist:train -o "$OUT/static4-tuned.onnx" --epochs "$EPOCHS" --penalty 0 --sparsity-weight 0 \
  --train-weights --seed 1 --json > "$OUT/static4.finetune.json"
pg report "$OUT/static4-tuned.onnx" --data fashion-mnist:test --baseline "$MODEL" --json > "$OUT/static4.report.json"
fi

node -e '
  const fs = require("fs");
  const [out, result, seconds, epochs] = process.argv.slice(1);
  const read = (f) => JSON.parse(fs.readFileSync(`${out}/${f}`, "utf8")).result;
  const baseline = fs.existsSync(`${out}/static4.report.json`);
  const summary = (r, f) => ({
    accuracy: r.accuracy,
    float_accuracy: r.baseline_accuracy,
    accuracy_drop: r.accuracy_drop,
    samples: r.samples,
    gated_layers: r.layers.filter((l) => l.op.startsWith("PG")).length,
    sparsity_gated: r.sparsity,
    bavg_gated: r.bavg,
    whole_model: r.whole_model,
    layers: r.layers.map((l) => ({ name: l.name, op: l.op, macs: l.macs, high_precision_fraction: l.high_precision_fraction })),
    finetune: { steps: f.steps, epochs: f.epochs, step_ms_median: f.step_ms_median, elapsed_ms: f.elapsed_ms, final_sparsity: f.final_sparsity },
  });
  const doc = {
    command: "bash bench/vit-results.sh",
    model: "fixtures/models/vit-fmnist.onnx",
    data: { train: "fashion-mnist:train (60000)", test: "fashion-mnist:test (10000)" },
    recipe: `pg convert (defaults) then pg finetune --epochs ${epochs} --target-sparsity 0.85 --final-calibration --train-weights --seed 1`,
    epochs: Number(epochs),
    gated: summary(read("tuned.report.json"), read("tuned.finetune.json")),
    static_4bit: baseline ? summary(read("static4.report.json"), read("static4.finetune.json")) : null,
    convert: read("convert.json").layers.map((l) => ({ name: l.name, op: l.op, gated: l.gated, bits: l.bits, reason: l.reason })),
    elapsed_s: Number(seconds),
  };
  fs.writeFileSync(result, JSON.stringify(doc, null, 2) + "\n");
  console.log(`gated: accuracy ${(100 * doc.gated.accuracy).toFixed(2)}% (float ${(100 * doc.gated.float_accuracy).toFixed(2)}%), sparsity ${doc.gated.sparsity_gated.toFixed(3)}; static 4-bit: ${baseline ? `${(100 * doc.static_4bit.accuracy).toFixed(2)}%` : "not run"}; wrote ${result}`);
' "$OUT" "$RESULT" "$(( $(date +%s) - started ))" "$EPOCHS"
