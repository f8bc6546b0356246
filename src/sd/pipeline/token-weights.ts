/**
 * Prompt emphasis the way ComfyUI applies it (`(word:1.2)`): every 77-token chunk is encoded, plus one
 * empty chunk when any weight differs from 1; a weighted position then moves away from the empty
 * prompt's hidden state at that position: z ← (z − z_empty)·w + z_empty.
 */

/**
 * Applies token weights in place and concatenates the chunks along the token axis.
 * @param chunks hidden states of each chunk, `[tokens, width]` row-major
 * @param weights per chunk, one weight per token position
 * @param empty hidden states of the empty prompt (needed only when some weight ≠ 1)
 */
export function weightAndConcatChunks(
  chunks: Float32Array[],
  weights: number[][],
  empty: Float32Array | undefined,
  width: number,
): Float32Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  chunks.forEach((chunk, k) => {
    out.set(chunk, offset);
    const w = weights[k];
    for (let j = 0; j < w.length; j++) {
      if (w[j] === 1) continue;
      if (!empty) throw new Error('weighted tokens need the empty prompt encoding');
      const base = offset + j * width;
      const e = j * width;
      for (let c = 0; c < width; c++) out[base + c] = (out[base + c] - empty[e + c]) * w[j] + empty[e + c];
    }
    offset += chunk.length;
  });
  return out;
}

export function hasNonUnitWeights(weights: number[][]): boolean {
  return weights.some((chunk) => chunk.some((w) => w !== 1));
}
