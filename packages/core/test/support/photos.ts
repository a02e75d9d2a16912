import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipNote } from './skip.js';

// Real photographs for the image-folder tests: public-domain and CC0 pictures that Debian's python3-skimage ships
// (fixtures/photos/get_photos.sh copies them out of the package; SOURCES.txt there gives each one's licence).

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** Where get_photos.sh puts the photos (PG_PHOTOS_DIR, else .cache/photos at the repo root). */
export const PHOTOS_DIR = process.env.PG_PHOTOS_DIR ? resolve(process.env.PG_PHOTOS_DIR) : join(ROOT, '.cache', 'photos');

/** How to get them, for skip messages. */
const GET_PHOTOS = 'bash fixtures/photos/get_photos.sh (Debian python3-skimage, downloaded with apt-get download; or set PG_PHOTOS_DIR)';

interface Layout {
  classes: Record<string, string[]>;
  broken: string;
}

/** fixtures/photos/layout.json: the class folders the tests build, and the broken JPEG. */
export const PHOTO_LAYOUT = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'photos', 'layout.json'), 'utf8')) as Layout;

/** True when every photo of the layout (and the broken JPEG) is in PHOTOS_DIR. */
export function hasPhotos(): boolean {
  return [...Object.values(PHOTO_LAYOUT.classes).flat(), PHOTO_LAYOUT.broken].every((f) => existsSync(join(PHOTOS_DIR, f)));
}

/** For the title of a suite that needs the photos: ' (skipped: ...)' when they are missing. */
export const photosSkipNote = (): string => skipNote(hasPhotos(), `no photos in ${PHOTOS_DIR}; get them with ${GET_PHOTOS}`);

/** Builds the ImageNet-style folder of layout.json under `dir` (dir/objects/chelsea.png, ...); returns its path. */
export function makePhotoFolder(dir: string, name = 'photos'): string {
  const root = join(dir, name);
  for (const [cls, files] of Object.entries(PHOTO_LAYOUT.classes)) {
    mkdirSync(join(root, cls), { recursive: true });
    for (const f of files) copyFileSync(join(PHOTOS_DIR, f), join(root, cls, f));
  }
  return root;
}

/** The layout's images as `class/file` in folder order (classes and files sorted), with their labels. */
export function photoFolderOrder(): { file: string; label: number }[] {
  return Object.keys(PHOTO_LAYOUT.classes)
    .sort()
    .flatMap((cls, label) => [...PHOTO_LAYOUT.classes[cls]].sort().map((f) => ({ file: `${cls}/${f}`, label })));
}
