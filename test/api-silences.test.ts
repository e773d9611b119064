// Silences (Alertmanager-style matchers and windows; operators create and expire them; silenced
// alerts are stored and listed but not pushed to webhooks) and false-positive marks (kept with the
// alert across restarts; a refit keeps their steps as training data).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fitTiny, fixtureRows, sampleAlert, startTestService, type TestService } from './helpers/api.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { JsonlAlertStore } from '../src/api/alerts/store.ts';
import { SilenceStore, matches } from '../src/api/silences/store.ts';
import { alertId } from '../src/scoring/alert.ts';

let svc: TestService;
const json = (r: { body: string }) => JSON.parse(r.body);

before(async () => {
  svc = await startTestService([], { fsync: false, webhooks: { allowedHosts: ['127.0.0.1'] } });
});

after(async () => {
  await svc?.close();
});

test('matchers: equality, negation, anchored regex, and "sensor" over the top sensors', () => {
  const a = sampleAlert(0); // site north, severity warning, top sensors B01, B03
  assert.equal(matches([{ name: 'site', value: 'north', isRegex: false, isEqual: true }], a), true);
  assert.equal(matches([{ name: 'site', value: 'nor', isRegex: true, isEqual: true }], a), false, 'regexes are anchored');
  assert.equal(matches([{ name: 'site', value: 'no.*', isRegex: true, isEqual: true }], a), true);
  assert.equal(matches([{ name: 'site', value: 'north', isRegex: false, isEqual: false }], a), false);
  assert.equal(matches([{ name: 'sensor', value: 'B03', isRegex: false, isEqual: true }], a), true);
  assert.equal(matches([{ name: 'sensor', value: 'B02', isRegex: false, isEqual: true }], a), false);
  assert.equal(matches([{ name: 'site', value: 'north', isRegex: false, isEqual: true }, { name: 'severity', value: 'critical', isRegex: false, isEqual: true }], a), false, 'all matchers must match');
});

test('operators create and expire silences; readers are refused; silenced alerts are listed as such and not pushed to webhooks', async () => {
  const body = { matchers: [{ name: 'site', value: 'north' }], endsAt: new Date(Date.now() + 3600_000).toISOString(), comment: 'maintenance' };
  const refused = await svc.app.inject({ method: 'POST', url: '/silences', headers: svc.auth('reader'), payload: body });
  assert.equal(refused.statusCode, 403);
  const bad = await svc.app.inject({ method: 'POST', url: '/silences', headers: svc.auth('operator'), payload: { ...body, matchers: [{ name: 'site', value: '(', isRegex: true }] } });
  assert.equal(bad.statusCode, 400);
  assert.equal(json(bad).errors[0].field, 'body.matchers.0.value');
  const created = await svc.app.inject({ method: 'POST', url: '/silences', headers: svc.auth('operator'), payload: body });
  assert.equal(created.statusCode, 201);
  const s = json(created);
  assert.equal(s.createdBy, 'operator', 'the creator is the API key, not a client string');
  assert.equal(s.status.state, 'active');

  // A subscription to an address nothing listens on: deliveries are created (then fail), which is what we count.
  const sub = json(await svc.app.inject({ method: 'POST', url: '/subscriptions', headers: svc.auth('operator'), payload: { url: 'http://127.0.0.1:9/hook' } })); // operators create subscriptions (SSRF guard); 127.0.0.1 is allow-listed
  ingestAlert(svc.deps.alerts, sampleAlert(0)); // north: silenced
  ingestAlert(svc.deps.alerts, sampleAlert(1)); // south: not
  const deliveries = json(await svc.app.inject({ url: `/subscriptions/${sub.id}/deliveries`, headers: svc.auth('operator') })).items;
  assert.deepEqual(deliveries.map((d: { alertId: string }) => d.alertId), [alertId(sampleAlert(1))]);
  assert.match((await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body, /ganf_webhook_silenced_total 1/);

  const listed = json(await svc.app.inject({ url: '/alerts', headers: svc.auth('reader') })).items;
  const north = listed.find((a: { labels: { site: string } }) => a.labels.site === 'north');
  const south = listed.find((a: { labels: { site: string } }) => a.labels.site === 'south');
  assert.deepEqual(north.silencedBy, [s.id], 'still stored and listed, marked silenced');
  assert.deepEqual(south.silencedBy, []);

  assert.equal((await svc.app.inject({ method: 'DELETE', url: `/silences/${s.id}`, headers: svc.auth('reader') })).statusCode, 403);
  const expired = await svc.app.inject({ method: 'DELETE', url: `/silences/${s.id}`, headers: svc.auth('operator') });
  assert.equal(json(expired).status.state, 'expired');
  assert.deepEqual(json(await svc.app.inject({ url: `/alerts/${north.id}`, headers: svc.auth('reader') })).silencedBy, []);
  ingestAlert(svc.deps.alerts, sampleAlert(0, { endsAt: new Date(Date.UTC(2024, 0, 11, 1)).toISOString() }));
  const after = json(await svc.app.inject({ url: `/subscriptions/${sub.id}/deliveries`, headers: svc.auth('operator') })).items;
  assert.equal(after.length, 2, 'after the silence expired the change is pushed');
  // Silences survive a restart (one JSON file).
  const reopened = new SilenceStore(path.join(svc.dir, 'data', 'silences'));
  assert.equal(reopened.get(s.id)?.status.state, 'expired');
  assert.equal(json(await svc.app.inject({ url: '/silences?state=expired', headers: svc.auth('reader') })).items.length, 1);
});

test('false-positive marks: operators only, kept with the alert, sent on the SSE log, durable, reversible', async () => {
  const { alert } = ingestAlert(svc.deps.alerts, sampleAlert(7));
  const url = `/alerts/${alert.id}/false-positive`;
  assert.equal((await svc.app.inject({ method: 'POST', url, headers: svc.auth('reader'), payload: {} })).statusCode, 403);
  const marked = await svc.app.inject({ method: 'POST', url, headers: svc.auth('operator'), payload: { comment: 'planned switching' } });
  assert.equal(marked.statusCode, 200);
  assert.equal(json(marked).falsePositive.by, 'operator');
  assert.equal(json(marked).falsePositive.comment, 'planned switching');
  const last = svc.deps.alerts.changesSince(svc.deps.alerts.lastSeq() - 1)[0];
  assert.equal(last.type, 'false-positive');
  const reopened = new JsonlAlertStore(path.join(svc.dir, 'data', 'alerts'), { sync: false });
  assert.equal(reopened.get(alert.id)?.falsePositive?.comment, 'planned switching');
  reopened.close();
  const unmarked = await svc.app.inject({ method: 'POST', url, headers: svc.auth('operator'), payload: { falsePositive: false } });
  assert.equal(json(unmarked).falsePositive, null);
  assert.equal((await svc.app.inject({ method: 'POST', url: '/alerts/nope/false-positive', headers: svc.auth('operator'), payload: {} })).statusCode, 404);
});

test('a refit leaves out the steps of stored alerts except those marked false positive', { timeout: 120_000 }, async () => {
  const table = await fixtureRows('grid', 'test', 0, 300);
  const det = await fitTiny(await fixtureRows('grid', 'train', 0, 600));
  const withModel = await startTestService([det], { fsync: false });
  try {
    const K = table.sensors.length;
    const readings = Array.from({ length: 300 }, (_, t) => ({ timestamp: table.timestamps[t], values: Object.fromEntries(table.sensors.map((s, k) => [s, table.values[t * K + k]])) }));
    const at = (t: number) => new Date(table.timestamps[t]).toISOString();
    const normal = ingestAlert(withModel.deps.alerts, sampleAlert(1, { startsAt: at(50), endsAt: at(60) })).alert;
    const fp = ingestAlert(withModel.deps.alerts, sampleAlert(2, { startsAt: at(150), endsAt: at(170) })).alert;
    const refit = async () => {
      const r = await withModel.app.inject({ method: 'POST', url: '/refit', headers: withModel.auth('operator'), payload: { source: { kind: 'readings', readings }, autoPromote: false } });
      assert.equal(r.statusCode, 202, r.body);
      const job = json(r);
      // Only the data selection matters here: stop the training at once.
      await withModel.app.inject({ method: 'DELETE', url: `/jobs/${job.id}`, headers: withModel.auth('operator') });
      await withModel.deps.jobs.wait(job.id);
      return job.request.excludedIntervals as number;
    };
    assert.equal(await refit(), 2, 'both alerts left out');
    await withModel.app.inject({ method: 'POST', url: `/alerts/${fp.id}/false-positive`, headers: withModel.auth('operator'), payload: { comment: 'switching' } });
    assert.equal(await refit(), 1, 'the false positive stays in the training data');
    assert.equal(withModel.deps.alerts.get(normal.id)!.falsePositive, null);
  } finally {
    await withModel.close();
    det.model.dispose();
  }
});
