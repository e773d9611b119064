// Cycle handling on plain index-based edge lists (node = sensor index 0..K-1). Kept apart from
// graphology so the O(K²)-edge worst case runs on flat arrays.

export interface WeightedEdge {
  /** Parent index (row of the weight matrix). */
  from: number;
  /** Child index (column). */
  to: number;
  weight: number;
}

/**
 * Drop edges until the graph is acyclic, each dropped edge being the weakest edge of a cycle.
 *
 * Greedy by weight: edges are taken strongest first and an edge is dropped only if it would close
 * a cycle with edges already kept, all of which are at least as strong. This is "find a cycle,
 * drop its weakest edge, repeat" with the cycles visited in a particular order (re-add the
 * dropped edges strongest first to see each one close a cycle it is the weakest of), and it is
 * maximal: no dropped edge can be put back without creating a cycle. The rule "always drop the
 * globally weakest edge that is on some cycle" is not: with a→b .9, b→a .8, a→c .7, c→b .5 it
 * drops c→b first (on c→b→a→c), then b→a, and c→b could then have stayed.
 *
 * Only edges inside a strongly connected component can close a cycle, and a cycle never leaves
 * its component, so the other edges are kept without a search and each reachability search
 * stays inside one component. Ties are taken in (from, to) order, so the result is deterministic.
 */
export function breakCycles(K: number, edges: readonly WeightedEdge[]): WeightedEdge[] {
  for (const e of edges) {
    if (e.from === e.to) throw new Error(`breakCycles: self-loop at node ${e.from}`);
  }
  const all: Set<number>[] = Array.from({ length: K }, () => new Set<number>());
  for (const e of edges) all[e.from].add(e.to);
  const comp = stronglyConnectedComponents(K, all);
  const candidates = edges
    .filter((e) => comp[e.from] === comp[e.to])
    .sort((a, b) => b.weight - a.weight || a.from - b.from || a.to - b.to);
  if (candidates.length === 0) return [...edges];

  // Kept intra-component edges only: a path between two nodes of one component never leaves it.
  const kept: number[][] = Array.from({ length: K }, () => []);
  const dropped = new Set<number>();
  const seen = new Int32Array(K);
  let stamp = 0;
  const stack: number[] = [];
  const reaches = (src: number, dst: number): boolean => {
    stamp++;
    stack.length = 0;
    stack.push(src);
    seen[src] = stamp;
    while (stack.length > 0) {
      const u = stack.pop()!;
      for (const v of kept[u]) {
        if (v === dst) return true;
        if (seen[v] !== stamp) {
          seen[v] = stamp;
          stack.push(v);
        }
      }
    }
    return false;
  };
  for (const e of candidates) {
    if (reaches(e.to, e.from)) dropped.add(e.from * K + e.to);
    else kept[e.from].push(e.to);
  }
  return edges.filter((e) => !dropped.has(e.from * K + e.to));
}

/** Component id per node (Tarjan, iterative so K in the thousands cannot overflow the JS stack). */
export function stronglyConnectedComponents(K: number, out: readonly Iterable<number>[]): Int32Array {
  const index = new Int32Array(K).fill(-1);
  const low = new Int32Array(K);
  const onStack = new Uint8Array(K);
  const comp = new Int32Array(K).fill(-1);
  const sccStack: number[] = [];
  let next = 0;
  let nComp = 0;
  for (let root = 0; root < K; root++) {
    if (index[root] !== -1) continue;
    const work: { node: number; it: Iterator<number> }[] = [];
    const open = (n: number) => {
      index[n] = low[n] = next++;
      sccStack.push(n);
      onStack[n] = 1;
      work.push({ node: n, it: out[n][Symbol.iterator]() });
    };
    open(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const step = top.it.next();
      if (!step.done) {
        const v = step.value;
        if (index[v] === -1) open(v);
        else if (onStack[v]) low[top.node] = Math.min(low[top.node], index[v]);
        continue;
      }
      work.pop();
      const u = top.node;
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low[parent] = Math.min(low[parent], low[u]);
      }
      if (low[u] === index[u]) {
        let w: number;
        do {
          w = sccStack.pop()!;
          onStack[w] = 0;
          comp[w] = nComp;
        } while (w !== u);
        nComp++;
      }
    }
  }
  return comp;
}

/** One directed cycle as a node sequence [a, b, ..., a], or null when the graph is acyclic. */
export function findCycle(K: number, out: readonly Iterable<number>[]): number[] | null {
  const state = new Uint8Array(K); // 0 unvisited, 1 on the DFS path, 2 finished
  const parent = new Int32Array(K).fill(-1);
  for (let root = 0; root < K; root++) {
    if (state[root] !== 0) continue;
    const work: { node: number; it: Iterator<number> }[] = [{ node: root, it: out[root][Symbol.iterator]() }];
    state[root] = 1;
    while (work.length > 0) {
      const top = work[work.length - 1];
      const step = top.it.next();
      if (step.done) {
        state[top.node] = 2;
        work.pop();
        continue;
      }
      const v = step.value;
      if (state[v] === 1) {
        const cycle = [v];
        for (let u = top.node; u !== v; u = parent[u]) cycle.push(u);
        cycle.push(v);
        return cycle.reverse();
      }
      if (state[v] === 0) {
        state[v] = 1;
        parent[v] = top.node;
        work.push({ node: v, it: out[v][Symbol.iterator]() });
      }
    }
  }
  return null;
}
