import { describe, expect, it } from 'vitest';
import { InvalidDataError } from '../errors/index.js';
import { constTensor } from '../graph/index.js';
import { buildModel, node, valueInfo } from '../../test/support/model-builder.js';
import { InMemoryDataset, type Batch } from './dataset.js';
import { holdOut } from './hold-out.js';
import { checkTokenIds, datasetForInput, rowSequences, tokenVocabulary } from './sequence-view.js';

/** n samples of shape `shape` whose values are their flat index in the whole set, labels 0, 1, 2... */
function ramp(n: number, shape: number[]): InMemoryDataset {
  const size = shape.reduce((a, b) => a * b, 1);
  return new InMemoryDataset({
    name: 'ramp',
    size: n,
    sampleShape: shape,
    labels: Int32Array.from({ length: n }, (_, i) => i),
    writeSample: (i, out, offset) => {
      for (let k = 0; k < size; k++) out[offset + k] = i * size + k;
    },
  });
}

const all = (d: { batches(b: number): Iterable<Batch> | AsyncIterable<Batch> }): Batch[] => [...(d.batches(8) as Iterable<Batch>)];

describe('reading images as sequences of rows', () => {
  it('a grey image [1, H, W] is H steps of W pixels, unchanged in memory', () => {
    const rows = rowSequences(ramp(2, [1, 3, 4]));
    expect(rows.sampleShape).toEqual([3, 4]);
    const [b] = all(rows);
    expect(b.shape).toEqual([2, 3, 4]);
    expect(Array.from(b.x)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(Array.from(b.y!)).toEqual([0, 1]);
  });

  it("a colour image [C, H, W] is H steps of each row's pixels, channel after channel", () => {
    const [b] = all(rowSequences(ramp(1, [2, 2, 3])));
    // Channel 0 rows: [0 1 2], [3 4 5]; channel 1 rows: [6 7 8], [9 10 11].
    expect(b.shape).toEqual([1, 2, 6]);
    expect(Array.from(b.x)).toEqual([0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11]);
  });

  it('is chosen only for a sequence input that the images fit row by row, and keeps hold-out splits', () => {
    const images = ramp(10, [1, 28, 28]);
    expect(datasetForInput(images, ['N', 28, 28]).sampleShape).toEqual([28, 28]);
    expect(datasetForInput(images, ['N', null, 28]).sampleShape).toEqual([28, 28]);
    expect(datasetForInput(images, ['N', 1, 28, 28])).toBe(images);
    expect(datasetForInput(images, ['N', 28, 14])).toBe(images);
    expect(datasetForInput(images, undefined)).toBe(images);
    const { train, heldOut } = holdOut(datasetForInput(images, ['N', 28, 28]), 0.2, 1);
    expect([train.size, heldOut.size, heldOut.sampleShape]).toEqual([8, 2, [28, 28]]);
  });
});

describe('token ids', () => {
  const lm = buildModel({
    nodes: [node('Gather', ['table', 'tokens'], 'embedded')],
    initializers: [constTensor('table', 'float32', [5, 2], new Float32Array(10))],
    inputs: [valueInfo('tokens', ['N', 'T'], 'int64')],
    outputs: [valueInfo('embedded')],
  });

  it("a language model's vocabulary is the rows of the embedding its integer input indexes", () => {
    expect(tokenVocabulary(lm)).toBe(5);
    const floatInput = { ...lm, graph: { ...lm.graph, inputs: [valueInfo('tokens', ['N', 'T'])] } };
    expect(tokenVocabulary(floatInput)).toBeUndefined();
  });

  it('ids outside the vocabulary are an error naming the sample, the step and the vocabulary', () => {
    const ids = (values: number[]) =>
      new InMemoryDataset({ name: 'ids.npz', size: values.length / 4, sampleShape: [4], writeSample: (i, out, o) => out.set(values.slice(4 * i, 4 * i + 4), o) });
    expect(() => checkTokenIds(ids([0, 1, 2, 3, 4, 4, 0, 1]), 5)).not.toThrow();
    expect(() => checkTokenIds(ids([0, 1, 2, 3, 4, 5, 0, 1]), 5)).toThrow(InvalidDataError);
    expect(() => checkTokenIds(ids([0, 1, 2, 3, 4, 5, 0, 1]), 5)).toThrow("ids.npz has token id 5 at sample 1, step 1, but the model's vocabulary has 5 tokens (ids 0-4)");
    expect(() => checkTokenIds(ids([0, 1.5, 2, 3]), 5)).toThrow(/token id 1.5 at sample 0, step 1/);
  });
});
