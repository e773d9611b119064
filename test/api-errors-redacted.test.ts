// Inputs that used to answer 5xx are 4xx problems naming the field, and no error body carries
// internal query text or a server path: /scores with epochs beyond what a Date holds and dates
// outside InfluxDB's range, a failing InfluxDB, refit errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestService, fitTiny, fixtureRows, type TestService } from './helpers/api.ts';
import { redactPaths } from '../src/api/redact.ts';
import type { Detector } from '../src/detector.ts';

let det: Detector;
let svc: TestService;

before(async () => {
  det = await fitTiny(await fixtureRows('grid', 'train', 0, 600));
  // Nothing listens on port 9: every InfluxDB query fails.
  svc = await startTestService([det], { influx: { url: 'http://127.0.0.1:9', database: 'x' } });
});

after(async () => {
  await svc?.close();
  det?.model.dispose();
});

const get = (url: string) => svc.app.inject({ url, headers: svc.auth('reader') });

test('/scores: an epoch above 8.64e15 and dates outside 1677..2262 are 400s naming the field', async () => {
  const cases: Array<[string, string]> = [
    ['/scores?from=0&to=9999999999999999', 'querystring.to'],
    ['/scores?from=8640000000000001&to=8640000000000002', 'querystring.from'],
    ['/scores?from=2024-01-01T00:00:00Z&to=2263-01-01T00:00:00Z', 'querystring.to'],
    ['/scores?from=2262-05-01T00:00:00Z&to=2262-06-01T00:00:00Z', 'querystring.from'],
    ['/scores?from=1600-01-01T00:00:00Z&to=2024-01-01T00:00:00Z', 'querystring.from'],
  ];
  for (const [url, field] of cases) {
    const r = await get(url);
    assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
    assert.ok(JSON.parse(r.body).errors.some((e: { field: string }) => e.field === field), `${url}: ${r.body}`);
  }
  const alerts = await get('/alerts?from=9999999999999999');
  assert.equal(alerts.statusCode, 400, alerts.body);
  assert.equal(JSON.parse(alerts.body).errors[0].field, 'querystring.from');
});

test('/scores with the database failing is a 503 that does not echo the InfluxQL query', async () => {
  const r = await get('/scores?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z&site=north');
  assert.equal(r.statusCode, 503);
  assert.doesNotMatch(r.body, /SELECT|FROM|WHERE|ganf_scores|127\.0\.0\.1:9/i);
});

test('refit errors name the file as the client gave it, never the server\'s absolute path', async () => {
  const r = await svc.app.inject({ method: 'POST', url: '/refit', headers: svc.auth('operator'), payload: { source: { kind: 'csv', path: 'fixtures/no-such-file.csv' } } });
  assert.equal(r.statusCode, 202, r.body);
  const job = await svc.deps.jobs.wait(JSON.parse(r.body).id);
  assert.equal(job.status, 'failed');
  assert.match(job.error!, /fixtures\/no-such-file\.csv/);
  assert.ok(!job.error!.includes(process.cwd()), job.error!);
  const shown = await get(`/jobs/${job.id}`);
  assert.ok(!shown.body.includes(process.cwd()), shown.body);
  assert.equal(redactPaths("open '/srv/app/models/versions/x/weights.bin' failed; see https://example.com/a/b"), "open '<server path>' failed; see https://example.com/a/b");
  assert.equal(redactPaths('ENOENT /data/in/x.csv', [['/data/in/x.csv', 'in/x.csv']]), 'ENOENT in/x.csv');
});
