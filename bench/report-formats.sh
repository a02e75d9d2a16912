#!/usr/bin/env bash
# Cost of the HTML report's extras, measured back to back on the same machine: `pg report` of the bundled
# ResNet with no decision maps (text) and with the HTML report's default 4 decision maps; prints wall times
# and the HTML file's size. Usage: bash bench/report-formats.sh [LIMIT]  (run `pnpm build` first)
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${1:-1000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pg() { node packages/cli/bin/run.js "$@" 2>/dev/null; }
pg convert fixtures/models/resnet-fmnist.onnx -o "$tmp/g.onnx" --data 'fashion-mnist:train?source=bundled' --calibration-batches 2 >/dev/null
for run in 1 2; do
  t0=$(date +%s.%N); pg report "$tmp/g.onnx" --data 'fashion-mnist:test?source=bundled' --limit "$limit" >/dev/null; t1=$(date +%s.%N)
  pg report "$tmp/g.onnx" --data 'fashion-mnist:test?source=bundled' --limit "$limit" --format html -o "$tmp/r.html"; t2=$(date +%s.%N)
  echo "run $run: text $(echo "$t1 - $t0" | bc) s, html with 4 decision maps $(echo "$t2 - $t1" | bc) s, html $(stat -c %s "$tmp/r.html") bytes"
done
