/**
 * SD1 prompt tokenizer: CLIP byte-level BPE with the OpenAI vocabulary, SD1 77-token framing and
 * ComfyUI's weight syntax / long-prompt windows. See README.md in this folder for the weighting
 * formula the text-encoder graph applies.
 */
import { ClipBpe } from './bpe.js';
import type { TextCleaning } from './clean.js';
import { frameChunks, type TokenChunk, type WeightedToken } from './frame.js';
import { clipVocabulary } from './vocab.js';
import { parseWeightedPrompt } from './weights.js';

export { ClipBpe } from './bpe.js';
export { normalizePrompt, splitPieces, type TextCleaning } from './clean.js';
export { CONTEXT_LENGTH, emptyChunk, frameChunks, type TokenChunk } from './frame.js';
export { BOS_ID, buildVocabulary, clipVocabulary, EOS_ID, VOCAB_SIZE } from './vocab.js';
export { parsePythonFloat, parseWeightedPrompt, type WeightedSegment } from './weights.js';

export interface TokenizeOptions {
  /** text cleaning before BPE; default `basic` (stock ComfyUI, no ftfy) */
  cleaning?: TextCleaning;
  /** parse `(text:1.2)` syntax; default true. false = ComfyUI's `disable_weights` */
  weights?: boolean;
}

export interface TokenizedPrompt {
  /** one or more 77-token windows; the text encoder encodes each and concatenates along tokens */
  chunks: TokenChunk[];
  /** true when any token weight ≠ 1 (ComfyUI then also encodes `emptyChunk()`) */
  hasWeights: boolean;
}

let shared: ClipBpe | undefined;
function bpe(): ClipBpe {
  shared ??= new ClipBpe(clipVocabulary());
  return shared;
}

/** Plain CLIP token ids of a text, no BOS/EOS, no weight syntax. */
export function encode(text: string, cleaning: TextCleaning = 'basic'): number[] {
  return bpe().encode(text, cleaning);
}

/** ComfyUI splits each weighted segment only where `embedding:` follows whitespace. */
const EMBEDDING_SPLIT = /(?<=\s)embedding:/u;

/** A prompt as ComfyUI's SD1 tokenizer produces it: weighted 77-token windows. */
export function tokenize(text: string, options: TokenizeOptions = {}): TokenizedPrompt {
  const cleaning = options.cleaning ?? 'basic';
  const segments = options.weights === false ? [{ text, weight: 1 }] : parseWeightedPrompt(text);
  const groups: WeightedToken[][] = [];
  let hasWeights = false;
  for (const { text: segment, weight } of segments) {
    const parts = segment.split(EMBEDDING_SPLIT);
    for (let i = 0; i < parts.length; i++) {
      const word = i === 0 ? parts[i] : `embedding:${parts[i]}`;
      if (word === '') continue;
      const ids = bpe().encode(word, cleaning);
      groups.push(ids.map((id) => ({ id, weight })));
      if (ids.length > 0 && weight !== 1) hasWeights = true;
    }
  }
  return { chunks: frameChunks(groups), hasWeights };
}
