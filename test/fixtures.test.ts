import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isConnected } from '../src/fixtures/common.ts';
import { Ctm, type CtmNetwork } from '../src/fixtures/ctm.ts';
import {
  generateGridFixture,
  generateTrafficFixture,
  GRID_ANOMALY_KINDS,
  loadFixture,
  parseTableCsv,
  tableToCsv,
  TRAFFIC_ANOMALY_KINDS,
  type Fixture,
} from '../src/fixtures/index.ts';
import { busNetOutflow, dcPowerFlow, DcSolver, type DcNetwork } from '../src/fixtures/powerflow.ts';
import { Rng } from '../src/util/rng.ts';

const SMALL = { trainDays: 2, testDays: 3 };

// Generated once and shared (the generators are deterministic, so sharing is safe).
const grid1 = generateGridFixture({ seed: 7, ...SMALL });
const traffic1 = generateTrafficFixture({ seed: 7, ...SMALL });

function checkFixture(f: Fixture, kinds: readonly string[]): void {
  const { train, test, truth } = f;
  // Shapes and headers.
  assert.deepEqual(train.sensors, truth.sensors);
  assert.deepEqual(test.sensors, truth.sensors);
  assert.equal(train.values.length, truth.trainRows);
  assert.equal(test.values.length, truth.testRows);
  for (const row of [...train.values, ...test.values]) {
    assert.equal(row.length, truth.sensors.length);
    for (const v of row) assert.ok(Number.isFinite(v));
  }
  // Time axis: 5-minute steps, test directly after train.
  const ts = [...train.timestamps, ...test.timestamps];
  for (let i = 1; i < ts.length; i++) assert.equal(ts[i] - ts[i - 1], truth.intervalMs);
  assert.equal(test.timestamps[0], Date.parse(truth.testStart));
  // Train is anomaly-free.
  assert.ok(train.labels.every((l) => l === 0), 'train has a label 1');
  // Labels are exactly the union of the anomaly intervals; intervals are disjoint and valid.
  const expected = new Array(test.labels.length).fill(0);
  const sorted = [...truth.anomalies].sort((a, b) => a.startIndex - b.startIndex);
  for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i - 1].endIndex < sorted[i].startIndex, 'anomaly intervals overlap or touch');
  sorted.forEach((a) => {
    assert.ok(a.startIndex >= 0 && a.endIndex <= truth.testRows && a.startIndex < a.endIndex, `bad interval ${a.kind}`);
    assert.equal(Date.parse(a.start), test.timestamps[a.startIndex]);
    assert.equal(Date.parse(a.end), test.timestamps[0] + a.endIndex * truth.intervalMs);
    assert.ok(a.sensors.length > 0 && a.sensors.every((s) => truth.sensors.includes(s)));
    assert.ok(a.affected.every((s) => truth.sensors.includes(s)));
    for (let r = a.startIndex; r < a.endIndex; r++) expected[r] = 1;
  });
  assert.deepEqual(test.labels, expected);
  assert.ok(truth.anomalies.length >= 6 && truth.anomalies.length <= 10, `${truth.anomalies.length} anomalies`);
  for (const k of kinds) assert.ok(truth.anomalies.some((a) => a.kind === k), `no ${k} anomaly`);
  // Graph: connected, covers every sensor, edges reference known sensors.
  const inGraph = new Set(truth.graph.edges.flatMap((e) => [e.source, e.target]));
  for (const s of truth.sensors) assert.ok(inGraph.has(s), `sensor ${s} missing from the graph`);
  for (const s of inGraph) assert.ok(truth.sensors.includes(s), `graph node ${s} is not a sensor`);
  assert.ok(isConnected(truth.sensors, truth.graph.edges), 'graph is not connected');
  const keys = truth.graph.edges.map((e) => (truth.graph.directed ? `${e.source}>${e.target}` : [e.source, e.target].sort().join('-')));
  assert.equal(new Set(keys).size, keys.length, 'duplicate edges');
}

describe('rng', () => {
  it('is deterministic per seed and forks independently', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
    assert.notDeepEqual(xs, Array.from({ length: 5 }, () => new Rng(43).next()));
    const f1 = new Rng(42).fork('x').normal();
    const r = new Rng(42);
    r.next();
    assert.equal(r.fork('x').normal(), f1, 'fork must not depend on the parent state');
    const n = new Rng(1).normals(20000);
    const m = n.reduce((s, v) => s + v, 0) / n.length;
    const sd = Math.sqrt(n.reduce((s, v) => s + (v - m) ** 2, 0) / n.length);
    assert.ok(Math.abs(m) < 0.03 && Math.abs(sd - 1) < 0.03, `normal moments ${m} ${sd}`);
  });
});

describe('DC power flow', () => {
  // 5 buses, a ring plus one chord; bus 0 is the slack.
  const net: DcNetwork = {
    nBus: 5,
    slack: 0,
    lines: [
      { from: 0, to: 1, x: 0.1 },
      { from: 1, to: 2, x: 0.2 },
      { from: 2, to: 3, x: 0.15 },
      { from: 3, to: 4, x: 0.1 },
      { from: 4, to: 0, x: 0.25 },
      { from: 1, to: 3, x: 0.3 },
    ],
  };
  const p = [0, 0.8, -1.2, -0.5, 0.3]; // the slack entry is ignored

  it('conserves power: injections sum to zero and flows balance at every bus', () => {
    const r = dcPowerFlow(net, p);
    assert.equal(r.theta[0], 0);
    assert.ok(Math.abs(r.injections.reduce((s, v) => s + v, 0)) < 1e-12);
    assert.ok(Math.abs(r.slackInjection - 0.6) < 1e-12);
    const out = busNetOutflow(net, r.flows);
    for (let b = 0; b < net.nBus; b++) assert.ok(Math.abs(out[b] - r.injections[b]) < 1e-9, `bus ${b}: ${out[b]} vs ${r.injections[b]}`);
  });

  it('still balances with a line out, and rejects an islanded network', () => {
    const out1 = new Set([5]);
    const r = dcPowerFlow(net, p, out1);
    assert.equal(r.flows[5], 0);
    const bal = busNetOutflow(net, r.flows);
    for (let b = 0; b < net.nBus; b++) assert.ok(Math.abs(bal[b] - r.injections[b]) < 1e-9);
    assert.throws(() => new DcSolver(net, new Set([0, 4])), /positive definite/);
  });
});

describe('cell-transmission model', () => {
  // origin -> c0 -> c1 -(on-ramp merge)-> c2 -(off-ramp diverge)-> c3 -(split)-> {c4, c5};
  // c4 -> sink, c5 -(merge with origin 2)-> c6 -> sink.
  const cell = (lanes: number) => ({ lengthMi: 0.25, lanes, vf: 65, qLane: 2000, kjLane: 190 });
  const net: CtmNetwork = {
    cells: [cell(3), cell(3), cell(3), cell(3), cell(2), cell(1), cell(2)],
    sources: [
      { name: 'O', capacity: 6000 },
      { name: 'ramp', capacity: 1900 },
      { name: 'O2', capacity: 2000 },
    ],
    sinks: ['exit', 'endA', 'endB'],
    nodes: [
      { inputs: [{ source: 0 }], outputs: [{ cell: 0 }] },
      { inputs: [{ cell: 0 }], outputs: [{ cell: 1 }] },
      { inputs: [{ cell: 1 }, { source: 1 }], outputs: [{ cell: 2 }], priorities: [0.75, 0.25] },
      { inputs: [{ cell: 2 }], outputs: [{ cell: 3, split: 0.9 }, { sink: 0, split: 0.1 }] },
      { inputs: [{ cell: 3 }], outputs: [{ cell: 4, split: 0.6 }, { cell: 5, split: 0.4 }] },
      { inputs: [{ cell: 4 }], outputs: [{ sink: 1 }] },
      { inputs: [{ cell: 5 }, { source: 2 }], outputs: [{ cell: 6 }] },
      { inputs: [{ cell: 6 }], outputs: [{ sink: 2 }] },
    ],
  };

  it('conserves vehicles: inflow - outflow = change in occupancy (cells + queues)', () => {
    const ctm = new Ctm(net, 12);
    const st = ctm.initialState();
    let total = 0;
    let cumIn = 0;
    let cumOut = 0;
    let maxDensityRatio = 0;
    for (let step = 0; step < 3000; step++) {
      // Heavy, time-varying demand and a temporary capacity drop so queues form and spill back.
      const d = [5500 + 1500 * Math.sin(step / 200), step % 700 < 350 ? 1800 : 200, 900];
      ctm.capacityFactor.fill(1);
      if (step > 800 && step < 1400) ctm.capacityFactor[5] = 0.3;
      const before = ctm.totalVehicles(st);
      const { inflow, outflow } = ctm.step(st, d);
      const after = ctm.totalVehicles(st);
      assert.ok(Math.abs(after - before - (inflow - outflow)) < 1e-8, `step ${step}: ${after - before} vs ${inflow - outflow}`);
      cumIn += inflow;
      cumOut += outflow;
      total = after;
      for (let i = 0; i < st.n.length; i++) {
        assert.ok(st.n[i] >= 0);
        maxDensityRatio = Math.max(maxDensityRatio, st.n[i] / 0.25 / ctm.jam[i]);
      }
    }
    assert.ok(Math.abs(total - (cumIn - cumOut)) < 1e-6);
    assert.ok(ctm.sinkTotals.reduce((a, b) => a + b, 0) - cumOut < 1e-6);
    assert.ok(maxDensityRatio <= 1 + 1e-9, 'density exceeded jam density');
    assert.ok(maxDensityRatio > 0.5, 'the test case never congested');
  });
});

describe('fixture generators', () => {
  it('same seed gives identical output', () => {
    assert.deepEqual(generateGridFixture({ seed: 7, ...SMALL }), grid1);
    assert.deepEqual(generateTrafficFixture({ seed: 7, ...SMALL }), traffic1);
  });

  it('different seeds give different output', () => {
    const g2 = generateGridFixture({ seed: 8, ...SMALL });
    assert.notDeepEqual(g2.train.values, grid1.train.values);
    assert.notDeepEqual(g2.truth.anomalies, grid1.truth.anomalies);
    const t2 = generateTrafficFixture({ seed: 8, ...SMALL });
    assert.notDeepEqual(t2.train.values, traffic1.train.values);
  });

  it('grid: labels, train, graph and anomaly kinds are consistent', () => {
    checkFixture(grid1, GRID_ANOMALY_KINDS);
    assert.equal(grid1.truth.graph.directed, false);
  });

  it('traffic: labels, train, graph and anomaly kinds are consistent', () => {
    checkFixture(traffic1, TRAFFIC_ANOMALY_KINDS);
    assert.equal(traffic1.truth.graph.directed, true);
  });

  it('CSV round-trips', () => {
    const back = parseTableCsv(tableToCsv(grid1.test));
    assert.deepEqual(back, grid1.test);
  });
});

describe('committed fixtures', () => {
  for (const [name, kinds] of [
    ['grid', GRID_ANOMALY_KINDS],
    ['traffic', TRAFFIC_ANOMALY_KINDS],
  ] as const) {
    const dir = path.join(import.meta.dirname, '..', 'fixtures', name);
    it(`fixtures/${name} is consistent with its truth.json`, { skip: !existsSync(path.join(dir, 'truth.json')) }, async () => {
      const f = await loadFixture(dir);
      assert.equal(f.truth.trainRows, 2880);
      assert.equal(f.truth.testRows, 1440);
      checkFixture(f, kinds);
    });
  }
});
