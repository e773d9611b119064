// POST /score runs in a worker thread: while a 20,000-reading request is being scored, other
// routes answer (they finish first); beyond the queue bound requests are refused at once with 503
// and retry-after; a reading that makes a score non-finite is a 4xx naming it, never a 500.
// Real HTTP on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { selectSensors } from '../src/data/table.ts';
import type { Detector } from '../src/detector.ts';
import { fitTiny, fixtureRows, startTestService, TEST_KEYS, type TestService } from './helpers/api.ts';

let det: Detector;
let svc: TestService;
let base: string;
let big: string;
let small: string;

before(async () => {
  det = await fitTiny(await fixtureRows('grid', 'train', 0, 600));
  svc = await startTestService([det], { scoring: { maxQueued: 2 }, rateLimits: { score: { max: 1000, timeWindowMs: 60_000 } } });
  base = await svc.listen();
  // 20,000 readings (the fixture's test part, repeated with increasing timestamps).
  const rows = selectSensors(await fixtureRows('grid', 'test', 0, 1440), det.sensors);
  const K = rows.sensors.length;
  const readings = Array.from({ length: 20_000 }, (_, i) => ({
    timestamp: rows.timestamps[0] + i * 300_000,
    values: Object.fromEntries(rows.sensors.map((s, k) => [s, rows.values[(i % 1440) * K + k]])),
  }));
  big = JSON.stringify({ readings, top: 3 });
  small = JSON.stringify({ readings: readings.slice(0, 60), top: 1 });
});

after(async () => {
  await svc?.close();
  det?.model.dispose();
});

const post = (body: string) => fetch(`${base}/score`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEYS.reader}`, 'content-type': 'application/json' }, body });
const get = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TEST_KEYS.reader}` } });

test('other routes answer while a 20,000-reading POST /score is being scored', { timeout: 180_000 }, async () => {
  await (await post(small)).json(); // the worker is up and the model loaded
  const order: string[] = [];
  const scoring = post(big).then(async (r) => {
    order.push('score');
    return { status: r.status, body: await r.json() as { steps: unknown[] } };
  });
  await new Promise((r) => setTimeout(r, 300)); // the request is parsed and handed to the worker
  for (let i = 0; i < 5; i++) {
    const r = await get('/alerts?limit=10');
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    order.push('alerts');
  }
  const res = await scoring;
  assert.equal(res.status, 200);
  assert.equal(res.body.steps.length, 20_000);
  assert.deepEqual(order, ['alerts', 'alerts', 'alerts', 'alerts', 'alerts', 'score'], 'every GET answered before the scoring finished');
});

test('beyond the queue bound POST /score is refused at once with 503 and retry-after', { timeout: 180_000 }, async () => {
  const results = await Promise.all(Array.from({ length: 4 }, () => post(big).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: await r.text() }))));
  const refused = results.filter((r) => r.status === 503);
  assert.equal(results.filter((r) => r.status === 200).length, 2, results.map((r) => r.status).join(','));
  assert.equal(refused.length, 2);
  for (const r of refused) {
    assert.equal(r.retry, '1');
    assert.match(JSON.parse(r.body).detail, /saturated/);
  }
  const after = await post(small);
  assert.equal(after.status, 200, 'accepted again once the queue drained');
  await after.arrayBuffer();
});

test('a reading that makes the score non-finite is a 4xx naming it, never a 500', { timeout: 60_000 }, async () => {
  const body = JSON.parse(small) as { readings: Array<{ timestamp: number; values: Record<string, number> }> };
  body.readings[40].values[det.sensors[2]] = 1e300;
  const r = await post(JSON.stringify(body));
  const p = await r.json() as { steps?: Array<{ score: number }>; errors?: Array<{ field: string }> };
  // Either the model bounds the contribution (finite scores) or the reading is named.
  assert.ok(r.status === 200 ? p.steps!.every((s) => Number.isFinite(s.score)) : r.status === 422 && p.errors![0].field === `body.readings.40.values.${det.sensors[2]}`,
    `${r.status}: ${JSON.stringify(p).slice(0, 300)}`);
});
