#!/usr/bin/env node
// Layering check (run by `npm run lint`): a module in src/ may import only from its own layer or the
// layers below it. Prints each violation as `file:line imports X (layer A may not import layer B)` and
// exits 1; also fails on a src/ folder that is in no layer, so a new folder gets a place first.
//
//   node scripts/check-layers.mjs [ROOT]     (ROOT: the folder holding src/; default: this repository)
//
// Test files (test/**) are exempt. Dependency-free on purpose: it must run before anything is built.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layers, top to bottom: each entry lists the folders of src/ (or files at its root) in it.
 * Modules in one layer may import each other (cones builds on sd); never from a layer above.
 * - runtime: the task map joining the families' task maps, and the worker side that registers their
 *   handlers, so it sits above the families; the generic task contract (`TaskClient`, `TaskHandlers`,
 *   `TaskContext`) and the worker settings live in shared, which the families implement.
 */
export const LAYERS = [
  { name: 'entry', members: ['cli', 'server', 'cli.ts', 'index.ts'] },
  { name: 'engine', members: ['engine'] },
  { name: 'nodes', members: ['nodes'] },
  { name: 'runtime', members: ['runtime'] },
  { name: 'families', members: ['sd', 'cones', 'image', 'train', 'toy'] },
  { name: 'onnx', members: ['onnx'] },
  { name: 'shared', members: ['shared'] },
];

const SOURCE = /\.(ts|mts|cts|js|mjs)$/;

function layerOf(srcRelative) {
  const first = srcRelative.split(sep)[0];
  const index = LAYERS.findIndex((layer) => layer.members.includes(first));
  return index < 0 ? undefined : index;
}

function sourceFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(entry) && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Comments blanked out (newlines kept, so offsets still give line numbers); strings left alone. */
function withoutComments(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const SPECIFIERS = [
  // import … from '…' / export … from '…' (also across lines)
  /(?:^|[;}\s])(?:import|export)\s[^;'"`]*?\sfrom\s*(['"])([^'"]+)\1/g,
  // import '…' (side effects)
  /(?:^|[;}\s])import\s*(['"])([^'"]+)\1/g,
  // import('…'), typeof import('…')
  /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
];

/** Relative specifiers of `text` with their line numbers. */
export function importsOf(text) {
  const code = withoutComments(text);
  const found = new Map();
  for (const pattern of SPECIFIERS) {
    for (const m of code.matchAll(pattern)) {
      const specifier = m[2];
      if (!specifier.startsWith('.')) continue;
      const offset = m.index + m[0].lastIndexOf(specifier);
      if (!found.has(offset))
        found.set(offset, { specifier, line: code.slice(0, offset).split('\n').length });
    }
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/** Every layering problem under `root`/src, as printable lines. */
export function checkLayers(root) {
  const src = join(root, 'src');
  const problems = [];
  for (const file of sourceFiles(src)) {
    const shown = relative(root, file).split(sep).join('/');
    const own = layerOf(relative(src, file));
    if (own === undefined) {
      const folder = relative(src, file).split(sep)[0];
      problems.push(`${shown}: '${folder}' is in no layer (add it to LAYERS in scripts/check-layers.mjs)`);
      continue;
    }
    for (const { specifier, line } of importsOf(readFileSync(file, 'utf8'))) {
      const target = relative(src, resolve(dirname(file), specifier));
      if (target.startsWith('..')) continue; // outside src/ (package.json, assets)
      const theirs = layerOf(target);
      if (theirs === undefined || theirs >= own) continue;
      problems.push(
        `${shown}:${line} imports ${specifier} (layer ${LAYERS[own].name} may not import layer ${LAYERS[theirs].name})`,
      );
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = checkLayers(root);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(
      `\n${problems.length} layering problem(s). Layers, top to bottom: ${LAYERS.map((l) => l.members.join('/')).join(' → ')}`,
    );
    process.exit(1);
  }
}
