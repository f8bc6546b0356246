import { describe, expect, it } from 'vitest';
import {
  BOS_ID,
  clipVocabulary,
  EOS_ID,
  emptyChunk,
  encode,
  normalizePrompt,
  parsePythonFloat,
  parseWeightedPrompt,
  splitPieces,
  tokenize,
  VOCAB_SIZE,
} from '../../../src/sd/tokenizer/index.js';

const pad = (ids: number[]) => [...ids, ...new Array(77 - ids.length).fill(EOS_ID)];

describe('CLIP vocabulary rebuilt from the merges file', () => {
  it('has 49,408 ids laid out as bytes, bytes+</w>, merges, specials', () => {
    const v = clipVocabulary();
    expect(v.symbols.length).toBe(VOCAB_SIZE);
    expect(v.symbols[0]).toBe('!');
    expect(v.symbols[64]).toBe('a');
    expect(v.symbols[256]).toBe('!</w>');
    expect(v.symbols[320]).toBe('a</w>');
    expect(v.symbols[BOS_ID]).toBe('<|startoftext|>');
    expect(v.symbols[EOS_ID]).toBe('<|endoftext|>');
    expect(v.ranks.size).toBe(48894);
  });
});

describe('BPE reproduces the spec test vectors (SD1_SPEC §4.3, Appendix B)', () => {
  it('"a photo of a cat"', () => {
    expect(encode('a photo of a cat')).toEqual([320, 1125, 539, 320, 2368]);
  });
  it('"astronaut riding a horse, 8k, highly detailed"', () => {
    expect(encode('astronaut riding a horse, 8k, highly detailed')).toEqual([
      18376, 6765, 320, 4558, 267, 279, 330, 267, 5302, 12609,
    ]);
  });
  it('digits are split one by one and contractions are their own piece', () => {
    expect(encode("it's 1999")).toEqual([585, 568, 272, 280, 280, 280]);
  });
  it('case and whitespace runs do not matter', () => {
    expect(encode('  A   PHOTO\n\tof a Cat ')).toEqual(encode('a photo of a cat'));
  });
  it('non-ASCII text goes through the byte table and always maps to known ids', () => {
    const ids = encode('café 東京 🙂');
    expect(ids.length).toBeGreaterThan(3);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(0);
    for (const id of ids) expect(id).toBeLessThan(BOS_ID);
  });
  it('the special token strings map to their ids', () => {
    expect(encode('<|endoftext|>')).toEqual([EOS_ID]);
  });
});

describe('text normalisation (SD1_SPEC §4.2)', () => {
  it('splits letters runs, single digits and symbol runs', () => {
    expect(splitPieces(normalizePrompt('Hello,   World!! 42'))).toEqual([
      'hello',
      ',',
      'world',
      '!!',
      '4',
      '2',
    ]);
  });
  it('basic cleaning (stock ComfyUI) drops control characters and keeps curly quotes', () => {
    expect(normalizePrompt('a\u0007b\u00a0c’d')).toBe('ab c’d');
  });
  it('ftfy cleaning folds curly quotes, full-width ASCII, ligatures and HTML entities', () => {
    expect(normalizePrompt('“ﬁne” ＡＢＣ &amp; it’s', 'ftfy')).toBe('"fine" abc & it\'s');
    expect(encode('it’s', 'ftfy')).toEqual(encode("it's"));
  });
  it('puts spaces around CJK ideographs in basic mode', () => {
    expect(normalizePrompt('a東京b')).toBe('a 東 京 b');
  });
});

describe('SD1 framing to 77 tokens (Appendix B)', () => {
  it('"a photo of a cat" → BOS, ids, EOS, EOS padding', () => {
    const { chunks, hasWeights } = tokenize('a photo of a cat');
    expect(chunks.length).toBe(1);
    expect(Array.from(chunks[0].ids)).toEqual(pad([BOS_ID, 320, 1125, 539, 320, 2368, EOS_ID]));
    expect(Array.from(chunks[0].weights)).toEqual(new Array(77).fill(1));
    expect(hasWeights).toBe(false);
  });
  it('the empty prompt is [BOS, EOS × 76] and equals emptyChunk()', () => {
    const { chunks } = tokenize('');
    expect(Array.from(chunks[0].ids)).toEqual(pad([BOS_ID]));
    expect(Array.from(emptyChunk().ids)).toEqual(pad([BOS_ID]));
  });
});

describe('ComfyUI weight syntax (SD1_SPEC §4.5, ComfyUI token_weights examples)', () => {
  const w = (s: string) => parseWeightedPrompt(s).map((x) => [x.text, x.weight]);
  it('(x) multiplies by 1.1 and nests', () => {
    expect(w('(foo)')).toEqual([['foo', 1.1]]);
    expect(w('((foo))')).toEqual([['foo', 1.1 * 1.1]]);
    expect(w('((foo):1.1)')).toEqual([['foo', 1.1 * 1.1]]);
  });
  it('(x:w) replaces the weight instead of multiplying', () => {
    expect(w('(foo:2.0)')).toEqual([['foo', 2]]);
    expect(w('((foo:1.1))')).toEqual([['foo', 1.1]]);
    expect(w('((foo:1.0):0.0)')).toEqual([['foo', 1]]);
    expect(w('foo ((((lol (cat:666) attack:100)))) baz')).toEqual([
      ['foo ', 1],
      ['lol ', 100],
      ['cat', 666],
      [' attack', 100],
      [' baz', 1],
    ]);
    expect(w('foo ((((lol (cat:666) attack):100))) baz')).toEqual([
      ['foo ', 1],
      ['lol ', 100 * 1.1],
      ['cat', 666],
      [' attack', 100 * 1.1],
      [' baz', 1],
    ]);
  });
  it('a non-number after the colon keeps the colon as text', () => {
    expect(w('(a:b)')).toEqual([['a:b', 1.1]]);
  });
  it('escaped parentheses are literal text; square brackets have no meaning', () => {
    expect(w('\\(foo\\) [bar]')).toEqual([['(foo) [bar]', 1]]);
  });
  it('unbalanced parentheses do not throw and keep the text', () => {
    expect(w('a)b(c')).toEqual([['a)b(c', 1]]);
  });
  it('Python float() rules for the weight', () => {
    expect(parsePythonFloat(' 1.5 ')).toBe(1.5);
    expect(parsePythonFloat('.5')).toBe(0.5);
    expect(parsePythonFloat('1e1')).toBe(10);
    expect(parsePythonFloat('1_0')).toBe(10);
    expect(parsePythonFloat('-inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(parsePythonFloat('1.2.3')).toBeUndefined();
    expect(parsePythonFloat('')).toBeUndefined();
  });
  it('per-token weights land on the tokens of their segment', () => {
    const { chunks, hasWeights } = tokenize('a (photo:1.3) of ((a cat))');
    expect(hasWeights).toBe(true);
    expect(Array.from(chunks[0].ids.slice(0, 7))).toEqual([BOS_ID, 320, 1125, 539, 320, 2368, EOS_ID]);
    expect(Array.from(chunks[0].weights.slice(0, 7))).toEqual(
      [1, 1, 1.3, 1, 1.21, 1.21, 1].map((x) => Math.fround(x)),
    );
  });
  it('weights: false tokenizes the parentheses as text', () => {
    const { chunks, hasWeights } = tokenize('(cat:1.2)', { weights: false });
    expect(hasWeights).toBe(false);
    expect(Array.from(chunks[0].ids.slice(1, 8))).toEqual(encode('(cat:1.2)'));
  });
});

describe('long prompts are split into 75-token windows as ComfyUI does', () => {
  it('80 one-token words in one segment (a large group) split at the boundary', () => {
    const { chunks } = tokenize(new Array(80).fill('cat').join(' '));
    expect(chunks.length).toBe(2);
    expect(chunks[0].ids[0]).toBe(BOS_ID);
    expect(Array.from(chunks[0].ids.slice(1, 76))).toEqual(new Array(75).fill(2368));
    expect(chunks[0].ids[76]).toBe(EOS_ID);
    expect(Array.from(chunks[1].ids.slice(0, 7))).toEqual([BOS_ID, 2368, 2368, 2368, 2368, 2368, EOS_ID]);
  });
  it('a short weighted group that would straddle the boundary moves whole to the next window', () => {
    const { chunks } = tokenize(`${new Array(73).fill('cat').join(' ')} (a photo of a:1.2)`);
    expect(chunks.length).toBe(2);
    expect(Array.from(chunks[0].ids.slice(70, 77))).toEqual([2368, 2368, 2368, 2368, EOS_ID, EOS_ID, EOS_ID]);
    expect(Array.from(chunks[1].ids.slice(0, 6))).toEqual([BOS_ID, 320, 1125, 539, 320, EOS_ID]);
    expect(chunks[1].weights[1]).toBe(Math.fround(1.2));
  });
  it('exactly 75 content tokens fit one window', () => {
    const { chunks } = tokenize(new Array(75).fill('cat').join(' '));
    expect(chunks.length).toBe(1);
    expect(chunks[0].ids[76]).toBe(EOS_ID);
  });
});
