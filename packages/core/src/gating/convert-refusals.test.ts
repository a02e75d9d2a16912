import { describe, expect, it } from 'vitest';
import { UnsupportedModelError, UsageError } from '../errors/index.js';
import { readModel } from '../onnx/index.js';
import { convertModel, type ConvertOptions } from './convert.js';

const TINY = new URL('../../../../fixtures/models/tiny-cnn.onnx', import.meta.url).pathname;
const OPTS: ConvertOptions = { bits: 4, hbits: 2, wbits: 8, actScale: 'static' };

function refusal(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('convertModel accepted the model');
}

/** Models convertModel must refuse, each error naming the node at fault and saying what to do. */
describe('convertModel refuses', () => {
  it('an op pg cannot run, naming the node and op', async () => {
    const m = await readModel(TINY);
    m.graph.nodes[1].opType = 'FrobnicateOp';
    const e = refusal(() => convertModel(m, OPTS));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/tiny-cnn\.onnx: node '\/Relu' uses op 'FrobnicateOp', which pg cannot run \(pg has no kernel for it\)/);
    expect((e as UnsupportedModelError).action).toMatch(/pg supports: .*Conv/);
  });

  it('two converted layers with the same name (their parameters would collide)', async () => {
    const m = await readModel(TINY);
    const conv3 = m.graph.nodes.find((n) => n.name === '/conv3/Conv')!;
    conv3.name = '/conv2/Conv';
    const e = refusal(() => convertModel(m, OPTS));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/two Conv\/Gemm layers are named '\/conv2\/Conv'/);
    expect((e as UnsupportedModelError).action).toMatch(/unique name/);
  });

  it('an unnamed layer it would convert', async () => {
    const m = await readModel(TINY);
    m.graph.nodes.find((n) => n.name === '/conv2/Conv')!.name = '';
    expect(refusal(() => convertModel(m, OPTS)).message).toMatch(/a Conv node has no name/);
  });

  it('bits out of range and hbits >= bits as usage errors naming the flag', async () => {
    const m = await readModel(TINY);
    expect(refusal(() => convertModel(m, { ...OPTS, bits: 1 }))).toBeInstanceOf(UsageError);
    expect(refusal(() => convertModel(m, { ...OPTS, bits: 17 })).message).toMatch(/--bits 17 is out of range/);
    expect(refusal(() => convertModel(m, { ...OPTS, bits: 4, hbits: 4 })).message).toMatch(/--hbits 4 must be at least 1 and less than --bits 4/);
    expect(refusal(() => convertModel(m, { ...OPTS, include: ['nope'] })).message).toMatch(/--include: no Conv\/Gemm layer named 'nope'/);
  });
});
