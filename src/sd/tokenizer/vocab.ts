import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { assetPath } from '../../shared/assets.js';
import { BYTE_SYMBOLS_TABLE_ORDER } from './bytes.js';

/** `<|startoftext|>` */
export const BOS_ID = 49406;
/** `<|endoftext|>`; SD1 also pads with it. */
export const EOS_ID = 49407;
export const VOCAB_SIZE = 49408;
/** Merges used from the OpenAI file: 49152 − 256 − 2 (SD1_SPEC §4.1). */
const MERGE_COUNT = 48894;
const END_OF_WORD = '</w>';

export interface ClipVocabulary {
  /** symbol string → token id */
  readonly ids: ReadonlyMap<string, number>;
  /** token id → symbol string */
  readonly symbols: readonly string[];
  /** "left right" → merge rank (lower merges first) */
  readonly ranks: ReadonlyMap<string, number>;
}

/**
 * Builds the 49,408-entry CLIP vocabulary from the OpenAI merges file alone, exactly as OpenAI's
 * tokenizer does (result identical to HF vocab.json): byte symbols, byte symbols + `</w>`, each
 * merge's concatenation in merge order, then the two special tokens.
 */
export function buildVocabulary(mergesText: string): ClipVocabulary {
  // Only the header and the first MERGE_COUNT merges are used; the file has ~262k lines.
  let end = 0;
  for (let i = 0; i <= MERGE_COUNT && end !== -1; i++) end = mergesText.indexOf('\n', end + (i > 0 ? 1 : 0));
  const lines = (end === -1 ? mergesText : mergesText.slice(0, end)).split('\n');
  if (lines.length < MERGE_COUNT + 1) {
    throw new Error(`CLIP merges file too short: ${lines.length} lines, need ${MERGE_COUNT + 1}`);
  }
  const symbols: string[] = [...BYTE_SYMBOLS_TABLE_ORDER];
  for (const s of BYTE_SYMBOLS_TABLE_ORDER) symbols.push(s + END_OF_WORD);
  const ranks = new Map<string, number>();
  for (let i = 0; i < MERGE_COUNT; i++) {
    const line = lines[i + 1]; // line 0 is the version header
    const space = line.indexOf(' ');
    if (space <= 0) throw new Error(`CLIP merges file: malformed merge on line ${i + 2}`);
    ranks.set(line, i);
    symbols.push(line.slice(0, space) + line.slice(space + 1));
  }
  symbols.push('<|startoftext|>', '<|endoftext|>');
  const ids = new Map<string, number>();
  for (let i = 0; i < symbols.length; i++) ids.set(symbols[i], i);
  return { ids, symbols, ranks };
}

let cached: ClipVocabulary | undefined;

/** The OpenAI CLIP vocabulary shipped in assets/clip, loaded once on first use. */
export function clipVocabulary(): ClipVocabulary {
  if (!cached) {
    const gz = readFileSync(assetPath('clip', 'bpe_simple_vocab_16e6.txt.gz'));
    cached = buildVocabulary(gunzipSync(gz).toString('utf8'));
  }
  return cached;
}
