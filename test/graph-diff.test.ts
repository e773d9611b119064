// diffGraphs on two hand-built DAGs whose difference is known edge by edge.
import test from 'node:test';
import assert from 'node:assert/strict';
import { newDag, type DagGraph } from '../src/dag-learning/extract.ts';
import { diffGraphs } from '../src/api/models/graph-diff.ts';

function dag(nodes: string[], edges: [string, string, number][]): DagGraph {
  const g = newDag();
  nodes.forEach((n, index) => g.addNode(n, { index }));
  for (const [s, t, weight] of edges) g.addDirectedEdge(s, t, { weight });
  return g;
}

test('diffGraphs: added, removed, reversed, reweighted beyond the tolerance, unchanged, nodes in and out', () => {
  const from = dag(['a', 'b', 'c', 'd'], [['a', 'b', 1.0], ['b', 'c', 0.5], ['c', 'd', 0.2], ['a', 'd', 0.4]]);
  const to = dag(['a', 'b', 'c', 'e'], [['a', 'b', 1.04], ['c', 'b', 0.6], ['a', 'c', 0.3], ['a', 'e', 0.9]]);
  // c->d and a->d vanish with d; a->d is not reweighted but removed.
  const d = diffGraphs(from, to, 0.05);
  assert.deepEqual(d.added, [{ source: 'a', target: 'e', weight: 0.9 }, { source: 'c', target: 'b', weight: 0.6 }, { source: 'a', target: 'c', weight: 0.3 }]);
  assert.deepEqual(d.removed, [{ source: 'b', target: 'c', weight: 0.5 }, { source: 'a', target: 'd', weight: 0.4 }, { source: 'c', target: 'd', weight: 0.2 }]);
  assert.deepEqual(d.reversed, [{ source: 'b', target: 'c' }]);
  // a->b moved by 0.04 of max(1.0, 1.04): within 5 %, so unchanged.
  assert.equal(d.unchanged, 1);
  assert.deepEqual(d.reweighted, []);
  assert.deepEqual(d.nodesAdded, ['e']);
  assert.deepEqual(d.nodesRemoved, ['d']);

  const r = diffGraphs(from, to, 0.01);
  assert.equal(r.unchanged, 0);
  assert.equal(r.reweighted.length, 1);
  const [w] = r.reweighted;
  assert.deepEqual([w.source, w.target, w.from, w.to], ['a', 'b', 1.0, 1.04]);
  assert.ok(Math.abs(w.delta - 0.04) < 1e-12 && Math.abs(w.relative - 0.04) < 1e-12);
  assert.equal(diffGraphs(from, from).unchanged, from.size);
});
