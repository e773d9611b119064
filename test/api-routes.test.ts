// The API's routes through fastify.inject: alerts (filters, cursor pagination, ack), error shape,
// limits, scoring, graph and diff, model versions (promote / rollback), health and metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { scoreTable } from '../src/detector.ts';
import { selectSensors } from '../src/data/table.ts';
import { graphToJSON } from '../src/dag-learning/extract.ts';
import type { Detector } from '../src/detector.ts';
import { fitTiny, fixtureRows, sampleAlert, startTestService, tinyConfig, type TestService } from './helpers/api.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { JsonlAlertStore } from '../src/api/alerts/store.ts';
import { alertId, AlertParseError } from '../src/scoring/alert.ts';
import { diffGraphs } from '../src/api/models/graph-diff.ts';
import { loadApiConfig, parseApiConfig } from '../src/api/config.ts';

let m1: Detector;
let m2: Detector;
let svc: TestService;

before(async () => {
  const train = await fixtureRows('grid', 'train', 0, 600);
  m1 = await fitTiny(train);
  m2 = await fitTiny(await fixtureRows('grid', 'train', 600, 1200), tinyConfig('grid', { 'train.seed': 7 }));
  svc = await startTestService([m1, m2], { rateLimits: { score: { max: 5, timeWindowMs: 60_000 } }, bodyLimitBytes: 4096, scoreBodyLimitBytes: 2_000_000 });
  for (let i = 0; i < 30; i++) ingestAlert(svc.deps.alerts, sampleAlert(i, i % 4 === 0 ? { endsAt: new Date(Date.UTC(2024, 0, 11) + i * 3_600_000 + 1_800_000).toISOString() } : {}));
});

after(async () => {
  await svc?.close();
  m1?.model.dispose();
  m2?.model.dispose();
});

const get = (url: string, role: 'reader' | 'operator' | 'admin' = 'reader') => svc.app.inject({ url, headers: svc.auth(role) });
const json = <T = any>(r: { body: string }): T => JSON.parse(r.body) as T;

test('OpenAPI document lists every route with request and response schemas; /docs serves the page', async () => {
  const doc = json(await get('/openapi.json'));
  assert.equal(doc.openapi, '3.0.3');
  const documented = new Set<string>();
  for (const [p, ops] of Object.entries<any>(doc.paths)) for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p}`);
  // /docs and /ui serve static pages (Swagger UI, the console), not API resources.
  const routes = svc.app.routeTable.filter((r) => !r.url.startsWith('/docs') && !r.url.startsWith('/ui'));
  assert.ok(routes.length >= 25, `only ${routes.length} routes`);
  for (const r of routes) {
    assert.ok(r.hasSchema, `${r.method} ${r.url} has no response schema`);
    const key = `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`;
    assert.ok(documented.has(key), `${key} missing from the OpenAPI document`);
  }
  // Request schemas: parameters/bodies are described.
  assert.ok(doc.paths['/alerts'].get.parameters.some((p: any) => p.name === 'cursor'));
  assert.ok(doc.paths['/score'].post.requestBody.content['application/json'].schema.properties.readings);
  assert.ok(doc.paths['/alerts'].get.responses['400'], 'problem response documented');
  const page = await get('/docs/');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /swagger/i);
});

test('GET /alerts filters by time range, site, sensor, status and severity', async () => {
  const all = json(await get('/alerts?limit=500')).items;
  assert.equal(all.length, 30);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].startsAt >= all[i].startsAt, 'newest first');
  const bySite = json(await get('/alerts?site=north&limit=500')).items;
  assert.equal(bySite.length, 10);
  assert.ok(bySite.every((a: any) => a.labels.site === 'north'));
  const combo = json(await get('/alerts?site=north&severity=warning&status=firing&limit=500')).items;
  const expected = all.filter((a: any) => a.labels.site === 'north' && a.labels.severity === 'warning' && a.status === 'firing');
  assert.deepEqual(combo.map((a: any) => a.id), expected.map((a: any) => a.id));
  assert.ok(expected.length > 0);
  const bySensor = json(await get('/alerts?sensor=B03&limit=500')).items;
  assert.ok(bySensor.length > 0 && bySensor.every((a: any) => a.topSensors.some((t: any) => t.sensor === 'B03')));
  assert.equal(bySensor.length, all.filter((a: any) => a.topSensors.some((t: any) => t.sensor === 'B03')).length);
  // Time range: active at some time in [from, to).
  const from = '2024-01-11T05:00:00Z';
  const to = '2024-01-11T10:00:00Z';
  const ranged = json(await get(`/alerts?from=${from}&to=${to}&limit=500`)).items;
  const want = all.filter((a: any) => Date.parse(a.startsAt) < Date.parse(to) && (a.endsAt === null || Date.parse(a.endsAt) >= Date.parse(from)));
  assert.deepEqual(ranged.map((a: any) => a.id).sort(), want.map((a: any) => a.id).sort());
  // epoch ms works too
  const ms = json(await get(`/alerts?from=${Date.parse(from)}&to=${Date.parse(to)}&limit=500`)).items;
  assert.equal(ms.length, ranged.length);
});

test('GET /alerts pages with a cursor: every alert exactly once, stable under inserts', async () => {
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: any = json(await get(`/alerts?limit=7${cursor ? `&cursor=${cursor}` : ''}`));
    seen.push(...page.items.map((a: any) => a.id));
    cursor = page.nextCursor;
    // An alert newer than everything arriving mid-pagination must not shift later pages.
    if (pages++ === 1) ingestAlert(svc.deps.alerts, sampleAlert(999));
  } while (cursor);
  assert.equal(pages, 5);
  assert.equal(new Set(seen).size, seen.length, 'no repeats');
  assert.equal(seen.length, 30, 'no gaps (the newer alert sorts before the cursor)');
  const bad = await get('/alerts?cursor=garbage');
  assert.equal(bad.statusCode, 400);
  assert.equal(json(bad).errors[0].field, 'querystring.cursor');
});

test('GET /alerts/:id and POST /alerts/:id/ack record who acknowledged and when', async () => {
  const id = json(await get('/alerts?limit=1')).items[0].id;
  const one = json(await get(`/alerts/${id}`));
  assert.equal(one.id, id);
  assert.equal(one.ack, null);
  const before = Date.now();
  const r = await svc.app.inject({ method: 'POST', url: `/alerts/${id}/ack`, headers: svc.auth('operator'), payload: { comment: 'looking' } });
  assert.equal(r.statusCode, 200);
  const acked = json(r);
  assert.equal(acked.ack.by, 'operator');
  assert.equal(acked.ack.comment, 'looking');
  assert.ok(Date.parse(acked.ack.at) >= before - 1000 && Date.parse(acked.ack.at) <= Date.now());
  assert.ok(acked.seq > one.seq);
  const again = json(await svc.app.inject({ method: 'POST', url: `/alerts/${id}/ack`, headers: svc.auth('admin') }));
  assert.equal(again.acks.length, 2);
  assert.equal(again.ack.by, 'admin');
  const missing = await svc.app.inject({ method: 'POST', url: '/alerts/nope/ack', headers: svc.auth('operator') });
  assert.equal(missing.statusCode, 404);
  assert.equal(json(missing).type, '/problems/not-found');
  assert.equal((await get('/alerts/nope')).statusCode, 404);
});

test('ingestAlert takes exactly what the alert engine produces, naming the invalid field otherwise; redelivered or stale messages change nothing; the log survives a reopen and a torn last line', async () => {
  const dir = path.join(svc.dir, 'store-test');
  const store = new JsonlAlertStore(dir);
  const firing = sampleAlert(1);
  const a = ingestAlert(store, JSON.parse(JSON.stringify(firing)));
  assert.equal(a.outcome, 'created');
  assert.equal(a.alert.id, alertId(firing));
  assert.deepEqual({ ...a.alert, ...Object.fromEntries(['id', 'receivedAt', 'updatedAt', 'seq', 'ack', 'acks', 'falsePositive'].map((k) => [k, undefined])) }, { ...firing, ...Object.fromEntries(['id', 'receivedAt', 'updatedAt', 'seq', 'ack', 'acks', 'falsePositive'].map((k) => [k, undefined])) }, 'stored as produced');
  assert.equal(ingestAlert(store, firing).outcome, 'unchanged');
  const resolved = sampleAlert(1, { endsAt: '2024-01-11T01:30:00Z' });
  assert.equal(resolved.fingerprint, firing.fingerprint);
  assert.equal(ingestAlert(store, resolved).outcome, 'updated');
  assert.equal(ingestAlert(store, firing).outcome, 'stale', 'a late firing after resolved');
  // Anything else is refused with the field named: the old flat shape, text top sensors, a
  // fingerprint that is not the labels', a top sensor without its readings, a firing alert with an end.
  const refused = (raw: unknown, field: RegExp) => assert.throws(() => ingestAlert(store, raw), (e: unknown) => e instanceof AlertParseError && e.issues.some((i) => field.test(i.field)), `expected an error naming ${field}`);
  refused({ status: 'firing', site: 's', severity: 'warning', startsAt: firing.startsAt, modelVersion: 'v1', topSensors: [{ sensor: 'X', parents: ['Y'] }] }, /^labels$/);
  refused({ ...firing, annotations: { ...firing.annotations, top_sensors: 'B07 (parents: B06, B08; excess 4.5)' } }, /^annotations$/);
  refused({ ...firing, labels: { ...firing.labels, site: 'elsewhere' } }, /^fingerprint$/);
  refused({ ...firing, topSensors: [{ ...firing.topSensors[0], readings: undefined }] }, /^topSensors\.0\.readings$/);
  refused({ ...firing, endsAt: '2024-01-11T05:00:00Z' }, /^endsAt$/);
  refused({ ...firing, status: 'maybe' }, /^status$/);
  const other = sampleAlert(7, { site: 'west' });
  store.ingest(other);
  const seq = store.lastSeq();
  store.close();
  // A crash mid-append leaves a partial line: it is dropped (it was never acknowledged).
  await appendFile(path.join(dir, 'alerts.jsonl'), '{"seq":99,"type":"al');
  const reopened = new JsonlAlertStore(dir);
  assert.equal(reopened.lastSeq(), seq);
  assert.equal(reopened.get(a.alert.id)!.status, 'resolved');
  assert.equal(reopened.changesSince(0).length, seq);
  ingestAlert(reopened, sampleAlert(2));
  assert.equal(reopened.lastSeq(), seq + 1);
  reopened.close();
  assert.ok((await readFile(path.join(dir, 'alerts.jsonl'), 'utf8')).endsWith('\n'));
});

test('errors are RFC 7807 problem details naming the invalid field; size limits answer 413', async () => {
  const q = await get('/alerts?status=burning&limit=0');
  assert.equal(q.statusCode, 400);
  assert.match(q.headers['content-type'] as string, /application\/problem\+json/);
  const p = json(q);
  assert.deepEqual(Object.keys(p).sort(), ['detail', 'errors', 'instance', 'status', 'title', 'type']);
  assert.equal(p.instance, '/alerts');
  assert.deepEqual(p.errors.map((e: any) => e.field).sort(), ['querystring.limit', 'querystring.status']);
  const body = await svc.app.inject({ method: 'POST', url: '/score', headers: svc.auth('reader'), payload: { readings: [{ timestamp: 'yesterday', values: { B01: 1 } }] } });
  assert.equal(body.statusCode, 400);
  assert.equal(json(body).errors[0].field, 'body.readings.0.timestamp');
  const unknown = await svc.app.inject({ method: 'POST', url: '/subscriptions', headers: svc.auth('operator'), payload: { url: 'http://127.0.0.1:1/x', colour: 'red' } });
  assert.equal(unknown.statusCode, 400);
  assert.match(json(unknown).detail, /colour/);
  const badJson = await svc.app.inject({ method: 'POST', url: '/subscriptions', headers: { ...svc.auth('operator'), 'content-type': 'application/json' }, payload: '{"url":' });
  assert.equal(badJson.statusCode, 400);
  assert.equal(json(badJson).errors[0].field, 'body');
  const big = await svc.app.inject({ method: 'POST', url: '/subscriptions', headers: { ...svc.auth('operator'), 'content-type': 'application/json' }, payload: JSON.stringify({ url: 'http://127.0.0.1:1/', secret: 'x'.repeat(5000) }) });
  assert.equal(big.statusCode, 413);
  assert.equal(json(big).type, '/problems/payload-too-large');
  const nf = await get('/nothing/here');
  assert.equal(nf.statusCode, 404);
  assert.equal(json(nf).type, '/problems/not-found');
});

test('POST /score equals scoreTable on the same readings, names top sensors with their DAG parents, and is rate limited', async () => {
  const rows = selectSensors(await fixtureRows('grid', 'test', 0, 40), m1.sensors);
  const readings = Array.from(rows.timestamps, (t, i) => ({
    timestamp: new Date(t).toISOString(),
    values: Object.fromEntries(rows.sensors.map((s, k) => [s, i === 5 && k === 2 ? null : rows.values[i * rows.sensors.length + k]])),
  }));
  const r = await svc.app.inject({ method: 'POST', url: '/score', headers: svc.auth('reader'), payload: { readings, warmStart: true } });
  assert.equal(r.statusCode, 200, r.body);
  const out = json(r);
  assert.equal(out.modelVersion, m1.modelVersion);
  assert.equal(out.steps.length, 40);
  assert.equal(out.missing.filled[rows.sensors[2]], 1);
  const withGap = { ...rows, values: rows.values.slice() };
  withGap.values[5 * rows.sensors.length + 2] = NaN;
  const direct = scoreTable(m1, withGap, { warmStart: true });
  out.steps.forEach((s: any, t: number) => assert.ok(Math.abs(s.score - direct.total[t]) < 1e-4 * (1 + Math.abs(direct.total[t])), `step ${t}`));
  for (const s of out.steps) {
    assert.equal(s.top.length, 3);
    for (const c of s.top) for (const p of c.parents) assert.ok(m1.graph.hasEdge(p, c.sensor));
  }
  const unknownSensor = await svc.app.inject({ method: 'POST', url: '/score', headers: svc.auth('reader'), payload: { readings: [{ timestamp: 0, values: { ZZ: 1 } }] } });
  assert.equal(unknownSensor.statusCode, 422);
  assert.equal(json(unknownSensor).errors[0].field, 'sensors');
  const backwards = await svc.app.inject({ method: 'POST', url: '/score', headers: svc.auth('reader'), payload: { readings: [readings[1], readings[0]] } });
  assert.equal(backwards.statusCode, 422);
  assert.equal(json(backwards).errors[0].field, 'body.readings.1.timestamp');
  // The limit is 5 per window: two more succeed-or-fail calls were made above; the 6th is refused.
  let limited: { statusCode: number; headers: Record<string, unknown>; body: string } | undefined;
  for (let i = 0; i < 6 && !limited; i++) {
    const x = await svc.app.inject({ method: 'POST', url: '/score', headers: svc.auth('reader'), payload: { readings: readings.slice(0, 2) } });
    if (x.statusCode === 429) limited = x;
  }
  assert.ok(limited, 'rate limit reached');
  assert.equal(json(limited!).type, '/problems/rate-limited');
  assert.ok(limited!.headers['retry-after']);
  // Limits are per key: the operator still gets through.
  const other = await svc.app.inject({ method: 'POST', url: '/score', headers: svc.auth('operator'), payload: { readings: readings.slice(0, 2) } });
  assert.equal(other.statusCode, 200);
});

test('GET /graph: graphology JSON with topological order, GEXF and DOT; GET /graph/diff lists added, removed and reweighted edges', async () => {
  const g = json(await get('/graph'));
  assert.equal(g.version, m1.modelVersion);
  assert.deepEqual(g.graph, JSON.parse(JSON.stringify(graphToJSON(m1.graph))));
  const pos = new Map<string, number>(g.topologicalOrder.map((n: string, i: number) => [n, i]));
  assert.equal(pos.size, m1.sensors.length);
  for (const e of g.graph.edges) assert.ok(pos.get(e.source)! < pos.get(e.target)!, 'parents first');
  const gexf = await get('/graph?format=gexf');
  assert.match(gexf.headers['content-type'] as string, /gexf\+xml/);
  assert.match(gexf.body, /^<\?xml/);
  assert.equal((gexf.body.match(/<edge /g) ?? []).length, m1.graph.size);
  const dot = await get(`/graph?format=dot&version=${m2.modelVersion}`);
  assert.match(dot.body, /^digraph/);
  assert.equal((dot.body.match(/->/g) ?? []).length, m2.graph.size);
  const d = json(await get(`/graph/diff?from=${m1.modelVersion}&to=${m2.modelVersion}`));
  const direct = diffGraphs(m1.graph, m2.graph, 0.05);
  assert.deepEqual(d.added, direct.added);
  assert.deepEqual(d.removed, direct.removed);
  assert.equal(d.reweighted.length, direct.reweighted.length);
  assert.equal(d.added.length + d.reweighted.length + d.unchanged, m2.graph.size);
  assert.equal(d.removed.length + d.reweighted.length + d.unchanged, m1.graph.size);
  assert.ok(d.added.length + d.removed.length + d.reweighted.length > 0, 'two different fits differ');
  for (const e of d.added) assert.ok(m2.graph.hasEdge(e.source, e.target) && !m1.graph.hasEdge(e.source, e.target));
  const same = json(await get(`/graph/diff?from=${m1.modelVersion}&to=${m1.modelVersion}`));
  assert.equal(same.unchanged, m1.graph.size);
  assert.equal((await get('/graph/diff?from=nope')).statusCode, 404);
  assert.equal((await get('/graph/diff?from=../etc')).statusCode, 400);
});

test('models: list and inspect versions, promote swaps the active pointer atomically, rollback restores the previous one', async () => {
  const list = json(await get('/models'));
  assert.equal(list.active.version, m1.modelVersion);
  assert.deepEqual(list.items.map((v: any) => v.version).sort(), [m1.modelVersion, m2.modelVersion].sort());
  assert.equal(list.items.find((v: any) => v.version === m1.modelVersion).status, 'active');
  const info = json(await get(`/models/${m2.modelVersion}`));
  assert.equal(info.sensors.length, m2.sensors.length);
  assert.equal(info.edges, m2.graph.size);
  const pointerFile = path.join(svc.deps.registry.root, 'active');
  const p = await svc.app.inject({ method: 'POST', url: `/models/${m2.modelVersion}/promote`, headers: svc.auth('operator') });
  assert.equal(p.statusCode, 200, p.body);
  assert.deepEqual(json(p).history, [m1.modelVersion]);
  assert.equal(JSON.parse(await readFile(pointerFile, 'utf8')).version, m2.modelVersion);
  assert.equal(svc.deps.registry.activeDetector()!.modelVersion, m2.modelVersion);
  assert.equal(json(await get('/graph')).version, m2.modelVersion);
  assert.equal((await svc.app.inject({ method: 'POST', url: `/models/${m2.modelVersion}/promote`, headers: svc.auth('operator') })).statusCode, 409);
  assert.equal((await svc.app.inject({ method: 'POST', url: '/models/unknown-1/promote', headers: svc.auth('operator') })).statusCode, 404);
  // A version directory that does not load is refused; the active model stays.
  const broken = path.join(svc.deps.registry.versionsDir, 'broken-1');
  await (await import('node:fs/promises')).cp(svc.deps.registry.dir(m1.modelVersion), broken, { recursive: true });
  await writeFile(path.join(broken, 'weights.bin'), Buffer.alloc(10));
  const bad = await svc.app.inject({ method: 'POST', url: '/models/broken-1/promote', headers: svc.auth('operator') });
  assert.equal(bad.statusCode, 422, bad.body);
  assert.equal(svc.deps.registry.activeVersion(), m2.modelVersion);
  assert.equal(JSON.parse(await readFile(pointerFile, 'utf8')).version, m2.modelVersion);
  const rb = await svc.app.inject({ method: 'POST', url: '/models/rollback', headers: svc.auth('operator') });
  assert.equal(rb.statusCode, 200);
  assert.equal(json(rb).version, m1.modelVersion);
  assert.equal(svc.deps.registry.activeDetector()!.modelVersion, m1.modelVersion);
  const none = await svc.app.inject({ method: 'POST', url: '/models/rollback', headers: svc.auth('operator') });
  assert.equal(none.statusCode, 409);
});

test('config/api.json is a valid API config; an invalid one names the field', async () => {
  const cfg = loadApiConfig('config/api.json');
  assert.equal(cfg.host, '127.0.0.1');
  assert.equal(cfg.auth.keys.length, 3);
  assert.equal(cfg.influx!.scoresMeasurement, 'ganf_scores');
  assert.throws(() => parseApiConfig({ port: -1, auth: { keys: [{ name: 'x', role: 'root', key: 'k' }] } }), (e: Error) => /port/.test(e.message) && /auth\.keys\.0\.role/.test(e.message));
  assert.throws(() => parseApiConfig({ auth: { keys: [{ name: 'x', role: 'reader' }] } }), /exactly one of key, env, sha256/);
});

test('/health is open; /ready reports the model; /metrics is Prometheus text with the service metrics', async () => {
  const h = await svc.app.inject({ url: '/health' });
  assert.equal(h.statusCode, 200);
  assert.equal(json(h).status, 'ok');
  const ready = json(await get('/ready'));
  assert.equal(ready.ready, true);
  assert.ok(ready.checks.some((c: any) => c.name === 'model' && c.ok));
  const m = await get('/metrics');
  assert.match(m.headers['content-type'] as string, /text\/plain; version=0\.0\.4/);
  for (const name of ['ganf_steps_scored_total', 'ganf_scoring_latency_seconds_bucket', 'ganf_alerts{', 'ganf_dead_lettered_messages_total', 'ganf_active_model_info{', 'ganf_http_request_duration_seconds_count']) {
    assert.ok(m.body.includes(name), `${name} missing`);
  }
  assert.match(m.body, /ganf_steps_scored_total\{model_version="[^"]+",source="api"\} \d+/);
  assert.match(m.body, /ganf_alerts\{severity="critical",status="firing"\} \d+/);
});
