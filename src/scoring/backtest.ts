// Backtest report: honest metrics of scores against labels, plus the per-step CSV analysts read.
// Point-wise metrics lead; point-adjusted F1 is included only under its own name.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { auroc, auprc, bestF1, eventMetrics, pointMetrics, pointAdjustedF1, type EventMetrics, type PointMetrics } from './metrics.ts';
import { topContributors, fitThreshold, type Detector, type TableScores } from '../detector.ts';
import { fitZScoreBaseline, scoreZScore } from './baseline.ts';
import { fillMissing } from '../ingest/missing.ts';
import { trailingMean } from './batch-score.ts';
import type { SeriesTable } from '../ingest/table.ts';
import { SURPRISE_SOFT_CAP } from './calibration.ts';
import type { GanfConfig } from '../config.ts';

export interface DetectionMetrics {
  steps: number;
  labelledSteps: number;
  auroc: number | null;
  auprc: number | null;
  bestF1: { f1: number; precision: number; recall: number; threshold: number } | null;
  atModelThreshold: ({ threshold: number; alertSteps: number } & Pick<PointMetrics, 'precision' | 'recall' | 'f1'> & Omit<EventMetrics, 'delays'>) | null;
  pointAdjustedF1_notPointwise: number | null;
}

export function detectionMetrics(scores: ArrayLike<number>, labels: Uint8Array | undefined, alerts: Uint8Array, threshold: number): DetectionMetrics {
  const steps = scores.length;
  const alertSteps = alerts.reduce((s, v) => s + v, 0);
  if (!labels) {
    return { steps, labelledSteps: 0, auroc: null, auprc: null, bestF1: null, atModelThreshold: null, pointAdjustedF1_notPointwise: null };
  }
  const positives = labels.reduce((s, v) => s + v, 0);
  const hasBoth = positives > 0 && positives < steps;
  const pm = pointMetrics(labels, alerts);
  const em = eventMetrics(labels, alerts);
  return {
    steps,
    labelledSteps: positives,
    auroc: hasBoth ? auroc(scores, labels) : null,
    auprc: hasBoth ? auprc(scores, labels) : null,
    bestF1: hasBoth ? bestF1(scores, labels) : null,
    atModelThreshold: {
      threshold, precision: pm.precision, recall: pm.recall, f1: pm.f1, alertSteps,
      eventRecall: em.eventRecall, detectedEvents: em.detectedEvents, totalEvents: em.totalEvents,
      falseAlarmEvents: em.falseAlarmEvents, meanDelaySteps: em.meanDelaySteps, medianDelaySteps: em.medianDelaySteps,
    },
    pointAdjustedF1_notPointwise: hasBoth ? pointAdjustedF1(scores, labels).f1 : null,
  };
}

/** scores.csv: timestamp,score,alert,top sensors (name:surprise|parents),label. */
export function scoresCsv(det: Detector, s: TableScores, labels?: Uint8Array, topN = 3): string {
  const header = ['timestamp', 'score', 'alert', ...Array.from({ length: topN }, (_, i) => `top${i + 1}`), ...(labels ? ['label'] : [])];
  const lines = [header.join(',')];
  for (let t = 0; t < s.total.length; t++) {
    const top = topContributors(det, s, t, topN).map((c) => `${c.sensor}:${c.surprise.toFixed(2)}${c.unseenValue ? '|unseen-value' : ''}${c.parents.length ? `|${c.parents.join('|')}` : ''}`);
    lines.push([new Date(s.timestamps[t]).toISOString(), s.total[t].toFixed(4), s.alerts[t], ...top.map(csvField), ...(labels ? [labels[t]] : [])].join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * per-sensor.csv: timestamp then one column per sensor with its calibrated surprise at each step
 * (what localisation is evaluated and plotted from); sensors constant in training that read an
 * unseen value get their own columns, at the surprise cap when they do and 0 otherwise.
 */
export function perSensorCsv(det: Detector, s: TableScores): string {
  const K = det.sensors.length;
  const extra = [...new Set(s.unseen.map((u) => u.sensor))];
  const lines = [['timestamp', ...det.sensors, ...extra].map(csvField).join(',')];
  const unseenAt = new Map<number, Set<string>>();
  for (const u of s.unseen) (unseenAt.get(u.t) ?? unseenAt.set(u.t, new Set()).get(u.t)!).add(u.sensor);
  for (let t = 0; t < s.total.length; t++) {
    const row = [new Date(s.timestamps[t]).toISOString()];
    for (let k = 0; k < K; k++) row.push(s.surprise[t * K + k].toFixed(3));
    for (const e of extra) row.push(unseenAt.get(t)?.has(e) ? SURPRISE_SOFT_CAP.toFixed(3) : '0');
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

function csvField(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

export async function writeBacktest(dir: string, csv: string, metrics: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'scores.csv'), csv);
  await writeFile(path.join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
}

/**
 * The per-sensor z-score baseline (max |z| over sensors), averaged over the same trailing score
 * window as the model and thresholded label-free the same way, so a comparison measures the model.
 */
export function zScoreBaseline(train: SeriesTable, test: SeriesTable, c: Pick<GanfConfig, 'data' | 'model' | 'threshold'>): { scores: Float32Array; alerts: Uint8Array; threshold: number } {
  const tr = fillMissing(train, c.data.missing).table;
  const te = fillMissing(test, c.data.missing).table;
  const baseline = fitZScoreBaseline(tr);
  const smooth = (v: Float64Array) => trailingMean(Float32Array.from(v), 1, c.model.scoreWindow);
  const t = fitThreshold(smooth(scoreZScore(tr, baseline).scores), c.threshold).value;
  const scores = smooth(scoreZScore(te, baseline).scores);
  return { scores, alerts: Uint8Array.from(scores, (v) => (v > t ? 1 : 0)), threshold: t };
}
