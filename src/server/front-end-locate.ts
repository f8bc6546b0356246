/**
 * Which built ComfyUI front end `/` serves: `--front-end DIR` when given, else the one a ComfyUI install
 * (`--comfyui-dir`) already has — the `comfyui-frontend-package` wheel in one of its Python
 * environments, or the front end older installs kept in their own `web/` folder.
 *
 * Found by looking at files only: starting the install's Python to ask it would run code from the
 * folder we were pointed at, at every start, and the layouts below are where pip puts the package.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const PACKAGE = 'comfyui_frontend_package';

export interface FrontEndFound {
  /** The folder served at `/` (it holds index.html). */
  dir: string;
  /** `option`: `--front-end`; `package`: the wheel in the install's Python; `web-folder`: `<install>/web`. */
  source: 'option' | 'package' | 'web-folder';
  /** The package version (its dist-info METADATA), when the folder belongs to the installed wheel. */
  version?: string;
  /** For people: where it came from, e.g. "comfyui-frontend-package 1.44.19 in /x/ComfyUI/venv". */
  from: string;
}

export interface FrontEndMissing {
  dir?: undefined;
  /** Why `/` shows the status page instead. */
  reason: string;
}

export type FrontEndChoice = FrontEndFound | FrontEndMissing;

/**
 * Python environments a ComfyUI install is run from, relative to the install: its own venvs (manual
 * and comfy-cli installs, ComfyUI Desktop's base folder), the Windows portable build's interpreter
 * next to it, and a venv one level up.
 */
const ENVIRONMENTS = ['venv', '.venv', 'python_embeded', '../python_embeded', '../venv', '../.venv'];

function isDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** `site-packages` folders of one environment: POSIX `lib/python3.X/`, Windows `Lib/`; newest Python first. */
function sitePackages(env: string): string[] {
  const found: string[] = [];
  for (const lib of ['lib', 'lib64']) {
    const pythons = listDir(join(env, lib))
      .filter((name) => /^python3\.\d+/.test(name))
      .sort((a, b) => Number(b.slice(8).split(/\D/)[0]) - Number(a.slice(8).split(/\D/)[0]));
    for (const python of pythons) found.push(join(env, lib, python, 'site-packages'));
  }
  found.push(join(env, 'Lib', 'site-packages'));
  return found.filter(isDir);
}

/** `Version:` of the installed wheel next to `packageDir` (its `*.dist-info/METADATA`). */
function packageVersion(sitePackagesDir: string): string | undefined {
  const distInfo = listDir(sitePackagesDir).find(
    (name) => name.toLowerCase().startsWith(`${PACKAGE}-`) && name.endsWith('.dist-info'),
  );
  if (!distInfo) return undefined;
  try {
    const metadata = readFileSync(join(sitePackagesDir, distInfo, 'METADATA'), 'utf8');
    return /^Version:\s*(\S+)/m.exec(metadata)?.[1];
  } catch {
    return undefined;
  }
}

/** The wheel's version when `dir` is its `static/` folder (e.g. passed as `--front-end`). */
function versionOfStaticDir(dir: string): string | undefined {
  const packageDir = dirname(dir);
  if (!packageDir.endsWith(PACKAGE) || !dir.endsWith('static')) return undefined;
  return packageVersion(dirname(packageDir));
}

function describePackage(version: string | undefined, env: string): string {
  return `comfyui-frontend-package${version ? ` ${version}` : ''} in ${env}`;
}

/** The front end `/` would serve for these options, or why there is none. Reads files only. */
export function locateFrontEnd(options: { frontEnd?: string; comfyuiDir?: string }): FrontEndChoice {
  if (options.frontEnd) {
    const dir = resolve(options.frontEnd);
    const version = versionOfStaticDir(dir);
    const from = `--front-end${version ? ` (comfyui-frontend-package ${version})` : ''}`;
    return { dir, source: 'option', version, from };
  }
  if (!options.comfyuiDir) return { reason: 'no --front-end or --comfyui-dir given' };
  const install = resolve(options.comfyuiDir);
  const looked: string[] = [];
  for (const relative of ENVIRONMENTS) {
    const env = resolve(install, relative);
    if (!isDir(env)) continue;
    looked.push(env);
    for (const site of sitePackages(env)) {
      const dir = join(site, PACKAGE, 'static');
      if (existsSync(join(dir, 'index.html'))) {
        const version = packageVersion(site);
        return { dir, source: 'package', version, from: describePackage(version, env) };
      }
    }
  }
  const web = join(install, 'web');
  if (existsSync(join(web, 'index.html')))
    return { dir: web, source: 'web-folder', from: `the ComfyUI install's own web/ folder` };
  const where =
    looked.length > 0
      ? `no ${PACKAGE} with static/index.html in ${looked.join(', ')}`
      : `no Python environment found (looked for ${ENVIRONMENTS.join(', ')} relative to it)`;
  return { reason: `${install}: ${where}, and no web/index.html` };
}
