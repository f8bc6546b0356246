/**
 * The toy eval's outputs: the Markdown report (printed and saved), report.json, grid.png (rows:
 * prompts, columns: seeds, a caption strip per row where sharp can draw text) with prompts.txt beside
 * it, and vae-examples.png (originals above their reconstructions).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { captionBox, composeGrid, type GridLayout, gridLayout } from '../../src/toy/eval/grid.js';
import { EVAL_ATTRIBUTES, type KindScore, type Rates } from '../../src/toy/eval/score.js';
import type { GenerationSetReport, ToyEvalReport, ToyEvalResult, VaeSetReport } from './evaluate.js';
import { TOY_SIZE } from './evaluate.js';

const CAPTION_PX = 12;
const GAP_PX = 2;

const percent = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}`);

function ratesRow(label: string, rates: Rates): string {
  const cells = EVAL_ATTRIBUTES.map((a) => percent(rates.attributes[a]));
  return `| ${label} | ${rates.images} | ${cells.join(' | ')} | ${percent(rates.allCorrect)} |`;
}

function ratesHeader(first: string): string[] {
  return [
    `| ${first} | images | ${EVAL_ATTRIBUTES.join(' | ')} | all correct |`,
    `|---|---:|${EVAL_ATTRIBUTES.map(() => '---:').join('|')}|---:|`,
  ];
}

const kindList = (kinds: Record<string, KindScore>) =>
  Object.entries(kinds)
    .map(([kind, k]) => `${kind} ${percent(k.right / k.asked)} (${k.asked})`)
    .join(', ');

function vaeSection(name: string, set: VaeSetReport): string[] {
  const { mean, median, p95, max } = set.mae;
  return [
    `**${name}** (${set.scenes} scenes): mean absolute error ${mean.toFixed(2)} / 255 per pixel and channel ` +
      `(per scene: median ${median.toFixed(2)}, p95 ${p95.toFixed(2)}, max ${max.toFixed(2)})`,
    '',
    ...ratesHeader('reader (%)'),
    ratesRow('originals vs truth', set.originals),
    ratesRow('reconstructions vs truth', set.reconstructions),
    ratesRow('reconstructions vs reading of originals', set.agreement),
    '',
    `Reconstructions vs truth by kind (%, objects): shape — ${kindList(set.kinds.shape)}; pattern — ${kindList(set.kinds.pattern)}.`,
    '',
  ];
}

function generationSection(name: string, set: GenerationSetReport): string[] {
  if (set.prompts === 0) return [];
  return [
    `**${name}** (${set.prompts} prompts, ${set.images} images), agreement of the reader with the prompt (%):`,
    '',
    ...ratesHeader('prompt'),
    ratesRow('all', set.overall),
    ...set.perPrompt.map((p) => ratesRow(p.text, p.rates)),
    '',
  ];
}

export function markdownReport(report: ToyEvalReport): string {
  const s = report.settings;
  const lines = [
    `# Toy model evaluation: ${report.checkpoint}`,
    '',
    `${report.date}; fingerprint ${report.fingerprint.slice(0, 16)}; wall time ${report.wallSeconds.toFixed(1)} s.`,
    'Pattern is checked only where the prompt names one (plain objects are captioned without a pattern word);',
    'on scenes every object and attribute is checked, each true object against the nearest read one.',
    '',
  ];
  if (report.vae) {
    lines.push(
      `## VAE reconstruction (VAEEncode → VAEDecode, ${report.vae.imagesPerSecond.toFixed(1)} images/s)`,
      '',
      ...vaeSection('Training combinations', report.vae.seen),
      ...vaeSection('Held-out combinations', report.vae.heldOut),
    );
  }
  if (report.generation) {
    const g = s.sampling;
    lines.push(
      `## Generation (${g.samplerName} / ${g.scheduler}, CFG ${g.cfg}, ${g.steps} steps, seeds 0–${s.seeds - 1}, ` +
        `negative prompt empty; ${report.generation.imagesPerSecond.toFixed(2)} images/s)`,
      '',
      ...generationSection('Training combinations', report.generation.seen),
      ...generationSection('Held-out combinations', report.generation.heldOut),
    );
  }
  return `${lines.join('\n')}\n`;
}

function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A caption as an RGBA overlay no larger than `width` × `height`, or undefined where sharp cannot draw text. */
async function captionOverlay(text: string, width: number, height: number): Promise<Buffer | undefined> {
  try {
    const drawn = await sharp({
      text: {
        text: `<span foreground="white">${escapeMarkup(text)}</span>`,
        font: 'sans 8',
        dpi: 72,
        rgba: true,
      },
    })
      .png()
      .toBuffer({ resolveWithObject: true });
    const w = Math.min(drawn.info.width, width);
    const h = Math.min(drawn.info.height, height);
    return await sharp(drawn.data).extract({ left: 0, top: 0, width: w, height: h }).png().toBuffer();
  } catch {
    return undefined;
  }
}

/** The grid as PNG; `captions` (one per row) drawn into the strips when the layout has them and text works. */
export async function gridPng(
  layout: GridLayout,
  tiles: readonly (readonly Uint8Array[])[],
  captions: readonly string[] = [],
): Promise<{ png: Buffer; captioned: boolean }> {
  const pixels = composeGrid(layout, tiles);
  const overlays: OverlayOptions[] = [];
  for (const [row, text] of captions.entries()) {
    const box = captionBox(layout, row);
    if (!box) break;
    const input = await captionOverlay(text, box.width, box.height);
    if (!input) break;
    overlays.push({ input, left: box.x, top: box.y + 1 });
  }
  const captioned = captions.length > 0 && overlays.length === captions.length;
  const image = sharp(Buffer.from(pixels), {
    raw: { width: layout.width, height: layout.height, channels: 3 },
  });
  // sharp composites in RGBA; the grid is opaque, so it is written as RGB either way.
  const rgb = captioned ? sharp(await image.composite(overlays).png().toBuffer()).removeAlpha() : image;
  const png = await rgb.png().toBuffer();
  return { png, captioned };
}

/** Writes report.md, report.json, grid.png + prompts.txt and vae-examples.png into `dir`. */
export async function writeToyEvalOutputs(dir: string, result: ToyEvalResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, data: string | Buffer) => {
    await writeFile(join(dir, name), data);
    written.push(join(dir, name));
  };
  await write('report.md', markdownReport(result.report));
  await write('report.json', `${JSON.stringify(result.report, null, 2)}\n`);
  const { prompts, images } = result.grid;
  if (prompts.length > 0) {
    const layout = gridLayout({
      rows: prompts.length,
      columns: Math.max(...images.map((row) => row.length)),
      tile: TOY_SIZE,
      gap: GAP_PX,
      caption: CAPTION_PX,
    });
    const { png } = await gridPng(
      layout,
      images,
      prompts.map((p) => (p.heldOut ? `${p.text} (held out)` : p.text)),
    );
    await write('grid.png', png);
    const list = prompts.map((p, row) => `${row + 1}\t${p.heldOut ? 'held-out' : 'seen'}\t${p.text}`);
    await write('prompts.txt', `row\tset\tprompt (columns: seeds 0, 1, …)\n${list.join('\n')}\n`);
  }
  const { originals, reconstructions } = result.vaeExamples;
  if (originals.length > 0) {
    const layout = gridLayout({ rows: 2, columns: originals.length, tile: TOY_SIZE, gap: GAP_PX });
    const { png } = await gridPng(layout, [originals, reconstructions]);
    await write('vae-examples.png', png);
  }
  return written;
}
