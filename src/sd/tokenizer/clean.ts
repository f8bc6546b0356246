/**
 * Prompt text normalisation before BPE (SD1_SPEC §4.2).
 *
 * - `basic`: what stock ComfyUI runs. Its HF `CLIPTokenizer` falls back to a BERT-style cleaner
 *   when `ftfy` is not installed (ComfyUI does not depend on ftfy): drop NUL, U+FFFD and control
 *   characters, whitespace → space, spaces around CJK ideographs, NFC, lowercase.
 * - `ftfy`: OpenAI's / diffusers-with-ftfy cleaning, approximated as the spec describes
 *   (curly quotes, full-width ASCII and Latin ligatures folded, HTML entities unescaped).
 * The two agree on ordinary ASCII prompts.
 */
export type TextCleaning = 'basic' | 'ftfy';

const CONTROL = /\p{C}/u;
const SPACE_SEPARATOR = /\p{Zs}/u;

function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function basicClean(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\t' || ch === '\n' || ch === '\r' || ch === ' ' || SPACE_SEPARATOR.test(ch)) out += ' ';
    else if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
    else if (isCjkIdeograph(cp)) out += ` ${ch} `;
    else out += ch;
  }
  return out.normalize('NFC');
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  ndash: '\u2013',
  mdash: '\u2014',
  hellip: '\u2026',
  lsquo: '\u2018',
  rsquo: '\u2019',
  ldquo: '\u201c',
  rdquo: '\u201d',
};

function htmlUnescape(text: string): string {
  return text.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body[0] === '#') {
      const cp =
        body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number(body.slice(1));
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
    }
    return NAMED_ENTITIES[body] ?? whole;
  });
}

const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': 'ſt',
  '\ufb06': 'st',
};

function ftfyClean(text: string): string {
  let s = text.normalize('NFC');
  s = s.replace(/[\u2018\u2019\u201a\u201b]/g, "'").replace(/[\u201c\u201d\u201e\u201f]/g, '"');
  s = s.replace(/[\uff01-\uff5e]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  s = s.replace(/[\u0132\u0133\u01c7-\u01cc\ufb00-\ufb06]/g, (c) => LIGATURES[c] ?? c);
  s = htmlUnescape(htmlUnescape(s));
  let out = '';
  for (const ch of s) {
    if (ch === '\t' || ch === '\n' || ch === '\r' || !CONTROL.test(ch)) out += ch;
  }
  return out;
}

/** Cleans, collapses whitespace runs to one space, trims and lowercases. */
export function normalizePrompt(text: string, cleaning: TextCleaning = 'basic'): string {
  const cleaned = cleaning === 'basic' ? basicClean(text) : ftfyClean(text);
  return cleaned.replace(/\s+/gu, ' ').trim().toLowerCase();
}

/**
 * CLIP's pre-tokeniser: letters runs, single digits, runs of other non-space symbols, English
 * contractions and the two special tokens. Whitespace never belongs to a piece.
 */
const PIECE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

export function splitPieces(normalized: string): string[] {
  return normalized.match(PIECE) ?? [];
}
