// Sends alert changes to matching subscriptions: one delivery per (change, subscription), POSTed
// with an HMAC signature, retried with exponential backoff (with jitter) on a non-2xx answer or a
// network error, and marked failed (kept, visible, re-deliverable) after the last attempt. Before
// every attempt the target is checked again (target.ts) and the request pinned to the checked
// address; a target that is no longer allowed fails the delivery at once with a generic reason.
import { randomUUID } from 'node:crypto';
import type { AlertChange, AlertStore } from '../alerts/store.ts';
import type { ApiMetrics } from '../metrics.ts';
import { alertmanagerPayload, ganfPayload, signatureHeader } from './payload.ts';
import type { Delivery, Subscription, SubscriptionStore } from './store.ts';
import { AllowList, checkTarget, type Resolver, type TargetPolicy } from './target.ts';
import { postPinned } from './post.ts';

export interface DispatcherOptions {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  externalURL: string;
  /** Concurrent requests in flight. */
  concurrency?: number;
  /** True when an active silence matches the alert: its changes are stored but not pushed. */
  silenced?: (a: AlertChange['alert']) => boolean;
  allowedHosts: string[];
  publicTargets: boolean;
  /** DNS resolution (tests replace it to change a name's answer between creation and delivery). */
  resolve?: Resolver;
}

/** What the delivery log says about a refused target: nothing about its addresses or ports. */
export const REFUSED = 'refused: the target is not an allowed webhook address';

export function subscriptionMatches(s: Subscription, c: AlertChange): boolean {
  const f = s.filter;
  const a = c.alert;
  const types = f.types ?? (s.format === 'alertmanager' ? ['alert'] : ['alert', 'ack']);
  // False-positive marks are operator bookkeeping, not alert traffic: they are not pushed.
  if (c.type === 'false-positive') return false;
  if (s.format === 'alertmanager' && c.type !== 'alert') return false;
  return types.includes(c.type) &&
    (!f.sites || f.sites.includes(a.labels.site)) &&
    (!f.severities || f.severities.includes(a.labels.severity)) &&
    (!f.statuses || f.statuses.includes(a.status)) &&
    (!f.sensors || a.topSensors.some((t) => f.sensors!.includes(t.sensor)));
}

export class WebhookDispatcher {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue: string[] = [];
  private inFlight = 0;
  private stopped = false;
  private readonly unsubscribe: () => void;
  private readonly idle = new Set<() => void>();
  private readonly allow: AllowList;
  private readonly policy: TargetPolicy;

  constructor(
    private readonly subs: SubscriptionStore,
    alerts: AlertStore,
    private readonly opts: DispatcherOptions,
    private readonly metrics?: ApiMetrics,
  ) {
    this.allow = new AllowList(opts.allowedHosts);
    this.policy = { allowedHosts: opts.allowedHosts, publicTargets: opts.publicTargets };
    this.unsubscribe = alerts.onChange((c) => this.onChange(c));
    for (const d of subs.pending()) this.schedule(d);
    this.updateGauge();
  }

  private onChange(c: AlertChange): void {
    if (c.type === 'false-positive') return;
    if (this.opts.silenced?.(c.alert)) {
      this.metrics?.webhookSilenced.inc();
      return;
    }
    for (const s of this.subs.list()) {
      if (!subscriptionMatches(s, c)) continue;
      const body = JSON.stringify(s.format === 'alertmanager' ? alertmanagerPayload(c, s.id, this.opts.externalURL) : ganfPayload(c));
      const d = this.subs.addDelivery({
        id: randomUUID(), subscriptionId: s.id, eventSeq: c.seq, eventType: c.type, alertId: c.alert.id,
        createdAt: new Date().toISOString(), nextAttemptAt: new Date().toISOString(), body,
      });
      this.enqueue(d.id);
    }
  }

  /** Puts a failed delivery back in the queue (attempt count continues). */
  redeliver(id: string): Delivery | undefined {
    const d = this.subs.delivery(id);
    if (!d) return undefined;
    if (d.status === 'pending') return d;
    this.subs.setStatus(id, 'pending', new Date().toISOString());
    this.updateGauge();
    this.enqueue(id);
    return this.subs.delivery(id);
  }

  cancel(ids: string[]): void {
    for (const id of ids) {
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
    }
  }

  /** Resolves when nothing is queued or in flight (tests, shutdown). Scheduled retries do not count. */
  drained(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  close(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(d: Delivery): void {
    const delay = Math.max(0, (d.nextAttemptAt ? Date.parse(d.nextAttemptAt) : 0) - Date.now());
    clearTimeout(this.timers.get(d.id));
    this.timers.set(d.id, setTimeout(() => {
      this.timers.delete(d.id);
      this.enqueue(d.id);
    }, delay));
  }

  private enqueue(id: string): void {
    if (this.stopped) return;
    this.queue.push(id);
    this.pump();
  }

  private pump(): void {
    const max = this.opts.concurrency ?? 8;
    while (!this.stopped && this.inFlight < max && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.inFlight++;
      this.attempt(id).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.queue.length === 0 && this.inFlight === 0) {
          for (const r of this.idle) r();
          this.idle.clear();
        }
      });
    }
  }

  private async attempt(id: string): Promise<void> {
    const d = this.subs.delivery(id);
    if (!d || d.status !== 'pending') return;
    const sub = this.subs.get(d.subscriptionId);
    if (!sub) {
      this.subs.setStatus(id, 'cancelled', null);
      return;
    }
    const started = performance.now();
    let httpStatus: number | null = null;
    let error: string | null = null;
    let refused = false;
    const url = new URL(sub.url);
    const target = await checkTarget(url, this.policy, this.allow, this.opts.resolve);
    if (!target.ok) {
      refused = true;
      error = REFUSED;
    } else {
      const res = await postPinned(url, target.address, target.family, {
        'content-type': 'application/json',
        'user-agent': 'ganf-stream-webhooks/1',
        'x-ganf-delivery': d.id,
        'x-ganf-event': d.eventType,
        'x-ganf-event-id': String(d.eventSeq),
        'x-ganf-attempt': String(d.attempts.length + 1),
        'x-ganf-signature': signatureHeader(sub.secret, d.body, Math.floor(Date.now() / 1000)),
      }, d.body, this.opts.timeoutMs);
      httpStatus = res.status;
      error = res.error;
    }
    if (this.stopped) return;
    const ok = error === null;
    const n = d.attempts.length + 1;
    const attempt = { at: new Date().toISOString(), ok, httpStatus, error, durationMs: Math.round(performance.now() - started) };
    if (ok) {
      this.subs.recordAttempt(id, attempt, 'delivered', null);
      this.metrics?.webhookDeliveries.inc({ result: 'delivered' });
    } else if (n >= this.opts.maxAttempts || refused) {
      // A refused target is policy, not a transient failure: no retries.
      this.subs.recordAttempt(id, attempt, 'failed', null);
      this.metrics?.webhookDeliveries.inc({ result: 'failed' });
    } else {
      const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (n - 1));
      const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
      const next = new Date(Date.now() + delay).toISOString();
      this.subs.recordAttempt(id, attempt, 'pending', next);
      this.metrics?.webhookDeliveries.inc({ result: 'retry' });
      this.schedule(this.subs.delivery(id)!);
    }
    this.updateGauge();
  }

  private updateGauge(): void {
    this.metrics?.webhookFailed.set({}, this.subs.countByStatus('failed'));
  }
}
