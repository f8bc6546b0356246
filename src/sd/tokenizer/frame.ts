import { BOS_ID, EOS_ID } from './vocab.js';

/** SD1 context window: BOS + 75 content tokens + EOS. */
export const CONTEXT_LENGTH = 77;
/** ComfyUI keeps a token group shorter than this together when it would straddle two windows. */
const MAX_WORD_LENGTH = 8;

/** One 77-token window as the text encoder consumes it. */
export interface TokenChunk {
  /** [BOS, tokens…, EOS, pad (= EOS)…], length 77 */
  ids: Int32Array;
  /** per-position prompt weight; 1 on BOS/EOS/pad */
  weights: Float32Array;
}

export interface WeightedToken {
  id: number;
  weight: number;
}

/**
 * ComfyUI's `SDTokenizer.tokenize_with_weights` windowing for SD1 (pad with EOS): groups are
 * packed into windows of 75 content tokens; a group of fewer than 8 tokens that does not fit is
 * moved whole to the next window (the current one is closed with EOS + padding), a longer group
 * is split at the boundary. Every prompt yields at least one window.
 */
export function frameChunks(groups: readonly (readonly WeightedToken[])[]): TokenChunk[] {
  const windows: WeightedToken[][] = [];
  let win: WeightedToken[] = [{ id: BOS_ID, weight: 1 }];
  windows.push(win);
  const closeWith = (w: WeightedToken[], padTo: number) => {
    w.push({ id: EOS_ID, weight: 1 });
    while (w.length < padTo) w.push({ id: EOS_ID, weight: 1 });
  };
  for (const group of groups) {
    const isLarge = group.length >= MAX_WORD_LENGTH;
    let rest = group;
    while (rest.length > 0) {
      if (rest.length + win.length > CONTEXT_LENGTH - 1) {
        const room = CONTEXT_LENGTH - win.length - 1;
        if (isLarge) {
          for (let i = 0; i < room; i++) win.push(rest[i]);
          closeWith(win, 0);
          rest = rest.slice(room);
        } else closeWith(win, CONTEXT_LENGTH);
        win = [{ id: BOS_ID, weight: 1 }];
        windows.push(win);
      } else {
        for (const t of rest) win.push(t);
        rest = [];
      }
    }
  }
  closeWith(win, CONTEXT_LENGTH);
  return windows.map((w) => {
    const ids = new Int32Array(CONTEXT_LENGTH);
    const weights = new Float32Array(CONTEXT_LENGTH);
    for (let i = 0; i < CONTEXT_LENGTH; i++) {
      ids[i] = w[i].id;
      weights[i] = w[i].weight;
    }
    return { ids, weights };
  });
}

/** The "empty prompt" window ComfyUI encodes as the anchor for weighting: [BOS, EOS × 76]. */
export function emptyChunk(): TokenChunk {
  const ids = new Int32Array(CONTEXT_LENGTH).fill(EOS_ID);
  ids[0] = BOS_ID;
  return { ids, weights: new Float32Array(CONTEXT_LENGTH).fill(1) };
}
