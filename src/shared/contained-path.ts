import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * Containment of paths in the data folders (input/, output/, temp/, user/), shared by the server, the
 * nodes and the image writers. A lexical check is not enough: `output/x → /elsewhere` passes it and
 * then reads or writes outside. Model folders are deliberately not checked this way (users link their
 * model stores).
 */

/** True when `child` (absolute) lies inside `base` (absolute) or is `base` itself, comparing the strings only. */
export function isInside(base: string, child: string): boolean {
  const rel = relative(base, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** Linux gives up after 40 links in one lookup; so do we. */
const MAX_LINK_HOPS = 40;

/**
 * Where `path` really is, with every symbolic link along it followed, also when its tail does not exist
 * yet: the deepest existing ancestor's real path plus the remaining segments. A dangling link is followed
 * to where it points, since writing through it would create the file there. Throws on a link loop.
 */
export function realPathOf(path: string, hops = 0): string {
  const absolute = resolve(path);
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return join(realpathSync.native(current), ...missing);
    } catch {
      // Not there (or a dangling / looping link): look at the entry itself.
    }
    const entry = lstatSync(current, { throwIfNoEntry: false });
    if (entry?.isSymbolicLink()) {
      if (hops >= MAX_LINK_HOPS) throw new Error(`Too many symbolic links at '${current}'`);
      const target = resolve(dirname(current), readlinkSync(current));
      return realPathOf(join(target, ...missing), hops + 1);
    }
    const parent = dirname(current);
    if (parent === current) return absolute;
    missing.unshift(basename(current));
    current = parent;
  }
}

/**
 * True when `path` stays inside `root` once symbolic links are followed on both sides: `root` itself may
 * be a link (a data folder kept elsewhere), but nothing under it may lead out of its real location.
 */
export function staysInside(root: string, path: string): boolean {
  try {
    return isInside(realPathOf(root), realPathOf(path));
  } catch {
    return false;
  }
}
