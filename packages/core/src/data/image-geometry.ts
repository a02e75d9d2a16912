import { InvalidDataError, UsageError } from '../errors/index.js';
import type { Dim } from '../graph/index.js';

/** What an image becomes before normalisation: channels (grey or RGB), the crop size, and the short side it is resized to first. */
export interface ImageGeometry {
  channels: 1 | 3;
  height: number;
  width: number;
  /** The image's short side is resized to this many pixels before the centre crop. */
  resize: number;
}

/** Flags that override what the model's input gives. */
export interface ImageGeometryFlags {
  /** Short side before cropping (`--resize`). */
  resize?: number;
  /** Crop height and width (`--crop`); the model's input H×W when absent. */
  crop?: { height: number; width: number };
}

/**
 * Inputs at least this tall or wide are ImageNet-like: the crop keeps the central 224/256 of the resized image
 * (torchvision's evaluation recipe). Smaller inputs (CIFAR's 32, STL-10's 96, downsampled ImageNet's 64) are
 * trained on whole images scaled down, so the short side is resized to the crop itself and nothing is cut
 * but the longer side's excess.
 */
export const IMAGENET_LIKE_MIN_SIZE = 128;

/** torchvision's ratio of resize to crop for ImageNet evaluation (Resize(256), CenterCrop(224)). */
const RESIZE_PER_CROP = 256 / 224;

/** The short-side size pg resizes to when `--resize` is not given (see IMAGENET_LIKE_MIN_SIZE). */
export function defaultResize(height: number, width: number): number {
  const side = Math.max(height, width);
  return side >= IMAGENET_LIKE_MIN_SIZE ? Math.round(side * RESIZE_PER_CROP) : side;
}

/**
 * The geometry an image folder is decoded to for a model whose input is `inputShape` ([N, C, H, W], dims may be
 * symbolic): channels from C (1 or 3; 3 when C is unknown), crop from H×W unless `--crop` says, resize from
 * `--resize` or defaultResize.
 */
export function imageGeometry(inputShape: readonly Dim[] | undefined, flags: ImageGeometryFlags = {}): ImageGeometry {
  const shape = inputShape ?? [null, null, null, null];
  const show = `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
  if (shape.length !== 4) {
    throw new InvalidDataError(`Image folders give N×C×H×W samples, but the model input ${show} has rank ${shape.length}.`, {
      action: 'Use an image model (input N×C×H×W), or give the data as a .npy/.npz array shaped as the model expects.',
    });
  }
  const known = (d: Dim): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);
  const c = known(shape[1]);
  if (c !== undefined && c !== 1 && c !== 3) {
    throw new InvalidDataError(`Image folders give 1 (grey) or 3 (RGB) channels, but the model input ${show} takes ${c}.`, {
      action: 'Give the data as a .npy/.npz array with the channels the model expects.',
    });
  }
  const [h, w] = [known(shape[2]), known(shape[3])];
  const crop = flags.crop ?? (h !== undefined && w !== undefined ? { height: h, width: w } : undefined);
  if (crop === undefined) {
    throw new UsageError(`The model input ${show} has no fixed height and width, so pg cannot tell what size to crop images to.`, {
      action: 'Pass --crop SIZE (or --crop HxW), e.g. --crop 224.',
    });
  }
  for (const v of [crop.height, crop.width, flags.resize]) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new UsageError(`Invalid image size ${String(v)}: sizes are positive integers (pixels).`, { action: 'Pass e.g. --resize 256 --crop 224.' });
    }
  }
  const resize = flags.resize ?? defaultResize(crop.height, crop.width);
  if (resize < Math.max(crop.height, crop.width)) {
    throw new UsageError(`--resize ${resize} is smaller than the crop ${crop.height}×${crop.width}: the crop would not fit in the resized image.`, {
      action: `Pass --resize ${Math.max(crop.height, crop.width)} or more (the short side after resizing), or leave it out for ${defaultResize(crop.height, crop.width)}.`,
    });
  }
  return { channels: c === 1 ? 1 : 3, height: crop.height, width: crop.width, resize };
}

/** Where an image of `srcWidth × srcHeight` is resized to and which box of the result is kept. */
export interface ResizeCropBox {
  /** Size after resizing the short side to `resize`. */
  width: number;
  height: number;
  /** Top-left corner of the crop in the resized image. */
  left: number;
  top: number;
}

/**
 * torchvision's arithmetic, so pixels land where a model trained with Resize(resize) + CenterCrop((h, w)) saw them:
 * the long side becomes int(resize · long / short) (truncated), and the crop's offset is round((size − crop) / 2)
 * with Python's round half to even. Needs resize ≥ the crop's sides (imageGeometry checks it).
 */
export function resizeCropBox(srcWidth: number, srcHeight: number, g: Pick<ImageGeometry, 'resize' | 'height' | 'width'>): ResizeCropBox {
  const [short, long] = srcWidth <= srcHeight ? [srcWidth, srcHeight] : [srcHeight, srcWidth];
  const newLong = Math.trunc((g.resize * long) / short);
  const [width, height] = srcWidth <= srcHeight ? [g.resize, newLong] : [newLong, g.resize];
  return { width, height, left: roundHalfEven((width - g.width) / 2), top: roundHalfEven((height - g.height) / 2) };
}

/** Python 3's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const down = Math.floor(v);
  const diff = v - down;
  if (diff > 0.5) return down + 1;
  if (diff < 0.5) return down;
  return down % 2 === 0 ? down : down + 1;
}

/** One line saying what images become, for data set names: 'RGB, short side to 256, centre crop 224×224'. */
export function describeGeometry(g: ImageGeometry): string {
  return `${g.channels === 1 ? 'grey' : 'RGB'}, short side resized to ${g.resize}, centre crop ${g.height}×${g.width}`;
}
