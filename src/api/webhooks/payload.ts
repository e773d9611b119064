// What a webhook receives: our change event (format "ganf") or Alertmanager's webhook payload
// (format "alertmanager", version 4), signed with HMAC-SHA256 over `${timestamp}.${body}`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AlertChange } from '../alerts/store.ts';

export type WebhookFormat = 'ganf' | 'alertmanager';

/** Alertmanager's webhook body (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export function alertmanagerPayload(change: AlertChange, receiver: string, externalURL: string): Record<string, unknown> {
  const a = change.alert;
  const groupLabels = { alertname: a.labels.alertname, site: a.labels.site };
  return {
    version: '4',
    groupKey: `{}:{alertname="${groupLabels.alertname}", site="${groupLabels.site}"}`,
    truncatedAlerts: 0,
    status: a.status,
    receiver,
    groupLabels,
    commonLabels: a.labels,
    commonAnnotations: a.annotations,
    externalURL,
    alerts: [{
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
      // Alertmanager's zero time for "no end yet".
      endsAt: a.endsAt ?? '0001-01-01T00:00:00Z',
      generatorURL: `${externalURL}/alerts/${encodeURIComponent(a.id)}`,
      fingerprint: a.fingerprint,
    }],
  };
}

export function ganfPayload(change: AlertChange): Record<string, unknown> {
  return { seq: change.seq, type: change.type, at: change.at, alert: change.alert };
}

export function signatureHeader(secret: string, body: string, timestampSec: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `t=${timestampSec},v1=${mac}`;
}

/**
 * For receivers: checks `x-ganf-signature` (t=<unix s>,v1=<hex>) against the raw body, in constant
 * time, and refuses timestamps further than `toleranceSec` from now (replays).
 */
export function verifySignature(secret: string, header: string | undefined, body: string, toleranceSec = 300, nowSec = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSec - t) > toleranceSec || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(parts.v1, 'hex'));
}
