// Online refits as the data drifts. A grid whose topology is rerouted part-way (two regimes of DC
// power flow): the drift monitors stay quiet on the old regime and fire after the change; a
// drift-triggered refit trains a candidate in a worker thread on the post-drift steps (alerted
// steps left out, warm-started from the active model) while the stream keeps being scored; the
// candidate scores the new regime better and is promoted; the live scorer hands over between two
// steps without losing or repeating one. Failed, rejected and cancelled refits leave the active
// model untouched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDetector, type Detector } from '../src/detector.ts';
import { sliceRows, type SeriesTable } from '../src/ingest/table.ts';
import { StreamScorer } from '../src/scoring/stream-scorer.ts';
import { fitTiny, reroutedGrid, sampleAlert, startTestService } from './helpers/api.ts';
import { shadowScore } from '../src/api/refit/shadow.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { ksTwoSample, ksAgainst, kolmogorovQ, lag1Autocorrelation, PageHinkley } from '../src/api/drift.ts';
import type { ScoredStep } from '../src/api/scoring/live-scorer.ts';
import type { DriftState } from '../src/api/drift.ts';
import { Rng } from '../src/util/rng.ts';

const DAY = 288;
const TRAIN = 6 * DAY;
const SHIFT = 7 * DAY;
const TOTAL = 15 * DAY;
const FRESH = 300; // never streamed: the final comparison

let data: { table: SeriesTable; outLines: string[]; shiftMs: number };
let det: Detector;

before(async () => {
  data = await reroutedGrid({ days: 15, shiftAt: SHIFT, lines: 1 });
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

test('a rerouted grid: drift fires after the change only, a drift-triggered refit is promoted, and the stream loses or repeats no step', async () => {
  const svc = await startTestService([det], {
    drift: { window: DAY, ksAlpha: 1e-3, phDelta: 1, phLambda: 200, meanShiftSd: 1.5 },
    live: { bufferSteps: 1000, warmupSteps: 96 },
    refit: { onDrift: true, minStepsAfterDrift: 600, cooldownMinutes: 0, holdoutFraction: 0.25, minImprovementNats: 1, train: { 'train.maxSteps': 40 } },
  });
  try {
    const live = svc.deps.live!;
    const scored: ScoredStep[] = [];
    live.on('scored', (s: ScoredStep) => scored.push(s));
    let drift: DriftState | null = null;
    let driftMetrics = '';
    let driftApi: any = null;
    live.on('drift', (s: DriftState) => {
      drift ??= s;
      // An alert in the post-drift buffer: its steps must be left out of the refit.
      ingestAlert(svc.deps.alerts, sampleAlert(0, { site: 'grid', startsAt: new Date(data.shiftMs + 100 * 300_000).toISOString(), endsAt: new Date(data.shiftMs + 110 * 300_000).toISOString() }));
    });
    const swaps: { from: string; to: string; atSeq: number; warmupFromSeq: number }[] = [];
    live.on('swapped', (s) => swaps.push(s));
    const oldVersion = det.modelVersion;

    let t = TRAIN;
    let jobSeenAt = -1;
    let scoredDuringJob = 0;
    while (t < TOTAL - FRESH) {
      live.score(step(data.table, t++));
      const jobs = svc.deps.jobs.list();
      if (jobs.length && jobSeenAt < 0) {
        jobSeenAt = t;
        driftMetrics = (await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body;
        driftApi = JSON.parse((await svc.app.inject({ url: '/drift', headers: svc.auth('reader') })).body);
      }
      if (jobSeenAt >= 0) {
        if (jobs[0].status === 'running') scoredDuringJob++;
        // Paced like a live stream while the refit runs, so the hand-over happens mid-stream.
        if (t % 2 === 0) await new Promise((r) => setTimeout(r, 40));
        if (swaps.length && live.lastSeq - swaps[0].atSeq >= 150) break;
        if (jobs[0].status === 'failed') assert.fail(`refit failed: ${jobs[0].error}`);
      }
    }
    assert.equal(swaps.length, 1, 'the candidate was promoted and the live scorer switched');
    const swap = swaps[0];

    // Drift: quiet on the old regime (a day of it), fired right after the topology change.
    assert.ok(drift, 'drift fired');
    const since = Date.parse(drift!.since!);
    assert.ok(since >= data.shiftMs, `no false alarm before the change (fired ${(data.shiftMs - since) / 300_000} steps early)`);
    assert.ok(since <= data.shiftMs + 30 * 300_000, 'detected within 30 steps');
    assert.equal(driftApi.drifting, true);
    assert.equal(driftApi.modelVersion, oldVersion);
    assert.ok(driftApi.inputs.some((i: any) => i.drifting), 'per-sensor input mean shift');
    assert.equal(driftApi.ks.drifting, true, 'KS on the score distribution');
    assert.equal(driftApi.pageHinkley.drifting, true, 'Page-Hinkley');
    assert.match(driftMetrics, /ganf_drift_detected\{monitor="page_hinkley"\} 1/);
    assert.match(driftMetrics, /ganf_drift_ks_pvalue \d/);
    assert.match(driftMetrics, /ganf_input_mean_shift_sd\{sensor="B01"\} /);

    // The refit job: drift-triggered, warm-started, alerted steps left out, promoted by the rule.
    const [job] = svc.deps.jobs.list();
    assert.equal(job.trigger, 'drift');
    assert.equal(job.status, 'succeeded', job.error ?? '');
    const api = JSON.parse((await svc.app.inject({ url: `/jobs/${job.id}`, headers: svc.auth('reader') })).body);
    assert.equal(api.progress, 1);
    const r = api.result;
    assert.equal(r.outcome, 'promoted');
    assert.equal(r.warmStarted, true);
    assert.equal(r.bufferSteps, 600);
    assert.equal(r.excludedSteps, 11);
    assert.equal(r.trainSteps + r.heldOutSteps, 600 - 11);
    assert.ok(r.evaluation.candidateMeanNll < r.evaluation.activeMeanNll - 1, JSON.stringify(r.evaluation));
    assert.ok(r.evaluation.candidateAlertRate <= r.evaluation.activeAlertRate);
    assert.ok(scoredDuringJob > 20, `the stream kept being scored during the refit (${scoredDuringJob} steps)`);
    const models = JSON.parse((await svc.app.inject({ url: '/models', headers: svc.auth('reader') })).body);
    assert.equal(models.active.version, r.version);
    assert.deepEqual(models.active.history, [oldVersion]);
    assert.equal(models.active.reason, 'refit');
    const cand = models.items.find((v: any) => v.version === r.version);
    assert.equal(cand.meta.origin.kind, 'refit');
    assert.equal(cand.meta.origin.parent, oldVersion);
    assert.equal(cand.meta.evaluation.promote, true);

    // The stream: every step scored exactly once, in order, by the old model up to the swap and by
    // the candidate after it.
    assert.deepEqual(scored.map((s) => s.seq), Array.from({ length: scored.length }, (_, i) => i + 1));
    assert.deepEqual(scored.map((s) => s.timestamp), Array.from({ length: scored.length }, (_, i) => data.table.timestamps[TRAIN + i]));
    const at = swap.atSeq;
    assert.ok(scored.slice(0, at).every((s) => s.modelVersion === oldVersion));
    assert.ok(scored.slice(at).every((s) => s.modelVersion === r.version));
    // After the swap the candidate's scores equal a fresh StreamScorer warmed on the same steps
    // (the 96 before the promotion was prepared, and any scored while the pointer was written).
    assert.ok(at - swap.warmupFromSeq >= 96);
    const candidate = await loadDetector(svc.deps.registry.dir(r.version));
    const ref = new StreamScorer(candidate);
    const K = candidate.sensors.length;
    const rows = (from: number, to: number) => data.table.values.slice((TRAIN + from) * K, (TRAIN + to) * K);
    ref.scoreMany(rows(swap.warmupFromSeq, at));
    const after = ref.scoreMany(rows(at, scored.length));
    after.forEach((s, i) => assert.ok(Math.abs(s.total - scored[at + i].total) <= 1e-3 * (1 + Math.abs(s.total)), `step ${at + i}: ${s.total} vs ${scored[at + i].total}`));
    ref.dispose();

    // The candidate scores the new regime better than the old model on steps neither has seen.
    const old = await loadDetector(svc.deps.registry.dir(oldVersion));
    const ctx = sliceRows(data.table, TOTAL - FRESH - 48, TOTAL - FRESH);
    const fresh = sliceRows(data.table, TOTAL - FRESH, TOTAL);
    const a = shadowScore(old, ctx, fresh);
    const c = shadowScore(candidate, ctx, fresh);
    assert.ok(c.meanNll < a.meanNll - 1, `candidate ${c.meanNll} vs old ${a.meanNll}`);
    assert.ok(c.alertRate < a.alertRate, `alert rate candidate ${c.alertRate} vs old ${a.alertRate}`);

    // Rollback restores the previous version for the stream too.
    const rb = await svc.app.inject({ method: 'POST', url: '/models/rollback', headers: svc.auth('operator') });
    assert.equal(rb.statusCode, 200);
    assert.equal(live.score(step(data.table, TOTAL - FRESH)).modelVersion, oldVersion);
    candidate.model.dispose();
    old.model.dispose();
  } finally {
    await svc.close();
  }
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
