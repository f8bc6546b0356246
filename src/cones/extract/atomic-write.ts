/**
 * Replace a file so that a reader — or the file after a crash — sees either the old content or the
 * complete new content, never a mix. The bytes go to a temporary name in the same folder, are flushed
 * to disk (fsync) and only then renamed over the target. Without the fsync a power loss can persist the
 * rename before the data (ext4 without auto_da_alloc, xfs, …), leaving an empty or partial file under
 * the real name. The folder itself is not fsynced: after a power loss the rename may be lost, which
 * leaves the previous complete file — acceptable for a cache.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes `parts` in order to `path` atomically; on any failure the previous file stays and no temp file is left. */
export function atomicWrite(path: string, parts: Iterable<Uint8Array>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'wx');
  let closed = false;
  try {
    for (const part of parts) {
      for (let done = 0; done < part.byteLength; ) done += writeSync(fd, part, done, part.byteLength - done);
    }
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (e) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}
