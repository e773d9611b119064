// Webhook subscriptions (a JSON file replaced atomically on every change) and their deliveries
// (an append-only JSON-lines log of delivery records and attempts, replayed at start so pending
// deliveries survive a restart and failed ones stay visible).
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { JsonLinesLog, writeFileAtomic } from '../../adapters/fs-atomic.ts';
import { AlertStatusSchema } from '../../scoring/alert.ts';

export const SubscriptionFilterSchema = z.strictObject({
  sites: z.array(z.string().min(1)).optional(),
  severities: z.array(z.string().min(1)).optional(),
  statuses: z.array(AlertStatusSchema).optional(),
  sensors: z.array(z.string().min(1)).optional().describe('Any of these among the alert\'s top sensors'),
  types: z.array(z.enum(['alert', 'ack'])).optional().describe('Change types (default: both; alertmanager format: alert only)'),
});
export type SubscriptionFilter = z.infer<typeof SubscriptionFilterSchema>;

export interface Subscription {
  id: string;
  url: string;
  filter: SubscriptionFilter;
  format: 'ganf' | 'alertmanager';
  secret: string;
  owner: string;
  createdAt: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

export interface Attempt {
  at: string;
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

export interface Delivery {
  id: string;
  subscriptionId: string;
  eventSeq: number;
  eventType: 'alert' | 'ack';
  alertId: string;
  createdAt: string;
  status: DeliveryStatus;
  attempts: Attempt[];
  nextAttemptAt: string | null;
  /** The exact body sent on every attempt. */
  body: string;
}

type DeliveryRecord =
  | { type: 'created'; delivery: Omit<Delivery, 'attempts' | 'status'> }
  | { type: 'attempt'; id: string; attempt: Attempt; status: DeliveryStatus; nextAttemptAt: string | null }
  | { type: 'status'; id: string; status: DeliveryStatus; nextAttemptAt: string | null };

export class SubscriptionStore {
  private readonly subsFile: string;
  private subs = new Map<string, Subscription>();
  private readonly deliveries = new Map<string, Delivery>();
  private readonly bySub = new Map<string, string[]>();
  private readonly log: JsonLinesLog<DeliveryRecord>;

  constructor(dir: string, opts: { sync?: boolean } = {}) {
    mkdirSync(dir, { recursive: true });
    this.subsFile = path.join(dir, 'subscriptions.json');
    if (existsSync(this.subsFile)) {
      for (const s of JSON.parse(readFileSync(this.subsFile, 'utf8')) as Subscription[]) this.subs.set(s.id, s);
    }
    const { log, records } = JsonLinesLog.open<DeliveryRecord>(path.join(dir, 'deliveries.jsonl'), { sync: opts.sync ?? true });
    this.log = log;
    for (const r of records) this.apply(r);
  }

  list(owner?: string): Subscription[] {
    return [...this.subs.values()].filter((s) => owner === undefined || s.owner === owner);
  }

  get(id: string): Subscription | undefined {
    return this.subs.get(id);
  }

  async create(input: { url: string; filter: SubscriptionFilter; format: 'ganf' | 'alertmanager'; secret?: string; owner: string }): Promise<Subscription> {
    const sub: Subscription = {
      id: randomUUID(), url: input.url, filter: input.filter, format: input.format,
      secret: input.secret ?? randomBytes(24).toString('base64url'), owner: input.owner, createdAt: new Date().toISOString(),
    };
    this.subs.set(sub.id, sub);
    await this.persist();
    return sub;
  }

  async remove(id: string): Promise<Delivery[]> {
    this.subs.delete(id);
    await this.persist();
    const cancelled: Delivery[] = [];
    for (const d of this.deliveriesOf(id)) {
      if (d.status === 'pending') {
        this.record({ type: 'status', id: d.id, status: 'cancelled', nextAttemptAt: null });
        cancelled.push(d);
      }
    }
    return cancelled;
  }

  addDelivery(d: Omit<Delivery, 'attempts' | 'status'>): Delivery {
    this.record({ type: 'created', delivery: d });
    return this.deliveries.get(d.id)!;
  }

  recordAttempt(id: string, attempt: Attempt, status: DeliveryStatus, nextAttemptAt: string | null): void {
    this.record({ type: 'attempt', id, attempt, status, nextAttemptAt });
  }

  setStatus(id: string, status: DeliveryStatus, nextAttemptAt: string | null): void {
    this.record({ type: 'status', id, status, nextAttemptAt });
  }

  delivery(id: string): Delivery | undefined {
    return this.deliveries.get(id);
  }

  deliveriesOf(subscriptionId: string): Delivery[] {
    return (this.bySub.get(subscriptionId) ?? []).map((id) => this.deliveries.get(id)!);
  }

  pending(): Delivery[] {
    return [...this.deliveries.values()].filter((d) => d.status === 'pending');
  }

  countByStatus(status: DeliveryStatus): number {
    let n = 0;
    for (const d of this.deliveries.values()) if (d.status === status) n++;
    return n;
  }

  close(): void {
    this.log.close();
  }

  private record(r: DeliveryRecord): void {
    this.log.append(r);
    this.apply(r);
  }

  private apply(r: DeliveryRecord): void {
    if (r.type === 'created') {
      this.deliveries.set(r.delivery.id, { ...r.delivery, status: 'pending', attempts: [] });
      const list = this.bySub.get(r.delivery.subscriptionId) ?? [];
      list.push(r.delivery.id);
      this.bySub.set(r.delivery.subscriptionId, list);
      return;
    }
    const d = this.deliveries.get(r.id);
    if (!d) return;
    if (r.type === 'attempt') d.attempts.push(r.attempt);
    d.status = r.status;
    d.nextAttemptAt = r.nextAttemptAt;
  }

  private async persist(): Promise<void> {
    await writeFileAtomic(this.subsFile, JSON.stringify([...this.subs.values()], null, 1));
    chmodSync(this.subsFile, 0o600); // holds the signing secrets
  }
}
