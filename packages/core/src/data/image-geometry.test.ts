import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidDataError, UsageError } from '../errors/index.js';
import { decodeImage } from './image-decode.js';
import { defaultResize, imageGeometry, resizeCropBox, roundHalfEven } from './image-geometry.js';

const tmp = mkdtempSync(join(tmpdir(), 'pg-geometry-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('image geometry (torchvision Resize + CenterCrop arithmetic)', () => {
  it('rounds halves to even, as Python 3 round() does', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 7].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3, 7]);
  });

  it('resizes the short side and truncates the long one; centres the crop (hand-computed)', () => {
    // A 451×300 photo (skimage's chelsea) for a 224 model: short side 300 -> 256, long 451·256/300 = 384.85 -> 384;
    // crop offsets (384 − 224)/2 = 80 and (256 − 224)/2 = 16.
    expect(resizeCropBox(451, 300, { resize: 256, height: 224, width: 224 })).toEqual({ width: 384, height: 256, left: 80, top: 16 });
    // Portrait 300×451 gives the transpose.
    expect(resizeCropBox(300, 451, { resize: 256, height: 224, width: 224 })).toEqual({ width: 256, height: 384, left: 16, top: 80 });
    // 9×6 kept at its size, crop 4×4: left = round(2.5) = 2 (half to even, not 3), top = round(1) = 1.
    expect(resizeCropBox(9, 6, { resize: 6, height: 4, width: 4 })).toEqual({ width: 9, height: 6, left: 2, top: 1 });
    // 640×427 (rocket.jpg) to 146 for a 128 input: long side 640·146/427 = 218.83 -> 218, left round(45) = 45, top round(9) = 9.
    expect(resizeCropBox(640, 427, { resize: 146, height: 128, width: 128 })).toEqual({ width: 218, height: 146, left: 45, top: 9 });
  });

  it('crops exactly the pixels torchvision would (no resampling at the same size)', async () => {
    // Pixel (row r, col c) of a 9×6 grey image holds 10·r + c; the crop above keeps rows 1-4, columns 2-5.
    const raw = Uint8Array.from({ length: 54 }, (_, i) => 10 * Math.floor(i / 9) + (i % 9));
    const file = join(tmp, 'grid.png');
    await sharp(raw, { raw: { width: 9, height: 6, channels: 1 } })
      .png()
      .toFile(file);
    const decoded = await decodeImage(file, { channels: 1, resize: 6, height: 4, width: 4 });
    expect(decoded.ok).toBe(true);
    const want = [12, 13, 14, 15, 22, 23, 24, 25, 32, 33, 34, 35, 42, 43, 44, 45];
    expect(Array.from(decoded.ok ? decoded.pixels : [])).toEqual(want);
    // RGB from the grey image: three equal planes.
    const rgb = await decodeImage(file, { channels: 3, resize: 6, height: 4, width: 4 });
    expect(Array.from(rgb.ok ? rgb.pixels : [])).toEqual([...want, ...want, ...want]);
  });

  it('defaults: crop from the model input; resize 256/224 of it from 128 pixels up, else the crop itself', () => {
    expect([224, 128, 299, 32, 28, 96, 127].map((s) => defaultResize(s, s))).toEqual([256, 146, 342, 32, 28, 96, 127]);
    expect(imageGeometry(['N', 3, 224, 224])).toEqual({ channels: 3, height: 224, width: 224, resize: 256 });
    expect(imageGeometry([1, 1, 28, 28])).toEqual({ channels: 1, height: 28, width: 28, resize: 28 });
    expect(imageGeometry(['N', 3, 'H', 'W'], { crop: { height: 160, width: 128 } })).toEqual({ channels: 3, height: 160, width: 128, resize: 183 });
    expect(imageGeometry(['N', 3, 224, 224], { resize: 232 })).toEqual({ channels: 3, height: 224, width: 224, resize: 232 });
    // An unknown channel count reads RGB.
    expect(imageGeometry(['N', 'C', 32, 32]).channels).toBe(3);
  });

  it('refuses what cannot work, saying what to pass', () => {
    expect(() => imageGeometry(['N', 3, 'H', 'W'])).toThrow(UsageError);
    expect(() => imageGeometry(['N', 3, 'H', 'W'])).toThrow(/no fixed height and width.*/);
    expect(() => imageGeometry(['N', 4, 32, 32])).toThrow(InvalidDataError);
    expect(() => imageGeometry(['N', 4, 32, 32])).toThrow(/1 \(grey\) or 3 \(RGB\) channels.*takes 4/);
    expect(() => imageGeometry(['N', 784])).toThrow(/has rank 2/);
    expect(() => imageGeometry(['N', 3, 224, 224], { resize: 200 })).toThrow(/--resize 200 is smaller than the crop 224×224/);
  });
});
