// Without the stream: the drift monitors' statistics, and refits that
// fail, are cancelled or are not better, all of which leave the active model untouched. The live
// loop (drift on the stream, a drift-triggered refit promoted, `ganf serve` switching without
// losing or repeating a step) is test/stream-live-refit.test.ts, with the real services.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sliceRows, type SeriesTable } from '../src/data/table.ts';
import { fitTiny, reroutedGrid, startTestService } from './helpers/api.ts';
import type { Detector } from '../src/detector.ts';
import { ksTwoSample, ksAgainst, kolmogorovQ, lag1Autocorrelation, PageHinkley } from '../src/api/drift.ts';
import { Rng } from '../src/util/rng.ts';

const DAY = 288;
const TRAIN = 6 * DAY;
const SHIFT = 7 * DAY;

let data: { table: SeriesTable; outLines: string[]; shiftMs: number };
let det: Detector;

before(async () => {
  data = await reroutedGrid({ days: 7, shiftAt: SHIFT, lines: 1 });
  det = await fitTiny(sliceRows(data.table, 0, TRAIN));
});

after(() => {
  det?.model.dispose();
});

function step(table: SeriesTable, t: number) {
  const K = table.sensors.length;
  return { timestamp: table.timestamps[t], values: Object.fromEntries(table.sensors.map((s, k) => [s, table.values[t * K + k]])) };
}

test('drift statistics: KS p-values and Page-Hinkley behave as specified', () => {
  const rng = new Rng(3);
  const a = Array.from({ length: 400 }, () => rng.normal(0, 1));
  const b = Array.from({ length: 400 }, () => rng.normal(0, 1));
  const c = Array.from({ length: 400 }, () => rng.normal(0.5, 1));
  assert.ok(ksTwoSample(a, b).pValue > 0.01, 'same distribution');
  assert.ok(ksTwoSample(a, c).pValue < 1e-4, 'shifted by half an sd');
  assert.ok(Math.abs(kolmogorovQ(1.36) - 0.049) < 0.002, 'Q(1.36) ~ 0.05');
  assert.ok(Math.abs(kolmogorovQ(1.63) - 0.0098) < 0.001, 'Q(1.63) ~ 0.01');
  // An AR(1) series with r = 0.9: the lag-1 estimate is close, and shrinks the effective size.
  const ar = [0];
  for (let i = 1; i < 2000; i++) ar.push(0.9 * ar[i - 1] + rng.normal(0, 1));
  assert.ok(Math.abs(lag1Autocorrelation(ar) - 0.9) < 0.05);
  const ref = Float64Array.from(b).sort();
  const cdf = (x: number) => { let i = 0; while (i < ref.length && ref[i] <= x) i++; return i / ref.length; };
  const plain = ksAgainst(c, cdf, ref.length, ref);
  const shrunk = ksAgainst(c, cdf, ref.length, ref, (1 - 0.9) / (1 + 0.9));
  assert.equal(shrunk.statistic, plain.statistic);
  assert.ok(shrunk.pValue > plain.pValue * 100);
  const ph = new PageHinkley(0.5, 20, 0, 100);
  for (const x of a.slice(0, 200)) assert.equal(ph.update(x), false, 'no alarm on N(0,1)');
  let at = -1;
  for (let i = 0; i < 200 && at < 0; i++) if (ph.update(2 + a[i])) at = i;
  assert.ok(at >= 0 && at < 30, `alarm ${at} steps after a 2-sd shift`);
});

test('refits that fail, are cancelled or are not better leave the active model untouched', async () => {
  const incoming = await mkdtemp(path.join(tmpdir(), 'ganf-incoming-'));
  const svc = await startTestService([det], { refit: { minImprovementNats: 1, holdoutFraction: 0.25, dataDirs: [incoming] }, rateLimits: { refit: { max: 20, timeWindowMs: 60_000 } } });
  try {
    const active = svc.deps.registry.activeVersion();
    const versions = async () => (await readdir(svc.deps.registry.versionsDir)).sort();
    const before = await versions();
    const post = (payload: Record<string, unknown>) => svc.app.inject({ method: 'POST', url: '/refit', headers: svc.auth('operator'), payload });

    const outside = await post({ source: { kind: 'csv', path: '/etc/passwd' } });
    assert.equal(outside.statusCode, 400);
    assert.equal(JSON.parse(outside.body).errors[0].field, 'body.source.path');
    const sneaky = await post({ source: { kind: 'csv', path: path.join(incoming, '..', 'x.csv') } });
    assert.equal(sneaky.statusCode, 400, 'no escaping the data directory');

    // A garbage CSV: the job fails with the line named.
    const bad = path.join(incoming, 'bad.csv');
    await writeFile(bad, 'timestamp,B01\n2024-01-01T00:00:00Z,1\n2024-01-01T00:05:00Z,oops\n');
    const jr = await post({ source: { kind: 'csv', path: bad } });
    assert.equal(jr.statusCode, 202, jr.body);
    const j = JSON.parse(jr.body);
    const done = await svc.deps.jobs.wait(j.id);
    assert.equal(done.status, 'failed');
    assert.match(done.error!, /line 3/);
    assert.match(done.error!, /active model was not changed/);
    assert.equal(svc.deps.registry.activeVersion(), active);

    // Too few usable steps once alerts are left out: failed, named.
    const few = Array.from({ length: 40 }, (_, i) => step(data.table, TRAIN + i));
    const j2 = JSON.parse((await post({ source: { kind: 'readings', readings: few } })).body);
    assert.match((await svc.deps.jobs.wait(j2.id)).error!, /too few/);

    // Interrupted: a long refit cancelled mid-training.
    const normal = Array.from({ length: 700 }, (_, i) => step(data.table, TRAIN - 700 + i));
    const j3 = JSON.parse((await post({ source: { kind: 'readings', readings: normal }, train: { maxSteps: 50_000 } })).body);
    const deadline = Date.now() + 30_000;
    while (svc.deps.jobs.get(j3.id)!.phase !== 'training') {
      assert.ok(Date.now() < deadline, 'job reached training');
      await new Promise((r) => setTimeout(r, 50));
    }
    const busy = await post({ source: { kind: 'readings', readings: normal } });
    assert.equal(busy.statusCode, 409, 'one refit at a time');
    const del = await svc.app.inject({ method: 'DELETE', url: `/jobs/${j3.id}`, headers: svc.auth('operator') });
    assert.equal(del.statusCode, 200);
    assert.equal(JSON.parse(del.body).status, 'cancelled');
    assert.equal(svc.deps.registry.activeVersion(), active);

    // Same regime: the candidate is not better by the margin, so it is kept as a candidate.
    const r4 = await post({ source: { kind: 'readings', readings: normal }, train: { maxSteps: 20 } });
    assert.equal(r4.statusCode, 202, r4.body);
    const j4 = JSON.parse(r4.body);
    const done4 = await svc.deps.jobs.wait(j4.id);
    assert.equal(done4.status, 'succeeded', done4.error ?? '');
    assert.equal(done4.result!.outcome, 'candidate');
    assert.match(done4.result!.outcomeReason, /kept as candidate/);
    assert.equal(svc.deps.registry.activeVersion(), active);
    const info = JSON.parse((await svc.app.inject({ url: `/models/${done4.result!.version}`, headers: svc.auth('reader') })).body);
    assert.equal(info.status, 'candidate');
    assert.equal(info.meta.evaluation.promote, false);
    // Only the kept candidate was added; nothing half-written is visible.
    assert.deepEqual(await versions(), [...before, done4.result!.version].sort());
    const m = (await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body;
    assert.match(m, /ganf_refit_jobs_total\{outcome="failed"\} 2/);
    assert.match(m, /ganf_refit_jobs_total\{outcome="cancelled"\} 1/);
    assert.match(m, /ganf_refit_jobs_total\{outcome="candidate"\} 1/);
  } finally {
    await svc.close();
  }
});
