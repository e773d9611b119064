// How the learned DAG changed between two model versions.
import type { DagGraph } from '../../dag-learning/extract.ts';

export interface EdgeOut {
  source: string;
  target: string;
  weight: number;
}

export interface GraphDiff {
  added: EdgeOut[];
  removed: EdgeOut[];
  reweighted: { source: string; target: string; from: number; to: number; delta: number; relative: number }[];
  unchanged: number;
  nodesAdded: string[];
  nodesRemoved: string[];
  /** Edges whose direction flipped (present as a->b before and b->a after); also listed in added/removed. */
  reversed: { source: string; target: string }[];
}

/** An edge in both graphs counts as reweighted when |Δw| > tolerance × max(|w_from|, |w_to|). */
export function diffGraphs(from: DagGraph, to: DagGraph, tolerance = 0.05): GraphDiff {
  const edges = (g: DagGraph): Map<string, EdgeOut> => {
    const m = new Map<string, EdgeOut>();
    g.forEachEdge((_e, a, s, t) => m.set(`${s}\u0000${t}`, { source: s, target: t, weight: a.weight }));
    return m;
  };
  const a = edges(from);
  const b = edges(to);
  const out: GraphDiff = { added: [], removed: [], reweighted: [], unchanged: 0, nodesAdded: [], nodesRemoved: [], reversed: [] };
  for (const [k, e] of a) {
    const f = b.get(k);
    if (!f) {
      out.removed.push(e);
      if (b.has(`${e.target}\u0000${e.source}`)) out.reversed.push({ source: e.source, target: e.target });
      continue;
    }
    const delta = f.weight - e.weight;
    const scale = Math.max(Math.abs(e.weight), Math.abs(f.weight));
    if (Math.abs(delta) > tolerance * scale) {
      out.reweighted.push({ source: e.source, target: e.target, from: e.weight, to: f.weight, delta, relative: scale > 0 ? delta / Math.abs(e.weight || scale) : 0 });
    } else out.unchanged++;
  }
  for (const [k, e] of b) if (!a.has(k)) out.added.push(e);
  out.nodesAdded = to.nodes().filter((n) => !from.hasNode(n));
  out.nodesRemoved = from.nodes().filter((n) => !to.hasNode(n));
  const byWeight = (x: EdgeOut, y: EdgeOut): number => y.weight - x.weight;
  out.added.sort(byWeight);
  out.removed.sort(byWeight);
  out.reweighted.sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta));
  return out;
}
