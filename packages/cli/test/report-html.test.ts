// The HTML report in a real browser: it must load offline without errors and draw every chart.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { frontiers, type SweepPoint, type SweepResult, type WholeModel } from '@pg/core/internal';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { THRESHOLD_BINS } from '../src/render/report-html.js';
import type { ReportJson } from '../src/report-format.js';
import { renderSweepHtml } from '../src/render/sweep-html.js';
import { CHROMIUM, chromiumSkipNote, hasChromium, launchChromium } from './support/browser.js';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

if (!hasChromium()) {
  // CI installs chromium (.ci/run), so this runs there; locally it is optional.
  console.warn(`Skipping the HTML report browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set PG_CHROMIUM).`);
}

describe.skipIf(!hasChromium())(`pg report --format html in headless Chromium${chromiumSkipNote()}`, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let browser: Browser;
  let page: Page;
  let report: ReportJson;
  const problems: string[] = [];
  const requests: string[] = [];
  let html: string;

  beforeAll(async () => {
    tmp = await tempDir();
    const g42 = join(tmp.dir, 'g42.onnx');
    const g31 = join(tmp.dir, 'g31.onnx');
    for (const [out, bits, hbits] of [
      [g42, '4', '2'],
      [g31, '3', '1'],
    ] as const) {
      const run = await pg(['convert', FIXTURES.tiny, '-o', out, '--bits', bits, '--hbits', hbits, '--data', BUNDLED_TRAIN, '--calibration-batches', '1']);
      expect(run.code, run.stderr).toBe(0);
    }
    html = join(tmp.dir, 'report.html');
    // The float model too: a configuration without B_avg, listed but not drawn.
    const run = await pg([
      'report',
      g42,
      '--data',
      BUNDLED_TEST,
      '--limit',
      '100',
      '--compare',
      g31,
      '--compare',
      FIXTURES.tiny,
      '--format',
      'html',
      '--decision-maps',
      '3',
      '--cost',
      'all',
      '--per-layer-sensitivity',
      '-o',
      html,
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    report = json(run).result as ReportJson;
    expect(schemaErrors('report', report)).toEqual([]);

    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`failed request: ${r.url()}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
    await tmp?.remove();
  });

  it('loads with no console errors, no failed requests, and nothing fetched but the file itself', async () => {
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(html).href]);
    const text = await readFile(html, 'utf8');
    expect(text).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(await page.title()).toBe(`pg report: ${report.model}`);
  });

  it('draws one bar per gated layer and per layer, and a full histogram per gated layer', async () => {
    const gated = report.layers.filter((l) => l.gated);
    expect(gated.length).toBe(2);
    expect(await page.locator('svg[data-chart="high-precision-fraction"] rect.bar').count()).toBe(gated.length);
    expect(await page.locator('svg[data-chart="macs"] rect.bar').count()).toBe(report.layers.length);
    // Bars are drawn to scale: conv2 has 8x the MACs of conv3 (451,584 vs 56,448).
    const widths = await page.locator('svg[data-chart="macs"] rect.bar').evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
    expect(widths[1] / widths[2]).toBeCloseTo(report.layers[1].macs / report.layers[2].macs, 3);
    const histograms = page.locator('svg[data-chart^="threshold-histogram:"]');
    expect(await histograms.count()).toBe(gated.length);
    for (let i = 0; i < gated.length; i++) {
      expect(await histograms.nth(i).getAttribute('data-chart')).toBe(`threshold-histogram:${gated[i].name}`);
      const heights = await histograms
        .nth(i)
        .locator('rect.bar')
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute('height'))));
      expect(heights).toHaveLength(THRESHOLD_BINS);
      expect(heights.filter((h) => h > 0).length).toBeGreaterThan(0);
    }
  });

  it("draws each cost model's per-layer costs and the per-layer sensitivity", async () => {
    expect(report.costs?.length).toBeGreaterThan(1);
    for (const c of report.costs ?? []) {
      expect(await page.locator(`svg[data-chart="cost:${c.backend}"] rect.bar`).count()).toBe(c.per_layer.length);
    }
    expect(await page.locator('#costs tbody tr').count()).toBe(report.costs?.length);
    expect(report.sensitivity).toHaveLength(2);
    expect(await page.locator('svg[data-chart="sensitivity-prediction-only"] rect.bar').count()).toBe(2);
  });

  it('leads the summary with the whole model, and labels the gated figures with their share of MACs', async () => {
    const rows = await page.locator('#summary tr th').allTextContents();
    expect(rows.indexOf('whole model')).toBe(rows.indexOf('accuracy') + 1);
    expect(rows.indexOf('BitOps')).toBe(rows.indexOf('whole model') + 1);
    expect(rows.indexOf('B_avg')).toBeGreaterThan(rows.indexOf('BitOps'));
    const bavg = await page.locator('#summary tr', { hasText: 'B_avg' }).locator('td').textContent();
    expect(bavg).toMatch(/^\d\.\d\d bits over gated layers \(\d+\.\d% of MACs\)$/);
  });

  it("plots accuracy against the whole model's activation bits for every configuration, with the frontier", async () => {
    // g42, g31 and the float model (16 bits everywhere, no B_avg) all have whole-model activation bits.
    expect(report.compared).toHaveLength(2);
    expect(report.compared!.find((c) => c.bavg === null)?.act_bits).toBe(16);
    expect(await page.locator('svg[data-chart="accuracy-vs-act-bits"] circle.point').count()).toBe(3);
    expect(await page.locator('svg[data-chart="accuracy-vs-act-bits"] circle.point.current').count()).toBe(1);
    expect(await page.locator('svg[data-chart="accuracy-vs-act-bits"] polyline.frontier').count()).toBe(1);
    expect(await page.locator('#accuracy-vs-act-bits tbody tr').count()).toBe(3);
  });

  it('draws the decision maps: one picture per sample, one H×W grid per gated conv layer and sample', async () => {
    const maps = report.decision_maps!;
    expect(maps.samples).toHaveLength(3);
    expect(await page.locator('svg[data-chart^="input:"] rect.cell').count()).toBe(3 * 28 * 28);
    for (const m of maps.layers) {
      const grids = page.locator(`svg[data-chart^="decision-map:${m.layer}:"]`);
      expect(await grids.count()).toBe(3);
      for (let i = 0; i < 3; i++) expect(await grids.nth(i).locator('rect.cell').count()).toBe(m.height * m.width);
      const box = await grids.first().boundingBox();
      expect(box?.width).toBeGreaterThan(50);
    }
  });

  it("draws a gated linear layer's decisions as a strip of its output units", async () => {
    // tiny-cnn with its classifier gated (dynamic scales: no calibration), rendered by the same CLI.
    const fc = join(tmp.dir, 'fc.onnx');
    const conv = await pg(['convert', FIXTURES.tiny, '-o', fc, '--act-scale', 'dynamic', '--include', '/fc/Gemm']);
    expect(conv.code, conv.stderr).toBe(0);
    const out = join(tmp.dir, 'fc.html');
    const run = await pg(['report', fc, '--data', BUNDLED_TEST, '--limit', '20', '--format', 'html', '--decision-maps', '2', '--decision-layers', '/fc/Gemm', '-o', out]);
    expect(run.code, run.stderr).toBe(0);
    const strips = await browser.newPage();
    try {
      await strips.goto(pathToFileURL(out).href, { waitUntil: 'load' });
      const grids = strips.locator('svg[data-chart^="decision-map:/fc/Gemm:"]');
      expect(await grids.count()).toBe(2);
      for (let i = 0; i < 2; i++) expect(await grids.nth(i).locator('rect.cell').count()).toBe(10);
      // One row: as wide as the conv maps, one tenth as tall.
      const box = await grids.first().boundingBox();
      expect(box!.width).toBeGreaterThan(100);
      expect(box!.height).toBeCloseTo(box!.width / 10, 0);
      expect(await grids.first().getAttribute('aria-label')).toMatch(/output units updated/);
    } finally {
      await strips.close();
    }
  });

  it('takes a screenshot of the whole page', async () => {
    const shot = join(tmp.dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    const bytes = await readFile(shot);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    // The full page is taller than the viewport: every section was laid out.
    expect(bytes.readUInt32BE(20)).toBeGreaterThan(900);
  });
});

describe.skipIf(!hasChromium())(`the pg sweep HTML page in headless Chromium${chromiumSkipNote()}`, () => {
  // A sweep summary as runSweep writes it (renderer test: the CLI test runs a real sweep).
  const whole = (actBits: number, bitops: number): WholeModel => ({
    macs: 1e6,
    gated_mac_fraction: 0.4,
    act_bits: actBits,
    weight_bits: 9,
    bitops,
    bitops_vs_static_b: 0.8,
    bitops_vs_static_8bit: 0.3,
    bitops_vs_seernet: 0.95,
    profile: 'bundled:bit-serial',
  });
  const point = (
    id: string,
    bits: number,
    hbits: number,
    s: number,
    accuracy: number | null,
    bavg: number | null,
    cost: number | null,
    actBits: number | null = null,
  ): SweepPoint => ({
    id,
    mode: 'pg',
    bits,
    hbits,
    target_sparsity: s,
    status: accuracy === null ? 'pending' : 'complete',
    model: accuracy === null ? null : `points/${id}/model.onnx`,
    report: accuracy === null ? null : `points/${id}/report.json`,
    accuracy,
    accuracy_drop: accuracy === null ? null : 0.92 - accuracy,
    whole_model: actBits === null || cost === null ? null : whole(actBits, cost),
    bavg,
    sparsity: accuracy === null ? null : s,
    costs: cost === null ? [] : [{ backend: 'bit-serial', unit: 'bitops', total: cost }],
    seconds: accuracy === null ? null : 3,
    reused: false,
  });
  const points = [
    // The whole model's activation bits rank the points otherwise than the gated layers' B_avg.
    point('b4-h2-s0.8', 4, 2, 0.8, 0.9, 2.4, 2.4e7, 5.0),
    point('b4-h2-s0.9', 4, 2, 0.9, 0.88, 2.2, 2.2e7, 4.9),
    point('b3-h1-s0.8', 3, 1, 0.8, 0.8, 1.4, 2.5e7, 4.95),
    point('b3-h1-s0.9', 3, 1, 0.9, 0.85, 1.6, 1.5e7, 4.6),
    point('b3-h2-s0.8', 3, 2, 0.8, null, null, null),
  ];
  const sweep: SweepResult = {
    model: 'model.onnx',
    data: 'train',
    eval_data: 'test',
    float_accuracy: 0.92,
    grid: { mode: ['pg'], bits: [4, 3], hbits: [2, 1], target_sparsity: [0.8, 0.9] },
    invalid: [],
    settings: {},
    points,
    frontier: frontiers(points),
    complete: 4,
    pending: 1,
    stopped: 'time-budget',
  };

  it('loads without errors and draws the complete points and each frontier', async () => {
    expect(schemaErrors('sweep', sweep)).toEqual([]);
    // Whole model: b3-h1-s0.9 (0.85 at 4.6 bits) is cheapest, b4-h2-s0.9 and b4-h2-s0.8 beat it; b3-h1-s0.8 is dominated.
    expect(sweep.frontier.act_bits).toEqual(['b3-h1-s0.9', 'b4-h2-s0.9', 'b4-h2-s0.8']);
    // Gated layers only: b3-h1-s0.8 (0.80 at 1.4) is cheapest; b3-h1-s0.9 beats it at 1.6; b4-h2-s0.9 and b4-h2-s0.8 follow.
    expect(sweep.frontier.bavg).toEqual(['b3-h1-s0.8', 'b3-h1-s0.9', 'b4-h2-s0.9', 'b4-h2-s0.8']);
    expect(sweep.frontier['bit-serial']).toEqual(['b3-h1-s0.9', 'b4-h2-s0.9', 'b4-h2-s0.8']);
    const tmp = await tempDir();
    const browser = await launchChromium();
    try {
      const file = join(tmp.dir, 'sweep.html');
      await writeFile(file, renderSweepHtml(sweep));
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('requestfailed', (r) => problems.push(r.url()));
      await page.goto(pathToFileURL(file).href);
      expect(problems).toEqual([]);
      expect(await page.locator('svg[data-chart="accuracy-vs-act-bits"] circle.point').count()).toBe(4);
      expect(await page.locator('svg[data-chart="accuracy-vs-act-bits"] circle.on-frontier').count()).toBe(3);
      expect(await page.locator('section').first().getAttribute('id')).toBe('accuracy-vs-act-bits');
      expect(await page.locator('svg[data-chart="accuracy-vs-bavg"] circle.point').count()).toBe(4);
      expect(await page.locator('svg[data-chart="accuracy-vs-bavg"] circle.on-frontier').count()).toBe(4);
      expect(await page.locator('svg[data-chart="accuracy-vs-cost:bit-serial"] circle.point').count()).toBe(4);
      expect(await page.locator('svg[data-chart="accuracy-vs-cost:bit-serial"] circle.on-frontier').count()).toBe(3);
      expect(await page.locator('svg polyline.frontier').count()).toBe(3);
      expect(await page.locator('#points tbody tr').count()).toBe(5);
      const shot = await page.screenshot({ fullPage: true });
      expect([...shot.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    } finally {
      await browser.close();
      await tmp.remove();
    }
  });
});
