// Turns a ReportInput into the JSON the page renders: downsampled series, exact intervals, ROC and
// PR curves from the full-resolution scores. Pure; shared as a type with the browser code.
import { events, sweep } from '../scoring/metrics.ts';
import type { ReportInput, ReportEvent, ReportTopSensor, Numbers, Flags, MetricCell } from './types.ts';

export interface Span {
  /** Epoch ms; `to` is the end of the last step of the run. */
  from: number;
  to: number;
}

export interface CurvePoint {
  x: number;
  y: number;
}

export interface MethodData {
  name: string;
  threshold: number;
  /** Bucket maxima aligned with ReportData.time. */
  scores: number[];
  alertSpans: Span[];
  alertSteps: number;
  /** The alerts sent: from the step each was sent to its end. */
  sentSpans: Span[];
  roc: CurvePoint[] | null;
  pr: CurvePoint[] | null;
}

export interface ReportData {
  title: string;
  subtitle: string;
  generatedAt: string;
  steps: number;
  /** Steps per plotted point (1 = not downsampled). */
  bucket: number;
  time: number[];
  labelSpans: Span[];
  methods: MethodData[];
  heatmap: { sensors: string[]; bucket: number; time: number[]; values: number[][]; max: number; labelled: string[] } | null;
  events: (ReportEvent & { from: number; to: number })[];
  graph: ReportInput['graph'] | null;
  metrics: { columns: string[]; rows: MetricCell[][] };
}

export interface ReportLimits {
  /** Points per series on the timeline. */
  maxPoints: number;
  /** Time columns of the heatmap. */
  maxHeatmapColumns: number;
  /** Points per ROC / PR curve. */
  maxCurvePoints: number;
}

export const DEFAULT_LIMITS: ReportLimits = { maxPoints: 2000, maxHeatmapColumns: 300, maxCurvePoints: 600 };

export function reportData(input: ReportInput, limits: ReportLimits = DEFAULT_LIMITS, now = new Date()): ReportData {
  const T = input.timestamps.length;
  if (input.methods.length === 0) throw new Error('report: at least one method is needed');
  for (const m of input.methods) {
    if (m.scores.length !== T || m.alerts.length !== T) throw new Error(`report: method ${m.name} has ${m.scores.length} scores / ${m.alerts.length} alerts for ${T} steps`);
  }
  if (input.labels && input.labels.length !== T) throw new Error(`report: ${input.labels.length} labels for ${T} steps`);
  const ts = input.timestamps;
  const stepMs = T > 1 ? (ts[T - 1] - ts[0]) / (T - 1) : 0;
  const spanOf = (start: number, end: number): Span => ({ from: ts[start], to: ts[end - 1] + stepMs });
  const bucket = Math.max(1, Math.ceil(T / limits.maxPoints));
  const labels = input.labels;
  const hasBothClasses = labels !== undefined && sum(labels) > 0 && sum(labels) < T;
  return {
    title: input.title,
    subtitle: input.subtitle ?? '',
    generatedAt: now.toISOString(),
    steps: T,
    bucket,
    time: bucketStarts(ts, bucket),
    labelSpans: labels ? runs(labels).map((r) => spanOf(r.start, r.end)) : [],
    methods: input.methods.map((m) => ({
      name: m.name,
      threshold: m.threshold,
      scores: bucketMax(m.scores, 1, bucket).map((row) => row[0]),
      alertSpans: runs(m.alerts).map((r) => spanOf(r.start, r.end)),
      alertSteps: sum(m.alerts),
      sentSpans: (m.sent ?? []).map((e) => spanOf(e.fired, e.end)),
      roc: hasBothClasses ? thin(rocCurve(m.scores, labels!), limits.maxCurvePoints) : null,
      pr: hasBothClasses ? thin(prCurve(m.scores, labels!), limits.maxCurvePoints) : null,
    })),
    heatmap: input.perSensor ? heatmap(input, limits.maxHeatmapColumns) : null,
    events: (input.events ?? []).map((e) => ({ ...e, ...spanOf(e.start, e.end) })),
    graph: input.graph ?? null,
    metrics: input.metrics,
  };
}

function heatmap(input: ReportInput, maxColumns: number): ReportData['heatmap'] {
  const { sensors, values } = input.perSensor!;
  const T = input.timestamps.length;
  const K = sensors.length;
  if (values.length !== T * K) throw new Error(`report: perSensor.values has ${values.length} cells, expected ${T} × ${K}`);
  const bucket = Math.max(1, Math.ceil(T / maxColumns));
  const cols = bucketMax(values, K, bucket);
  // The colour scale stops at the 99th percentile so a single huge excess does not wash out the rest.
  const all = cols.flat().filter(Number.isFinite).sort((a, b) => a - b);
  const max = all.length ? Math.max(all[Math.floor(0.99 * (all.length - 1))], 1e-9) : 1;
  const labelled = [...new Set((input.events ?? []).flatMap((e) => e.sensors ?? []))].filter((s) => sensors.includes(s));
  return { sensors, bucket, time: bucketStarts(input.timestamps, bucket), values: cols.map((c) => c.map(round4)), max: round4(max), labelled };
}

/** Per bucket of `bucket` consecutive rows (each `width` wide), the maximum of each column: peaks survive downsampling. */
export function bucketMax(values: Numbers, width: number, bucket: number): number[][] {
  const T = values.length / width;
  const out: number[][] = [];
  for (let start = 0; start < T; start += bucket) {
    const row = new Array<number>(width).fill(-Infinity);
    for (let t = start; t < Math.min(T, start + bucket); t++) {
      for (let k = 0; k < width; k++) {
        const v = values[t * width + k];
        if (v > row[k]) row[k] = v;
      }
    }
    out.push(row.map((v) => (v === -Infinity ? NaN : round4(v))));
  }
  return out;
}

function bucketStarts(ts: Numbers, bucket: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < ts.length; t += bucket) out.push(ts[t]);
  return out;
}

/** Contiguous runs of 1s as step indices, end exclusive. */
export const runs = (flags: Flags) => events(flags);

/** (false-positive rate, true-positive rate) from (0, 0) to (1, 1). */
export function rocCurve(scores: Numbers, labels: Flags): CurvePoint[] {
  const pos = sum(labels);
  const neg = labels.length - pos;
  const pts: CurvePoint[] = [{ x: 0, y: 0 }];
  sweep(scores, labels, (tp, fp) => pts.push({ x: fp / neg, y: tp / pos }));
  return pts;
}

/** (recall, precision) per distinct threshold, highest threshold first. */
export function prCurve(scores: Numbers, labels: Flags): CurvePoint[] {
  const pos = sum(labels);
  const pts: CurvePoint[] = [];
  sweep(scores, labels, (tp, fp) => pts.push({ x: tp / pos, y: tp / (tp + fp) }));
  return pts;
}

/** Keeps at most `max` points, evenly by index, always the first and the last. */
export function thin(points: CurvePoint[], max: number): CurvePoint[] {
  if (points.length <= max) return points.map(roundPoint);
  const out: CurvePoint[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(roundPoint(points[Math.round(i * step)]));
  return out;
}

const roundPoint = (p: CurvePoint): CurvePoint => ({ x: round4(p.x), y: round4(p.y) });

function round4(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 1e4) / 1e4 : v;
}

function sum(v: Flags): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s;
}

/** The step of each labelled run where the method scores highest (its first such step). */
export function eventPeaks(labels: Flags, scores: Numbers): number[] {
  return runs(labels).map(({ start, end }) => {
    let peak = start;
    for (let t = start; t < end; t++) if (scores[t] > scores[peak]) peak = t;
    return peak;
  });
}

/**
 * The events table of the primary method: each labelled run, whether an alert fell inside it, the
 * delay to the first one, and the top sensors at the method's peak step inside the event.
 */
export function labelledEvents(
  labels: Flags,
  method: { scores: Numbers; alerts: Flags },
  topSensorsAt: (step: number) => ReportTopSensor[],
  known: { start: number; end: number; kind?: string; sensors?: string[] }[] = [],
): ReportEvent[] {
  const peaks = eventPeaks(labels, method.scores);
  return runs(labels).map(({ start, end }, i) => {
    let firstAlert = -1;
    for (let t = start; t < end && firstAlert < 0; t++) if (method.alerts[t] === 1) firstAlert = t;
    const truth = known.find((k) => k.start < end && k.end > start);
    return {
      start, end, kind: truth?.kind, sensors: truth?.sensors,
      detected: firstAlert >= 0, delaySteps: firstAlert >= 0 ? firstAlert - start : null,
      topSensors: topSensorsAt(peaks[i]),
    };
  });
}
