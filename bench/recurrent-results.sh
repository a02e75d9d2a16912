#!/usr/bin/env bash
# The paper's second result on pg's recurrent fixtures (docs/results.md, "Recurrent layers"): each fixture is
# converted (pg convert: the gated LSTM at PG 4/2, the recipe; at PG 3/1 with target sparsity 0.5, whose
# whole-model activation bits come to about 3; and the 8-bit static baseline --mode static --bits 8), fine-tuned
# the same way (the bare `pg finetune --data ...` with a step cap, so the bench stays within ~20 minutes on 2
# loaded cores) and reported against the float model. VARIANTS (';'-separated tag|convert flags|finetune
# flags) and MODELS (row-lstm char-lm; on request row-gru, the row classifier with a GRU, and char-lm-1000, the LM
# trained longer) run other sets; every
# report in the output folder joins the summary (its lstm_* fields are the recurrent layer's, LSTM or GRU).
# Data: row-LSTM (row-GRU) trains on the full Fashion-MNIST training set (the first ROW_STEPS batches of 128 after the
# seeded shuffle) and is measured on all 10,000 test images; the char-LM trains on the KJV training windows
# (LM_STEPS batches of 128 windows of 64 characters) and is measured on the first LM_TEST test windows
# (64 characters each). The KJV windows come from `fixtures/make_recurrent.py --only kjvdata` (.cache/kjv-chars/).
# Output: bench/results/recurrent-results/<model>-<variant>.{finetune,report}.json and the summary
# bench/results/recurrent-results.json (with the command and settings).
# Usage (after `pnpm build`): [ROW_STEPS=50] [LM_STEPS=12] [LM_TEST=512] [MODELS=...] [VARIANTS=...] bash bench/recurrent-results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROW_STEPS=${ROW_STEPS:-50}
LM_STEPS=${LM_STEPS:-12}
LM_TEST=${LM_TEST:-512}
MODELS=${MODELS:-row-lstm char-lm}
VARIANTS=${VARIANTS:-pg-4-2|--bits 4 --hbits 2|;pg-3-1-s50|--bits 3 --hbits 1|--target-sparsity 0.5;static-8|--mode static --bits 8|}
PG="node packages/cli/bin/run.js"
OUT=bench/results/recurrent-results
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
if [ ! -f .cache/kjv-chars/train.npz ]; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 fixtures/make_recurrent.py --only kjvdata
fi

# model fixture, train data, test data, steps, report limit
run_model() {
  local name=$1 float=$2 train=$3 test=$4 steps=$5 limit=$6
  case " $MODELS " in *" $name "*) ;; *) return 0 ;; esac
  # Variants: tag|convert flags|finetune flags, separated by ';'.
  local list
  list=$(echo "$VARIANTS" | tr ';' '\n')
  while IFS='|' read -r tag flags ftflags; do
    [ -n "$tag" ] || continue
    echo "== $name $tag: pg convert $flags; pg finetune --max-steps $steps $ftflags" >&2
    printf 'pg convert %s -o %s %s\npg finetune %s --data %s -o %s --max-steps %s %s\npg report %s --data %s --limit %s --baseline %s\n' \
      "$float" "$name-$tag.onnx" "$flags" "$name-$tag.onnx" "$train" "$name-$tag-ft.onnx" "$steps" "$ftflags" "$name-$tag-ft.onnx" "$test" "$limit" "$float" > "$OUT/$name-$tag.commands.txt"
    # shellcheck disable=SC2086
    $PG convert "$float" -o "$WORK/$name-$tag.onnx" $flags --json > "$OUT/$name-$tag.convert.json" < /dev/null
    local t0=$SECONDS
    # shellcheck disable=SC2086
    $PG finetune "$WORK/$name-$tag.onnx" --data "$train" -o "$WORK/$name-$tag-ft.onnx" --max-steps "$steps" $ftflags --json > "$OUT/$name-$tag.finetune.json" < /dev/null
    echo "   fine-tuned in $((SECONDS - t0)) s" >&2
    $PG report "$WORK/$name-$tag-ft.onnx" --data "$test" --limit "$limit" --baseline "$float" --json > "$OUT/$name-$tag.report.json" < /dev/null
  done <<< "$list"
}

run_model row-lstm fixtures/models/row-lstm-fmnist.onnx fashion-mnist:train fashion-mnist:test "$ROW_STEPS" 10000
run_model row-gru fixtures/models/row-gru-fmnist.onnx fashion-mnist:train fashion-mnist:test "$ROW_STEPS" 10000
run_model char-lm fixtures/models/char-lm-kjv.onnx .cache/kjv-chars/train.npz .cache/kjv-chars/test.npz "$LM_STEPS" "$LM_TEST"
# The second LM, trained longer (fixtures/README.md): `make_recurrent.py --only charlm --lm-steps 1000 --models-dir .cache/char-lm-1000`.
run_model char-lm-1000 .cache/char-lm-1000/char-lm-kjv.onnx .cache/kjv-chars/train.npz .cache/kjv-chars/test.npz "$LM_STEPS" "$LM_TEST"

node - "$OUT" "ROW_STEPS=$ROW_STEPS LM_STEPS=$LM_STEPS LM_TEST=$LM_TEST MODELS='$MODELS' VARIANTS='$VARIANTS' bash bench/recurrent-results.sh" <<'EOF'
const { readFileSync, writeFileSync, readdirSync } = require('node:fs');
const [dir, command] = process.argv.slice(2);
const read = (f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')).result;
const rows = readdirSync(dir).filter((f) => f.endsWith('.report.json')).sort().map((f) => {
  const name = f.replace('.report.json', '');
  const model = ['row-lstm', 'row-gru', 'char-lm-1000', 'char-lm'].find((m) => name.startsWith(`${m}-`));
  const r = read(f);
  const ft = read(f.replace('.report.json', '.finetune.json'));
  const lstm = r.layers.find((l) => ['PGLSTM', 'QLSTM', 'PGGRU', 'QGRU'].includes(l.op));
  return {
    model,
    variant: name.slice(model.length + 1),
    samples: r.samples,
    accuracy: r.perplexity === undefined ? r.accuracy : undefined,
    float_accuracy: r.baseline_accuracy,
    perplexity: r.perplexity,
    float_perplexity: r.baseline_perplexity,
    bits: r.bits,
    hbits: r.hbits,
    lstm_sparsity: r.sparsity,
    whole_model_act_bits: r.whole_model.act_bits,
    whole_model_bitops: r.whole_model.bitops,
    bitops_vs_static_8bit: r.whole_model.bitops_vs_static_8bit,
    lstm_macs_per_sample: lstm?.macs,
    finetune_steps: ft.steps,
    commands: readFileSync(`${dir}/${name}.commands.txt`, 'utf8').trim().split('\n'),
  };
});
// Cost against the 8-bit static model of the same fixture, fine-tuned the same way (its own run, same data).
for (const r of rows) {
  const base = rows.find((o) => o.model === r.model && o.variant === 'static-8');
  r.bitops_vs_static_8_model = base ? r.whole_model_bitops / base.whole_model_bitops : undefined;
}
writeFileSync(`${dir}.json`, `${JSON.stringify({ command, rows }, null, 1)}\n`);
console.log(JSON.stringify(rows, null, 1));
EOF
