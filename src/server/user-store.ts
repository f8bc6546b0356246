import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { HttpError } from './http-error.js';
import { resolveContained, resolveInside } from './safe-path.js';

export interface FileInfo {
  path: string;
  size: number;
  /** ms since epoch */
  modified: number;
  created: number;
}

const SETTINGS_FILE = 'comfy.settings.json';

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

/** Atomic write: readers never see a half-written settings file or workflow. */
async function writeAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

/**
 * One user's persistent files under `<data>/user/<user>/`: ComfyUI's `comfy.settings.json` and the
 * `/userdata` tree (workflows, subgraphs, user.css …). Every client path is checked to stay inside.
 */
export class UserStore {
  readonly root: string;
  private settingsLock: Promise<unknown> = Promise.resolve();

  constructor(
    /** The data folder user/: the one that may itself be a link; the user's folder under it may not lead out. */
    private readonly userDir: string,
    private readonly user = 'default',
  ) {
    this.root = resolveInside(userDir, user);
  }

  /**
   * Absolute path of a client-given relative path; 400 when empty, 403 when it escapes the user folder,
   * also through a symbolic link (the user folder itself included).
   */
  resolve(file: string): string {
    if (!file) throw new HttpError(400, 'invalid_path', 'A file path is required');
    resolveContained(this.root, file);
    return resolveContained(this.userDir, this.user, file);
  }

  async getSettings(): Promise<Record<string, unknown>> {
    try {
      const parsed = JSON.parse(await readFile(this.resolve(SETTINGS_FILE), 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {};
    } catch {
      return {};
    }
  }

  /** Merges `values` into the stored settings; `undefined` values delete the key. Serialized per store. */
  updateSettings(values: Record<string, unknown>): Promise<void> {
    const next = this.settingsLock.then(async () => {
      const settings = await this.getSettings();
      for (const [key, value] of Object.entries(values)) {
        if (value === undefined) delete settings[key];
        else settings[key] = value;
      }
      await writeAtomic(this.resolve(SETTINGS_FILE), JSON.stringify(settings, null, 4));
    });
    this.settingsLock = next.catch(() => undefined);
    return next;
  }

  async info(path: string): Promise<FileInfo> {
    const s = await stat(path);
    return {
      path: toPosix(relative(this.root, path)),
      size: s.size,
      modified: s.mtimeMs,
      created: s.birthtimeMs,
    };
  }

  /** GET /userdata?dir=…: files under `dir` (relative to it), optionally recursive / with info / split. */
  async list(
    dir: string,
    options: { recurse: boolean; fullInfo: boolean; split: boolean },
  ): Promise<unknown[]> {
    const base = this.resolve(dir);
    const s = await stat(base).catch(() => null);
    if (!s?.isDirectory()) throw new HttpError(404, 'not_found', `Directory '${dir}' not found`);
    const files: string[] = [];
    const walk = async (rel: string, depth: number): Promise<void> => {
      const entries = await readdir(join(base, rel), { withFileTypes: true });
      for (const entry of entries) {
        const childRel = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory() && options.recurse && depth < 16) await walk(childRel, depth + 1);
        else if (entry.isFile()) files.push(childRel);
      }
    };
    await walk('', 0);
    files.sort();
    if (options.fullInfo) {
      return Promise.all(
        files.map(async (rel) => {
          const info = await this.info(join(base, rel));
          return { ...info, path: rel };
        }),
      );
    }
    if (options.split) return files.map((rel) => [rel, ...rel.split('/')]);
    return files;
  }

  /** GET /v2/userdata?path=…: one folder's entries, folders first. */
  async listV2(path: string): Promise<unknown[]> {
    const base = this.resolve(path || '.');
    const entries = await readdir(base, { withFileTypes: true }).catch(() => null);
    if (!entries) {
      if (!path) return [];
      throw new HttpError(404, 'not_found', `Directory '${path}' not found`);
    }
    const out = await Promise.all(
      entries
        .filter((e) => e.isDirectory() || e.isFile())
        .map(async (e) => {
          const abs = join(base, e.name);
          const rel = toPosix(relative(this.root, abs));
          if (e.isDirectory()) return { name: e.name, path: rel, type: 'directory' as const };
          const s = await stat(abs);
          return { name: e.name, path: rel, type: 'file' as const, size: s.size, modified: s.mtimeMs / 1000 };
        }),
    );
    return out.sort((a, b) =>
      a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'directory' ? -1 : 1,
    );
  }

  async read(file: string): Promise<{ path: string; bytes: Buffer }> {
    const path = this.resolve(file);
    const s = await stat(path).catch(() => null);
    if (!s?.isFile()) throw new HttpError(404, 'not_found', `File '${file}' not found`);
    return { path, bytes: await readFile(path) };
  }

  async write(file: string, bytes: Uint8Array, overwrite: boolean): Promise<string> {
    const path = this.resolve(file);
    if (!overwrite && (await stat(path).catch(() => null)))
      throw new HttpError(409, 'file_exists', `File '${file}' exists`);
    if ((await stat(path).catch(() => null))?.isDirectory())
      throw new HttpError(400, 'is_directory', `'${file}' is a folder`);
    await writeAtomic(path, bytes);
    return path;
  }

  async remove(file: string): Promise<void> {
    const path = this.resolve(file);
    const s = await stat(path).catch(() => null);
    if (!s?.isFile()) throw new HttpError(404, 'not_found', `File '${file}' not found`);
    await rm(path);
  }

  async move(source: string, dest: string, overwrite: boolean): Promise<string> {
    const from = this.resolve(source);
    const to = this.resolve(dest);
    if (!(await stat(from).catch(() => null))?.isFile())
      throw new HttpError(404, 'not_found', `File '${source}' not found`);
    if (!overwrite && (await stat(to).catch(() => null)))
      throw new HttpError(409, 'file_exists', `File '${dest}' exists`);
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
    return to;
  }
}
