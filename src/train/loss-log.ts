/**
 * The JSONL loss log next to the output (`<name>.loss.jsonl`): one line per step with stage, step,
 * loss, the stage's metrics, lr, grad_norm and seconds. Read back for the export's final losses,
 * steps and per-stage wall time; truncated on resume to the training state's position.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { STAGE_NAMES, type StageName } from './recipe.js';

export interface LogEntry {
  stage: StageName;
  step: number;
  loss: number;
  /** Seconds of the step (absent in hand-made logs). */
  seconds?: number;
}

export async function readLog(path: string): Promise<LogEntry[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogEntry);
}

/** The entries up to a position (stage, step): later ones came from steps a training state does not hold. */
export function entriesUpTo(entries: readonly LogEntry[], stage: StageName, step: number): LogEntry[] {
  const order = STAGE_NAMES.indexOf(stage);
  return entries.filter((e) => {
    const o = STAGE_NAMES.indexOf(e.stage);
    return o < order || (o === order && e.step <= step);
  });
}

/** Rewrites the log with only the entries up to (stage, step) (a resume redoes the later steps). */
export async function truncateLog(path: string, stage: StageName, step: number): Promise<void> {
  const kept = entriesUpTo(await readLog(path), stage, step);
  await writeFile(path, kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

/** Per stage: mean loss of its last `window` entries, steps done and summed step seconds. */
export function summarizeLog(
  entries: readonly LogEntry[],
  window = 50,
): Partial<Record<StageName, { finalLoss: number; steps: number; seconds: number }>> {
  const out: Partial<Record<StageName, { finalLoss: number; steps: number; seconds: number }>> = {};
  for (const stage of STAGE_NAMES) {
    const all = entries.filter((e) => e.stage === stage);
    if (!all.length) continue;
    const last = all.slice(-window);
    out[stage] = {
      finalLoss: last.reduce((s, e) => s + e.loss, 0) / last.length,
      steps: all.reduce((m, e) => Math.max(m, e.step), 0),
      seconds: all.reduce((s, e) => s + (e.seconds ?? 0), 0),
    };
  }
  return out;
}
