// Detection metrics for scores (higher = more anomalous) against 0/1 labels. Point-wise metrics are
// the default; the point-adjusted F1 common in the literature rewards a single lucky alert inside a
// long event with the whole event, so it is kept separate and named as such.

export type Scores = ArrayLike<number>;
export type Binary = ArrayLike<number>;

export interface F1Result {
  f1: number;
  precision: number;
  recall: number;
  /** Alert when score >= threshold. */
  threshold: number;
}

export interface Interval {
  start: number;
  /** Exclusive. */
  end: number;
}

export interface EventMetrics {
  /** null when there are no labelled events. */
  eventRecall: number | null;
  detectedEvents: number;
  totalEvents: number;
  /** Alerts (contiguous alert runs, or episodes) that overlap no labelled event. */
  falseAlarmEvents: number;
  /** When the first overlapping alert was sent minus the event's start (0 if already open), over detected events; null when none were detected. */
  meanDelaySteps: number | null;
  medianDelaySteps: number | null;
  delays: number[];
}

export interface PointMetrics {
  precision: number;
  recall: number;
  f1: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

function checkBinary(values: Binary, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== 0 && values[i] !== 1) throw new RangeError(`${name}[${i}] = ${values[i]}: expected 0 or 1`);
  }
}

function checkScored(scores: Scores, labels: Binary, needBothClasses: boolean): { pos: number; neg: number } {
  if (scores.length !== labels.length) {
    throw new RangeError(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
  }
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new RangeError(`score at index ${i} is NaN; scores must be numbers`);
  }
  checkBinary(labels, 'labels');
  let pos = 0;
  for (let i = 0; i < labels.length; i++) pos += labels[i];
  const neg = labels.length - pos;
  if (pos === 0) throw new RangeError('labels contain no positives: the metric is undefined');
  if (needBothClasses && neg === 0) throw new RangeError('labels contain no negatives: the metric is undefined');
  return { pos, neg };
}

function checkAlerts(labels: Binary, alerts: Binary): void {
  if (labels.length !== alerts.length) {
    throw new RangeError(`labels (${labels.length}) and alerts (${alerts.length}) differ in length`);
  }
  checkBinary(labels, 'labels');
  checkBinary(alerts, 'alerts');
}

// Comparison rather than subtraction: Infinity - Infinity is NaN and would corrupt the sort.
const byValue = (x: number, y: number) => (x < y ? -1 : x > y ? 1 : 0);

/** Indices sorted by descending score. */
function descending(scores: Scores): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => byValue(scores[b], scores[a]));
}

/** Mann-Whitney U / (n+ n-), tied scores sharing their average rank. */
export function auroc(scores: Scores, labels: Binary): number {
  const { pos, neg } = checkScored(scores, labels, true);
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => byValue(scores[a], scores[b]));
  let rankSumPos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let m = i; m <= j; m++) if (labels[idx[m]] === 1) rankSumPos += avgRank;
    i = j + 1;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Sweeps thresholds from high to low; tied scores enter together (one threshold per distinct score). Also draws the report's curves. */
export function sweep(scores: Scores, labels: Binary, visit: (tp: number, fp: number, threshold: number) => void): void {
  const idx = descending(scores);
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < idx.length; ) {
    const s = scores[idx[i]];
    while (i < idx.length && scores[idx[i]] === s) {
      if (labels[idx[i]] === 1) tp++;
      else fp++;
      i++;
    }
    visit(tp, fp, s);
  }
}

/** Average precision: sum over thresholds of (R_k - R_{k-1}) * P_k, without interpolation. */
export function auprc(scores: Scores, labels: Binary): number {
  const { pos } = checkScored(scores, labels, false);
  let ap = 0;
  let prevRecall = 0;
  sweep(scores, labels, (tp, fp) => {
    const recall = tp / pos;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  });
  return ap;
}

function f1Of(tp: number, fp: number, fn: number): number {
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** Best point-wise F1 over all thresholds (no point adjustment). */
export function bestF1(scores: Scores, labels: Binary): F1Result {
  const { pos } = checkScored(scores, labels, false);
  let best: F1Result = { f1: -1, precision: 0, recall: 0, threshold: Infinity };
  sweep(scores, labels, (tp, fp, threshold) => {
    const f1 = f1Of(tp, fp, pos - tp);
    if (f1 > best.f1) best = { f1, precision: tp / (tp + fp), recall: tp / pos, threshold };
  });
  return best;
}

/** Contiguous runs of 1s. */
export function events(labels: Binary): Interval[] {
  checkBinary(labels, 'labels');
  const out: Interval[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    const start = i;
    while (i + 1 < labels.length && labels[i + 1] === 1) i++;
    out.push({ start, end: i + 1 });
  }
  return out;
}

/**
 * Point adjustment (Xu et al. 2018): if any step of a labelled event is alerted, every step of that
 * event counts as alerted. Inflates F1, especially for long events; reported only for comparison.
 */
export function pointAdjustAlerts(labels: Binary, alerts: Binary): Uint8Array {
  checkAlerts(labels, alerts);
  const out = Uint8Array.from(alerts as ArrayLike<number>);
  for (const e of events(labels)) {
    let hit = false;
    for (let i = e.start; i < e.end && !hit; i++) hit = alerts[i] === 1;
    if (hit) out.fill(1, e.start, e.end);
  }
  return out;
}

/** Best F1 over all thresholds after point adjustment; see pointAdjustAlerts for why it flatters. */
export function pointAdjustedF1(scores: Scores, labels: Binary): F1Result {
  const { pos } = checkScored(scores, labels, false);
  // Under point adjustment an event is all-or-nothing, detected once the threshold drops to its
  // highest score, so it behaves like a single point weighted by its length.
  const items: { score: number; tp: number; fp: number }[] = [];
  for (const e of events(labels)) {
    let max = -Infinity;
    for (let i = e.start; i < e.end; i++) max = Math.max(max, scores[i]);
    items.push({ score: max, tp: e.end - e.start, fp: 0 });
  }
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0) items.push({ score: scores[i], tp: 0, fp: 1 });
  items.sort((a, b) => byValue(b.score, a.score));
  let best: F1Result = { f1: -1, precision: 0, recall: 0, threshold: Infinity };
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < items.length; ) {
    const s = items[i].score;
    while (i < items.length && items[i].score === s) {
      tp += items[i].tp;
      fp += items[i].fp;
      i++;
    }
    const f1 = f1Of(tp, fp, pos - tp);
    if (f1 > best.f1) best = { f1, precision: tp / (tp + fp), recall: tp / pos, threshold: s };
  }
  return best;
}

/** Precision, recall and F1 of a fixed alert vector; 0/0 is reported as 0. */
export function pointMetrics(labels: Binary, alerts: Binary): PointMetrics {
  checkAlerts(labels, alerts);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < labels.length; i++) {
    if (alerts[i] === 1) labels[i] === 1 ? tp++ : fp++;
    else labels[i] === 1 ? fn++ : tn++;
  }
  return {
    precision: tp + fp === 0 ? 0 : tp / (tp + fp),
    recall: tp + fn === 0 ? 0 : tp / (tp + fn),
    f1: f1Of(tp, fp, fn),
    tp,
    fp,
    fn,
    tn,
  };
}

function median(sorted: number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/**
 * An alert as an operator saw it: open over steps [start, end), sent at step `fired` (start <= fired
 * < end). A raw alert run is one with fired = start.
 */
export interface AlertEpisode extends Interval {
  fired: number;
}

/** Event-level view of point alerts: each contiguous alert run is one episode, sent at its first step. */
export function eventMetrics(labels: Binary, alerts: Binary): EventMetrics {
  checkAlerts(labels, alerts);
  return episodeMetrics(labels, events(alerts).map((r) => ({ ...r, fired: r.start })));
}

/**
 * Which labelled events an alert overlapped, how late it was sent (from the event's start; 0 when
 * the alert was already open), and how many alerts overlapped no event.
 */
export function episodeMetrics(labels: Binary, episodes: readonly AlertEpisode[]): EventMetrics {
  checkBinary(labels, 'labels');
  for (const e of episodes) {
    if (!(e.start <= e.fired && e.fired < e.end && e.end <= labels.length && e.start >= 0)) {
      throw new RangeError(`alert episode [${e.start}, ${e.end}) sent at ${e.fired} is not inside 0..${labels.length}`);
    }
  }
  const overlaps = (a: Interval, b: Interval) => a.start < b.end && b.start < a.end;
  const labelled = events(labels);
  const delays: number[] = [];
  for (const e of labelled) {
    const hit = episodes.filter((a) => overlaps(a, e));
    if (hit.length) delays.push(Math.min(...hit.map((a) => Math.max(0, a.fired - e.start))));
  }
  const falseAlarmEvents = episodes.filter((a) => !labelled.some((e) => overlaps(a, e))).length;
  const sorted = [...delays].sort((a, b) => a - b);
  return {
    eventRecall: labelled.length === 0 ? null : delays.length / labelled.length,
    detectedEvents: delays.length,
    totalEvents: labelled.length,
    falseAlarmEvents,
    meanDelaySteps: delays.length === 0 ? null : delays.reduce((a, b) => a + b, 0) / delays.length,
    medianDelaySteps: delays.length === 0 ? null : median(sorted),
    delays,
  };
}

/**
 * AUROC of a learned K×K weight matrix at recovering known edges. Undirected truth scores each
 * unordered pair by max(w_ij, w_ji), since a learned DAG may orient a true link either way.
 */
export function edgeAuroc(weights: number[][], truthEdges: [number, number][], directed: boolean): number {
  const K = weights.length;
  weights.forEach((row, i) => {
    if (row.length !== K) throw new RangeError(`weights must be K×K: row ${i} has ${row.length} entries, K = ${K}`);
  });
  const key = (i: number, j: number) => i * K + j;
  const truth = new Set<number>();
  for (const [i, j] of truthEdges) {
    if (!Number.isInteger(i) || !Number.isInteger(j) || i < 0 || j < 0 || i >= K || j >= K || i === j) {
      throw new RangeError(`truth edge [${i}, ${j}] is not a pair of distinct indices in 0..${K - 1}`);
    }
    truth.add(directed ? key(i, j) : key(Math.min(i, j), Math.max(i, j)));
  }
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < K; i++) {
    for (let j = directed ? 0 : i + 1; j < K; j++) {
      if (i === j) continue;
      scores.push(directed ? weights[i][j] : Math.max(weights[i][j], weights[j][i]));
      labels.push(truth.has(key(i, j)) ? 1 : 0);
    }
  }
  return auroc(scores, labels);
}

/**
 * Localisation: AUROC of per-sensor scores against per-sensor labels over every (step, sensor)
 * cell. `perSensor` is T*Ks in `scored` order, `cellLabels` T*Kl in `labelled` order; a labelled
 * sensor the method does not score (e.g. dropped as constant) gets the lowest score, since the
 * method cannot point at it. Null when the cells hold only one class.
 */
export function cellAuroc(perSensor: Scores, scored: readonly string[], cellLabels: Binary, labelled: readonly string[]): number | null {
  const Ks = scored.length;
  const Kl = labelled.length;
  if (Ks === 0 || Kl === 0) throw new RangeError('cellAuroc needs at least one scored and one labelled sensor');
  if (perSensor.length % Ks !== 0 || cellLabels.length % Kl !== 0 || perSensor.length / Ks !== cellLabels.length / Kl) {
    throw new RangeError(`perSensor (${perSensor.length} = T*${Ks}) and cellLabels (${cellLabels.length} = T*${Kl}) disagree on T`);
  }
  const position = new Map(scored.map((s, i) => [s, i] as const));
  const at = labelled.map((s) => position.get(s));
  const T = cellLabels.length / Kl;
  const scores = new Float64Array(T * Kl);
  let pos = 0;
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < Kl; j++) {
      const k = at[j];
      scores[t * Kl + j] = k === undefined ? -Infinity : perSensor[t * Ks + k];
      pos += cellLabels[t * Kl + j];
    }
  }
  if (pos === 0 || pos === T * Kl) return null;
  return auroc(scores, cellLabels);
}
