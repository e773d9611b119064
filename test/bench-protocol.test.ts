// The Los-loop injection protocol of the real-data benchmark: seeded, documented kinds, and
// per-sensor labels that mark exactly the cells that were changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { injectLosLoop } from '../bench/real-data.ts';
import type { SeriesTable } from '../src/data/table.ts';

function speeds(T: number, K: number): SeriesTable {
  return {
    timestamps: Float64Array.from({ length: T }, (_, t) => t * 300_000),
    sensors: Array.from({ length: K }, (_, k) => `d${k}`), features: ['value'],
    values: Float32Array.from({ length: T * K }, (_, i) => 60 + (i % 7)),
  };
}

// A chain road: each detector's neighbours are the next ones along it (kernel weight falls with distance).
const chain = (K: number) => Array.from({ length: K }, (_, i) => Array.from({ length: K }, (_, j) => (i === j ? 1 : Math.max(0, 1 - Math.abs(i - j) / 6))));

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-4, `${a} != ${b}`);

test('Los-loop injection: seeded, 15 events of five kinds, cell labels exactly where values changed', () => {
  const T = 400, K = 30;
  const clean = speeds(T, K);
  const a = speeds(T, K);
  const b = speeds(T, K);
  const std = new Float64Array(K).fill(5);
  const ia = injectLosLoop(a, std, chain(K));
  const ib = injectLosLoop(b, std, chain(K));
  assert.deepEqual(ia.events, ib.events);
  assert.deepEqual(a.values, b.values);
  assert.equal(ia.events.length, 15);
  assert.deepEqual([...new Set(ia.events.map((e) => e.split('@')[0]))].sort(), ['incident', 'offset', 'spike', 'stuck', 'zero']);
  let changedOutsideLabels = 0;
  for (let t = 0; t < T; t++) {
    let any = 0;
    for (let k = 0; k < K; k++) {
      const cell = ia.cells.labels[t * K + k];
      any |= cell;
      if (a.values[t * K + k] !== clean.values[t * K + k] && !cell) changedOutsideLabels++;
    }
    assert.equal(ia.labels[t], any, `step ${t}: step label is the union of its cells`);
  }
  assert.equal(changedOutsideLabels, 0);
  // Each incident slows 5 detectors (origin + 4 nearest) to half speed, each neighbour starting 2 steps after the previous one.
  const incidents = ia.events.filter((x) => x.startsWith('incident'));
  assert.equal(incidents.length, 3);
  for (const e of incidents) {
    const rest = e.split('@')[1];
    const start = Number(rest.split('+')[0]);
    const group = rest.split(' on ')[1].split(',').map((s) => Number(s.slice(1)));
    assert.equal(group.length, 5);
    group.forEach((k, i) => {
      const t0 = start + 2 * i;
      assert.equal(ia.cells.labels[t0 * K + k], 1);
      close(a.values[t0 * K + k], 0.5 * clean.values[t0 * K + k]);
    });
    // The last neighbour is still normal one step before its start.
    assert.equal(ia.cells.labels[(start + 7) * K + group[4]], 0);
  }
  assert.notDeepEqual(injectLosLoop(speeds(T, K), std, chain(K), 7).events, ia.events);
});
