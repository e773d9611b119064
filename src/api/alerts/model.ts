// The alert model: Prometheus Alertmanager's (fingerprint, labels, annotations, startsAt, endsAt,
// status), plus the structured fields the API filters on (site, severity, top sensors with their
// DAG parents, model version). Incoming messages may use Alertmanager's shape or the flat shape of
// the streaming pipeline's alert engine; both normalise to `Alert`.
import { createHash } from 'node:crypto';
import { z } from 'zod';

const IsoTime = z.union([z.string().datetime({ offset: true }), z.number().int().nonnegative()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'not a valid time' });
    return z.NEVER;
  }
  return new Date(ms).toISOString();
});

/** Alertmanager writes endsAt = 0001-01-01T00:00:00Z for a firing alert with no planned end. */
const ZERO_TIME = '0001-01-01T00:00:00Z';
const OptionalEnd = z.union([z.literal(ZERO_TIME), IsoTime, z.null()]).optional().transform((v) => (v === ZERO_TIME || v === undefined || v?.startsWith('0001-01-01') ? null : v));

export const TopSensorSchema = z.object({
  sensor: z.string().min(1),
  /** NLL of the sensor at the alert's peak minus its calibration median (nats). */
  excess: z.number().optional(),
  /** The sensor's parents in the model's DAG. */
  parents: z.array(z.string()).default([]),
});
export type TopSensor = z.infer<typeof TopSensorSchema>;

export const AlertStatusSchema = z.enum(['firing', 'resolved']);
export type AlertStatus = z.infer<typeof AlertStatusSchema>;

/** The normalised alert (what the store keeps, the API returns and webhooks carry). */
export const AlertSchema = z.object({
  /** Identifies one alert instance: fingerprint + start time. */
  id: z.string(),
  fingerprint: z.string(),
  status: AlertStatusSchema,
  startsAt: z.string(),
  endsAt: z.string().nullable(),
  site: z.string(),
  severity: z.string(),
  modelVersion: z.string(),
  topSensors: z.array(TopSensorSchema),
  score: z.number().nullable(),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  generatorURL: z.string().nullable(),
});
export type Alert = z.infer<typeof AlertSchema>;

const LabelMap = z.record(z.string(), z.string());

/** Alertmanager's alert shape (as in its webhook payload / API v2). */
const AlertmanagerAlertSchema = z.object({
  fingerprint: z.string().min(1).optional(),
  status: AlertStatusSchema,
  labels: LabelMap,
  annotations: LabelMap.default({}),
  startsAt: IsoTime,
  endsAt: OptionalEnd,
  generatorURL: z.string().optional(),
  /** Non-standard extension: structured top sensors (else parsed from annotations.top_sensors). */
  topSensors: z.array(TopSensorSchema).optional(),
});

/** The flat shape (issue 3's alert engine): snake_case or camelCase names accepted. */
const FlatAlertSchema = z.object({
  fingerprint: z.string().min(1).optional(),
  status: AlertStatusSchema,
  site: z.string().min(1),
  severity: z.string().min(1),
  startsAt: IsoTime,
  endsAt: OptionalEnd,
  modelVersion: z.string().min(1),
  topSensors: z.array(TopSensorSchema).default([]),
  score: z.number().optional(),
  alertname: z.string().optional(),
  summary: z.string().optional(),
  labels: LabelMap.optional(),
  annotations: LabelMap.optional(),
  generatorURL: z.string().optional(),
});

const ALIASES: Record<string, string> = {
  starts_at: 'startsAt', ends_at: 'endsAt', model_version: 'modelVersion', top_sensors: 'topSensors',
  topsensors: 'topSensors', top: 'topSensors', generator_url: 'generatorURL',
};

function camelise(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) out[ALIASES[k] ?? ALIASES[k.toLowerCase()] ?? k] = v;
  return out;
}

export class AlertParseError extends Error {
  override name = 'AlertParseError';
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid alert: ${issues.map((i) => `${i.field || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

/** Alertmanager's fingerprint is a hash of the sorted label set; ours is sha256 over the same. */
export function fingerprintOf(labels: Record<string, string>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) h.update(`${k}\u0000${labels[k]}\u0001`);
  return h.digest('hex').slice(0, 16);
}

export function alertId(fingerprint: string, startsAt: string): string {
  return `${fingerprint}-${Date.parse(startsAt)}`;
}

/** Parses "B05 (parents: B04, B06; excess 3.2)" lists written by formatTopSensors. */
function parseTopSensorsAnnotation(text: string | undefined): TopSensor[] {
  if (!text) return [];
  const out: TopSensor[] = [];
  for (const part of text.split(/\s*\|\s*/)) {
    const m = /^(.+?)(?: \(parents: ([^;)]*)(?:; excess (-?[\d.eE+-]+))?\))?$/.exec(part.trim());
    if (!m || !m[1]) continue;
    out.push({ sensor: m[1], parents: m[2] ? m[2].split(/,\s*/).filter(Boolean) : [], ...(m[3] ? { excess: Number(m[3]) } : {}) });
  }
  return out;
}

export function formatTopSensors(top: TopSensor[]): string {
  return top
    .map((t) => `${t.sensor} (parents: ${t.parents.join(', ')}${t.excess !== undefined ? `; excess ${Number(t.excess.toFixed(3))}` : ''})`)
    .join(' | ');
}

/** Any accepted incoming shape -> Alert; throws AlertParseError naming the invalid fields. */
export function normaliseAlert(raw: unknown): Alert {
  const obj = camelise(raw) as Record<string, unknown> | unknown;
  const isAm = typeof obj === 'object' && obj !== null && 'labels' in obj && !('site' in obj);
  if (isAm) {
    const r = AlertmanagerAlertSchema.safeParse(obj);
    if (!r.success) throw new AlertParseError(r.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })));
    const a = r.data;
    const missing = ['site', 'severity'].filter((l) => !a.labels[l]);
    if (missing.length) throw new AlertParseError(missing.map((l) => ({ field: `labels.${l}`, message: 'required label is missing' })));
    const top = a.topSensors ?? parseTopSensorsAnnotation(a.annotations.top_sensors);
    const fingerprint = a.fingerprint ?? fingerprintOf(a.labels);
    const labels: Record<string, string> = { alertname: 'GanfAnomaly', ...a.labels };
    const annotations = { ...a.annotations, ...(top.length && !a.annotations.top_sensors ? { top_sensors: formatTopSensors(top) } : {}) };
    return {
      id: alertId(fingerprint, a.startsAt), fingerprint, status: a.status, startsAt: a.startsAt, endsAt: a.endsAt,
      site: labels.site, severity: labels.severity, modelVersion: labels.model_version ?? 'unknown', topSensors: top,
      score: a.annotations.score !== undefined && a.annotations.score !== '' && Number.isFinite(Number(a.annotations.score)) ? Number(a.annotations.score) : null,
      labels, annotations, generatorURL: a.generatorURL ?? null,
    };
  }
  const r = FlatAlertSchema.safeParse(obj);
  if (!r.success) throw new AlertParseError(r.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })));
  const a = r.data;
  const labels: Record<string, string> = {
    alertname: a.alertname ?? 'GanfAnomaly', ...a.labels, site: a.site, severity: a.severity, model_version: a.modelVersion,
  };
  const fingerprint = a.fingerprint ?? fingerprintOf({ alertname: labels.alertname, site: a.site });
  const annotations: Record<string, string> = {
    summary: a.summary ?? `Anomaly at ${a.site}${a.topSensors.length ? ` driven by ${a.topSensors.map((t) => t.sensor).join(', ')}` : ''}`,
    ...a.annotations,
  };
  if (a.topSensors.length) annotations.top_sensors = formatTopSensors(a.topSensors);
  if (a.score !== undefined) annotations.score = String(a.score);
  return {
    id: alertId(fingerprint, a.startsAt), fingerprint, status: a.status, startsAt: a.startsAt, endsAt: a.endsAt,
    site: a.site, severity: a.severity, modelVersion: a.modelVersion, topSensors: a.topSensors, score: a.score ?? null,
    labels, annotations, generatorURL: a.generatorURL ?? null,
  };
}

/** The sensors an alert is about: its top sensors and their parents. */
export function alertSensors(a: Alert): string[] {
  const s = new Set<string>();
  for (const t of a.topSensors) {
    s.add(t.sensor);
    for (const p of t.parents) s.add(p);
  }
  return [...s];
}
