// The active model's DAG; clicking a node lists its parents and children with edge weights and
// its recent per-sensor scores.
import { api, qs } from '../api.ts';
import { h } from '../dom.ts';
import { lineChart } from '../charts.ts';
import { drawDag, type DagView } from '../../shared/dag-view.ts';
import type { GraphResponse, ScoreStep } from '../types.ts';

const RECENT_MS = 6 * 3600_000;

declare global {
  interface Window {
    /** The drawn graph, for inspection (the browser tests count its nodes and edges). */
    ganfGraph?: DagView & { version: string };
  }
}

export async function graphView(root: HTMLElement): Promise<void> {
  const g = await api.get<GraphResponse>('/graph');
  const side = h('aside', { id: 'node-panel', class: 'panel' }, h('p', { class: 'note' }, 'Click a sensor.'));
  const box = h('div', { class: 'graph', id: 'graph' });
  root.append(h('h2', {}, `Learned DAG of the active model ${g.version}`),
    h('p', { class: 'note', id: 'graph-summary' }, `${g.graph.nodes.length} sensors, ${g.graph.edges.length} edges (parent → child); width and label: learned weight.`),
    h('div', { class: 'split' }, box, side));
  const view = drawDag(box, g.graph, { onNodeClick: (n) => void showNode(n) });
  window.ganfGraph = { ...view, version: g.version };

  async function showNode(node: string): Promise<void> {
    const w = (e: string) => Number(view.graph.getEdgeAttribute(e, 'weight')).toFixed(3);
    const parents = view.graph.inEdges(node).map((e) => `${view.graph.source(e)} (${w(e)})`);
    const children = view.graph.outEdges(node).map((e) => `${view.graph.target(e)} (${w(e)})`);
    const chart = h('div', { class: 'chart small' });
    side.replaceChildren(h('h3', {}, node),
      h('p', { id: 'node-parents' }, h('b', {}, 'Parents: '), parents.join(', ') || 'none'),
      h('p', { id: 'node-children' }, h('b', {}, 'Children: '), children.join(', ') || 'none'),
      h('h4', {}, 'Excess NLL, last 6 h'), chart);
    try {
      const now = Date.now();
      const s = await api.get<{ steps: ScoreStep[] }>(`/scores${qs({ from: now - RECENT_MS, to: now, sensors: node, limit: 2000 })}`);
      if (s.steps.length === 0) chart.replaceWith(h('p', { class: 'note' }, 'No scores in the last 6 h.'));
      else lineChart(chart, [{ name: node, points: s.steps.map((x) => [Date.parse(x.timestamp), x.sensors[node]?.excess ?? NaN]) }]);
    } catch (err) {
      chart.replaceWith(h('p', { class: 'note' }, `Scores unavailable — ${(err as Error).message}`));
    }
  }
}
