import { readFile } from 'node:fs/promises';
import { InvalidDataError, type PgError } from '../errors/index.js';
import { dataFileError } from './data-file.js';
import { resizeCropBox, type ImageGeometry } from './image-geometry.js';

type SharpFactory = typeof import('sharp').default;

/** An image decoded to the model's geometry: `channels × height × width` bytes (CHW), or why it could not be. */
export type DecodedImage = { ok: true; pixels: Uint8Array } | { ok: false; error: PgError };

let sharpModule: Promise<SharpFactory> | undefined;

/**
 * sharp (libvips) is loaded when the first image is decoded, so commands on other data never load its native
 * binary. Its operation cache is turned off: a pass over a folder never sees the same file twice in a row, and
 * the cache would only hold memory.
 */
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then(
    (m) => {
      m.default.cache(false);
      return m.default;
    },
    (e: unknown) => {
      throw new InvalidDataError(`Cannot decode images: the image library sharp did not load (${(e as Error).message.split('\n')[0]}).`, {
        action: "Reinstall pg's dependencies (pnpm install); sharp ships prebuilt binaries for Linux, macOS and Windows on x64 and arm64.",
        cause: e,
      });
    },
  );
  return sharpModule;
}

/**
 * Decodes a JPEG or PNG file to the model's input geometry with torchvision's evaluation recipe: resize the short
 * side to `g.resize` (linear kernel, antialiased), centre-crop `g.height × g.width` (resizeCropBox), then RGB or grey.
 * As PIL's `convert('RGB')` does, alpha is dropped (not composited), and neither EXIF orientation nor an embedded
 * colour profile is applied; grey is ITU-R 601 luma with PIL's integer weights. Never rejects: an unreadable or corrupt file comes back as an error
 * naming it, so a caller can skip it.
 */
export async function decodeImage(path: string, g: ImageGeometry): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    return { ok: false, error: dataFileError(path, e) };
  }
  if (bytes.length === 0) {
    return { ok: false, error: new InvalidDataError(`Cannot decode image ${path}: the file is empty.`, { action: BAD_IMAGE_ACTION }) };
  }
  let sharp: SharpFactory;
  try {
    sharp = await loadSharp();
  } catch (e) {
    return { ok: false, error: e as PgError };
  }
  try {
    // 'error' fails on truncated or corrupt data but accepts libjpeg's warnings, which PIL ignores too. PIL also
    // ignores embedded colour profiles, so models trained through torchvision saw the unconverted values.
    let image = sharp(bytes, { failOn: 'error', ignoreIcc: true });
    const meta = await image.metadata();
    const [width, height] = [meta.width, meta.height];
    if (meta.hasAlpha) {
      // Drop alpha before resizing, as PIL does; libvips would resize premultiplied colours.
      const flat = await image.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      image = sharp(flat.data, { raw: { width: flat.info.width, height: flat.info.height, channels: flat.info.channels } });
    }
    const box = resizeCropBox(width, height, g);
    if (box.width !== width || box.height !== height) {
      image = image.resize(box.width, box.height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false });
    }
    const { data, info } = await image
      .extract({ left: box.left, top: box.top, width: g.width, height: g.height })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== g.width || info.height !== g.height) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels} instead of ${g.width}×${g.height}×3`);
    }
    return { ok: true, pixels: g.channels === 3 ? planarRgb(data, g) : luma(data, g) };
  } catch (e) {
    return { ok: false, error: new InvalidDataError(`Cannot decode image ${path}: ${sharpReason(e)}.`, { action: BAD_IMAGE_ACTION, cause: e }) };
  }
}

/** What to do about an image that cannot be read or decoded. */
export const BAD_IMAGE_ACTION = 'Replace or remove the file, or pass --skip-bad to skip unreadable images (the output counts them).';

/** Interleaved RGB (HWC) to planar (CHW). */
function planarRgb(rgb: Uint8Array, g: ImageGeometry): Uint8Array {
  const plane = g.height * g.width;
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = rgb[3 * i];
    out[plane + i] = rgb[3 * i + 1];
    out[2 * plane + i] = rgb[3 * i + 2];
  }
  return out;
}

/** PIL's convert('L'): (19595 R + 38470 G + 7471 B + 0x8000) >> 16, exact for grey sources. */
function luma(rgb: Uint8Array, g: ImageGeometry): Uint8Array {
  const out = new Uint8Array(g.height * g.width);
  for (let i = 0; i < out.length; i++) out[i] = (rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/**
 * sharp's message as one line: 'Input buffer has corrupt header: VipsJpeg: premature end of JPEG image' followed by
 * libvips's repeats becomes 'corrupt header: VipsJpeg: premature end of JPEG image; <the other distinct lines>'.
 */
function sharpReason(e: unknown): string {
  const lines = (e as Error).message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const first = /^(?:Input (?:buffer|file) (?:contains|has) )?(?:([a-z][a-z ]*): )?(.*)$/.exec(lines[0] ?? '')!;
  const reasons = [...new Set([first[2], ...lines.slice(1)])].map((l) => l.replace(/\.$/, ''));
  return (first[1] === undefined ? '' : `${first[1]}: `) + reasons.join('; ');
}
