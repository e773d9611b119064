// The Grafana dashboard (dashboards/ganf-stream.json) queries what the services really produce:
// every InfluxQL query runs against the real InfluxDB over points written by the stream's own
// InfluxSink and returns data; every Prometheus metric it names is registered by ganf api or
// ganf serve (prom-client registries, default process metrics included).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiMetrics } from '../src/api/metrics.ts';
import { StreamMetrics } from '../src/stream/metrics.ts';
import { InfluxSink } from '../src/stream/sinks.ts';
import { sampleAlert } from './helpers/api.ts';
import type { PipelineStats } from '../src/stream/kafka-pipeline.ts';
import type { InfluxScoreStore } from '../src/adapters/influx-store.ts';
import { influxStore, runId } from './helpers/services.ts';

interface Target { expr?: string; query?: string; refId: string }
interface Panel { title: string; type: string; targets?: Target[] }
const dash = JSON.parse(readFileSync('dashboards/ganf-stream.json', 'utf8')) as { panels: Panel[]; templating: { list: { name: string; query: string }[] } };
const targets = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
let store: InfluxScoreStore | undefined;

after(async () => {
  await store?.dropDatabase().catch(() => {});
});

test('every Prometheus metric on the dashboard is exposed by ganf api or ganf serve', async () => {
  const api = new ApiMetrics();
  const stream = new StreamMetrics();
  const stats: PipelineStats = { batches: 0, messages: 0, steps: 0, alerts: 0, deadLetters: 0, restores: 0, sinkFailures: 0, commitFailures: 0, seeks: 0, handovers: 0, ms: { ingest: 0, score: 0, sinks: 0, commit: 0, restore: 0 } };
  stream.watchPipeline(() => stats, () => []);
  const known = new Set([...(await api.registry.getMetricsAsJSON()), ...(await stream.registry.getMetricsAsJSON())].map((m) => m.name));
  const exprs = targets.filter((t) => t.expr);
  assert.ok(exprs.length >= 20, `${exprs.length} Prometheus queries`);
  for (const t of exprs) {
    const names = [...t.expr!.matchAll(/\b((?:ganf|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]);
    assert.ok(names.length > 0, `${t.panel}/${t.refId} names a metric`);
    for (const n of names) {
      const base = n.replace(/_(bucket|count|sum)$/, '');
      assert.ok(known.has(n) || known.has(base), `${t.panel}: ${n} is not registered by either service`);
    }
  }
});

test('every InfluxQL query on the dashboard returns data from what the stream\'s InfluxSink writes', async () => {
  const db = `ganf_dashboard_${runId()}`;
  store = await influxStore(db);
  const sensors = ['B01', 'B02'];
  const sink = new InfluxSink(store, { now: () => Date.now() });
  const model = { version: 'v1', threshold: 10, sensors, calibrationMedians: Float32Array.from([0.5, 0.25]) };
  const t0 = Date.now() - 3600_000;
  const steps = Array.from({ length: 12 }, (_, i) => ({
    site: 'north', model, tsMs: t0 + i * 300_000, total: i === 5 ? 42 : 1, perSensor: Float32Array.from([1 + i, 2]), values: Float64Array.from([1, 2]), exceed: i === 5, degraded: i === 7,
    usable: i !== 7, filled: 0, missing: i === 7 ? ['B02'] : [], drifted: [], stuck: [], restart: false, lastArrivalMs: t0 + i * 300_000,
  }));
  const alert = sampleAlert(1, { site: 'north', severity: 'critical', startsAt: new Date(t0 + 5 * 300_000).toISOString(), endsAt: new Date(t0 + 6 * 300_000).toISOString() });
  const stats = (accepted: number) => ({ site: 'north', accepted, late: 1, duplicates: 0, replaced: 0, superseded: 0, unknown: { X: 2 }, ignored: 0, emittedSteps: 12, filledCells: 3, degradedSteps: 1, restarts: 0, pendingSteps: 0, invalidSteps: 0, held: 0 });
  await sink.write({ steps, alerts: [alert], stats: [stats(10)] });
  // A second ingest point, a 10-minute bucket later, so the derivative queries have two points.
  const later = new InfluxSink(store, { now: () => Date.now() + 1_200_000 });
  await later.write({ steps: [], alerts: [], stats: [stats(70)] });

  const grafana = (q: string) => q.replaceAll('$timeFilter', 'time > now() - 2h AND time < now() + 2h').replaceAll('$__interval', '10m').replaceAll('$site', '.*');
  const influx = targets.filter((t) => t.query);
  assert.ok(influx.length >= 8, `${influx.length} InfluxQL queries`);
  for (const t of influx) {
    const series = await store.query(grafana(t.query!));
    const values = series.flatMap((s) => s.values ?? []).filter((row) => row.slice(1).some((v) => v !== null));
    assert.ok(values.length > 0, `${t.panel}/${t.refId} returned no data: ${t.query}`);
  }
  const site = dash.templating.list.find((v) => v.name === 'site')!;
  const sites = await store.query(site.query);
  assert.deepEqual(sites.flatMap((s) => s.values ?? []).map((r) => r[1]), ['north']);
});
