/**
 * Records keyed by client-chosen strings (node ids, input names). ComfyUI accepts any string as a
 * node id, `__proto__`, `constructor` and `toString` included. On a plain `{}`, assigning
 * `__proto__` swaps the prototype instead of adding a key (the node vanishes, or its value leaks
 * into every lookup), and reading a missing `constructor` finds Object's. A record without a
 * prototype has neither problem and serializes the same.
 */
export function keyedRecord<T>(entries?: Iterable<readonly [string, T]>): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  if (entries) for (const [key, value] of entries) record[key] = value;
  return record;
}

/** `record[key]` only when the record itself holds `key` (never a prototype member such as `toString`). */
export function ownValue<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
