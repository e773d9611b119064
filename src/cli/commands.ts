// The CLI's actions: I/O and reporting around the detector. No model math here.
import { summariseStuck } from '../scoring/stuck-readings.ts';
import { writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../flow/tf.ts';
import { readCsvFile } from '../adapters/csv-file.ts';
import { sliceRows, tableLength, type SeriesTable } from '../data/table.ts';
import { fitDetector, scoreTable, saveDetector, loadDetector, recalibrate, type Detector } from '../detector.ts';
import { alertEpisodes, detectionMetrics, scoresCsv, perSensorCsv, writeBacktest } from '../scoring/backtest.ts';
import { BASELINES, runBaseline, type BaselineName } from '../scoring/baselines/index.ts';
import { configFromFlags } from './options.ts';
import { writeBacktestReport } from './backtest-report.ts';
import { csvOptionsOf, type GanfConfig } from '../config.ts';

type Flags = Record<string, unknown>;
const say = (msg: string) => process.stderr.write(`${msg}\n`);

async function readTable(file: string, c: GanfConfig): Promise<SeriesTable> {
  return readCsvFile(file, csvOptionsOf(c.data));
}

export async function runTrain(flags: Flags): Promise<void> {
  const config = configFromFlags(flags);
  await initBackend();
  const table = await readTable(String(flags.data), config);
  warnIfLabelled(table, 'training data');
  const { detector, report } = await fitDetector(table, config, say);
  await saveDetector(detector, String(flags.out));
  say(`model ${detector.modelVersion} written to ${flags.out}: ${detector.sensors.length} sensors, ${detector.graph.size} DAG edges, ` +
    `${report.train.steps} steps in ${report.train.seconds.toFixed(1)} s (${report.train.windowsPerSecond.toFixed(0)} windows/s), ` +
    `validation NLL ${report.train.bestValidationNll.toFixed(3)}, threshold ${detector.threshold.value.toFixed(2)}`);
}

export async function runScore(flags: Flags): Promise<void> {
  await initBackend();
  const det = await loadDetector(String(flags.model));
  const config = flags.config || hasDataFlags(flags) ? configFromFlags(flags, { data: det.config.data }) : det.config;
  const table = await readTable(String(flags.data), config);
  const s = scoreTable(det, table, { warmStart: Boolean(flags.warmStart) });
  await writeFile(String(flags.out), scoresCsv(det, s, table.labels));
  if (flags.perSensor) await writeFile(String(flags.perSensor), perSensorCsv(det, s));
  const above = s.alerts.reduce((a, b) => a + b, 0);
  const sent = alertEpisodes(s.total, s.alerts, s.timestamps, det.threshold).length;
  say(`scored ${s.total.length} steps with model ${det.modelVersion}: ${above} above threshold ${det.threshold.value.toFixed(2)}, ` +
    `${sent} alert(s) under the stream's default alert rule; wrote ${flags.out}`);
}

export interface BacktestOutcome {
  detector: Detector;
  metrics: Record<string, unknown>;
}

export async function runBacktest(flags: Flags): Promise<BacktestOutcome> {
  const config = configFromFlags(flags);
  await initBackend();
  let trainTable: SeriesTable | undefined;
  let testTable: SeriesTable;
  if (flags.data) {
    const split = Number(flags.split ?? 0.5);
    if (!(split > 0 && split < 1)) throw new Error(`--split must be between 0 and 1 (got ${flags.split})`);
    const all = await readTable(String(flags.data), config);
    const cut = Math.round(tableLength(all) * split);
    trainTable = sliceRows(all, 0, cut);
    testTable = sliceRows(all, cut);
  } else {
    if (!flags.test) throw new Error('backtest needs --test (with --train or --model) or --data with --split');
    if (!flags.train && !flags.model) throw new Error('backtest needs --train or --model');
    if (flags.train) trainTable = await readTable(String(flags.train), config);
    testTable = await readTable(String(flags.test), config);
  }
  let det: Detector;
  let trainInfo: Record<string, unknown> = {};
  if (flags.model) {
    det = await loadDetector(String(flags.model));
  } else {
    warnIfLabelled(trainTable!, 'training data');
    const fit = await fitDetector(trainTable!, config, say);
    det = fit.detector;
    trainInfo = { ...det.manifestExtras.metrics };
    if (flags.saveModel) await saveDetector(det, String(flags.saveModel));
  }
  // Test data that directly follows the training data is scored with the training tail as context.
  const follows = trainTable !== undefined && directlyFollows(trainTable, testTable);
  const started = performance.now();
  const s = scoreTable(det, testTable, { warmStart: follows });
  const scoreSeconds = (performance.now() - started) / 1000;
  const sent = alertEpisodes(s.total, s.alerts, s.timestamps, det.threshold);
  const model = detectionMetrics(s.total, testTable.labels, s.alerts, det.threshold.value, s.timestamps, sent);
  // Every baseline under the model's own protocol, so metrics.json compares like with like.
  const baselineRuns = trainTable
    ? (Object.keys(BASELINES) as BaselineName[]).map((name) => {
      const run = runBaseline(name, trainTable!, testTable, det.config);
      const runSent = alertEpisodes(run.scores, run.alerts, s.timestamps, run.threshold);
      return { name, run, sent: runSent, metrics: detectionMetrics(run.scores, testTable.labels, run.alerts, run.threshold.value, s.timestamps, runSent) };
    })
    : [];
  const baselines = trainTable ? Object.fromEntries(baselineRuns.map((r) => [r.name, r.metrics])) : null;
  const stuck = summariseStuck(s.stuck);
  const metrics = {
    modelVersion: det.modelVersion,
    config: det.config,
    sensors: det.sensors.length,
    dagEdges: det.graph.size,
    training: trainInfo,
    scoring: { steps: s.total.length, seconds: round(scoreSeconds), stepsPerSecond: round(s.total.length / scoreSeconds), warmStart: follows },
    missing: s.missing,
    // Sensors whose new level the drift baseline was taking off when the data ended.
    driftBaseline: { drifted: s.drifted.map((d) => ({ sensor: d.sensor, shift: round(d.shift) })) },
    // Sensors that repeated one reading for longer than in training (stuck-readings.ts).
    stuckReadings: stuck,
    model,
    baselines,
  };
  await writeBacktest(String(flags.out), scoresCsv(det, s, testTable.labels), metrics);
  if (flags.perSensor) await writeFile(path.join(String(flags.out), 'per-sensor.csv'), perSensorCsv(det, s));
  // The HTML report beside scores.csv: every method of the run, GANF first.
  await writeBacktestReport({
    file: path.join(String(flags.out), 'report.html'),
    title: `GANF backtest: ${path.basename(String(flags.test ?? flags.data))}`,
    subtitle: `model ${det.modelVersion}, ${det.sensors.length} sensors, ${det.graph.size} DAG edges`,
    det, scores: s, test: testTable, warmStart: follows, truthFile: flags.truth ? String(flags.truth) : undefined,
    methods: [
      { name: 'GANF', scores: s.total, threshold: det.threshold.value, alerts: s.alerts, sent, metrics: model },
      ...baselineRuns.map((r) => ({ name: BASELINES[r.name], scores: r.run.scores, threshold: r.run.threshold.value, alerts: r.run.alerts, sent: r.sent, metrics: r.metrics })),
    ],
  });
  say(summaryLine('GANF', model));
  if (s.drifted.length) {
    const named = s.drifted.slice(0, 5).map((d) => `${d.sensor} (${d.shift.toFixed(1)})`).join(', ');
    say(`drift baseline: at the end of the data ${s.drifted.length} sensor(s) held a new level for half a week or more and that much of their surprise is taken off as drift (a refit would learn it): ${named}${s.drifted.length > 5 ? ', ...' : ''}`);
  }
  if (stuck.length) {
    const named = stuck.slice(0, 5).map((x) => `${x.sensor} (${x.runs} run${x.runs > 1 ? 's' : ''}, longest ${x.longestSteps} steps)`).join(', ');
    say(`stuck readings: ${stuck.length} sensor(s) repeated one reading for longer than they ever did in training: ${named}${stuck.length > 5 ? ', ...' : ''}`);
  }
  for (const r of baselineRuns) say(summaryLine(`${BASELINES[r.name]} baseline`, r.metrics));
  say(`wrote ${path.join(String(flags.out), 'scores.csv')}, metrics.json and report.html`);
  return { detector: det, metrics };
}

export async function runRecalibrate(flags: Flags): Promise<void> {
  await initBackend();
  const det = await loadDetector(String(flags.model));
  const threshold = { ...(flags.thresholdMethod ? { method: flags.thresholdMethod as 'spot' | 'quantile' } : {}), ...(flags.thresholdLevel !== undefined ? { level: Number(flags.thresholdLevel) } : {}) };
  const { parseConfig } = await import('../config.ts');
  // Validate the changed settings with the config schema so a bad value names its field.
  const next = parseConfig({ ...det.config, model: { ...det.config.model, ...(flags.aggregate ? { scoreAggregate: flags.aggregate } : {}), ...(flags.topK !== undefined ? { scoreTopK: flags.topK } : {}) }, threshold: { ...det.config.threshold, ...threshold } }, 'recalibrate options');
  const out = recalibrate(det, { scoreAggregate: next.model.scoreAggregate, scoreTopK: next.model.scoreTopK, threshold: next.threshold }, say);
  await saveDetector(out, String(flags.out));
  say(`model ${out.modelVersion} written to ${flags.out}: aggregate ${out.config.model.scoreAggregate}, threshold ${out.threshold.value.toPrecision(4)} (${out.threshold.method}), was ${det.threshold.value.toPrecision(4)}`);
}

export async function runFixtures(flags: Flags): Promise<void> {
  const { writeFixture } = await import('../fixtures/index.ts');
  for (const name of ['grid', 'traffic'] as const) {
    const dir = path.join(String(flags.out ?? 'fixtures'), name);
    await writeFixture(name, dir, flags.seed !== undefined ? { seed: Number(flags.seed) } : undefined);
    say(`wrote ${dir}`);
  }
}

/** The README's first command: the whole offline job on built-in data and presets. */
export async function runDemo(flags: Flags): Promise<void> {
  const name = String(flags.fixture ?? 'grid');
  const dir = path.join('fixtures', name);
  try {
    await access(path.join(dir, 'train.csv'));
  } catch {
    const { writeFixture } = await import('../fixtures/index.ts');
    await writeFixture(name as 'grid' | 'traffic', dir);
  }
  const preset = path.join('config', `${name}.json`);
  const out = String(flags.out ?? 'runs/demo');
  say(`demo: training GANF on ${dir}/train.csv with ${preset}, then backtesting on ${dir}/test.csv`);
  await runBacktest({
    config: preset, train: path.join(dir, 'train.csv'), test: path.join(dir, 'test.csv'),
    out, saveModel: path.join(out, 'model'), truth: path.join(dir, 'truth.json'),
  });
  // The same test data as a live stream: messages -> aligner -> incremental scorer -> alerts,
  // through the in-process source (no broker needed), as `ganf serve` runs it.
  say(`\ndemo: streaming ${dir}/test.csv through the in-process pipeline with the model just trained`);
  const { runServe } = await import('./stream-commands.ts');
  await runServe({ model: path.join(out, 'model'), csv: path.join(dir, 'test.csv'), out: path.join(out, 'stream'), site: name });
}

function summaryLine(name: string, m: ReturnType<typeof detectionMetrics>): string {
  if (m.auroc === null || !m.atModelThreshold) return `${name}: no labels to evaluate against`;
  const a = m.atModelThreshold;
  return `${name}: AUROC ${m.auroc.toFixed(3)}  AUPRC ${m.auprc!.toFixed(3)}  best F1 ${m.bestF1!.f1.toFixed(3)}  ` +
    `| at threshold: P ${a.precision.toFixed(2)} R ${a.recall.toFixed(2)} F1 ${a.f1.toFixed(2)}, events ${a.detectedEvents}/${a.totalEvents}, false-alarm events ${a.falseAlarmEvents}` +
    (a.falseAlarmEventsPerDay !== null ? ` (${a.falseAlarmEventsPerDay.toFixed(2)}/day)` : '') +
    (a.medianDelaySteps !== null ? `, median delay ${a.medianDelaySteps} steps` : '') +
    (m.asAlerts ? ` | as alerts (alert rule): ${m.asAlerts.alerts} sent, events ${m.asAlerts.detectedEvents}/${m.asAlerts.totalEvents}, false alerts ${m.asAlerts.falseAlarmEvents}` +
      (m.asAlerts.falseAlarmsPerDay !== null ? ` (${m.asAlerts.falseAlarmsPerDay.toFixed(2)}/day)` : '') : '');
}

function warnIfLabelled(t: SeriesTable, what: string): void {
  const n = t.labels ? t.labels.reduce((a, b) => a + b, 0) : 0;
  if (n > 0) say(`warning: ${what} has ${n} labelled anomalous rows; the model treats all training rows as normal (labels are never used for fitting)`);
}

/** True when `next` starts within two sampling intervals after `prev` ends. */
export function directlyFollows(prev: SeriesTable, next: SeriesTable): boolean {
  const n = tableLength(prev);
  if (n < 2 || tableLength(next) < 1) return false;
  const interval = (prev.timestamps[n - 1] - prev.timestamps[0]) / (n - 1);
  const gap = next.timestamps[0] - prev.timestamps[n - 1];
  return gap > 0 && gap <= 2 * interval;
}

function hasDataFlags(f: Flags): boolean {
  return ['delimiter', 'timestampColumn', 'timestampFormat', 'labelColumn', 'dropColumns', 'featureSeparator', 'intervalMs'].some((k) => f[k] !== undefined);
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
