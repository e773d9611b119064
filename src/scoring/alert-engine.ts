/**
 * Alert state machine for one site's stream of step scores: a pure class (no clocks, no I/O),
 * snapshot-able so it survives restarts.
 *
 * - Fires when at least `fireAfter` of the last `ofLast` usable steps exceed the calibrated
 *   threshold; the alert starts at the first exceeding step of that window.
 * - Resolves once the score has stayed at or below the threshold for `resolveHoldMs` of event
 *   time (rounded up to whole steps); it ends where the last exceeding step ends. Short dips
 *   inside an anomaly therefore do not flap the alert.
 * - Unusable steps (degraded data, or a score window that contains degraded data) neither fire,
 *   nor count toward the hold time: they are skipped.
 *
 * - A site that stopped sending (decided by the processor from record time) has one no-data
 *   alert, fired by noDataSince and resolved by dataReturned.
 *
 * It produces the one alert model (alert.ts): identity = the labels (alertname, site, severity,
 * model version, and the sensor of a per-sensor alert) and their fingerprint, one instance per
 * start, so reprocessing the same data yields the same alerts. The step's exceed flag comes from
 * the scoring path (exceeds() in threshold.ts); the engine never compares scores itself.
 */
import { z } from 'zod';
import { tailProbability, type ThresholdState } from './threshold.ts';
import type { AlertRule } from './alert-rule.ts';
import { describeTopSensors, fingerprintOf, TopSensorSchema, type Alert, type AlertLabels, type Reading, type TopSensor } from './alert.ts';

// The rule's schema lives in a schema-only module so the `serve` config can use it as a leaf.
export { AlertRuleSchema, type AlertRule } from './alert-rule.ts';

export interface AlertContext {
  site: string;
  modelVersion: string;
  intervalMs: number;
  threshold: ThresholdState;
  sensors: readonly string[];
  calibrationMedians: ArrayLike<number>;
  parents: (sensor: string) => string[];
}

export interface StepObservation {
  tsMs: number;
  score: number;
  /** The score exceeds the threshold (the scoring path's flag). */
  exceeds: boolean;
  /** Per-sensor window NLL in model order. */
  perSensor: ArrayLike<number>;
  /** Per-sensor calibrated surprise in model order: what top sensors are ranked by. */
  surprise: ArrayLike<number>;
  /** Model-order indices of sensors whose reading was outside its plausible range at this step. */
  implausible: readonly number[];
  /** Sensors (model order) repeating one reading for more than twice their longest training run, with the run in steps (stuck-readings.ts). */
  stuck?: readonly { k: number; steps: number }[];
  usable: boolean;
  /**
   * Expected vs observed readings of the sensors `ks` (model order) at this step, one list per
   * sensor; called only for the top sensors of the steps an alert reports (a model call each).
   */
  readings: (ks: readonly number[]) => Reading[][];
}

const SensorAlertSchema = z.strictObject({ fingerprint: z.string(), startMs: z.number(), lastMs: z.number(), steps: z.number().int() });
const PeakSchema = z.strictObject({ score: z.number(), tsMs: z.number(), top: z.array(TopSensorSchema) });
export const AlertEngineStateSchema = z.strictObject({
  recent: z.array(z.strictObject({ tsMs: z.number(), exceed: z.boolean(), peak: PeakSchema.nullable() })),
  active: z.strictObject({
    fingerprint: z.string(),
    startMs: z.number(),
    severity: z.enum(['critical', 'warning']),
    peak: PeakSchema,
    lastExceedMs: z.number(),
    below: z.number().int(),
    exceeding: z.number().int(),
    usable: z.number().int(),
  }).nullable(),
  /** Open implausible-value alerts by sensor name. */
  implausible: z.record(z.string(), SensorAlertSchema).default({}),
  /** Open stuck-sensor alerts by sensor name (`steps`: the steps it has been stuck). */
  stuck: z.record(z.string(), SensorAlertSchema).default({}),
  /**
   * The open no-data alert: `startMs` is the event time of the site's newest reading before it went
   * silent, `lastRecordMs` that reading's record timestamp, `detectedMs` the record time that showed the silence.
   */
  noData: z.strictObject({ fingerprint: z.string(), startMs: z.number(), lastRecordMs: z.number(), detectedMs: z.number() }).nullable().default(null),
});
export type AlertEngineState = z.infer<typeof AlertEngineStateSchema>;
type Peak = z.infer<typeof PeakSchema>;

type NoData = NonNullable<AlertEngineState['noData']>;
type SensorAlert = z.infer<typeof SensorAlertSchema>;
/** The per-sensor alerts: a reading outside the plausible range, a sensor stuck on one reading. */
type SensorAlertKind = 'implausible' | 'stuck';

export class AlertEngine {
  private state: AlertEngineState = { recent: [], active: null, implausible: {}, stuck: {}, noData: null };
  private readonly holdSteps: number;

  constructor(private readonly rule: AlertRule, private readonly ctx: AlertContext) {
    this.holdSteps = Math.max(1, Math.ceil(rule.resolveHoldMs / ctx.intervalMs));
  }

  get firing(): boolean {
    return this.state.active !== null;
  }

  /** Feeds one step (in step order); returns the notifications it causes. */
  observe(step: StepObservation): Alert[] {
    return [
      ...this.observeSensors('implausible', step.implausible, step),
      ...this.observeSensors('stuck', (step.stuck ?? []).map((s) => s.k), step, step.stuck),
      ...this.observeScore(step),
    ];
  }

  /**
   * One alert per sensor in a per-sensor condition: firing at its first step, resolved at the first
   * step without it. Degraded steps count too: the condition is the reading's, whatever the rest
   * of the step. `implausible`: the reading left its plausible range (learned from training, see
   * ScalerState; the model only ever saw the clipped value). `stuck`: the sensor has repeated one
   * reading for more than twice its longest training run (`runs`: that run in steps, counted from
   * its start rather than from the alert's first step).
   */
  private observeSensors(kind: SensorAlertKind, ks: readonly number[], step: StepObservation, runs?: readonly { k: number; steps: number }[]): Alert[] {
    const open = this.state[kind];
    const now = new Set(ks.map((k) => this.ctx.sensors[k]));
    const out: Alert[] = [];
    for (const [sensor, a] of Object.entries(open)) {
      if (now.has(sensor)) continue;
      delete open[sensor];
      out.push(this.sensorMessage(kind, sensor, a, step, 'resolved'));
    }
    ks.forEach((k, i) => {
      const sensor = this.ctx.sensors[k];
      const steps = runs?.[i].steps;
      const a = open[sensor];
      if (a) {
        a.lastMs = step.tsMs;
        a.steps = steps ?? a.steps + 1;
        return;
      }
      const opened = { fingerprint: fingerprintOf(this.labels(this.alertnameOf(kind), 'warning', sensor)), startMs: step.tsMs, lastMs: step.tsMs, steps: steps ?? 1 };
      open[sensor] = opened;
      out.push(this.sensorMessage(kind, sensor, opened, step, 'firing'));
    });
    return out;
  }

  private alertnameOf(kind: SensorAlertKind): string {
    return kind === 'implausible' ? this.rule.implausibleAlertname : this.rule.stuckAlertname;
  }

  private labels(alertname: string, severity: AlertLabels['severity'], sensor?: string): AlertLabels {
    return { alertname, site: this.ctx.site, severity, model_version: this.ctx.modelVersion, ...(sensor === undefined ? {} : { sensor }) };
  }

  /** `step`: the step this notification reports (null when a model change closes it: no evidence). */
  private sensorMessage(kind: SensorAlertKind, sensor: string, a: SensorAlert, step: StepObservation | null, status: 'firing' | 'resolved'): Alert {
    const { site, intervalMs, threshold } = this.ctx;
    const endMs = status === 'resolved' ? a.lastMs + intervalMs : null;
    const top = step ? this.topSensorsOf(step, [this.ctx.sensors.indexOf(sensor)]) : [];
    const at = step ? ` At ${new Date(step.tsMs).toISOString()}: ${describeTopSensors(top)}.` : '';
    return {
      fingerprint: a.fingerprint,
      status,
      labels: this.labels(this.alertnameOf(kind), 'warning', sensor),
      annotations: kind === 'implausible' ? {
        summary: `Implausible value at ${site}: ${sensor} read outside its plausible range`,
        description: `${sensor} read a value outside the range learned from training (widened by data.plausibleMargin) in ${a.steps} step(s) ` +
          `since ${new Date(a.startMs).toISOString()}; the model scored the reading clipped to the range.${at}`,
      } : {
        summary: `Stuck sensor at ${site}: ${sensor} repeats one reading`,
        description: `${sensor} has read the same value for ${a.steps} steps, more than twice as long as it ever did in training; ` +
          `stuck since ${new Date(a.startMs).toISOString()} (a frozen transmitter or a held value: its readings no longer measure anything).${at}`,
      },
      startsAt: new Date(a.startMs).toISOString(),
      endsAt: endMs === null ? null : new Date(endMs).toISOString(),
      evidence: step && {
        peakScore: step.score, peakAt: new Date(step.tsMs).toISOString(), threshold: threshold.value,
        tailProbability: tailProbability(step.score, threshold), exceedingSteps: a.steps, usableSteps: a.steps,
      },
      topSensors: top,
    };
  }

  /** A no-data alert is open for the site. */
  get noDataFiring(): boolean {
    return this.state.noData !== null;
  }

  /**
   * The site has sent nothing since the record `lastRecordMs` (its newest reading at event time
   * `lastEventMs`), which the record time `nowMs` shows to be too long ago: fires the site's no-data
   * alert, once (nothing while it is open).
   */
  noDataSince(lastEventMs: number, lastRecordMs: number, nowMs: number): Alert[] {
    if (this.state.noData) return [];
    const a: NoData = { fingerprint: fingerprintOf(this.labels(this.rule.noDataAlertname, 'warning')), startMs: lastEventMs, lastRecordMs, detectedMs: nowMs };
    this.state.noData = a;
    return [this.noDataMessage(a, 'firing', null)];
  }

  /** A reading of the site arrived (event time `eventMs`): resolves the open no-data alert, if any, ending there. */
  dataReturned(eventMs: number): Alert[] {
    const a = this.state.noData;
    if (!a) return [];
    this.state.noData = null;
    return [this.noDataMessage(a, 'resolved', Math.max(eventMs, a.startMs))];
  }

  private noDataMessage(a: NoData, status: 'firing' | 'resolved', endMs: number | null): Alert {
    const { site } = this.ctx;
    const silentMin = Math.round((a.detectedMs - a.lastRecordMs) / 60_000);
    return {
      fingerprint: a.fingerprint,
      status,
      labels: this.labels(this.rule.noDataAlertname, 'warning'),
      annotations: {
        summary: `No data from ${site}`,
        description: `${site} sent no reading for ${silentMin} min of record time after its reading at ${new Date(a.startMs).toISOString()} ` +
          `(record ${new Date(a.lastRecordMs).toISOString()}); its open steps were closed with the missing cells degraded.` +
          (endMs === null ? '' : ` Data returned at ${new Date(endMs).toISOString()}.`),
      },
      startsAt: new Date(a.startMs).toISOString(),
      endsAt: endMs === null ? null : new Date(endMs).toISOString(),
      evidence: null,
      topSensors: [],
    };
  }

  private observeScore(step: StepObservation): Alert[] {
    if (!step.usable) return [];
    const exceed = step.exceeds;
    const a = this.state.active;
    if (a) {
      a.usable++;
      if (exceed) {
        a.below = 0;
        a.exceeding++;
        a.lastExceedMs = step.tsMs;
        if (step.score > a.peak.score) a.peak = this.peakOf(step);
        return [];
      }
      a.below++;
      if (a.below < this.holdSteps) return [];
      this.state = { ...this.state, recent: [], active: null };
      return [this.message(a, 'resolved')];
    }
    const recent = this.state.recent;
    recent.push({ tsMs: step.tsMs, exceed, peak: exceed ? this.peakOf(step) : null });
    if (recent.length > this.rule.ofLast) recent.shift();
    const hits = recent.filter((r) => r.exceed);
    if (hits.length < this.rule.fireAfter) return [];
    let peak = hits[0].peak!;
    for (const h of hits) if (h.peak!.score > peak.score) peak = h.peak!;
    const startMs = hits[0].tsMs;
    const severity = this.severityOf(peak.score);
    const active: NonNullable<AlertEngineState['active']> = {
      fingerprint: fingerprintOf(this.labels(this.rule.alertname, severity)),
      startMs,
      severity,
      peak,
      lastExceedMs: hits[hits.length - 1].tsMs,
      below: recent.length - 1 - recent.lastIndexOf(hits[hits.length - 1]),
      exceeding: hits.length,
      usable: recent.length - recent.indexOf(hits[0]),
    };
    this.state = { ...this.state, recent: [], active };
    return [this.message(active, 'firing')];
  }

  private severityOf(score: number): 'critical' | 'warning' {
    return tailProbability(score, this.ctx.threshold) <= this.rule.criticalTailProbability ? 'critical' : 'warning';
  }

  private peakOf(step: StepObservation): Peak {
    const K = this.ctx.sensors.length;
    const order = Array.from({ length: K }, (_, k) => k);
    const excess = (k: number) => step.perSensor[k] - this.ctx.calibrationMedians[k];
    order.sort((x, y) => step.surprise[y] - step.surprise[x] || excess(y) - excess(x));
    return { score: step.score, tsMs: step.tsMs, top: this.topSensorsOf(step, order.slice(0, this.rule.topSensors)) };
  }

  /** Sensors `ks` (model order) at the step, with their parents and expected vs observed readings. */
  private topSensorsOf(step: StepObservation, ks: number[]): TopSensor[] {
    const readings = step.readings(ks);
    return ks.map((k, i) => {
      const sensor = this.ctx.sensors[k];
      return {
        sensor, parents: this.ctx.parents(sensor), nll: round(step.perSensor[k]), excess: round(step.perSensor[k] - this.ctx.calibrationMedians[k]),
        surprise: round(step.surprise[k]), readings: readings[i],
      };
    });
  }

  private message(a: NonNullable<AlertEngineState['active']>, status: 'firing' | 'resolved'): Alert {
    const { site, intervalMs, threshold } = this.ctx;
    const endMs = status === 'resolved' ? a.lastExceedMs + intervalMs : null;
    const p = tailProbability(a.peak.score, threshold);
    const names = a.peak.top.map((t) => t.sensor).join(', ');
    return {
      fingerprint: a.fingerprint,
      status,
      labels: this.labels(this.rule.alertname, a.severity),
      annotations: {
        summary: `Anomaly at ${site} driven by ${names}`,
        description: `GANF score ${round(a.peak.score)} above threshold ${round(threshold.value)} ` +
          `(tail probability ${p.toExponential(2)}) in ${a.exceeding} of ${a.usable} steps since ${new Date(a.startMs).toISOString()}; ` +
          `top sensors at the peak (${new Date(a.peak.tsMs).toISOString()}): ${describeTopSensors(a.peak.top)}`,
      },
      startsAt: new Date(a.startMs).toISOString(),
      endsAt: endMs === null ? null : new Date(endMs).toISOString(),
      evidence: {
        peakScore: a.peak.score, peakAt: new Date(a.peak.tsMs).toISOString(), threshold: threshold.value,
        tailProbability: p, exceedingSteps: a.exceeding, usableSteps: a.usable,
      },
      topSensors: structuredClone(a.peak.top),
    };
  }

  /**
   * The model scoring this site is being replaced (the stream's hand-over to a new version): every
   * open alert is resolved now with `annotations.resolved_reason`, and the engine is left empty.
   * Anomaly alerts end where their last exceeding step ended, no-data alerts at `endMs`, and
   * implausible-value alerts after their last implausible step (no step of theirs resolved them,
   * so they carry no evidence and no top sensors). The next model's engine raises its own alerts (new
   * fingerprints: they include the model version) if the condition persists.
   */
  resolveAll(endMs: number, reason: string): Alert[] {
    const out: Alert[] = [];
    if (this.state.active) out.push(this.message(this.state.active, 'resolved'));
    // No step of theirs resolved them: there is no evidence to report, only the end.
    for (const kind of ['implausible', 'stuck'] as const) {
      for (const [sensor, a] of Object.entries(this.state[kind])) out.push(this.sensorMessage(kind, sensor, a, null, 'resolved'));
    }
    if (this.state.noData) out.push(this.noDataMessage(this.state.noData, 'resolved', Math.max(endMs, this.state.noData.startMs)));
    for (const m of out) m.annotations.resolved_reason = reason;
    this.state = { recent: [], active: null, implausible: {}, stuck: {}, noData: null };
    return out;
  }

  snapshot(): AlertEngineState {
    return structuredClone(this.state);
  }

  restore(raw: unknown): void {
    this.state = AlertEngineStateSchema.parse(raw);
  }
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
