// The operator console in a real browser (Debian's chromium via playwright-core) against the real
// system: the streaming pipeline reads the grid fixture from Kafka and raises alerts, the API
// takes them from the alerts topic and serves the console at /ui. A reader signs in, sees the
// pipeline's alert, receives a new one live over SSE, and is refused (403 from the API) when it
// acknowledges or silences; an operator does both; the graph view shows the active model's DAG.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../scripts/build-ui.mjs';
import { TEST_KEYS } from './helpers/api.ts';
import { startConsoleStack, type ConsoleStack } from './helpers/console-stack.ts';
import { launchBrowser, collectErrors } from './helpers/browser.ts';
import { waitFor } from './helpers/services.ts';

let stack: ConsoleStack;
const t0 = Date.now();
// Phase timings on stderr: this test runs the whole system, and a slow phase should be visible.
const phase = (what: string) => process.stderr.write(`console test: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
let browser: Browser;

before(async () => {
  await buildConsole();
  stack = await startConsoleStack();
  browser = await launchBrowser();
  phase('stack up');
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${stack.url}/ui/`);
  await page.fill('#api-key', key);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#alerts-table');
}

/** Chrome logs every non-2xx fetch as a console error; only the refusals this test provokes are expected. */
function unexpected(errors: string[]): string[] {
  return errors.filter((e) => !/Failed to load resource: the server responded with a status of 403/.test(e));
}

test('console: reader sees pipeline alerts live and is refused actions; operator acknowledges and silences; graph view', { timeout: 300_000 }, async () => {
  // Steps 0..260 of the grid fixture hold its forced oscillation (steps 136-151).
  await stack.send(0, 260);
  await stack.alerts(1);
  phase('first alert');
  const first = stack.svc.deps.alerts.query({ limit: 500 }).items;

  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const errors = collectErrors(page);
  await signIn(page, TEST_KEYS.reader);
  for (const a of first) await page.waitForSelector(`#alerts-table tr[data-id="${a.id}"]`, { timeout: 10_000 });
  assert.equal(await page.locator('#alerts-table tbody tr').count(), first.length);
  await waitFor('the live stream', 10_000, async () => (await page.textContent('#live-state')) === 'live');
  // Whatever arrives from now on must come over SSE, not through a reload.
  await page.evaluate(() => { (window as unknown as { notReloaded: boolean }).notReloaded = true; });

  // Steps 260..420 hold the line trip (296-312): the pipeline raises a new alert.
  await stack.send(260, 420);
  await stack.alerts(first.length + 1);
  phase('new alert in the API');
  const known = new Set(first.map((a) => a.id));
  const fresh = stack.svc.deps.alerts.query({ limit: 500 }).items.find((a) => !known.has(a.id))!;
  await page.waitForSelector(`#alerts-table tr[data-id="${fresh.id}"]`, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the new alert arrived without a reload');
  assert.match((await page.textContent(`#alerts-table tr[data-id="${fresh.id}"]`))!, new RegExp(stack.site));

  phase('new alert in the page');
  // The reader's buttons are there, and the API refuses them.
  const row = `#alerts-table tr[data-id="${fresh.id}"]`;
  const [ackAnswer] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/alerts/${encodeURIComponent(fresh.id)}/ack`) && r.request().method() === 'POST'),
    page.click(`${row} .ack-btn`),
  ]);
  assert.equal(ackAnswer.status(), 403);
  await page.waitForSelector('#flash.error');
  assert.match((await page.textContent('#flash'))!, /Acknowledge refused — 403/);
  const [silenceAnswer] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/silences') && r.request().method() === 'POST'),
    page.click(`${row} .silence-btn`),
  ]);
  assert.equal(silenceAnswer.status(), 403);
  assert.equal(stack.svc.deps.alerts.get(fresh.id)!.ack, null);
  assert.equal(stack.svc.deps.silences.list().length, 0);
  // Promotion from the models page: refused for a reader too.
  await page.goto(`${stack.url}/ui/#/models`);
  const promote = `#models-table tr:has(td:text-is("${stack.other.modelVersion}")) button`;
  await page.waitForSelector(promote);
  const [readerPromote] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/models/${stack.other.modelVersion}/promote`)),
    page.click(promote),
  ]);
  assert.equal(readerPromote.status(), 403);
  assert.equal(stack.svc.deps.registry.activeVersion(), stack.det.modelVersion);
  await page.goto(`${stack.url}/ui/#/alerts`);

  // The operator: acknowledgement and silence go through, and the row updates over SSE.
  await page.click('#logout');
  await signIn(page, TEST_KEYS.operator);
  await page.waitForSelector(row);
  const [opAck] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/alerts/${encodeURIComponent(fresh.id)}/ack`) && r.request().method() === 'POST'),
    page.click(`${row} .ack-btn`),
  ]);
  assert.equal(opAck.status(), 200);
  await waitFor('the ack in the row', 10_000, async () => /operator/.test((await page.textContent(`${row} td.ack`)) ?? ''));
  assert.equal(stack.svc.deps.alerts.get(fresh.id)!.ack!.by, 'operator');
  const [opSilence] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/silences') && r.request().method() === 'POST'),
    page.click(`${row} .silence-btn`),
  ]);
  assert.equal(opSilence.status(), 201);
  const silences = stack.svc.deps.silences.list();
  assert.equal(silences.length, 1);
  assert.deepEqual(silences[0].matchers.map((m) => [m.name, m.value]), [['site', stack.site]]);
  assert.equal(silences[0].createdBy, 'operator');
  await waitFor('the silenced flag', 10_000, async () => /silenced/.test((await page.textContent(`${row} td.flags`)) ?? ''));

  // Alert detail: top sensors with parents, the score timeline from InfluxDB.
  await page.goto(`${stack.url}/ui/#/alerts/${encodeURIComponent(fresh.id)}`);
  await page.waitForSelector('#top-sensors tbody tr');
  assert.equal(await page.locator('#top-sensors tbody tr').count(), fresh.topSensors.length);
  // Expected vs observed at the peak, as the pipeline computed them (4 significant digits).
  const shown = (v: number) => String(Number(v.toPrecision(4)));
  for (const which of ['expected', 'observed'] as const) {
    assert.deepEqual(await page.locator(`#top-sensors tbody td.${which}`).allTextContents(), fresh.topSensors.map((t) => t.readings.map((r) => shown(r[which])).join(', ')));
  }
  await page.waitForSelector('#alert-timeline canvas', { timeout: 10_000 });

  phase('operator done');
  // Graph view: the active model's nodes and edges.
  await page.goto(`${stack.url}/ui/#/graph`);
  await page.waitForFunction(() => window.ganfGraph !== undefined, undefined, { timeout: 15_000 });
  const g = await page.evaluate(() => ({ order: window.ganfGraph!.graph.order, size: window.ganfGraph!.graph.size, version: window.ganfGraph!.version, canvases: document.querySelectorAll('#graph canvas').length }));
  assert.equal(g.version, stack.det.modelVersion);
  assert.equal(g.order, stack.det.sensors.length);
  assert.equal(g.size, stack.det.graph.size);
  assert.ok(g.canvases > 0);

  // Graph diff between the two versions: the page's counts are the API's.
  const diff = JSON.parse((await stack.svc.app.inject({ url: `/graph/diff?from=${stack.det.modelVersion}&to=${stack.other.modelVersion}`, headers: stack.svc.auth('reader') })).body);
  await page.goto(`${stack.url}/ui/#/diff?from=${stack.det.modelVersion}&to=${stack.other.modelVersion}`);
  await page.waitForSelector('#diff-summary');
  assert.match((await page.textContent('#diff-summary'))!, new RegExp(`^${diff.added.length} added, ${diff.removed.length} removed, ${diff.reweighted.length} reweighted`));
  assert.ok(diff.added.length + diff.removed.length + diff.reweighted.length > 0, 'the two fits learned different graphs');
  await page.waitForSelector('#diff-graph canvas');

  // The operator promotes the other version from the models page, then rolls back.
  await page.goto(`${stack.url}/ui/#/models`);
  await page.waitForSelector(promote);
  const [opPromote] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/models/${stack.other.modelVersion}/promote`)),
    page.click(promote),
  ]);
  assert.equal(opPromote.status(), 200);
  assert.equal(stack.svc.deps.registry.activeVersion(), stack.other.modelVersion);
  await page.waitForSelector('#rollback');
  const [opRollback] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/models/rollback')),
    page.click('#rollback'),
  ]);
  assert.equal(opRollback.status(), 200);
  assert.equal(stack.svc.deps.registry.activeVersion(), stack.det.modelVersion);

  // The silence made from the alerts list, expired from the silences page.
  await page.goto(`${stack.url}/ui/#/silences`);
  await page.click(`#silences-table tr[data-id="${silences[0].id}"] button`);
  await waitFor('the silence to expire', 10_000, async () => stack.svc.deps.silences.get(silences[0].id)!.status.state === 'expired');
  assert.deepEqual(unexpected(errors), []);
  phase('graph checked');
});
