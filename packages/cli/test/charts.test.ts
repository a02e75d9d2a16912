// The SVG chart primitives of the HTML reports, checked on their output strings (the browser test checks rendering).
import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../src/render/html/escape.js';
import { binCounts, heatmap, histogram, horizontalBars, niceTicks, scatter } from '../src/render/html/svg-charts.js';

const count = (svg: string, what: RegExp): number => svg.match(what)?.length ?? 0;

describe('svg charts', () => {
  it('bins every value once, the max in the last bin, equal values in a unit range', () => {
    const b = binCounts([0, 0.1, 0.5, 0.99, 1], 4);
    expect(b.counts).toEqual([2, 0, 1, 2]);
    expect(binCounts([2, 2, 2], 3)).toEqual({ lo: 1.5, hi: 2.5, counts: [0, 3, 0] });
  });
  it('picks round ticks inside the range', () => {
    expect(niceTicks(0.2, 1.05)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(niceTicks(2.1, 3.3)).toEqual([2.5, 3]);
  });
  it('draws one bar per item, scaled to the max, and escapes names', () => {
    const svg = horizontalBars(
      'b',
      [
        { label: '<conv>', value: 1, text: '1' },
        { label: 'b', value: 0.25, text: '0.25' },
      ],
      { max: 1, caption: 'c' },
    );
    expect(count(svg, /<rect class="bar"/g)).toBe(2);
    expect(svg).toContain('&lt;conv&gt;');
    const widths = [...svg.matchAll(/class="bar" x="\d+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths[0] / widths[1]).toBeCloseTo(4, 5);
  });
  it('draws a histogram with one bar per bin, a heat map with one cell per position, a frontier line through frontier points only', () => {
    expect(count(histogram('h', [1, 2, 3], { bins: 7, caption: 'c', xLabel: 'x' }), /<rect class="bar"/g)).toBe(7);
    expect(count(heatmap('m', new Array(12).fill(0.5), { height: 3, width: 4, caption: 'c', palette: 'heat' }), /<rect class="cell"/g)).toBe(12);
    const svg = scatter(
      's',
      [
        { x: 1, y: 0.5, label: 'a', frontier: true },
        { x: 2, y: 0.4, label: 'b' },
        { x: 3, y: 0.9, label: 'c', frontier: true },
      ],
      {
        caption: 'c',
        xLabel: 'x',
        yLabel: 'y',
        yFormat: String,
      },
    );
    expect(count(svg, /<circle class="point/g)).toBe(3);
    expect(count(svg, /class="point on-frontier"/g)).toBe(2);
    expect(svg.match(/<polyline class="frontier" points="([^"]+)"/)?.[1].split(' ')).toHaveLength(2);
  });
  it('escapes the characters that end text or attributes', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
