// Optional prior topology (e.g. the physical network) turned into what the trainer consumes:
// a mask restricting which parent → child pairs A may use, or an initial A. Text in, arrays out:
// reading the file is the caller's (src/detector.ts).
import { parseAdjacencyCsv, parseEdgeListCsv, type PriorEdge } from './prior-csv.ts';

export type PriorFormat = 'edges' | 'matrix';
export type PriorMode = 'restrict' | 'init';

export interface PriorOptions {
  /** 'matrix' (K×K adjacency CSV, the default) or 'edges' (`source,target[,weight]`). */
  format?: PriorFormat;
  /**
   * 'restrict': A may only use allowed pairs (returns `mask`).
   * 'init': A starts from the prior's weights and may still learn any edge (returns `init`).
   */
  mode?: PriorMode;
  /**
   * Also allow pairs up to this many prior edges apart (restrict mode). A physical link is not
   * always the causal one: a sensor may be driven by one two segments upstream.
   */
  hops?: number;
  /**
   * Directed priors allow only source → target. The default (false) allows both directions: a
   * pipe or road segment says two sensors interact, not which one drives the other.
   */
  directed?: boolean;
}

export interface PriorTopology {
  mode: PriorMode;
  /** restrict mode: K×K row-major, 1 where parent k → child j is allowed; diagonal always 0. */
  mask?: Float32Array;
  /** init mode: K×K row-major initial weights, the prior weight on each allowed direct edge. */
  init?: Float32Array;
  /** Number of allowed ordered pairs (restrict) or non-zero initial weights (init). */
  pairs: number;
}

export function parsePrior(text: string, sensors: readonly string[], options: PriorOptions = {}): PriorTopology {
  const format = options.format ?? 'matrix';
  if (format !== 'edges' && format !== 'matrix') throw new Error(`prior format must be "edges" or "matrix" (got "${format}")`);
  const edges = format === 'edges' ? parseEdgeListCsv(text, sensors) : parseAdjacencyCsv(text, sensors);
  return priorFromEdges(edges, sensors.length, options);
}

export function priorFromEdges(edges: readonly PriorEdge[], K: number, options: PriorOptions = {}): PriorTopology {
  const mode = options.mode ?? 'restrict';
  const hops = options.hops ?? 1;
  const directed = options.directed ?? false;
  if (mode !== 'restrict' && mode !== 'init') throw new Error(`prior mode must be "restrict" or "init" (got "${mode}")`);
  if (!(Number.isInteger(hops) && hops >= 1)) throw new Error(`prior hops must be an integer ≥ 1 (got ${hops})`);

  // Repeated or reverse-listed edges keep their largest weight.
  const direct = new Float32Array(K * K);
  const link = (from: number, to: number, w: number) => {
    if (from !== to && w > direct[from * K + to]) direct[from * K + to] = w;
  };
  for (const e of edges) {
    link(e.from, e.to, e.weight);
    if (!directed) link(e.to, e.from, e.weight);
  }

  if (mode === 'init') {
    let pairs = 0;
    for (const w of direct) if (w > 0) pairs++;
    return { mode, init: direct, pairs };
  }
  const mask = reachableWithin(direct, K, hops);
  let pairs = 0;
  for (const m of mask) pairs += m;
  return { mode, mask, pairs };
}

/** mask[u*K+v] = 1 iff v is reachable from u (v ≠ u) in 1..hops steps along non-zero entries. */
export function reachableWithin(adj: Float32Array, K: number, hops: number): Float32Array {
  const out: number[][] = Array.from({ length: K }, (_, u) => {
    const row: number[] = [];
    for (let v = 0; v < K; v++) if (adj[u * K + v] > 0) row.push(v);
    return row;
  });
  const mask = new Float32Array(K * K);
  const depth = new Int32Array(K);
  for (let u = 0; u < K; u++) {
    depth.fill(-1);
    depth[u] = 0;
    let frontier = [u];
    for (let d = 1; d <= hops && frontier.length > 0; d++) {
      const next: number[] = [];
      for (const x of frontier) {
        for (const v of out[x]) {
          if (depth[v] !== -1) continue;
          depth[v] = d;
          mask[u * K + v] = 1;
          next.push(v);
        }
      }
      frontier = next;
    }
  }
  return mask;
}
