// The alert: one model shared by the producer (the stream's AlertEngine), the API's store, its
// SSE stream and webhooks, and the Alertmanager payload. Shaped after Prometheus Alertmanager's
// alert (labels, annotations, startsAt, endsAt, fingerprint, status) so its tooling can route it:
//  - identity is the label set: the fingerprint is a hash of the sorted labels (as Alertmanager's),
//    and one alert instance is fingerprint + startsAt (the same labels fire again later as a new
//    instance);
//  - annotations are human text only; everything a program reads is structured: the score
//    evidence and the top sensors, each with its DAG parents, its NLL and surprise, and the
//    expected vs observed reading at the alert's peak step.
// Scoring produces it and the API consumes it, so it lives here (the API imports scoring, never
// the reverse). parseAlert accepts exactly this shape and names the field that is wrong.
import { createHash } from 'node:crypto';
import { z } from 'zod';

const IsoTime = z.string().datetime({ offset: true });

export const AlertStatusSchema = z.enum(['firing', 'resolved']);
export type AlertStatus = z.infer<typeof AlertStatusSchema>;

export const SeveritySchema = z.enum(['critical', 'warning']);
export type Severity = z.infer<typeof SeveritySchema>;

export const AlertLabelsSchema = z.strictObject({
  /** GanfAnomaly (a site's score), GanfImplausibleValue (one sensor's reading), GanfNoData (a silent site); names set by the alert rule. */
  alertname: z.string().min(1),
  site: z.string().min(1),
  severity: SeveritySchema,
  model_version: z.string().min(1),
  /** Set on per-sensor alerts (implausible values, stuck sensors). */
  sensor: z.string().min(1).optional(),
});
export type AlertLabels = z.infer<typeof AlertLabelsSchema>;

export const ReadingSchema = z.strictObject({
  feature: z.string(),
  /** The model's conditional median of the reading given the sensor's history and parents (raw units). */
  expected: z.number(),
  /** The reading as scored (raw units; a gap-filled cell carries the filled value). */
  observed: z.number(),
});

export type Reading = z.infer<typeof ReadingSchema>;

export const TopSensorSchema = z.strictObject({
  sensor: z.string().min(1),
  /** The sensor's parents in the model's DAG. */
  parents: z.array(z.string()),
  /** Window NLL of the sensor at the peak step (nats). */
  nll: z.number(),
  /** nll minus the sensor's calibration median (nats). */
  excess: z.number(),
  /** Calibrated surprise -log P(NLL >= nll): what the top sensors are ranked by. */
  surprise: z.number(),
  /** Expected vs observed, one entry per feature (one for a single-valued sensor). */
  readings: z.array(ReadingSchema).min(1),
});
export type TopSensor = z.infer<typeof TopSensorSchema>;

export const AlertEvidenceSchema = z.strictObject({
  /** Highest score of the alert (its peak step's). */
  peakScore: z.number(),
  peakAt: IsoTime,
  threshold: z.number(),
  /** Tail probability of the peak score under the calibration distribution. */
  tailProbability: z.number().min(0).max(1),
  /** Steps above the threshold / usable steps since the start. */
  exceedingSteps: z.number().int().min(0),
  usableSteps: z.number().int().min(0),
});

/** The alert's fields; AlertSchema adds the checks across them (what messages are validated with). */
export const AlertFieldsSchema = z.strictObject({
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/, 'expected 16 hex digits (fingerprintOf(labels))'),
  status: AlertStatusSchema,
  labels: AlertLabelsSchema,
  /** `resolved_reason`: why an alert was resolved other than by its data (e.g. "model changed: A -> B"). */
  annotations: z.strictObject({ summary: z.string(), description: z.string(), resolved_reason: z.string().optional() }),
  startsAt: IsoTime,
  /** Null while firing (the Alertmanager payload writes its zero time). */
  endsAt: IsoTime.nullable(),
  /** The score behind the alert; null for a no-data alert (nothing was scored). */
  evidence: AlertEvidenceSchema.nullable(),
  /** Most surprising sensors at the peak step (the sensor itself for a per-sensor alert; none for no data). */
  topSensors: z.array(TopSensorSchema),
});

export const AlertSchema = AlertFieldsSchema.superRefine((a, ctx) => {
  if (a.fingerprint !== fingerprintOf(a.labels)) ctx.addIssue({ code: 'custom', path: ['fingerprint'], message: `does not match the labels (expected ${fingerprintOf(a.labels)})` });
  if ((a.status === 'resolved') !== (a.endsAt !== null)) ctx.addIssue({ code: 'custom', path: ['endsAt'], message: a.status === 'resolved' ? 'a resolved alert needs an end' : 'a firing alert has no end (null)' });
  if (a.endsAt !== null && Date.parse(a.endsAt) < Date.parse(a.startsAt)) ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'before startsAt' });
});
export type Alert = z.infer<typeof AlertSchema>;

/** Alertmanager's fingerprint is a hash of the sorted label set; ours is sha256 over the same, 16 hex digits. */
export function fingerprintOf(labels: Readonly<Record<string, string | undefined>>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) if (labels[k] !== undefined) h.update(`${k}\u0000${labels[k]}\u0001`);
  return h.digest('hex').slice(0, 16);
}

/** One alert instance: the label set's fingerprint and the start. */
export function alertId(a: Pick<Alert, 'fingerprint' | 'startsAt'>): string {
  return `${a.fingerprint}-${Date.parse(a.startsAt)}`;
}

export class AlertParseError extends Error {
  override name = 'AlertParseError';
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid alert: ${issues.map((i) => `${i.field || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

/** Validates an alert message; throws AlertParseError naming every invalid field. */
export function parseAlert(raw: unknown): Alert {
  const r = AlertSchema.safeParse(raw);
  if (!r.success) throw new AlertParseError(r.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })));
  return r.data;
}

/** "B05 expected 1.2, observed 3.4 (parents B04, B06)": top sensors for the human-text annotations. */
export function describeTopSensors(top: readonly TopSensor[]): string {
  return top.map((t) => {
    const r = t.readings.map((x) => `${t.readings.length > 1 ? `${x.feature} ` : ''}expected ${fmt(x.expected)}, observed ${fmt(x.observed)}`).join('; ');
    return `${t.sensor} ${r} (parents ${t.parents.length ? t.parents.join(', ') : 'none'})`;
  }).join(' | ');
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
}
