// Regenerates the screenshots in docs/ that the README shows: the backtest report of the grid
// fixture (full preset) and the operator console over the live system (Kafka, InfluxDB, the
// streaming pipeline and the API; `npm run services:start` first). Usage: npm run screenshots
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { runBacktest } from '../src/cli/commands.ts';
import { TEST_KEYS } from '../test/helpers/api.ts';
import { buildConsole } from './build-ui.mjs';
import { startConsoleStack } from '../test/helpers/console-stack.ts';
import { launchBrowser } from '../test/helpers/browser.ts';

const DOCS = path.resolve('docs');
const say = (m: string) => process.stderr.write(`screenshots: ${m}\n`);

const browser = await launchBrowser();
const tmp = await mkdtemp(path.join(tmpdir(), 'ganf-shots-'));
try {
  say('backtest of the grid fixture with the full preset (about a minute)');
  await runBacktest({ config: 'config/grid.json', train: 'fixtures/grid/train.csv', test: 'fixtures/grid/test.csv', truth: 'fixtures/grid/truth.json', out: tmp });
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await page.goto(pathToFileURL(path.join(tmp, 'report.html')).href);
  await page.waitForFunction(() => window.ganfReport !== undefined);
  await page.screenshot({ path: path.join(DOCS, 'report.png'), fullPage: true });
  say('docs/report.png');

  await buildConsole();
  const stack = await startConsoleStack(undefined, say);
  try {
    await stack.send(0, 720);
    await stack.alerts(3);
    const c = await browser.newPage({ viewport: { width: 1300, height: 860 } });
    await c.goto(`${stack.url}/ui/`);
    await c.fill('#api-key', TEST_KEYS.operator);
    await c.click('#login button[type=submit]');
    await c.waitForSelector('#alerts-table tbody tr');
    // Some history to show: the latest alert acknowledged, through the UI as an operator would.
    await c.click('#alerts-table tbody tr:first-child .ack-btn');
    await c.waitForFunction(() => /operator/.test(document.querySelector('#alerts-table tbody tr:first-child td.ack')?.textContent ?? ''));
    await c.screenshot({ path: path.join(DOCS, 'console-alerts.png') });
    const id = await c.getAttribute('#alerts-table tbody tr:first-child', 'data-id');
    await c.goto(`${stack.url}/ui/#/alerts/${encodeURIComponent(id!)}`);
    await c.waitForSelector('#alert-timeline canvas');
    await c.waitForSelector('#alert-graph canvas');
    await c.waitForTimeout(500);
    await c.screenshot({ path: path.join(DOCS, 'console-alert.png'), fullPage: true });
    await c.goto(`${stack.url}/ui/#/graph`);
    await c.waitForFunction(() => window.ganfGraph !== undefined);
    await c.waitForTimeout(500);
    await c.screenshot({ path: path.join(DOCS, 'console-graph.png') });
    say('docs/console-alerts.png, console-alert.png, console-graph.png');
  } finally {
    await stack.close();
  }
} finally {
  await browser.close();
  await rm(tmp, { recursive: true, force: true });
}
