/** Human-readable views of a graph: op histogram and a one-line-per-node listing. */
import { formatShape, type Graph } from './ir.js';

export function opCounts(graph: Graph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of graph.nodes) counts[n.op] = (counts[n.op] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

export function dumpGraph(graph: Graph, opts: { maxNodes?: number } = {}): string {
  const lines: string[] = [];
  const v = (name: string) => {
    if (!name) return '∅';
    const val = graph.values.get(name);
    return val ? `${name}:${val.dtype}${formatShape(val.shape)}` : name;
  };
  let weightBytes = 0;
  for (const t of graph.initializers.values()) weightBytes += t.data?.byteLength ?? t.file?.length ?? 0;
  lines.push(
    `graph ${graph.name}: ${graph.nodes.length} nodes, ${graph.initializers.size} initializers (${(weightBytes / 2 ** 20).toFixed(1)} MiB)`,
  );
  lines.push(
    `ops: ${Object.entries(opCounts(graph))
      .map(([op, n]) => `${op}×${n}`)
      .join(' ')}`,
  );
  for (const name of graph.inputs) lines.push(`input  ${v(name)}`);
  const max = opts.maxNodes ?? Number.POSITIVE_INFINITY;
  graph.nodes.slice(0, max).forEach((n, i) => {
    const attrs = Object.entries(n.attrs).map(([k, a]) => `${k}=${JSON.stringify(Object.values(a)[0])}`);
    const seg = n.segment !== undefined ? ` [recompute ${n.segment}]` : '';
    lines.push(
      `${String(i).padStart(5)} ${n.op}(${n.inputs.map(v).join(', ')})${attrs.length ? ` {${attrs.join(', ')}}` : ''} → ${n.outputs.map(v).join(', ')}${seg}`,
    );
  });
  if (graph.nodes.length > max) lines.push(`  … ${graph.nodes.length - max} more nodes`);
  for (const name of graph.outputs) lines.push(`output ${v(name)}`);
  return lines.join('\n');
}
