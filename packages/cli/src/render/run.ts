import type { RunResult } from '@pg/core';
import { duration, renderTable } from './table.js';

/** `pg run` without --json: the tensors read and written, and how long the run took. */
export function renderRun(r: Omit<RunResult, 'engine'> & { runtime: string; backend: string | null }): string {
  const shape = (s: number[]): string => `[${s.join(', ')}]`;
  const table = renderTable(
    [{ header: '' }, { header: 'name' }, { header: 'dtype' }, { header: 'shape' }, { header: 'file' }],
    [
      ...r.inputs.map((i) => ['input', i.name, i.file_dtype === i.dtype ? i.dtype : `${i.dtype} (file: ${i.file_dtype})`, shape(i.shape), i.file]),
      ...r.outputs.map((o) => ['output', o.name, o.dtype, shape(o.shape), o.file]),
    ],
  );
  const files = r.outputs.map((o) => o.file).join(', ');
  return `${table}\n\nWrote ${files} (${r.backend === null ? r.runtime : `pg on ${r.backend}`}: run ${duration(r.elapsed_ms)}, loading ${duration(r.load_ms)}).`;
}
