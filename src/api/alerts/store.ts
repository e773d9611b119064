// Durable alert storage. `AlertStore` is the seam; `JsonlAlertStore` keeps every change in an
// append-only JSON-lines log (fsynced per record) and serves queries from in-memory indexes
// rebuilt from the log at start. Each change gets the next value of one monotonically increasing
// sequence number: the SSE event id, so a client reconnecting with Last-Event-ID is replayed
// exactly the changes it has not seen.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { JsonLinesLog } from '../../adapters/fs-atomic.ts';
import { AlertFieldsSchema, alertId, type Alert, type AlertStatus } from '../../scoring/alert.ts';

export interface AckRecord {
  by: string;
  at: string;
  comment: string | null;
}

/** An alert instance as stored: the alert as produced, plus the store's bookkeeping. */
export type StoredAlert = Alert & {
  /** The instance: fingerprint + start (alertId). */
  id: string;
  /** First time the API saw this alert instance. */
  receivedAt: string;
  updatedAt: string;
  /** Sequence number of the alert's latest change. */
  seq: number;
  /** Latest acknowledgement, null if never acknowledged. */
  ack: AckRecord | null;
  acks: AckRecord[];
  /** Set when an operator marked the alert a false positive (the period was normal operation). */
  falsePositive: AckRecord | null;
};

export interface AlertChange {
  seq: number;
  type: 'alert' | 'ack' | 'false-positive';
  at: string;
  /** The alert as it was right after this change. */
  alert: StoredAlert;
}

export interface AlertQuery {
  /** Alerts active at some time in [from, to): startsAt < to and (endsAt >= from or still firing). */
  from?: number;
  to?: number;
  site?: string;
  /** Matches alerts with this sensor among their top sensors. */
  sensor?: string;
  status?: AlertStatus;
  severity?: string;
  limit: number;
  /** Opaque cursor from a previous page's nextCursor. */
  cursor?: string;
}

export interface AlertPage {
  items: StoredAlert[];
  nextCursor: string | null;
}

export type IngestOutcome = 'created' | 'updated' | 'unchanged' | 'stale';

export interface AlertStore {
  /** Adds or updates an alert instance. Re-delivered or stale messages change nothing (no new seq). */
  ingest(alert: Alert): { outcome: IngestOutcome; change: AlertChange | null };
  /** Records who acknowledged the alert and when; undefined if there is no such alert. */
  ack(id: string, by: string, comment?: string | null): AlertChange | undefined;
  /** Marks (or with value false, unmarks) the alert a false positive; undefined if there is no such alert. */
  markFalsePositive(id: string, by: string, comment: string | null, value: boolean): AlertChange | undefined;
  get(id: string): StoredAlert | undefined;
  query(q: AlertQuery): AlertPage;
  /** Changes with seq > afterSeq, oldest first (at most `limit`). */
  changesSince(afterSeq: number, limit?: number): AlertChange[];
  lastSeq(): number;
  /** Called synchronously after every committed change; returns an unsubscribe function. */
  onChange(listener: (c: AlertChange) => void): () => void;
  counts(): { total: number; firing: number; byStatusSeverity: Record<string, number> };
  close(): void;
}

export class CursorError extends Error {
  override name = 'CursorError';
}

type LogRecord =
  | { seq: number; type: 'alert'; at: string; alert: Alert }
  | { seq: number; type: 'ack'; at: string; id: string; by: string; comment: string | null }
  | { seq: number; type: 'false-positive'; at: string; id: string; by: string; comment: string | null; value: boolean };

const ALERT_KEYS = Object.keys(AlertFieldsSchema.shape) as (keyof Alert)[];

/** The alert's own fields (not the store's bookkeeping), in a fixed order. */
function comparable(a: Alert): string {
  return JSON.stringify(ALERT_KEYS.map((k) => a[k]));
}

export class JsonlAlertStore implements AlertStore {
  private readonly log: JsonLinesLog<LogRecord>;
  private readonly byId = new Map<string, StoredAlert>();
  /** Ids ordered by (startsAt desc, id desc): the listing order. */
  private ordered: { t: number; id: string }[] = [];
  private readonly bySite = new Map<string, Set<string>>();
  private readonly bySensor = new Map<string, Set<string>>();
  private readonly byStatus = new Map<string, Set<string>>();
  private readonly bySeverity = new Map<string, Set<string>>();
  private readonly changes: AlertChange[] = [];
  private seq = 0;
  private readonly events = new EventEmitter();
  private readonly now: () => Date;

  constructor(dir: string, opts: { sync?: boolean; now?: () => Date } = {}) {
    mkdirSync(dir, { recursive: true });
    this.now = opts.now ?? (() => new Date());
    const { log, records } = JsonLinesLog.open<LogRecord>(path.join(dir, 'alerts.jsonl'), { sync: opts.sync ?? true });
    this.log = log;
    this.events.setMaxListeners(0);
    for (const r of records) this.apply(r);
  }

  ingest(alert: Alert): { outcome: IngestOutcome; change: AlertChange | null } {
    const prev = this.byId.get(alertId(alert));
    if (prev) {
      if (comparable(prev) === comparable(alert)) return { outcome: 'unchanged', change: null };
      // Resolved is final for an instance: a late "firing" (e.g. a redelivered older message) is stale.
      if (prev.status === 'resolved' && alert.status === 'firing') return { outcome: 'stale', change: null };
    }
    const change = this.commit({ seq: this.seq + 1, type: 'alert', at: this.now().toISOString(), alert });
    return { outcome: prev ? 'updated' : 'created', change };
  }

  ack(id: string, by: string, comment: string | null = null): AlertChange | undefined {
    if (!this.byId.has(id)) return undefined;
    return this.commit({ seq: this.seq + 1, type: 'ack', at: this.now().toISOString(), id, by, comment });
  }

  markFalsePositive(id: string, by: string, comment: string | null, value: boolean): AlertChange | undefined {
    if (!this.byId.has(id)) return undefined;
    return this.commit({ seq: this.seq + 1, type: 'false-positive', at: this.now().toISOString(), id, by, comment, value });
  }

  get(id: string): StoredAlert | undefined {
    return this.byId.get(id);
  }

  query(q: AlertQuery): AlertPage {
    let after: { t: number; id: string } | undefined;
    if (q.cursor) after = decodeCursor(q.cursor);
    // Smallest index set among the equality filters, then a check of every filter.
    const sets: Set<string>[] = [];
    if (q.site !== undefined) sets.push(this.bySite.get(q.site) ?? new Set());
    if (q.sensor !== undefined) sets.push(this.bySensor.get(q.sensor) ?? new Set());
    if (q.status !== undefined) sets.push(this.byStatus.get(q.status) ?? new Set());
    if (q.severity !== undefined) sets.push(this.bySeverity.get(q.severity) ?? new Set());
    sets.sort((a, b) => a.size - b.size);
    const restrict = sets[0];
    const matches = (a: StoredAlert): boolean =>
      (q.site === undefined || a.labels.site === q.site) &&
      (q.status === undefined || a.status === q.status) &&
      (q.severity === undefined || a.labels.severity === q.severity) &&
      (q.sensor === undefined || alertSensors(a).includes(q.sensor)) &&
      (q.from === undefined || a.endsAt === null || Date.parse(a.endsAt) >= q.from);

    // Start position: first entry with startsAt < to, and strictly after the cursor.
    let i = 0;
    if (q.to !== undefined) i = this.firstIndexBefore(q.to);
    if (after) i = Math.max(i, this.firstIndexAfter(after));
    const items: StoredAlert[] = [];
    let nextCursor: string | null = null;
    for (; i < this.ordered.length; i++) {
      const { id } = this.ordered[i];
      if (restrict && !restrict.has(id)) continue;
      const a = this.byId.get(id)!;
      if (!matches(a)) continue;
      if (items.length === q.limit) {
        const last = items[items.length - 1];
        nextCursor = encodeCursor({ t: Date.parse(last.startsAt), id: last.id });
        break;
      }
      items.push(a);
    }
    return { items, nextCursor };
  }

  changesSince(afterSeq: number, limit = Infinity): AlertChange[] {
    // changes[i].seq === i + 1
    const start = Math.max(0, Math.min(afterSeq, this.changes.length));
    return this.changes.slice(start, Math.min(this.changes.length, start + limit));
  }

  lastSeq(): number {
    return this.seq;
  }

  onChange(listener: (c: AlertChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  counts(): { total: number; firing: number; byStatusSeverity: Record<string, number> } {
    const byStatusSeverity: Record<string, number> = {};
    for (const a of this.byId.values()) {
      const k = `${a.status}|${a.labels.severity}`;
      byStatusSeverity[k] = (byStatusSeverity[k] ?? 0) + 1;
    }
    return { total: this.byId.size, firing: this.byStatus.get('firing')?.size ?? 0, byStatusSeverity };
  }

  close(): void {
    this.events.removeAllListeners();
    this.log.close();
  }

  // ------------------------------------------------------------------------------------------

  private commit(r: LogRecord): AlertChange {
    this.log.append(r); // durable first: nothing is visible that a crash could lose
    const change = this.apply(r);
    for (const l of this.events.listeners('change')) {
      try {
        (l as (c: AlertChange) => void)(change);
      } catch {
        // A failing listener must not undo a committed change or starve the others.
      }
    }
    return change;
  }

  private apply(r: LogRecord): AlertChange {
    if (r.seq !== this.seq + 1) throw new Error(`alert log: expected seq ${this.seq + 1}, found ${r.seq}`);
    this.seq = r.seq;
    let stored: StoredAlert;
    if (r.type === 'alert') {
      const id = alertId(r.alert);
      const prev = this.byId.get(id);
      if (prev) this.unindex(prev);
      stored = {
        ...r.alert,
        id,
        receivedAt: prev?.receivedAt ?? r.at,
        updatedAt: r.at,
        seq: r.seq,
        ack: prev?.ack ?? null,
        acks: prev?.acks ?? [],
        falsePositive: prev?.falsePositive ?? null,
      };
      if (!prev) this.insertOrdered(stored);
    } else {
      const prev = this.byId.get(r.id);
      if (!prev) throw new Error(`alert log: ${r.type} of unknown alert ${r.id} at seq ${r.seq}`);
      this.unindex(prev);
      const record = { by: r.by, at: r.at, comment: r.comment };
      stored = r.type === 'ack'
        ? { ...prev, updatedAt: r.at, seq: r.seq, ack: record, acks: [...prev.acks, record] }
        : { ...prev, updatedAt: r.at, seq: r.seq, falsePositive: r.value ? record : null };
    }
    this.byId.set(stored.id, stored);
    this.index(stored);
    const change: AlertChange = { seq: r.seq, type: r.type, at: r.at, alert: stored };
    this.changes.push(change);
    return change;
  }

  private index(a: StoredAlert): void {
    add(this.bySite, a.labels.site, a.id);
    add(this.byStatus, a.status, a.id);
    add(this.bySeverity, a.labels.severity, a.id);
    for (const s of alertSensors(a)) add(this.bySensor, s, a.id);
  }

  private unindex(a: StoredAlert): void {
    this.bySite.get(a.labels.site)?.delete(a.id);
    this.byStatus.get(a.status)?.delete(a.id);
    this.bySeverity.get(a.labels.severity)?.delete(a.id);
    for (const s of alertSensors(a)) this.bySensor.get(s)?.delete(a.id);
  }

  private insertOrdered(a: StoredAlert): void {
    const key = { t: Date.parse(a.startsAt), id: a.id };
    const i = this.firstIndexAfterOrEqual(key);
    this.ordered.splice(i, 0, key);
  }

  /** Order: larger t first; equal t: larger id first. before(x, y) = x sorts before y. */
  private static before(x: { t: number; id: string }, y: { t: number; id: string }): boolean {
    return x.t > y.t || (x.t === y.t && x.id > y.id);
  }

  private firstIndexAfterOrEqual(key: { t: number; id: string }): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (JsonlAlertStore.before(this.ordered[mid], key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private firstIndexAfter(key: { t: number; id: string }): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = this.ordered[mid];
      if (JsonlAlertStore.before(e, key) || (e.t === key.t && e.id === key.id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First entry with startsAt < t. */
  private firstIndexBefore(t: number): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ordered[mid].t >= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The sensors an alert is about (the `sensor` filter): its sensor label and its top sensors. */
export function alertSensors(a: Alert): string[] {
  return [...new Set([...(a.labels.sensor === undefined ? [] : [a.labels.sensor]), ...a.topSensors.map((t) => t.sensor)])];
}

function add(m: Map<string, Set<string>>, k: string, id: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(id);
}

export function encodeCursor(c: { t: number; id: string }): string {
  return Buffer.from(JSON.stringify([c.t, c.id])).toString('base64url');
}

export function decodeCursor(s: string): { t: number; id: string } {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string') return { t: v[0], id: v[1] };
  } catch {
    // fall through
  }
  throw new CursorError('cursor is not one this API issued');
}
