// How the DAG changed between two model versions (GET /graph/diff): the newer graph with added
// edges green, reweighted orange and removed ones put back in red, plus the lists.
import { api, qs } from '../api.ts';
import { h, flash } from '../dom.ts';
import { drawDag } from '../../shared/dag-view.ts';
import type { GraphDiff, GraphResponse, Models } from '../types.ts';

const COLOUR = { added: '#2ca02c', removed: '#d62728', reweighted: '#ff9f1c' };

export async function diffView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const models = await api.get<Models>('/models');
  const versions = models.items.map((m) => m.version);
  const to = params.get('to') ?? models.active?.version ?? versions[0];
  const from = params.get('from') ?? versions.find((v) => v !== to) ?? to;
  const pick = (name: string, value: string | undefined) => h('select', { name }, ...versions.map((v) => h('option', { value: v, ...(v === value ? { selected: true } : {}) }, v)));
  const fromSel = pick('from', from);
  const toSel = pick('to', to);
  root.append(h('h2', {}, 'Graph diff'),
    h('form', { class: 'filters', onsubmit: (e: Event) => { e.preventDefault(); location.hash = `#/diff?${new URLSearchParams({ from: fromSel.value, to: toSel.value })}`; } },
      h('label', {}, 'from ', fromSel), h('label', {}, 'to ', toSel), h('button', { type: 'submit' }, 'Compare')));
  if (!from || !to || from === to) {
    root.append(h('p', { class: 'note' }, 'Pick two different versions (the registry needs at least two).'));
    return;
  }
  const [d, g] = await Promise.all([api.get<GraphDiff>(`/graph/diff${qs({ from, to })}`), api.get<GraphResponse>(`/graph${qs({ version: to })}`)]);
  const list = (title: string, rows: string[]) => h('div', { class: 'panel' }, h('h4', {}, `${title} (${rows.length})`), h('ul', {}, ...rows.map((r) => h('li', {}, r))));
  const box = h('div', { class: 'graph', id: 'diff-graph' });
  root.append(h('p', { class: 'note', id: 'diff-summary' }, `${d.added.length} added, ${d.removed.length} removed, ${d.reweighted.length} reweighted (tolerance ${d.tolerance}), ${d.reversed.length} reversed, ${d.unchanged} unchanged.`),
    h('div', { class: 'split' }, box, h('div', {},
      list('added', d.added.map((e) => `${e.source} → ${e.target} (${e.weight.toFixed(3)})`)),
      list('removed', d.removed.map((e) => `${e.source} → ${e.target} (${e.weight.toFixed(3)})`)),
      list('reweighted', d.reweighted.map((e) => `${e.source} → ${e.target}: ${e.from.toFixed(3)} → ${e.to.toFixed(3)}`)))));
  const view = drawDag(box, g.graph, { edgeLabels: false });
  const key = (s: string, t: string) => view.graph.edge(s, t);
  for (const e of d.added) {
    const k = key(e.source, e.target);
    if (k) view.graph.setEdgeAttribute(k, 'color', COLOUR.added);
  }
  for (const e of d.reweighted) {
    const k = key(e.source, e.target);
    if (k) view.graph.setEdgeAttribute(k, 'color', COLOUR.reweighted);
  }
  for (const e of d.removed) {
    if (!view.graph.hasNode(e.source) || !view.graph.hasNode(e.target)) continue;
    // A removed edge that was reversed has its opposite in the graph; both can be drawn.
    if (!view.graph.hasEdge(e.source, e.target)) view.graph.addEdge(e.source, e.target, { color: COLOUR.removed, size: 1.5, type: 'arrow', weight: e.weight });
  }
  if (d.nodesAdded.length || d.nodesRemoved.length) flash(`Sensors added: ${d.nodesAdded.join(', ') || 'none'}; removed: ${d.nodesRemoved.join(', ') || 'none'}`);
}
