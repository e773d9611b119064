// The backtest report: the pure data preparation, and the real `ganf backtest` output opened from
// disk in chromium (timeline, ROC and PR curves, heatmap, events, the DAG with the model's nodes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { reportData, rocCurve, prCurve, bucketMax, renderReport, type ReportInput } from '../src/report/index.ts';
import { auroc, auprc } from '../src/scoring/metrics.ts';
import { runBacktest } from '../src/cli/commands.ts';
import { loadConfigFile, applyOverrides } from '../src/config.ts';
import { TINY } from './helpers/stream-fixture.ts';
import { launchBrowser, collectErrors } from './helpers/browser.ts';

function trapezoid(pts: { x: number; y: number }[]): number {
  let a = 0;
  for (let i = 1; i < pts.length; i++) a += (pts[i].x - pts[i - 1].x) * (pts[i].y + pts[i - 1].y) / 2;
  return a;
}

test('ROC and PR curves agree with the metrics module', () => {
  const scores = [0.1, 0.9, 0.4, 0.4, 0.8, 0.2, 0.7, 0.3, 0.3, 0.95];
  const labels = [0, 1, 0, 1, 1, 0, 0, 0, 1, 1];
  const roc = rocCurve(scores, labels);
  assert.deepEqual(roc[0], { x: 0, y: 0 });
  assert.deepEqual(roc.at(-1), { x: 1, y: 1 });
  assert.ok(Math.abs(trapezoid(roc) - auroc(scores, labels)) < 1e-12);
  const pr = prCurve(scores, labels);
  let ap = 0;
  let prev = 0;
  for (const p of pr) {
    ap += (p.x - prev) * p.y;
    prev = p.x;
  }
  assert.ok(Math.abs(ap - auprc(scores, labels)) < 1e-12);
});

test('downsampling keeps every peak and the intervals stay exact', () => {
  const T = 10_001;
  const timestamps = Array.from({ length: T }, (_, i) => i * 1000);
  const scores = new Float32Array(T);
  scores[7777] = 50;
  const labels = new Uint8Array(T);
  labels.fill(1, 7770, 7790);
  const input: ReportInput = {
    title: 't', timestamps, labels,
    methods: [{ name: 'm', scores, threshold: 1, alerts: Uint8Array.from(scores, (v) => (v > 1 ? 1 : 0)), sent: [{ start: 7770, fired: 7772, end: 7780 }] }],
    metrics: { columns: [], rows: [] },
  };
  const d = reportData(input, { maxPoints: 1000, maxHeatmapColumns: 10, maxCurvePoints: 50 });
  assert.equal(d.bucket, 11);
  assert.equal(d.time.length, Math.ceil(T / 11));
  assert.equal(Math.max(...d.methods[0].scores), 50);
  assert.deepEqual(d.labelSpans, [{ from: 7770_000, to: 7790_000 }]);
  assert.deepEqual(d.methods[0].alertSpans, [{ from: 7777_000, to: 7778_000 }]);
  assert.deepEqual(d.methods[0].sentSpans, [{ from: 7772_000, to: 7780_000 }]);
  assert.ok(d.methods[0].roc!.length <= 50);
  assert.deepEqual(bucketMax([1, 5, 2, 3, 9, 0], 2, 2), [[2, 5], [9, 0]]);
  // Without labels: no curves, no labelled spans, the timeline still there.
  const unlabelled = reportData({ ...input, labels: undefined });
  assert.equal(unlabelled.methods[0].roc, null);
  assert.equal(unlabelled.methods[0].pr, null);
  assert.deepEqual(unlabelled.labelSpans, []);
  assert.equal(unlabelled.time.length, Math.ceil(T / Math.ceil(T / 2000)), 'default limit: at most 2000 points');
});

test('a title cannot break out of the page and the data cannot end its script element', async () => {
  const html = await renderReport({
    title: '</script><img src=x onerror=alert(1)>', timestamps: [0, 1], methods: [{ name: '</script>', scores: [0, 1], threshold: 0.5, alerts: [0, 1] }],
    metrics: { columns: ['a'], rows: [['</script><b>']] },
  });
  assert.equal(html.match(/<\/script>/g)!.length, 2, 'only the two real script elements end');
  assert.ok(!html.includes('<img src=x'));
});

test('ganf backtest writes report.html that opens from disk and shows every part', { timeout: 300_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-report-'));
  try {
    const config = path.join(dir, 'config.json');
    await writeFile(config, JSON.stringify(applyOverrides(loadConfigFile('config/grid.json'), TINY)));
    const out = path.join(dir, 'run');
    const { detector, metrics } = await runBacktest({ config, train: 'fixtures/grid/train.csv', test: 'fixtures/grid/test.csv', out, truth: 'fixtures/grid/truth.json' });
    const truth = JSON.parse(await readFile('fixtures/grid/truth.json', 'utf8')) as { anomalies: unknown[] };
    assert.deepEqual(Object.keys(metrics.baselines ?? {}), ['pca', 'iforest', 'zscore'], 'the run has every baseline');

    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const errors = collectErrors(page);
      await page.goto(pathToFileURL(path.join(out, 'report.html')).href);
      await page.waitForFunction(() => window.ganfReport !== undefined, undefined, { timeout: 30_000 });
      const seen = await page.evaluate(() => {
        const r = window.ganfReport!;
        type S = { name: string; data: unknown[]; markArea?: { data: unknown[] } };
        // No named inner functions: tsx would wrap them in a helper the page does not have.
        const [tl, roc, pr, hm] = ['timeline', 'roc', 'pr', 'heatmap'].map((c) => r.charts[c].getOption().series as S[]);
        return {
          timeline: tl.filter((s) => s.data.length > 0).map((s) => [s.name, s.data.length]),
          labelAreas: tl.filter((s) => s.name === 'labelled').map((s) => s.markArea!.data.length),
          sentAreas: tl.filter((s) => s.name === 'alerts sent').map((s) => s.markArea!.data.length),
          roc: roc.map((s) => [s.name, s.data.length]),
          pr: pr.map((s) => [s.name, s.data.length]),
          heatmapCells: hm[0].data.length,
          labelledMarks: hm[1].data.length,
          nodes: r.dag!.graph.order,
          edges: r.dag!.graph.size,
          dagCanvases: document.querySelectorAll('#dag canvas').length,
          events: document.querySelectorAll('#events-table tbody tr').length,
          eventTop: [...document.querySelectorAll('#events-table tbody tr td:last-child')].map((td) => td.textContent ?? ''),
          metricsRows: [...document.querySelectorAll('#metrics-table tbody tr td:first-child')].map((td) => td.textContent),
        };
      });
      assert.deepEqual(errors, []);
      const methods = ['GANF', 'PCA', 'IsolationForest', 'z-score'];
      assert.deepEqual(seen.timeline, methods.map((m) => [m, 1440]));
      assert.deepEqual(seen.labelAreas, methods.map(() => truth.anomalies.length));
      // Each method's alerts sent under the stream's rule, as metrics.json counts them.
      const sentCounts = [metrics.model, ...Object.values(metrics.baselines!)].map((m) => m.asAlerts!.alerts);
      assert.deepEqual(seen.sentAreas, sentCounts);
      assert.ok(sentCounts[0] > 0, 'GANF sent alerts on the grid fixture');
      assert.deepEqual(seen.roc.map((s) => s[0]), methods);
      assert.deepEqual(seen.pr.map((s) => s[0]), methods);
      for (const [, n] of [...seen.roc, ...seen.pr]) assert.ok(Number(n) > 10, 'curves have points');
      assert.equal(seen.heatmapCells, 1440 / 5 * detector.sensors.length);
      // Every labelled interval of truth.json names sensors: each gets its marks on the heatmap.
      const marked = (truth.anomalies as { sensors: string[]; startIndex: number; endIndex: number }[])
        .reduce((n, a) => n + a.sensors.filter((x) => detector.sensors.includes(x)).length * (Math.floor((a.endIndex - 1) / 5) - Math.floor(a.startIndex / 5) + 1), 0);
      assert.equal(seen.labelledMarks, marked);
      assert.equal(seen.nodes, detector.sensors.length);
      assert.equal(seen.edges, detector.graph.size);
      assert.ok(seen.dagCanvases > 0, 'sigma drew its canvases');
      assert.equal(seen.events, truth.anomalies.length);
      // Each event's top sensors at GANF's peak, with the expected → observed reading of each.
      for (const cell of seen.eventTop) assert.match(cell, /^[^ ]+ -?[\d.e+-]+ → -?[\d.e+-]+(; [^ ]+ -?[\d.e+-]+ → -?[\d.e+-]+)*$/, cell);
      assert.deepEqual(seen.metricsRows, methods);
      // WebGL really drew something: the graph area is not blank.
      const shot = await page.locator('#dag').screenshot();
      assert.ok(shot.length > 5000, `graph screenshot is ${shot.length} bytes`);
    } finally {
      await browser.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
