import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPhotos, makePhotoFolder, PHOTO_LAYOUT, PHOTOS_DIR, photoFolderOrder, photosSkipNote } from '../../core/test/support/photos.js';
import { FIXTURES, json, pg, ROOT, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

// `--data DIR` on an ImageNet-style folder of real photographs (public-domain and CC0 sample pictures from Debian's
// python3-skimage, copied out by fixtures/photos/get_photos.sh): convert, fine-tune and report the photo CNN
// (fixtures/photos/make_photo_cnn.py), a CSV list, the grey tiny CNN reading RGB photos, and a broken JPEG.

const PHOTO_CNN = join(ROOT, 'fixtures/models/photo-cnn.onnx');

describe.skipIf(!hasPhotos())(`pg on a folder of photographs${photosSkipNote()}`, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let folder: string;
  let broken: string;
  beforeAll(async () => {
    tmp = await tempDir();
    folder = makePhotoFolder(tmp.dir);
    // The same photos plus scikit-image's truncated JPEG.
    broken = makePhotoFolder(tmp.dir, 'with-broken');
    copyFileSync(join(PHOTOS_DIR, PHOTO_LAYOUT.broken), join(broken, 'space', PHOTO_LAYOUT.broken));
  });
  afterAll(async () => {
    await tmp.remove();
  });

  it('converts, fine-tunes and reports: decoded as the model expects, normalisation from its metadata, said so', async () => {
    const gated = join(tmp.dir, 'gated.onnx');
    const tuned = join(tmp.dir, 'tuned.onnx');
    const convert = await pg(['convert', PHOTO_CNN, '-o', gated, '--data', folder, '--calibration-batches', '1', '--batch-size', '4']);
    expect(convert.code, convert.stderr).toBe(0);
    const finetune = await pg(['finetune', gated, '--data', folder, '-o', tuned, '--batch-size', '4', '--max-steps', '2', '--target-sparsity', '0.5', '--seed', '1', '--json']);
    expect(finetune.code, finetune.stderr).toBe(0);
    const trained = json(finetune) as { result: Record<string, unknown>; warnings: string[] };
    expect(schemaErrors('envelope', trained)).toEqual([]);
    expect(schemaErrors('finetune', trained.result)).toEqual([]);
    expect(trained.result).toMatchObject({ steps: 2, skipped_files: 0 });
    expect(trained.result.data).toBe(`${folder} (11 images, 3 class folders; RGB, short side resized to 146, centre crop 128×128)`);
    expect(trained.warnings).toEqual([]);

    const report = await pg(['report', tuned, '--data', folder, '--baseline', PHOTO_CNN, '--json']);
    expect(report.code, report.stderr).toBe(0);
    const doc = json(report) as { result: Record<string, unknown> };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    // The float model memorised the photos through torchvision's preprocessing: pg must read them the same way.
    expect(doc.result).toMatchObject({ samples: 11, skipped_files: 0, baseline_accuracy: 1 });
    expect(doc.result.bavg).toBeGreaterThan(2);
    const human = await pg(['report', tuned, '--data', folder]);
    expect(human.stderr).toMatch(/Evaluating on .*photos \(11 images.*mean 0\.485,0\.456,0\.406 \(from model's metadata\), std 0\.229,0\.224,0\.225 \(from model's metadata\)/);
  });

  it('reads a CSV of paths and labels as the folder, and --resize/--crop/--mean/--std as given', async () => {
    const csv = join(tmp.dir, 'photos.csv');
    writeFileSync(
      csv,
      `path,label\n${photoFolderOrder()
        .map((p) => `photos/${p.file},${p.label}`)
        .join('\n')}\n`,
    );
    const run = await pg(['report', PHOTO_CNN, '--data', csv, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(json(run).result).toMatchObject({ samples: 11, accuracy: 1 });
    const flags = await pg(['report', PHOTO_CNN, '--data', csv, '--resize', '200', '--crop', '128', '--mean', '0.5', '--std', '0.25']);
    expect(flags.code, flags.stderr).toBe(0);
    expect(flags.stdout).toMatch(/short side resized to 200, centre crop 128×128/);
    expect(flags.stderr).toMatch(/mean 0\.5 \(from --mean\), std 0\.25 \(from --std\)/);
    // The crop must be the model's input.
    const wrong = await pg(['report', PHOTO_CNN, '--data', csv, '--crop', '96']);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toMatch(/^Error \[PG_INVALID_DATA\]: .*\[3, 96, 96\].*\[3, 128, 128\]/m);
  });

  it('converts RGB photos to grey for a one-channel model, and warns when the folder names fewer classes than the model has', async () => {
    const run = await pg(['report', FIXTURES.tiny, '--data', folder, '--mean', '0.286', '--std', '0.353', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const doc = json(run) as { result: Record<string, unknown>; warnings: string[] };
    expect(doc.result).toMatchObject({ samples: 11, data: `${folder} (11 images, 3 class folders; grey, short side resized to 28, centre crop 28×28)` });
    expect(doc.warnings).toEqual([expect.stringMatching(/names 3 classes but the model predicts 10/)]);
  });

  it('stops at a broken JPEG with an error naming it (exit 5), or skips it with --skip-bad and counts it', async () => {
    const file = join(broken, 'space', PHOTO_LAYOUT.broken);
    const strict = await pg(['report', PHOTO_CNN, '--data', broken]);
    expect(strict.code).toBe(5);
    expect(strict.stderr).toMatch(new RegExp(`^Error \\[PG_INVALID_DATA\\]: Cannot decode image ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt header`, 'm'));
    expect(strict.stderr).toMatch(/^Action: .*--skip-bad/m);
    expect(strict.stderr).not.toMatch(/\n\s+at /);

    const report = await pg(['report', PHOTO_CNN, '--data', broken, '--skip-bad', '--json']);
    expect(report.code, report.stderr).toBe(0);
    const doc = json(report) as { result: Record<string, unknown>; warnings: string[] };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result).toMatchObject({ samples: 11, skipped_files: 1, accuracy: 1 });
    expect(doc.warnings).toEqual([expect.stringContaining(`Skipped 1 unreadable file(s) (--skip-bad): Cannot decode image ${file}`)]);
    const human = await pg(['report', PHOTO_CNN, '--data', broken, '--skip-bad']);
    expect(human.stdout).toMatch(/11 samples, 1 unreadable file\(s\) skipped/);

    const gated = join(tmp.dir, 'gated-skipping.onnx');
    expect((await pg(['convert', PHOTO_CNN, '-o', gated])).code).toBe(0);
    // 11 readable images make two full batches of 4 an epoch: the third step comes from the second epoch.
    const tuned = join(tmp.dir, 'tuned-skipping.onnx');
    const finetune = await pg([
      'finetune',
      gated,
      '--data',
      broken,
      '--skip-bad',
      '-o',
      tuned,
      '--batch-size',
      '4',
      '--max-steps',
      '3',
      '--epochs',
      '2',
      '--train-weights',
      '--json',
    ]);
    expect(finetune.code, finetune.stderr).toBe(0);
    const trained = json(finetune) as { result: Record<string, unknown>; warnings: string[] };
    expect(schemaErrors('finetune', trained.result)).toEqual([]);
    expect(trained.result).toMatchObject({ steps: 3, skipped_files: 1 });
    expect(trained.warnings).toEqual([expect.stringContaining(file)]);
  });

  it('refuses the image flags without --data or with array data', async () => {
    const alone = await pg(['convert', PHOTO_CNN, '-o', join(tmp.dir, 'x.onnx'), '--skip-bad']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--skip-bad applies only with --data/);
    const arrays = await pg(['report', FIXTURES.tiny, '--data', 'fashion-mnist:test?source=bundled', '--resize', '32']);
    expect(arrays.code).toBe(2);
    expect(arrays.stderr).toMatch(/--resize applies only to image folders/);
  });
});
