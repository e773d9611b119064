// Backtest report: honest metrics of scores against labels, plus the per-step CSV analysts read.
// Point-wise metrics lead; point-adjusted F1 is included only under its own name.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { auroc, auprc, bestF1, episodeMetrics, eventMetrics, pointMetrics, pointAdjustedF1, type AlertEpisode, type EventMetrics, type PointMetrics } from './metrics.ts';
import { topContributors } from './score-path.ts';
import type { ScoringModel, TableScores } from './scoring-model.ts';
import { SURPRISE_SOFT_CAP } from './calibration.ts';
import { replayAlerts } from './alert-replay.ts';
import type { ThresholdState } from './threshold.ts';
import { medianIntervalMs } from '../data/timestamps.ts';

export interface DetectionMetrics {
  steps: number;
  labelledSteps: number;
  auroc: number | null;
  auprc: number | null;
  bestF1: { f1: number; precision: number; recall: number; threshold: number } | null;
  /** Span of the scored data in days (from the timestamps; null without them). */
  days: number | null;
  atModelThreshold: ({ threshold: number; alertSteps: number; falseAlarmEventsPerDay: number | null } & Pick<PointMetrics, 'precision' | 'recall' | 'f1'> & Omit<EventMetrics, 'delays'>) | null;
  /**
   * The same exceedances as the stream's alert rule turns them into alerts (alert-replay.ts): events
   * an alert overlapped, alerts that overlapped none, delay from the event's start to the alert
   * being sent. null without the replayed alerts or labels.
   */
  asAlerts: ({ alerts: number; falseAlarmsPerDay: number | null } & Omit<EventMetrics, 'delays'>) | null;
  pointAdjustedF1_notPointwise: number | null;
}

/**
 * `timestamps` (epoch ms, one per step) turn false-alarm events into a rate per day of data, the
 * number an operator weighs; without them the rate is null. `alerts` are the exceedances of
 * `threshold` (NaN where each part of the data had its own); `sent`, the alerts an operator would
 * have been sent from them (alertEpisodes), are scored as events too when given.
 */
export function detectionMetrics(
  scores: ArrayLike<number>, labels: Uint8Array | undefined, alerts: Uint8Array, threshold: number,
  timestamps?: ArrayLike<number>, sent?: readonly AlertEpisode[],
): DetectionMetrics {
  const steps = scores.length;
  const alertSteps = alerts.reduce((s, v) => s + v, 0);
  const days = timestamps ? spanDays(timestamps) : null;
  if (!labels) {
    return { steps, labelledSteps: 0, auroc: null, auprc: null, bestF1: null, days, atModelThreshold: null, asAlerts: null, pointAdjustedF1_notPointwise: null };
  }
  const positives = labels.reduce((s, v) => s + v, 0);
  const hasBoth = positives > 0 && positives < steps;
  const pm = pointMetrics(labels, alerts);
  const em = eventMetrics(labels, alerts);
  const ep = sent ? episodeMetrics(labels, sent) : null;
  return {
    steps,
    labelledSteps: positives,
    auroc: hasBoth ? auroc(scores, labels) : null,
    auprc: hasBoth ? auprc(scores, labels) : null,
    bestF1: hasBoth ? bestF1(scores, labels) : null,
    days,
    atModelThreshold: {
      threshold, precision: pm.precision, recall: pm.recall, f1: pm.f1, alertSteps,
      eventRecall: em.eventRecall, detectedEvents: em.detectedEvents, totalEvents: em.totalEvents,
      falseAlarmEvents: em.falseAlarmEvents, falseAlarmEventsPerDay: days ? em.falseAlarmEvents / days : null,
      meanDelaySteps: em.meanDelaySteps, medianDelaySteps: em.medianDelaySteps,
    },
    asAlerts: ep && sent ? {
      alerts: sent.length, eventRecall: ep.eventRecall, detectedEvents: ep.detectedEvents, totalEvents: ep.totalEvents,
      falseAlarmEvents: ep.falseAlarmEvents, falseAlarmsPerDay: days ? ep.falseAlarmEvents / days : null,
      meanDelaySteps: ep.meanDelaySteps, medianDelaySteps: ep.medianDelaySteps,
    } : null,
    pointAdjustedF1_notPointwise: hasBoth ? pointAdjustedF1(scores, labels).f1 : null,
  };
}

/** Days covered by the steps: last - first plus one median sampling interval (the last step covers one). */
export function spanDays(timestamps: ArrayLike<number>): number | null {
  const n = timestamps.length;
  if (n < 2) return null;
  return (timestamps[n - 1] - timestamps[0] + medianIntervalMs(timestamps)!) / 86_400_000;
}

/** scores.csv: timestamp,score,alert,top sensors (name:surprise|parents),label. */
export function scoresCsv(det: ScoringModel, s: TableScores, labels?: Uint8Array, topN = 3): string {
  const header = ['timestamp', 'score', 'alert', ...Array.from({ length: topN }, (_, i) => `top${i + 1}`), ...(labels ? ['label'] : [])];
  const lines = [header.join(',')];
  for (let t = 0; t < s.total.length; t++) {
    const top = topContributors(det, s, t, topN).map((c) => `${c.sensor}:${c.surprise.toFixed(2)}${c.unseenValue ? '|unseen-value' : ''}${c.stuckSteps ? `|stuck-${c.stuckSteps}-steps` : ''}${c.parents.length ? `|${c.parents.join('|')}` : ''}`);
    lines.push([new Date(s.timestamps[t]).toISOString(), s.total[t].toFixed(4), s.alerts[t], ...top.map(csvField), ...(labels ? [labels[t]] : [])].join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * per-sensor.csv: timestamp then one column per sensor with its calibrated surprise at each step
 * (what localisation is evaluated and plotted from); sensors constant in training that read an
 * unseen value get their own columns, at the surprise cap when they do and 0 otherwise.
 */
export function perSensorCsv(det: ScoringModel, s: TableScores): string {
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
 * The alerts the stream's alert rule would have raised from `alerts` (replayAlerts), at the steps'
 * median interval; [] for fewer than two steps.
 */
export function alertEpisodes(scores: ArrayLike<number>, alerts: Uint8Array, timestamps: ArrayLike<number>, threshold: ThresholdState): AlertEpisode[] {
  const interval = medianIntervalMs(timestamps);
  return interval && interval > 0 ? replayAlerts(scores, alerts, timestamps, threshold, interval) : [];
}
