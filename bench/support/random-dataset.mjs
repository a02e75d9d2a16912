// Random labelled samples as a pg Dataset, for the fine-tuning step benchmarks (speed does not depend on the
// values): seeded, so every run and both sides of an A/B see the same data. The caller passes its build's
// InMemoryDataset and mulberry32 (bench scripts import @pg/core/internal from packages/core/dist/internal.js).
export function randomDataset({ InMemoryDataset, mulberry32 }, size, sampleShape, numClasses) {
  const rng = mulberry32(1);
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: size * sampleSize }, () => rng() * 2 - 1);
  const labels = Int32Array.from({ length: size }, () => Math.floor(rng() * numClasses));
  return new InMemoryDataset({ name: 'random', size, sampleShape, numClasses, labels, writeSample: (i, out, o) => out.set(x.subarray(i * sampleSize, (i + 1) * sampleSize), o) });
}
