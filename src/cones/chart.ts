/**
 * Per-layer bar chart of a concept's neuron counts, drawn as SVG and rasterized with sharp into an
 * IMAGE tensor (float32 [1, H, W, 3], 0..1) for the front end.
 */
import sharp from 'sharp';
import type { Tensor } from '../shared/types.js';
import type { ConceptInfo } from './info.js';
import { moduleOrder, shortModuleName } from './layers.js';

export interface ChartOptions {
  width?: number;
  height?: number;
}

const SERIES = [
  { name: 'attn1.k', suffix: 'attn1.k', color: '#4e79a7' },
  { name: 'attn1.v', suffix: 'attn1.v', color: '#a0cbe8' },
  { name: 'attn2.k', suffix: 'attn2.k', color: '#e15759' },
  { name: 'attn2.v', suffix: 'attn2.v', color: '#f1a340' },
];

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

/** Round axis maximum and step (1, 2 or 5 × 10^k) giving about five ticks. */
function niceAxis(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 1, step: 1 };
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const stepInt = Math.max(1, step);
  return { top: Math.ceil(max / stepInt) * stepInt, step: stepInt };
}

const compact = (n: number) =>
  n >= 1e6
    ? `${+(n / 1e6).toPrecision(3)}M`
    : n >= 1e3
      ? `${+(n / 1e3).toPrecision(3)}k`
      : n.toLocaleString('en-US');

export function layerChartSvg(info: ConceptInfo, options: ChartOptions = {}): string {
  const width = options.width ?? 1024;
  const height = options.height ?? 512;
  const margin = { left: 84, right: 20, top: 64, bottom: 76 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const series = SERIES.filter((s) => info.layers.some((l) => l.name.endsWith(s.suffix)));
  // One group of bars per transformer the concept's model has (SD1: 16), in execution order.
  const modules = [...new Set(info.layers.map((l) => l.module).filter((m) => m !== ''))].sort(
    (a, b) => moduleOrder(a) - moduleOrder(b),
  );
  const blocks = Math.max(1, modules.length);
  const max = info.layers.reduce((m, l) => Math.max(m, l.count), 0);
  const axis = niceAxis(max);
  const groupW = plotW / blocks;
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const y = (v: number) => margin.top + plotH - (v / axis.top) * plotH;
  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const title = `"${info.label}": ${info.totalCount.toLocaleString('en-US')} concept neurons (${(100 * info.density).toPrecision(3)}% of ${info.scope})`;
  parts.push(
    `<text x="${width / 2}" y="24" font-size="17" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`,
  );
  // Legend.
  series.forEach((s, i) => {
    const x = margin.left + i * 110;
    parts.push(`<rect x="${x}" y="38" width="14" height="14" fill="${s.color}"/>`);
    parts.push(`<text x="${x + 20}" y="50" font-size="13">${s.name}</text>`);
  });
  // Y grid, ticks and label.
  for (let v = 0; v <= axis.top + 1e-9; v += axis.step) {
    const yy = y(v).toFixed(1);
    parts.push(
      `<line x1="${margin.left}" y1="${yy}" x2="${width - margin.right}" y2="${yy}" stroke="#e3e3e3"/>`,
    );
    parts.push(
      `<text x="${margin.left - 8}" y="${(y(v) + 4).toFixed(1)}" font-size="12" text-anchor="end">${compact(v)}</text>`,
    );
  }
  const yMid = margin.top + plotH / 2;
  parts.push(
    `<text x="18" y="${yMid}" font-size="14" text-anchor="middle" transform="rotate(-90 18 ${yMid})">concept neurons</text>`,
  );
  // Bars.
  for (const l of info.layers) {
    const s = series.findIndex((x) => l.name.endsWith(x.suffix));
    const block = modules.indexOf(l.module);
    if (s < 0 || block < 0 || l.count === 0) continue;
    const x = margin.left + block * groupW + groupW * 0.1 + s * barW;
    const top = y(l.count);
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${(margin.top + plotH - top).toFixed(1)}" fill="${series[s].color}"/>`,
    );
  }
  if (max === 0) {
    parts.push(
      `<text x="${margin.left + plotW / 2}" y="${yMid}" font-size="16" text-anchor="middle" fill="#888">no concept neurons</text>`,
    );
  }
  // X axis, block labels and title.
  const axisY = margin.top + plotH;
  parts.push(
    `<line x1="${margin.left}" y1="${axisY}" x2="${width - margin.right}" y2="${axisY}" stroke="#333"/>`,
  );
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${axisY}" stroke="#333"/>`,
  );
  for (let b = 0; b < modules.length; b++) {
    const cx = margin.left + (b + 0.5) * groupW;
    parts.push(
      `<text x="${cx.toFixed(1)}" y="${axisY + 18}" font-size="12" text-anchor="middle">${shortModuleName(modules[b])}</text>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${height - 22}" font-size="14" text-anchor="middle">transformer block (LDM input / middle / output blocks), ${info.layers.length} weights</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, sans-serif">${parts.join('')}</svg>`;
}

/** RGB bytes of the chart (for PNG export in the CLI). */
export async function layerChartPng(info: ConceptInfo, options: ChartOptions = {}): Promise<Buffer> {
  return sharp(Buffer.from(layerChartSvg(info, options)))
    .png()
    .toBuffer();
}

/** The chart as an IMAGE tensor [1, H, W, 3] in 0..1. */
export async function layerChartImage(info: ConceptInfo, options: ChartOptions = {}): Promise<Tensor> {
  const { data, info: raster } = await sharp(Buffer.from(layerChartSvg(info, options)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
  return { data: out, shape: [1, raster.height, raster.width, 3] };
}
