import { BYTE_SYMBOLS } from './bytes.js';
import { normalizePrompt, splitPieces, type TextCleaning } from './clean.js';
import { BOS_ID, type ClipVocabulary, EOS_ID } from './vocab.js';

const utf8 = new TextEncoder();
const CACHE_LIMIT = 50_000;

/** Byte-level BPE over one vocabulary, with a per-piece cache (SD1_SPEC §4.3). */
export class ClipBpe {
  private readonly cache = new Map<string, readonly number[]>();

  constructor(private readonly vocab: ClipVocabulary) {}

  /** Token ids of one pre-tokenised piece. */
  encodePiece(piece: string): readonly number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    let ids: number[];
    if (piece === '<|startoftext|>') ids = [BOS_ID];
    else if (piece === '<|endoftext|>') ids = [EOS_ID];
    else ids = this.merge(piece).map((s) => this.vocab.ids.get(s)!);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /** Token ids of a whole text, without BOS/EOS. */
  encode(text: string, cleaning: TextCleaning = 'basic'): number[] {
    const out: number[] = [];
    for (const piece of splitPieces(normalizePrompt(text, cleaning))) {
      for (const id of this.encodePiece(piece)) out.push(id);
    }
    return out;
  }

  private merge(piece: string): string[] {
    const bytes = utf8.encode(piece);
    let word: string[] = new Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) word[i] = BYTE_SYMBOLS[bytes[i]];
    word[word.length - 1] += '</w>';
    const ranks = this.vocab.ranks;
    while (word.length > 1) {
      let best = Number.POSITIVE_INFINITY;
      let first = '';
      let second = '';
      for (let i = 0; i + 1 < word.length; i++) {
        const r = ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          first = word[i];
          second = word[i + 1];
        }
      }
      if (best === Number.POSITIVE_INFINITY) break;
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]);
          i += 1;
        }
      }
      word = next;
    }
    return word;
  }
}
