#!/usr/bin/env node
// Inference time of pg's gated kernels in the integer-accumulation form (gated format 2) against the
// dequantize-then-convolve form (format 1) on the bundled ResNet through `pg run`'s tfjs-wasm session, interleaved in one process so machine
// load affects both alike. Run after `pnpm build`:
//
//   node bench/gated-inference-forms.mjs [--images 256] [--batch 64] [--reps 3]
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const c = await import(join(root, 'packages/core/dist/internal.js'));
const { values } = parseArgs({ options: { images: { type: 'string', default: '256' }, batch: { type: 'string', default: '64' }, reps: { type: 'string', default: '3' } } });
const images = Number(values.images);
const batchSize = Number(values.batch);

await c.initBackend('wasm');
const float = await c.readModel(join(root, 'fixtures/models/resnet-fmnist.onnx'));
const { model: v2 } = c.convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
const declared1 = { ...v2, opsetImports: v2.opsetImports.map((o) => (o.domain === c.PG_DOMAIN ? { ...o, version: 1 } : o)) };
const v1 = { ...declared1, functions: c.functionsFor(declared1) };
const ds = await c.openDataset('fashion-mnist:test?source=bundled', { mean: [0.286], std: [0.353] });
const batches = [...ds.batches(batchSize, { limit: images })];

/** The wall time of running all batches through `pg run`'s tfjs-wasm session (as `pg run` does). */
async function time(model) {
  const session = await c.runEngine('wasm').load(model);
  const input = model.graph.inputs[0].name;
  const t = performance.now();
  for (const b of batches) await session.run({ [input]: { dtype: 'float32', shape: b.shape, data: b.x } }, [model.graph.outputs[0].name]);
  const ms = performance.now() - t;
  await session.dispose();
  return ms;
}

await time(v1); // warm-up
await time(v2);
const ms = { format1: [], format2: [] };
for (let r = 0; r < Number(values.reps); r++) {
  ms.format1.push(await time(v1));
  ms.format2.push(await time(v2));
}
const best = (a) => Math.min(...a);
console.log(
  JSON.stringify({
    images,
    batch: batchSize,
    format1_ms_per_image: best(ms.format1) / images,
    format2_ms_per_image: best(ms.format2) / images,
    ratio_format2_over_format1: best(ms.format2) / best(ms.format1),
    runs_ms: ms,
  }),
);
