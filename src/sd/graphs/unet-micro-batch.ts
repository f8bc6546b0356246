/**
 * How many samples one run of the size-agnostic UNet takes (its runner in sessions.ts splits a larger
 * batch). That UNet computes self-attention unchunked, so at
 * its first attention level every sample holds heads × N² scores (N = that level's tokens), twice over
 * (the scores and their softmax): 512 MiB a map per sample at 512 px in float32, 4 GiB for the batch of
 * 8 that classifier-free guidance makes of 4 images. Splitting a batch into calls whose maps fit a
 * budget bounds that peak; the rows of a batch never interact, so the result is the same.
 */
import { DEFAULT_ATTENTION_MAP_MB } from '../../shared/runtime-settings.js';
import type { UNetConfig } from '../config.js';

/** Bytes of one sample's largest attention score map at a latent size (0 for a UNet without attention). */
export function attentionMapBytesPerSample(
  unet: UNetConfig,
  height: number,
  width: number,
  bytesPerValue: number,
): number {
  const level = unet.attentionLevels.indexOf(true);
  if (level < 0) return 0;
  const tokens = Math.ceil(height / 2 ** level) * Math.ceil(width / 2 ** level);
  return unet.numHeads * tokens * tokens * bytesPerValue;
}

/**
 * Sizes of the calls a batch runs as: as few as keep each call's map within `budgetBytes` (0 = no
 * limit), as even as possible; a sample whose map alone exceeds the budget runs alone.
 */
export function unetCallSizes(batch: number, mapBytesPerSample: number, budgetBytes: number): number[] {
  const perCall =
    budgetBytes > 0 && mapBytesPerSample > 0
      ? Math.max(1, Math.floor(budgetBytes / mapBytesPerSample))
      : batch;
  const calls = Math.ceil(batch / Math.min(perCall, batch));
  return Array.from(
    { length: calls },
    (_, i) => Math.floor((batch * (i + 1)) / calls) - Math.floor((batch * i) / calls),
  );
}

/** The budget a session runs under: the one given, else DEFAULT_ATTENTION_MAP_MB on the CPU and no limit on CUDA. */
export function attentionMapBudget(given: number | undefined, provider: 'cuda' | 'cpu'): number {
  return given ?? (provider === 'cuda' ? 0 : DEFAULT_ATTENTION_MAP_MB * 2 ** 20);
}
