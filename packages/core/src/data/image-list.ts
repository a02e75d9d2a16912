import { readdir, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join } from 'node:path';
import { InvalidDataError } from '../errors/index.js';
import { dataFileError, readDataFile } from './data-file.js';

/** The images of a data set and their labels, before any is decoded. */
export interface ImageList {
  /** Image paths, in label-then-name order for a folder, in file order for a list. */
  files: string[];
  labels: Int32Array;
  /** Class names by label (a folder's subfolders, or a list's label names); absent for integer labels. */
  classes?: string[];
  /** Number of classes: class names, or the largest integer label + 1. */
  numClasses: number;
  /** What the listing found besides the images, for the data set's name (e.g. '2 other files ignored'). */
  notes: string[];
}

/** File name extensions read as images (JPEG and PNG), case-insensitive. */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);

const isImage = (name: string): boolean => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

/** Hidden entries (.DS_Store, .ipynb_checkpoints, .git) are never classes or images. */
const isHidden = (name: string): boolean => name.startsWith('.');

/**
 * ImageNet's layout, as torchvision's ImageFolder reads it: one subfolder per class, whose sorted names give the
 * labels 0, 1, ...; each class's JPEG and PNG files, at any depth, in sorted path order. Files in the root and
 * other extensions are ignored (and counted); an empty class folder keeps its label, so labels do not shift.
 */
export async function listImageFolder(root: string): Promise<ImageList> {
  const entries = await readFolder(root);
  const classes: string[] = [];
  let ignored = 0;
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    if (await isFolder(join(root, e.name))) classes.push(e.name);
    else ignored++;
  }
  classes.sort(compareNames);
  if (classes.length === 0) {
    throw new InvalidDataError(`${root} has no class folders: an image folder holds one subfolder per class (e.g. ${join(root, 'cat', '1.jpg')}).`, {
      action: "Put each class's images in a subfolder named after the class, or list path,label pairs in a .csv file.",
    });
  }
  const files: string[] = [];
  const labels: number[] = [];
  const empty: string[] = [];
  for (const [label, name] of classes.entries()) {
    const found = await listImagesUnder(join(root, name));
    ignored += found.ignored;
    if (found.images.length === 0) empty.push(name);
    for (const f of found.images) {
      files.push(f);
      labels.push(label);
    }
  }
  if (files.length === 0) {
    throw new InvalidDataError(`${root} has ${classes.length} class folder(s) but no JPEG or PNG image in them.`, {
      action: `Put the images (${[...IMAGE_EXTENSIONS].join(', ')}) in the class folders.`,
    });
  }
  const notes = [
    ...(empty.length > 0 ? [`empty class folder${empty.length === 1 ? '' : 's'} ${empty.join(', ')}`] : []),
    ...(ignored > 0 ? [`${ignored} other file${ignored === 1 ? '' : 's'} ignored`] : []),
  ];
  return { files, labels: Int32Array.from(labels), classes, numClasses: classes.length, notes };
}

/** The images under a class folder, recursively, in sorted path order; other files are counted. */
async function listImagesUnder(folder: string): Promise<{ images: string[]; ignored: number }> {
  const images: string[] = [];
  let ignored = 0;
  const walk = async (dir: string): Promise<void> => {
    const names = (await readFolder(dir))
      .map((e) => e.name)
      .filter((n) => !isHidden(n))
      .sort(compareNames);
    for (const name of names) {
      const path = join(dir, name);
      if (await isFolder(path)) await walk(path);
      else if (isImage(name)) images.push(path);
      else ignored++;
    }
  };
  await walk(folder);
  return { images, ignored };
}

/**
 * A .csv (comma) or .tsv (tab) file of `path,label` lines. Paths are taken from the list's folder. Labels are
 * class indices when every one is a non-negative integer; otherwise class names, numbered in sorted order as a
 * folder's subfolders are. A first line whose first field is path, file, filename or image is a header.
 * Fields may be double-quoted ("a,b.jpg"; "" for a quote).
 */
export async function listImageTable(path: string): Promise<ImageList> {
  const text = new TextDecoder('utf-8').decode(await readDataFile(path)).replace(/^\uFEFF/, '');
  const separator = extname(path).toLowerCase() === '.tsv' ? '\t' : ',';
  const base = dirname(path);
  const rows: { file: string; label: string; line: number }[] = [];
  let first = true;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    if (raw.trim() === '') continue;
    const fields = splitFields(raw, separator, path, i + 1);
    const header = first && /^(path|file|filename|image)$/i.test(fields[0]);
    first = false;
    if (header) continue;
    if (fields.length !== 2 || fields[0] === '' || fields[1] === '') {
      throw new InvalidDataError(
        `${path}, line ${i + 1}: expected two fields, an image path and its label, separated by '${separator === '\t' ? '\\t' : ','}'; found ${JSON.stringify(raw)}.`,
        {
          action: `Write one image per line: ${separator === '\t' ? 'path<TAB>label' : 'path,label'} (quote paths that hold the separator).`,
        },
      );
    }
    rows.push({ file: isAbsolute(fields[0]) ? fields[0] : join(base, fields[0]), label: fields[1], line: i + 1 });
  }
  if (rows.length === 0) {
    throw new InvalidDataError(`${path} lists no images.`, { action: 'Write one path,label line per image.' });
  }
  const integers = rows.every((r) => /^\d+$/.test(r.label));
  if (integers) {
    const big = rows.find((r) => !(Number(r.label) <= 0x7fffffff));
    if (big !== undefined) {
      throw new InvalidDataError(`${path}, line ${big.line}: label ${big.label} is too large for a class index.`, { action: 'Use class indices 0..numClasses-1.' });
    }
    const labels = Int32Array.from(rows, (r) => Number(r.label));
    return { files: rows.map((r) => r.file), labels, numClasses: labels.reduce((a, b) => Math.max(a, b), 0) + 1, notes: [] };
  }
  const classes = [...new Set(rows.map((r) => r.label))].sort(compareNames);
  const index = new Map(classes.map((c, i) => [c, i]));
  return { files: rows.map((r) => r.file), labels: Int32Array.from(rows, (r) => index.get(r.label)!), classes, numClasses: classes.length, notes: [] };
}

/** One line's fields, honouring double quotes. */
function splitFields(line: string, separator: string, path: string, lineNo: number): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          throw new InvalidDataError(`${path}, line ${lineNo}: a quoted field is not closed.`, { action: 'Close the quote, or write "" for a quote inside a quoted field.' });
        }
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i < line.length && line[i] !== separator) {
        throw new InvalidDataError(`${path}, line ${lineNo}: text after a closing quote.`, { action: 'Put the separator right after the closing quote.' });
      }
      i++;
    } else {
      const end = line.indexOf(separator, i);
      const stop = end < 0 ? line.length : end;
      fields.push(line.slice(i, stop).trim());
      i = stop + 1;
    }
  }
  return fields;
}

/** Code-point order, as Python's sorted() and torchvision give, independent of the locale. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readFolder(dir: string): Promise<{ name: string }[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw dataFileError(dir, e);
  }
}

/** Follows symbolic links, as torchvision does (os.walk with followlinks=True). */
async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    throw dataFileError(path, e);
  }
}
