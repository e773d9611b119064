// Draws a learned DAG (graphology serialisation, edges weighted) with sigma.js. Shared by the
// backtest report and the console so both show the graph the same way.
import { DirectedGraph } from 'graphology';
import Sigma from 'sigma';
import { circular } from 'graphology-layout';
import * as fa2 from 'graphology-layout-forceatlas2';

// A CommonJS module typed with `export default`: TypeScript (NodeNext) and esbuild disagree on
// where the default lands, so take whichever object carries `assign`.
interface Fa2 {
  assign(graph: DirectedGraph, params: { iterations: number; settings: fa2.ForceAtlas2Settings }): void;
  inferSettings(graph: DirectedGraph): fa2.ForceAtlas2Settings;
}
const forceAtlas2 = ((fa2 as unknown as { default?: Fa2 }).default ?? fa2) as unknown as Fa2;
import type { SerializedGraph } from 'graphology-types';

export interface DagViewOptions {
  /** Nodes drawn in the alert colour (labelled or alerting sensors). */
  highlight?: Iterable<string>;
  /** Nodes drawn in a secondary colour (e.g. parents of the highlighted ones). */
  secondary?: Iterable<string>;
  /** Weight printed on every edge; off for big graphs where the labels would be unreadable. */
  edgeLabels?: boolean;
  onNodeClick?: (node: string) => void;
}

export interface DagView {
  graph: DirectedGraph;
  renderer: Sigma;
}

export const COLOURS = { node: '#4a6fa5', highlight: '#d62728', secondary: '#ff9f1c', edge: '#9aa5b1' };

export function drawDag(container: HTMLElement, data: SerializedGraph, opts: DagViewOptions = {}): DagView {
  const graph = new DirectedGraph();
  graph.import(data);
  const highlight = new Set(opts.highlight ?? []);
  const secondary = new Set(opts.secondary ?? []);
  let maxWeight = 0;
  graph.forEachEdge((_e, a) => {
    maxWeight = Math.max(maxWeight, Math.abs(Number(a.weight) || 0));
  });
  // Circular start, then ForceAtlas2: deterministic (no random seed) and readable for tens to a few
  // hundred sensors.
  circular.assign(graph, { scale: 100 });
  if (graph.order > 1) forceAtlas2.assign(graph, { iterations: 300, settings: { ...forceAtlas2.inferSettings(graph), barnesHutOptimize: graph.order > 300 } });
  graph.forEachNode((n) => {
    const colour = highlight.has(n) ? COLOURS.highlight : secondary.has(n) ? COLOURS.secondary : COLOURS.node;
    graph.mergeNodeAttributes(n, { label: n, size: 4 + Math.min(8, graph.degree(n)), color: colour });
  });
  graph.forEachEdge((e, a) => {
    const w = Math.abs(Number(a.weight) || 0);
    graph.mergeEdgeAttributes(e, {
      type: 'arrow',
      size: 1 + (maxWeight > 0 ? 4 * (w / maxWeight) : 0),
      color: COLOURS.edge,
      label: Number.isFinite(Number(a.weight)) ? Number(a.weight).toFixed(2) : '',
    });
  });
  const renderer = new Sigma(graph, container, {
    renderEdgeLabels: opts.edgeLabels ?? graph.size <= 120,
    defaultEdgeType: 'arrow',
    labelRenderedSizeThreshold: 0,
    // Every label of a small graph (sensor names are the point); sigma's grid thins them for big ones.
    labelDensity: graph.order <= 100 ? 20 : 1,
    allowInvalidContainer: true,
  });
  if (opts.onNodeClick) {
    const click = opts.onNodeClick;
    renderer.on('clickNode', ({ node }) => click(node));
  }
  return { graph, renderer };
}
