import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, InvalidDataError } from '../errors/index.js';
import { listImageFolder, listImageTable } from './image-list.js';

const tmp = mkdtempSync(join(tmpdir(), 'pg-image-list-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Files with the given relative paths (contents do not matter for listing). */
function tree(name: string, files: string[]): string {
  const root = join(tmp, name);
  for (const f of files) {
    // 'dog/' is an empty folder.
    mkdirSync(f.endsWith('/') ? join(root, f) : join(root, f, '..'), { recursive: true });
    if (!f.endsWith('/')) writeFileSync(join(root, f), 'x');
  }
  return root;
}

describe('listImageFolder (one subfolder per class)', () => {
  it('labels classes by sorted folder name and lists each class in sorted path order, at any depth', async () => {
    const root = tree('classes', ['zebra/b.jpg', 'zebra/a.PNG', 'ant/2.jpeg', 'ant/10.jpg', 'ant/sub/0.png', 'Bee/x.jpg']);
    const list = await listImageFolder(root);
    // Code-point order, as Python's sorted(): 'Bee' < 'ant' < 'zebra'; '10.jpg' < '2.jpeg' < 'sub/0.png'.
    expect(list.classes).toEqual(['Bee', 'ant', 'zebra']);
    expect(list.files.map((f) => f.slice(root.length + 1))).toEqual(['Bee/x.jpg', 'ant/10.jpg', 'ant/2.jpeg', 'ant/sub/0.png', 'zebra/a.PNG', 'zebra/b.jpg']);
    expect(Array.from(list.labels)).toEqual([0, 1, 1, 1, 2, 2]);
    expect(list.numClasses).toBe(3);
    expect(list.notes).toEqual([]);
  });

  it('ignores hidden entries and counts other files; an empty class keeps its label', async () => {
    const root = tree('odd', ['.ipynb_checkpoints/a.jpg', 'cat/.DS_Store', 'cat/1.jpg', 'cat/notes.txt', 'dog/', 'eel/1.png', 'README.md']);
    const list = await listImageFolder(root);
    expect(list.classes).toEqual(['cat', 'dog', 'eel']);
    expect(Array.from(list.labels)).toEqual([0, 2]);
    expect(list.notes).toEqual(['empty class folder dog', '2 other files ignored']);
  });

  it('refuses a folder without class folders or without images, saying the layout', async () => {
    await expect(listImageFolder(tree('flat', ['1.jpg', '2.jpg']))).rejects.toThrow(/has no class folders: an image folder holds one subfolder per class/);
    await expect(listImageFolder(tree('noimages', ['cat/a.txt']))).rejects.toThrow(InvalidDataError);
    await expect(listImageFolder(join(tmp, 'missing'))).rejects.toThrow(FileAccessError);
  });
});

describe('listImageTable (.csv / .tsv of path and label)', () => {
  it("reads integer labels as class indices, paths from the list's folder, a header and quoted fields", async () => {
    const csv = join(tmp, 'list', 'labels.csv');
    mkdirSync(join(tmp, 'list'), { recursive: true });
    writeFileSync(csv, 'path,label\r\nimg/a.jpg,3\n\n"img/b,c.jpg",0\n/abs/d.png, 7 \n"say ""hi"".png",1\n');
    const list = await listImageTable(csv);
    expect(list.files).toEqual([join(tmp, 'list', 'img/a.jpg'), join(tmp, 'list', 'img/b,c.jpg'), '/abs/d.png', join(tmp, 'list', 'say "hi".png')]);
    expect(Array.from(list.labels)).toEqual([3, 0, 7, 1]);
    expect([list.numClasses, list.classes]).toEqual([8, undefined]);
  });

  it('numbers class names in sorted order, as folders are; .tsv splits on tabs', async () => {
    const tsv = join(tmp, 'names.tsv');
    writeFileSync(tsv, 'x/1.jpg\tdog\nx/2,3.jpg\tcat\nx/4.jpg\tdog\n');
    const list = await listImageTable(tsv);
    expect(list.classes).toEqual(['cat', 'dog']);
    expect(Array.from(list.labels)).toEqual([1, 0, 1]);
    expect(list.files[1]).toBe(join(tmp, 'x/2,3.jpg'));
  });

  it('names the line at fault', async () => {
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'a.jpg,1\nb.jpg\n');
    await expect(listImageTable(bad)).rejects.toThrow(/bad\.csv, line 2: expected two fields, an image path and its label/);
    writeFileSync(bad, 'a.jpg,1,extra\n');
    await expect(listImageTable(bad)).rejects.toThrow(/line 1: expected two fields/);
    writeFileSync(bad, '"a.jpg,1\n');
    await expect(listImageTable(bad)).rejects.toThrow(/line 1: a quoted field is not closed/);
    writeFileSync(bad, 'path,label\n');
    await expect(listImageTable(bad)).rejects.toThrow(/lists no images/);
    await expect(listImageTable(join(tmp, 'none.csv'))).rejects.toThrow(FileAccessError);
  });
});
