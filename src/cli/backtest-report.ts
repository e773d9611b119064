// Fills the backtest report's plain-data input from what `ganf backtest` computed. Adding a
// method to the report = adding one entry to `methods` here; src/report knows nothing of models.
import { readFile } from 'node:fs/promises';
import { writeReport, labelledEvents, eventPeaks, type ReportInput, type ReportMethod, type ReportTopSensor } from '../report/index.ts';
import { scoreTable, topContributors, type Detector, type TableScores } from '../detector.ts';
import { expectedReadingsAt } from '../scoring/score-path.ts';
import type { DetectionMetrics } from '../scoring/backtest.ts';
import type { SeriesTable } from '../data/table.ts';
import { parseIso } from '../data/timestamps.ts';

export interface ReportMethodResult extends ReportMethod {
  metrics: DetectionMetrics;
}

export interface BacktestReportArgs {
  file: string;
  title: string;
  subtitle?: string;
  det: Detector;
  scores: TableScores;
  test: SeriesTable;
  /** How `scores` were computed (warm start from the training tail or not). */
  warmStart: boolean;
  /** GANF first (its alerts drive the events table), then every baseline of the run. */
  methods: ReportMethodResult[];
  /** Optional truth file (the fixtures' truth.json) naming the sensors of each labelled interval. */
  truthFile?: string;
}

export async function writeBacktestReport(a: BacktestReportArgs): Promise<void> {
  const K = a.det.sensors.length;
  const excess = new Float32Array(a.scores.perSensor.length);
  for (let i = 0; i < excess.length; i++) excess[i] = a.scores.perSensor[i] - a.det.calibrationMedians[i % K];
  const known = a.truthFile ? await truthIntervals(a.truthFile, a.scores.timestamps) : [];
  const primary = a.methods[0];
  const input: ReportInput = {
    title: a.title,
    subtitle: a.subtitle,
    timestamps: a.scores.timestamps,
    labels: a.test.labels,
    methods: a.methods.map(({ name, scores, threshold, alerts, sent }) => ({ name, scores, threshold, alerts, sent })),
    perSensor: { sensors: a.det.sensors, values: excess },
    events: a.test.labels ? labelledEvents(a.test.labels, primary, topSensorsAt(a, eventPeaks(a.test.labels, primary.scores)), known) : [],
    graph: a.det.graph.export(),
    metrics: metricsTable(a.methods),
  };
  await writeReport(a.file, input);
}

/**
 * GANF's top sensors at a step with the expected vs observed reading of each: the event peaks are
 * scored again keeping the flow's conditions there (only there: all steps' would not fit a long test set).
 */
function topSensorsAt(a: BacktestReportArgs, peaks: number[]): (t: number) => ReportTopSensor[] {
  const at = scoreTable(a.det, a.test, { warmStart: a.warmStart, expected: new Set(peaks) });
  return (t) => {
    const top = topContributors(a.det, a.scores, t, 3);
    const modelled = top.filter((c) => !c.unseenValue).map((c) => a.det.sensors.indexOf(c.sensor));
    const readings = expectedReadingsAt(a.det, at, t, modelled);
    return top.map((c) => (c.unseenValue ? { sensor: c.sensor } : { sensor: c.sensor, readings: readings[modelled.indexOf(a.det.sensors.indexOf(c.sensor))] }));
  };
}

function metricsTable(methods: ReportMethodResult[]): ReportInput['metrics'] {
  return {
    columns: ['method', 'AUROC', 'AUPRC', 'best F1', 'threshold', 'alert steps', 'precision', 'recall', 'F1', 'events detected', 'false-alarm events', 'median delay (steps)',
      'alerts sent (alert rule)', 'events alerted', 'false alerts', 'median alert delay (steps)'],
    rows: methods.map(({ name, metrics: m, threshold }) => {
      const a = m.atModelThreshold;
      const r = m.asAlerts;
      return [name, m.auroc, m.auprc, m.bestF1?.f1 ?? null, threshold, a?.alertSteps ?? null, a?.precision ?? null, a?.recall ?? null, a?.f1 ?? null,
        a ? `${a.detectedEvents}/${a.totalEvents}` : null, a?.falseAlarmEvents ?? null, a?.medianDelaySteps ?? null,
        r?.alerts ?? null, r ? `${r.detectedEvents}/${r.totalEvents}` : null, r?.falseAlarmEvents ?? null, r?.medianDelaySteps ?? null];
    }),
  };
}

/** Labelled intervals of a truth file (`anomalies: [{start, end, kind, sensors}]`, ISO times) as step indices of the scored data. */
async function truthIntervals(file: string, ts: Float64Array): Promise<{ start: number; end: number; kind?: string; sensors?: string[] }[]> {
  const truth = JSON.parse(await readFile(file, 'utf8')) as { anomalies?: { start: string; end: string; kind?: string; sensors?: string[] }[] };
  if (!Array.isArray(truth.anomalies)) throw new Error(`${file}: expected an "anomalies" array`);
  const index = (ms: number) => {
    let i = 0;
    while (i < ts.length && ts[i] < ms) i++;
    return i;
  };
  // The project's ISO 8601 parser, as for the data's own time column (no zone = UTC, not host time).
  const time = (text: string) => {
    const ms = parseIso(text);
    if (ms === undefined) throw new Error(`${file}: "${text}" is not an ISO 8601 time`);
    return ms;
  };
  return truth.anomalies.map((x) => ({ start: index(time(x.start)), end: index(time(x.end)), kind: x.kind, sensors: x.sensors }));
}
