/**
 * ComfyUI's prompt-weight syntax (SD1_SPEC §4.5; ComfyUI `comfy/sd1_clip.py` `token_weights`):
 * - `(text)` multiplies the weight of its tokens by 1.1; nesting multiplies (`((x))` = 1.21);
 * - `(text:1.3)` sets the weight to 1.3 — the number after the *last* `:` replaces the weight
 *   instead of multiplying it (the 1.1 of that group is discarded);
 * - `\(` and `\)` are literal parentheses;
 * - `[text]` has **no** meaning in ComfyUI (that is A1111 syntax): brackets stay literal text.
 */
export interface WeightedSegment {
  text: string;
  weight: number;
}

const ESC_CLOSE = '\0\u0001';
const ESC_OPEN = '\0\u0002';

function escapeImportant(text: string): string {
  return text.replaceAll('\\)', ESC_CLOSE).replaceAll('\\(', ESC_OPEN);
}

function unescapeImportant(text: string): string {
  return text.replaceAll(ESC_CLOSE, ')').replaceAll(ESC_OPEN, '(');
}

/** Splits on top-level parentheses groups; unbalanced `)` behaves as in ComfyUI (kept as text). */
function splitTopLevel(text: string): string[] {
  const result: string[] = [];
  let current = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '(') {
      if (depth === 0) {
        if (current) result.push(current);
        current = '(';
      } else current += ch;
      depth++;
    } else if (ch === ')') {
      depth--;
      if (depth === 0) {
        result.push(current + ')');
        current = '';
      } else current += ch;
    } else current += ch;
  }
  if (current) result.push(current);
  return result;
}

const PY_FLOAT = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/** Python's `float(str)`; undefined where Python would raise. */
export function parsePythonFloat(s: string): number | undefined {
  const t = s.trim();
  const special = PY_SPECIAL.exec(t);
  if (special) {
    if (special[2].toLowerCase() === 'nan') return Number.NaN;
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (!PY_FLOAT.test(t)) return undefined;
  return Number(t.replaceAll('_', ''));
}

function weightsOf(text: string, current: number, out: WeightedSegment[]): void {
  for (let x of splitTopLevel(text)) {
    let weight = current;
    if (x.length >= 2 && x[0] === '(' && x[x.length - 1] === ')') {
      x = x.slice(1, -1);
      const colon = x.lastIndexOf(':');
      weight *= 1.1;
      if (colon > 0) {
        const explicit = parsePythonFloat(x.slice(colon + 1));
        if (explicit !== undefined) {
          weight = explicit;
          x = x.slice(0, colon);
        }
      }
      weightsOf(x, weight, out);
    } else out.push({ text: x, weight: current });
  }
}

/** The prompt as ComfyUI weights it: ordered segments of literal text with their weight. */
export function parseWeightedPrompt(prompt: string): WeightedSegment[] {
  const out: WeightedSegment[] = [];
  weightsOf(escapeImportant(prompt), 1, out);
  return out.map((s) => ({ text: unescapeImportant(s.text), weight: s.weight }));
}
