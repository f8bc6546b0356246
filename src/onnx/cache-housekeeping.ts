/**
 * Housekeeping of a graph cache folder (GraphCache entries `<kind>-<hash>/` and weight folders
 * `weights-…-<hash>/`): a size cap enforced by evicting whole entries, least recently used first;
 * leftovers of crashed writers (`*.tmp-*` older than an hour) and entries of an old format removed.
 * What is in use is never removed: entries this process holds (`acquire`) and entries whose last use
 * (the folder's mtime, `touch`ed on every open and hit) is within the grace period, since another
 * process sharing the folder may be about to open them by path. Sizes count each inode once: weight
 * files are hard-linked between a weight folder and the graphs built on it, and an entry is only
 * evicted when that frees bytes. Eviction renames the entry away before deleting it, so a reader
 * sees a complete entry or none.
 */
import { utimesSync } from 'node:fs';
import { lstat, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULT_GRAPH_CACHE_MAX_GB } from '../shared/runtime-settings.js';

export type CacheEntryType = 'graph' | 'weights';

export interface CacheEntry {
  readonly name: string;
  readonly path: string;
  readonly type: CacheEntryType;
  /** The folder's mtime: its last use. */
  readonly lastUsedMs: number;
  /** key.json of a graph, meta.json of a weight folder; undefined when absent or unreadable. */
  readonly meta?: Record<string, unknown>;
  /** The entry's files: `dev:ino` → bytes. */
  readonly inodes: ReadonlyMap<string, number>;
}

/** False when the entry was written by another format version (it is then removed). */
export type VersionCheck = (entry: CacheEntry) => boolean;

export interface HousekeepingSettings {
  /** Cap on the folder's bytes (unique inodes); 0 = unlimited. Default DEFAULT_GRAPH_CACHE_MAX_GB GiB. */
  maxBytes?: number;
  /** Entries used this recently are kept whatever the cap (default 10 minutes). */
  graceMs?: number;
  /** Writers' `*.tmp-*` folders older than this are leftovers of a crash (default 1 hour). */
  tmpMaxAgeMs?: number;
  /** One line per sweep that removed something. */
  log?: (line: string) => void;
}

export interface RemovedEntry {
  name: string;
  reason: 'lru' | 'old-format' | 'leftover';
  /** Bytes this removal freed (inodes no remaining entry shares). */
  bytes: number;
}

export interface SweepResult {
  removed: RemovedEntry[];
  freedBytes: number;
  /** Bytes of the entries left (unique inodes). */
  totalBytes: number;
}

/** `<kind>-<32 hex>`: graph entries and weight folders. */
const ENTRY_NAME = /^[\w.-]+-[0-9a-f]{32}$/;
/** A writer's temporary folder (`<entry>.tmp-<pid>-<random>`) or one being evicted. */
const LEFTOVER_NAME = /^[\w.-]+-[0-9a-f]{32}\.(tmp|evicting)-\d+-[0-9a-z]+$/;
const TOUCH_INTERVAL_MS = 60_000;
const GiB = 2 ** 30;

const readJson = async (path: string): Promise<Record<string, unknown> | undefined> => {
  try {
    const v = JSON.parse(await readFile(path, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
};

/** Files under `dir` (recursively) by inode, and the newest mtime seen (the folder's included). */
async function walk(
  dir: string,
  inodes = new Map<string, number>(),
): Promise<{ inodes: Map<string, number>; newestMs: number }> {
  let newestMs = (await lstat(dir)).mtimeMs;
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) newestMs = Math.max(newestMs, (await walk(p, inodes)).newestMs);
    else {
      const st = await lstat(p);
      inodes.set(`${st.dev}:${st.ino}`, st.size);
      newestMs = Math.max(newestMs, st.mtimeMs);
    }
  }
  return { inodes, newestMs };
}

/** The entries and leftovers in `dir`; anything else there is neither counted nor touched. */
export async function scanGraphCache(dir: string): Promise<{
  entries: CacheEntry[];
  leftovers: { name: string; path: string; newestMs: number; evicting: boolean }[];
}> {
  const entries: CacheEntry[] = [];
  const leftovers: { name: string; path: string; newestMs: number; evicting: boolean }[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { entries, leftovers };
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (LEFTOVER_NAME.test(name)) {
        if (!(await lstat(path)).isDirectory()) continue;
        const { newestMs } = await walk(path);
        leftovers.push({ name, path, newestMs, evicting: name.includes('.evicting-') });
        continue;
      }
      if (!ENTRY_NAME.test(name)) continue;
      const st = await lstat(path);
      if (!st.isDirectory()) continue;
      const files = new Set(await readdir(path));
      let type: CacheEntryType;
      let meta: Record<string, unknown> | undefined;
      if (files.has('key.json')) {
        type = 'graph';
        meta = await readJson(join(path, 'key.json'));
      } else if (files.has('index.json') || files.has('weights.data')) {
        type = 'weights';
        meta = await readJson(join(path, ENTRY_META_FILE));
      } else if ([...files].some((f) => f.endsWith('.onnx'))) type = 'graph';
      else continue;
      const { inodes } = await walk(path);
      entries.push({ name, path, type, lastUsedMs: st.mtimeMs, meta, inodes });
    } catch {
      // removed while we looked: nothing to account for
    }
  }
  return { entries, leftovers };
}

/** Metadata file of a weight folder (a graph entry's is its key.json). */
export const ENTRY_META_FILE = 'meta.json';

/** Records `meta` (e.g. the layout version) in the weight folder `dir`, unless it is recorded already. */
export async function writeEntryMeta(dir: string, meta: Record<string, unknown>): Promise<void> {
  const target = join(dir, ENTRY_META_FILE);
  try {
    await stat(target);
    return;
  } catch {
    // not written yet
  }
  const tmp = `${target}.${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, `${JSON.stringify(meta)}\n`);
    await rename(tmp, target);
  } catch {
    await rm(tmp, { force: true }).catch(() => {});
  }
}

const gb = (bytes: number) =>
  bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** One per cache folder and process (`cacheHousekeeper(dir)`). */
export class CacheHousekeeper {
  private settings: Required<Omit<HousekeepingSettings, 'log'>> & Pick<HousekeepingSettings, 'log'> = {
    maxBytes: DEFAULT_GRAPH_CACHE_MAX_GB * GiB,
    graceMs: 10 * 60_000,
    tmpMaxAgeMs: 60 * 60_000,
  };
  private readonly checks = new Map<string, VersionCheck>();
  private readonly held = new Map<string, number>();
  private readonly touched = new Map<string, number>();
  private running: Promise<SweepResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(readonly dir: string) {}

  /** Sets the fields given (undefined ones keep their value); `checks` add or replace version checks by id. */
  configure(settings: HousekeepingSettings & { checks?: Record<string, VersionCheck> } = {}): this {
    const { checks, ...rest } = settings;
    for (const [k, v] of Object.entries(rest))
      if (v !== undefined) (this.settings as unknown as Record<string, unknown>)[k] = v;
    for (const [id, check] of Object.entries(checks ?? {})) this.checks.set(id, check);
    if (this.settings.maxBytes < 0 || !Number.isFinite(this.settings.maxBytes))
      throw new Error(`graph cache cap must be ≥ 0 bytes (0 = unlimited); got ${this.settings.maxBytes}`);
    return this;
  }

  get maxBytes(): number {
    return this.settings.maxBytes;
  }

  /** Marks the entry folder `path` in use by this process until the returned function is called. */
  acquire(path: string): () => void {
    const name = entryName(this.dir, path);
    this.held.set(name, (this.held.get(name) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.held.get(name) ?? 1) - 1;
      if (n > 0) this.held.set(name, n);
      else this.held.delete(name);
    };
  }

  inUse(name: string): boolean {
    return this.held.has(name);
  }

  /** Records a use of the entry folder `path` (its mtime), at most once a minute per entry unless `force`. */
  touch(path: string, force = false): void {
    const now = Date.now();
    if (!force && now - (this.touched.get(path) ?? 0) < TOUCH_INTERVAL_MS) return;
    try {
      utimesSync(path, new Date(now), new Date(now));
      this.touched.set(path, now);
    } catch {
      // gone: the next open rebuilds it
    }
  }

  /** The first call schedules a background sweep (`delayMs` later); later calls do nothing. */
  startOnce(delayMs = 2000): void {
    if (this.started) return;
    this.started = true;
    this.schedule(delayMs);
  }

  /** A sweep in the background, soon (coalesced with one already scheduled or running). */
  schedule(delayMs = 0): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweep().catch(() => {});
    }, delayMs);
    this.timer.unref?.();
  }

  /** Runs a sweep now (after the one running, if any) and returns what it removed. */
  async sweep(opts: { now?: number } = {}): Promise<SweepResult> {
    while (this.running) await this.running.catch(() => {});
    this.running = this.sweepOnce(opts.now ?? Date.now());
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Resolves once no sweep is scheduled or running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.timer) {
      if (this.running) await this.running.catch(() => {});
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  private async sweepOnce(now: number): Promise<SweepResult> {
    const { maxBytes, graceMs, tmpMaxAgeMs, log } = this.settings;
    const removed: RemovedEntry[] = [];
    try {
      const { entries, leftovers } = await scanGraphCache(this.dir);
      for (const l of leftovers) {
        if (!l.evicting && now - l.newestMs < tmpMaxAgeMs) continue;
        const bytes = (await walk(l.path).catch(() => undefined))?.inodes;
        if (await removeDir(l.path))
          removed.push({ name: l.name, reason: 'leftover', bytes: sum(bytes?.values() ?? []) });
      }
      const guarded = (e: CacheEntry) => this.inUse(e.name) || now - e.lastUsedMs < graceMs;
      const refs = new Map<string, number>();
      for (const e of entries) for (const ino of e.inodes.keys()) refs.set(ino, (refs.get(ino) ?? 0) + 1);
      const alive = new Set(entries);
      const freedBy = (e: CacheEntry) =>
        sum([...e.inodes].filter(([ino]) => refs.get(ino) === 1).map(([, b]) => b));
      const drop = async (e: CacheEntry, reason: RemovedEntry['reason']): Promise<number> => {
        const bytes = freedBy(e);
        if (!(await evict(e))) return -1;
        alive.delete(e);
        for (const ino of e.inodes.keys()) refs.set(ino, (refs.get(ino) ?? 1) - 1);
        removed.push({ name: e.name, reason, bytes });
        return bytes;
      };
      for (const e of entries) {
        if (guarded(e) || [...this.checks.values()].every((check) => check(e))) continue;
        await drop(e, 'old-format');
      }
      const total = () => {
        const seen = new Map<string, number>();
        for (const e of alive) for (const [ino, b] of e.inodes) seen.set(ino, b);
        return sum(seen.values());
      };
      let totalBytes = total();
      if (maxBytes > 0) {
        const order = [...alive]
          .filter((e) => !guarded(e))
          .sort(
            (a, b) => a.lastUsedMs - b.lastUsedMs || (a.type === b.type ? 0 : a.type === 'graph' ? -1 : 1),
          );
        // Least recently used first. A weight folder whose file a remaining graph still links would
        // free (nearly) nothing, and a graph built later would link a new copy: it is skipped until
        // those graphs are gone.
        const linked = (e: CacheEntry) => [...e.inodes.keys()].some((ino) => (refs.get(ino) ?? 0) > 1);
        while (totalBytes > maxBytes) {
          const next = order.find(
            (e) => alive.has(e) && freedBy(e) > 0 && !(e.type === 'weights' && linked(e)),
          );
          if (!next) break;
          order.splice(order.indexOf(next), 1);
          const freed = await drop(next, 'lru');
          if (freed > 0) totalBytes -= freed;
        }
      }
      totalBytes = total();
      const freedBytes = sum(removed.map((r) => r.bytes));
      if (removed.length > 0 && log) {
        const what = removed.map((r) => `${r.name} (${r.reason}, ${gb(r.bytes)})`).join(', ');
        log(
          `graph cache ${this.dir}: removed ${removed.length} (${what}), freed ${gb(freedBytes)}; ${gb(totalBytes)} left, cap ${maxBytes > 0 ? gb(maxBytes) : 'none'}`,
        );
      }
      return { removed, freedBytes, totalBytes };
    } catch (error) {
      log?.(`graph cache ${this.dir}: housekeeping failed: ${(error as Error).message}`);
      throw error;
    }
  }
}

/** Renames the entry away (only if unused since the scan), then deletes it. False when it changed or vanished. */
async function evict(e: CacheEntry): Promise<boolean> {
  try {
    if ((await lstat(e.path)).mtimeMs !== e.lastUsedMs) return false; // used meanwhile
    const away = `${e.path}.evicting-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await rename(e.path, away);
    await rm(away, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

async function removeDir(path: string): Promise<boolean> {
  try {
    await rm(path, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function entryName(dir: string, path: string): string {
  const full = resolve(path);
  const root = resolve(dir);
  if (!full.startsWith(`${root}/`) && !full.startsWith(`${root}\\`))
    throw new Error(`${path} is not an entry of the graph cache ${dir}`);
  return full.slice(root.length + 1).split(/[\\/]/)[0];
}

const housekeepers = new Map<string, CacheHousekeeper>();

/** The housekeeper of the cache folder `dir` in this process (one per folder). */
export function cacheHousekeeper(dir: string): CacheHousekeeper {
  const key = resolve(dir);
  let hk = housekeepers.get(key);
  if (!hk) {
    hk = new CacheHousekeeper(key);
    housekeepers.set(key, hk);
  }
  return hk;
}
