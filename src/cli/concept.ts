/**
 * `cones-nodes concept info|embed|extract …` — concept files from the command line.
 * `info` prints what the Concept Info node shows; `embed`/`extract` move concepts into and out of
 * workflows (UI or API JSON, /prompt bodies, PNGs written by SaveImage).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { layerChartPng } from '../cones/chart.js';
import { embedConcepts, extractEmbeddedConcepts } from '../cones/embed.js';
import { decodeConcept, loadConceptFile } from '../cones/file.js';
import { conceptInfo, conceptInfoJson, formatConceptInfo } from '../cones/info.js';
import { isPng, readPngText } from '../image/png-text.js';
import { parseCommandArgs, usageError } from './args.js';

export const usage = `Usage: cones-nodes concept <subcommand> [options]

Subcommands:
  info <file.cones.safetensors> [--json] [--chart out.png]
      Neurons per layer, sparsity, bytes on disk, compression ratio vs an int32 list.
      --json prints the same as JSON; --chart writes the per-layer bar chart as PNG.
  embed <workflow.json> <concept files…> [-o out.json]
      Carries the concepts by value in a UI workflow (extra.cones_concepts), an API prompt
      (_meta.cones_concept on the ConesLoadConcept nodes) or a /prompt body. The name of each
      concept is its file name (as the Load Concept node lists it); --name renames a single file.
  extract <workflow.json | image.png> [-o folder]
      Writes the concepts a workflow or PNG carries to files (checksums verified).

Options:
  -o, --out PATH   output file (embed; default: overwrite the input) or folder (extract; default .)
  --name NAME      concept name to embed under (one concept file only)
  -h, --help       this text`;

function parse(argv: string[]) {
  return parseCommandArgs('concept', usage, {
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      chart: { type: 'string' },
      out: { type: 'string', short: 'o' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type Values = Exclude<ReturnType<typeof parse>, number>['values'];

async function info(files: string[], values: Values): Promise<number> {
  if (files.length !== 1) {
    console.error(`concept info: expected one concept file\n\n${usage}`);
    return 2;
  }
  const concept = await loadConceptFile(files[0]);
  const result = conceptInfo(concept);
  if (values.chart) await writeFile(values.chart, await layerChartPng(result));
  if (values.json) console.log(JSON.stringify(conceptInfoJson(result), null, 2));
  else console.log(formatConceptInfo(result));
  return 0;
}

async function embed(args: string[], values: Values): Promise<number> {
  const [workflowPath, ...conceptPaths] = args;
  if (!workflowPath || conceptPaths.length === 0) {
    console.error(`concept embed: expected a workflow and at least one concept file\n\n${usage}`);
    return 2;
  }
  if (values.name && conceptPaths.length !== 1) {
    console.error('concept embed: --name needs exactly one concept file');
    return 2;
  }
  const workflow = JSON.parse(await readFile(workflowPath, 'utf8')) as unknown;
  const files: Record<string, Uint8Array> = {};
  for (const path of conceptPaths) {
    const bytes = new Uint8Array(await readFile(path));
    decodeConcept(bytes, path); // refuse to embed a broken file
    files[values.name ?? basename(path)] = bytes;
  }
  const out = embedConcepts(workflow, files);
  const target = values.out ?? workflowPath;
  await writeFile(target, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`embedded ${Object.keys(files).join(', ')} into ${target}`);
  return 0;
}

/**
 * The path segments of an embedded concept's name (`sub/name.cones.safetensors`, as Load Concept lists
 * it), so the file lands where the node would find it. The name comes from someone else's file: an
 * absolute name or a `..` segment is refused rather than written outside the output folder.
 */
function conceptNameSegments(name: string): string[] {
  const segments = name
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || segments.length === 0 || segments.includes('..')) {
    throw new Error(`embedded concept name '${name}' is not a relative file name; nothing written`);
  }
  return segments;
}

async function extract(args: string[], values: Values): Promise<number> {
  if (args.length !== 1) {
    console.error(`concept extract: expected one workflow or PNG\n\n${usage}`);
    return 2;
  }
  const bytes = new Uint8Array(await readFile(args[0]));
  const source: unknown = isPng(bytes) ? readPngText(bytes) : JSON.parse(Buffer.from(bytes).toString('utf8'));
  const found = extractEmbeddedConcepts(source);
  if (found.size === 0) {
    console.error(`concept extract: ${args[0]} carries no concepts`);
    return 1;
  }
  const folder = values.out ?? '.';
  const targets = new Map(
    [...found.keys()].map((name) => [name, join(folder, ...conceptNameSegments(name))]),
  );
  for (const [name, data] of found) {
    const concept = decodeConcept(data, `embedded concept '${name}'`);
    const target = targets.get(name) as string;
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, data);
    console.log(
      `${target}: "${concept.description.identifier} ${concept.description.class_noun}" (${data.length} bytes)`,
    );
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [sub, ...rest] = positionals;
  if (!sub) {
    console.log(usage);
    return 2;
  }
  try {
    if (sub === 'info') return await info(rest, values);
    if (sub === 'embed') return await embed(rest, values);
    if (sub === 'extract') return await extract(rest, values);
  } catch (error) {
    console.error(`concept ${sub}: ${(error as Error).message}`);
    return 1;
  }
  return usageError('concept', `unknown subcommand '${sub}'`, usage);
}
