// From a learned weight matrix to a validated DAG over sensor names, and back to the dense
// adjacency the scorer conditions on.
//
// Orientation everywhere: weights[k][j] (row k, column j) is the strength of the edge k → j,
// i.e. sensor k is a PARENT of sensor j. adjacencyFromGraph returns the same layout, row-major.
import { DirectedGraph } from 'graphology';
import { hasCycle, topologicalSort } from 'graphology-dag';
import { breakCycles, findCycle, type WeightedEdge } from './cycles.ts';

export interface DagNodeAttributes {
  /** Position of the sensor in the model's sensor order (row/column of the weight matrix). */
  index: number;
}
export interface DagEdgeAttributes {
  weight: number;
}
export type DagGraph = DirectedGraph<DagNodeAttributes, DagEdgeAttributes>;
export type SerializedDag = ReturnType<DagGraph['export']>;

export interface ExtractOptions {
  /** Keep edges with weight ≥ threshold. Must be > 0: zero entries are never edges. */
  threshold: number;
  /** At most this many parents per node, the strongest ones. */
  maxParents?: number;
}

export function newDag(): DagGraph {
  return new DirectedGraph<DagNodeAttributes, DagEdgeAttributes>({ allowSelfLoops: false });
}

/**
 * Threshold a learned K×K weight matrix into a DAG. Weights are edge strengths: negative entries
 * are never edges, so pass |A| if the model's A is signed. The diagonal is ignored.
 *
 * maxParents is applied before cycle breaking: capping only deletes edges and so cannot create a
 * cycle, and cycles closed only through edges the cap discards would otherwise cost an extra,
 * stronger edge. Then cycles are broken by dropping the weakest edge of each (see breakCycles).
 */
export function extractDag(weights: readonly (readonly number[])[], sensors: readonly string[], options: ExtractOptions): DagGraph {
  const K = sensors.length;
  checkSensors(sensors);
  const { threshold, maxParents } = options;
  if (!(Number.isFinite(threshold) && threshold > 0)) throw new Error(`extractDag: threshold must be a positive number (got ${threshold})`);
  if (maxParents !== undefined && !(Number.isInteger(maxParents) && maxParents >= 0)) {
    throw new Error(`extractDag: maxParents must be a non-negative integer (got ${maxParents})`);
  }
  if (weights.length !== K) throw new Error(`extractDag: weights has ${weights.length} rows for ${K} sensors`);

  let edges: WeightedEdge[] = [];
  for (let k = 0; k < K; k++) {
    const row = weights[k];
    if (row.length !== K) throw new Error(`extractDag: weights row ${k} has ${row.length} columns for ${K} sensors`);
    for (let j = 0; j < K; j++) {
      const w = row[j];
      if (!Number.isFinite(w)) throw new Error(`extractDag: weights[${k}][${j}] (${sensors[k]} -> ${sensors[j]}) is ${w}`);
      if (k !== j && w >= threshold) edges.push({ from: k, to: j, weight: w });
    }
  }
  if (maxParents !== undefined) edges = capParents(edges, maxParents);
  edges = breakCycles(K, edges);

  const g = newDag();
  sensors.forEach((s, index) => g.addNode(s, { index }));
  for (const e of edges.sort((a, b) => a.from - b.from || a.to - b.to)) {
    g.addDirectedEdgeWithKey(`${e.from}->${e.to}`, sensors[e.from], sensors[e.to], { weight: e.weight });
  }
  return g;
}

function capParents(edges: WeightedEdge[], maxParents: number): WeightedEdge[] {
  const byChild = new Map<number, WeightedEdge[]>();
  for (const e of edges) {
    const list = byChild.get(e.to);
    if (list) list.push(e);
    else byChild.set(e.to, [e]);
  }
  const kept: WeightedEdge[] = [];
  for (const list of byChild.values()) {
    list.sort((a, b) => b.weight - a.weight || a.from - b.from);
    kept.push(...list.slice(0, maxParents));
  }
  return kept;
}

function checkSensors(sensors: readonly string[]): void {
  const seen = new Set<string>();
  for (const s of sensors) {
    if (typeof s !== 'string' || s.length === 0) throw new Error(`sensor names must be non-empty strings (got ${JSON.stringify(s)})`);
    if (seen.has(s)) throw new Error(`duplicate sensor name "${s}"`);
    seen.add(s);
  }
}

/** Throws, naming one cycle, unless the graph is a DAG. */
export function assertDag(graph: DagGraph): void {
  if (graph.type !== 'directed') throw new Error(`graph must be directed (got ${graph.type})`);
  if (!hasCycle(graph)) return;
  const cycle = cycleOf(graph);
  throw new Error(`graph is not acyclic: cycle ${cycle ? cycle.join(' -> ') : '(self-loop)'}`);
}

function cycleOf(graph: DagGraph): string[] | null {
  const nodes = graph.nodes();
  const pos = new Map(nodes.map((n, i) => [n, i]));
  const out = nodes.map((n) => graph.outNeighbors(n).map((m) => pos.get(m)!));
  const cycle = findCycle(nodes.length, out);
  return cycle && cycle.map((i) => nodes[i]);
}

/** Parents before children; ties in node insertion order (sensor order for extractDag graphs). */
export function topologicalOrder(graph: DagGraph): string[] {
  assertDag(graph);
  return topologicalSort(graph);
}

/** Row-major K×K matrix, entry [k*K + j] = weight of k → j (0 where there is no edge). */
export function adjacencyFromGraph(graph: DagGraph, sensors: readonly string[]): Float32Array {
  const K = sensors.length;
  const pos = new Map(sensors.map((s, i) => [s, i]));
  if (pos.size !== K) throw new Error('adjacencyFromGraph: duplicate sensor names');
  graph.forEachNode((n) => {
    if (!pos.has(n)) throw new Error(`adjacencyFromGraph: graph node "${n}" is not one of the sensors`);
  });
  const adj = new Float32Array(K * K);
  graph.forEachEdge((_e, attr, source, target) => {
    adj[pos.get(source)! * K + pos.get(target)!] = attr.weight;
  });
  return adj;
}

/** Parents of a sensor, in sensor-index order. */
export function parentsOf(graph: DagGraph, sensor: string): string[] {
  if (!graph.hasNode(sensor)) throw new Error(`parentsOf: unknown sensor "${sensor}"`);
  return graph.inNeighbors(sensor).sort((a, b) => graph.getNodeAttribute(a, 'index') - graph.getNodeAttribute(b, 'index'));
}

export function graphToJSON(graph: DagGraph): SerializedDag {
  return graph.export();
}

/**
 * Rebuild a DAG from graphToJSON output (e.g. a saved model), validating it rather than trusting
 * it: directed edges only, finite weights, integer node indices that are unique and, when
 * `sensors` is given, equal to each sensor's position; and acyclic.
 */
export function graphFromJSON(json: unknown, sensors?: readonly string[]): DagGraph {
  const fail = (msg: string): never => {
    throw new Error(`graphFromJSON: ${msg}`);
  };
  if (typeof json !== 'object' || json === null) fail('expected an object');
  const data = json as { options?: { type?: unknown; multi?: unknown }; nodes?: unknown; edges?: unknown };
  if (data.options?.type !== undefined && data.options.type !== 'directed') fail(`graph type must be "directed" (got ${JSON.stringify(data.options.type)})`);
  if (data.options?.multi === true) fail('multigraphs are not supported');
  if (!Array.isArray(data.nodes)) fail('"nodes" must be an array');
  if (data.edges !== undefined && !Array.isArray(data.edges)) fail('"edges" must be an array');
  const sensorPos = sensors && new Map(sensors.map((s, i) => [s, i]));

  const g = newDag();
  const indices = new Set<number>();
  for (const raw of data.nodes as unknown[]) {
    const node = raw as { key?: unknown; attributes?: { index?: unknown } };
    if (typeof node?.key !== 'string' || node.key === '') fail(`node key must be a non-empty string (got ${JSON.stringify(node?.key)})`);
    const key = node.key as string;
    if (g.hasNode(key)) fail(`duplicate node "${key}"`);
    const index = node.attributes?.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) fail(`node "${key}" needs a non-negative integer "index" attribute`);
    const i = index as number;
    if (indices.has(i)) fail(`node "${key}" reuses index ${i}`);
    if (sensorPos) {
      if (!sensorPos.has(key)) fail(`unknown sensor "${key}"`);
      if (sensorPos.get(key) !== i) fail(`node "${key}" has index ${i} but is sensor ${sensorPos.get(key)}`);
    }
    indices.add(i);
    g.addNode(key, { index: i });
  }
  for (const raw of (data.edges ?? []) as unknown[]) {
    const edge = raw as { key?: unknown; source?: unknown; target?: unknown; undirected?: unknown; attributes?: { weight?: unknown } };
    const { source, target } = edge ?? {};
    if (typeof source !== 'string' || !g.hasNode(source)) fail(`edge source ${JSON.stringify(source)} is not a node`);
    if (typeof target !== 'string' || !g.hasNode(target)) fail(`edge target ${JSON.stringify(target)} is not a node`);
    const s = source as string;
    const t = target as string;
    if (edge.undirected === true) fail(`edge ${s} -> ${t} is undirected`);
    if (s === t) fail(`self-loop on "${s}"`);
    if (g.hasEdge(s, t)) fail(`duplicate edge ${s} -> ${t}`);
    const weight = edge.attributes?.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight)) fail(`edge ${s} -> ${t} needs a finite numeric "weight" attribute`);
    const attrs = { weight: weight as number };
    if (typeof edge.key === 'string') {
      if (g.hasEdge(edge.key)) fail(`duplicate edge key "${edge.key}"`);
      g.addDirectedEdgeWithKey(edge.key, s, t, attrs);
    } else g.addDirectedEdge(s, t, attrs);
  }
  try {
    assertDag(g);
  } catch (err) {
    fail((err as Error).message);
  }
  return g;
}
