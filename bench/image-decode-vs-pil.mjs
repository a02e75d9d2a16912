#!/usr/bin/env node
// How far pg's image decoding (sharp/libvips: resize the short side, centre crop, RGB) is from torchvision's
// (PIL: convert('RGB'), Resize, CenterCrop), pixel by pixel, on the test photographs (fixtures/photos/get_photos.sh)
// at a few model input sizes, each with pg's default resize. Needs Debian's python3-torchvision (PIL). After
// `pnpm build`:
//
//   node bench/image-decode-vs-pil.mjs [--sizes 32,128,224]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const c = await import(join(root, 'packages/core/dist/index.js'));
const { values } = parseArgs({ options: { sizes: { type: 'string', default: '32,128,224' } } });
const photos = process.env.PG_PHOTOS_DIR ?? join(root, '.cache/photos');
const layout = JSON.parse(readFileSync(join(root, 'fixtures/photos/layout.json'), 'utf8'));
const files = Object.values(layout.classes).flat().sort();

const PIL = `
import sys
from PIL import Image
from torchvision import transforms
out, resize, crop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop)])
for i, path in enumerate(sys.argv[4:]):
    open(f"{out}/{i}.rgb", "wb").write(t(Image.open(path).convert("RGB")).tobytes())
`;

const tmp = mkdtempSync(join(tmpdir(), 'pg-pil-'));
try {
  console.log(`${files.length} photos from ${photos}; |pg − PIL| in grey levels (0-255), per pixel and channel`);
  console.log('size  resize  mean |diff|  mean diff  worst photo (mean |diff|)        largest |diff|');
  for (const size of values.sizes.split(',').map(Number)) {
    const resize = c.defaultResize(size, size);
    execFileSync('/usr/bin/python3', ['-c', PIL, tmp, String(resize), String(size), ...files.map((f) => join(photos, f))]);
    let sum = 0;
    let signed = 0;
    let n = 0;
    let largest = 0;
    let worst = { file: '', mean: 0 };
    for (const [i, file] of files.entries()) {
      const pil = readFileSync(join(tmp, `${i}.rgb`));
      const ours = await c.decodeImage(join(photos, file), { channels: 3, height: size, width: size, resize });
      if (!ours.ok) throw ours.error;
      const plane = size * size;
      let photoSum = 0;
      for (let p = 0; p < plane; p++) {
        for (let ch = 0; ch < 3; ch++) {
          const d = ours.pixels[ch * plane + p] - pil[3 * p + ch];
          photoSum += Math.abs(d);
          signed += d;
          largest = Math.max(largest, Math.abs(d));
        }
      }
      sum += photoSum;
      n += 3 * plane;
      if (photoSum / (3 * plane) > worst.mean) worst = { file, mean: photoSum / (3 * plane) };
    }
    console.log(
      `${String(size).padStart(4)}  ${String(resize).padStart(6)}  ${(sum / n).toFixed(3).padStart(11)}  ${(signed / n).toFixed(3).padStart(9)}  ${`${worst.file} (${worst.mean.toFixed(3)})`.padEnd(32)}  ${largest}`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
