/**
 * Storage for anomaly scores as time series: a small ScoreStore interface, the pure
 * line-protocol encoder, and an InfluxDB 1.x implementation over its HTTP API
 * (/write and /query with fetch; no client library, so nothing to pin but the API).
 */

/** A field value: number -> float, bigint -> integer (`42i`), boolean, string. */
export type FieldValue = number | bigint | boolean | string;

export interface InfluxSeries {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface ScoreStore {
  /**
   * Writes line-protocol lines whose timestamps are in milliseconds (as produced by
   * toLineProtocol). Creates the database on first use.
   */
  writeLines(lines: string[]): Promise<void>;
  /** Runs InfluxQL statements against the store's database; throws on a statement error. */
  query(influxql: string): Promise<InfluxSeries[]>;
  close(): Promise<void>;
}

export interface InfluxStoreOptions {
  /** Default http://127.0.0.1:8086 */
  url?: string;
  database: string;
  /** Retention policy to write to; default the database's default policy. */
  retentionPolicy?: string;
  /** Per-request timeout, ms. Default 10000. */
  timeoutMs?: number;
  /** Issue CREATE DATABASE before the first write or query (idempotent). Default true. */
  createDatabase?: boolean;
}

// ---------------------------------------------------------------- line protocol

const ILLEGAL_CHARS = /[\n\r]/;

function checkIdentifier(what: string, s: string): void {
  if (s.length === 0) throw new Error(`line protocol: ${what} must not be empty`);
  if (ILLEGAL_CHARS.test(s)) throw new Error(`line protocol: ${what} ${JSON.stringify(s)} contains a newline`);
  // A trailing backslash would escape the following delimiter and cannot be written unambiguously.
  if (s.endsWith('\\')) throw new Error(`line protocol: ${what} ${JSON.stringify(s)} ends with a backslash`);
}

/** Measurement names: commas and spaces are escaped. */
export function escapeMeasurement(name: string): string {
  checkIdentifier('measurement', name);
  return name.replace(/[, ]/g, (c) => `\\${c}`);
}

/** Tag keys, tag values and field keys: commas, equals signs and spaces are escaped. */
export function escapeKey(key: string, what = 'key'): string {
  checkIdentifier(what, key);
  return key.replace(/[,= ]/g, (c) => `\\${c}`);
}

/**
 * String field values: double-quoted, with backslashes and double quotes escaped.
 * Newlines are allowed inside the quotes (InfluxDB 1.x keeps them).
 */
export function quoteFieldString(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function formatField(key: string, value: FieldValue): string {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`line protocol: field ${key} is ${value}; only finite numbers can be stored`);
      return String(value);
    case 'bigint':
      if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new Error(`line protocol: field ${key} overflows int64`);
      return `${value}i`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return quoteFieldString(value);
    default:
      throw new Error(`line protocol: field ${key} has unsupported type ${typeof value}`);
  }
}

/**
 * Encodes one point as an InfluxDB line-protocol line with a millisecond timestamp
 * (write it with precision=ms, as InfluxScoreStore does).
 * Tags are sorted by key (InfluxDB's preferred order); tags with an empty or undefined
 * value are omitted (InfluxDB cannot store empty tag values); fields with an undefined
 * value are omitted, and at least one field must remain. Numbers are floats: use a bigint
 * for an integer field. timestampMs undefined lets the server assign the time.
 */
export function toLineProtocol(
  measurement: string,
  tags: Record<string, string | undefined>,
  fields: Record<string, FieldValue | undefined>,
  timestampMs?: number,
): string {
  let line = escapeMeasurement(measurement);
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value === undefined || value === '') continue;
    line += `,${escapeKey(key, 'tag key')}=${escapeKey(value, 'tag value')}`;
  }
  const encoded: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    encoded.push(`${escapeKey(key, 'field key')}=${formatField(key, value)}`);
  }
  if (encoded.length === 0) throw new Error(`line protocol: point in ${measurement} has no fields`);
  line += ` ${encoded.join(',')}`;
  if (timestampMs !== undefined) {
    if (!Number.isSafeInteger(timestampMs)) {
      throw new Error(`line protocol: timestampMs must be an integer number of milliseconds, got ${timestampMs}`);
    }
    line += ` ${timestampMs}`;
  }
  return line;
}

/** Quotes an identifier (database, measurement, tag or field name) for InfluxQL. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Quotes a string literal for InfluxQL. */
export function quoteString(value: string): string {
  return `'${value.replace(/['\\]/g, (c) => `\\${c}`)}'`;
}

// ---------------------------------------------------------------- InfluxDB 1.x

interface QueryResponse {
  results?: Array<{
    statement_id?: number;
    error?: string;
    series?: Array<{ name?: string; tags?: Record<string, string>; columns?: string[]; values?: unknown[][] }>;
  }>;
  error?: string;
}

/** ScoreStore on InfluxDB 1.x's HTTP API. */
export class InfluxScoreStore implements ScoreStore {
  readonly url: string;
  readonly database: string;
  private readonly retentionPolicy: string | undefined;
  private readonly timeoutMs: number;
  private ready: Promise<void> | undefined;

  constructor(options: InfluxStoreOptions) {
    if (!options.database) throw new Error('InfluxScoreStore: database is required');
    this.url = (options.url ?? 'http://127.0.0.1:8086').replace(/\/+$/, '');
    this.database = options.database;
    this.retentionPolicy = options.retentionPolicy;
    this.timeoutMs = options.timeoutMs ?? 10000;
    if (options.createDatabase === false) this.ready = Promise.resolve();
  }

  /** GET /ping: resolves to the server version, throws if the server is not reachable. */
  async ping(): Promise<string> {
    const res = await this.request('/ping', { method: 'GET' });
    if (res.status !== 204) throw new Error(`InfluxDB ping at ${this.url} answered ${res.status}`);
    return res.headers.get('x-influxdb-version') ?? 'unknown';
  }

  async writeLines(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.ensureDatabase();
    const params = new URLSearchParams({ db: this.database, precision: 'ms' });
    if (this.retentionPolicy) params.set('rp', this.retentionPolicy);
    const res = await this.request(`/write?${params}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: lines.join('\n'),
    });
    if (res.status !== 204) {
      throw new Error(`InfluxDB write to ${this.database} failed (${res.status}): ${await errorText(res)}`);
    }
  }

  async query(influxql: string): Promise<InfluxSeries[]> {
    await this.ensureDatabase();
    return this.rawQuery(influxql, this.database);
  }

  /** Drops the store's database (tests, resets). */
  async dropDatabase(): Promise<void> {
    await this.rawQuery(`DROP DATABASE ${quoteIdentifier(this.database)}`);
    this.ready = undefined;
  }

  async close(): Promise<void> {
    // Stateless HTTP: nothing to release.
  }

  private ensureDatabase(): Promise<void> {
    if (!this.ready) {
      this.ready = this.rawQuery(`CREATE DATABASE ${quoteIdentifier(this.database)}`).then(
        () => undefined,
        (err: unknown) => {
          this.ready = undefined; // retry on the next call
          throw err;
        },
      );
    }
    return this.ready;
  }

  private async rawQuery(influxql: string, db?: string): Promise<InfluxSeries[]> {
    const params = new URLSearchParams({ q: influxql, epoch: 'ms' });
    if (db) params.set('db', db);
    // POST is accepted for every statement (GET only for SELECT/SHOW).
    const res = await this.request('/query', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
    });
    const text = await res.text();
    let body: QueryResponse;
    try {
      body = JSON.parse(text) as QueryResponse;
    } catch {
      throw new Error(`InfluxDB query failed (${res.status}): ${text.slice(0, 500)}`);
    }
    if (!res.ok || body.error) throw new Error(`InfluxDB query failed (${res.status}): ${body.error ?? text.slice(0, 500)}`);
    const series: InfluxSeries[] = [];
    for (const result of body.results ?? []) {
      if (result.error) throw new Error(`InfluxDB query error: ${result.error} (in: ${influxql})`);
      for (const s of result.series ?? []) {
        series.push({ name: s.name ?? '', tags: s.tags ?? {}, columns: s.columns ?? [], values: s.values ?? [] });
      }
    }
    return series;
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new Error(`InfluxDB at ${this.url} is not reachable (${reason})`);
    }
  }
}

/** Rows of a series as objects keyed by column name (tags included). */
export function seriesRows(series: InfluxSeries): Array<Record<string, unknown>> {
  return series.values.map((row) => {
    const obj: Record<string, unknown> = { ...series.tags };
    series.columns.forEach((col, i) => {
      obj[col] = row[i];
    });
    return obj;
  });
}

async function errorText(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const parsed = JSON.parse(text) as { error?: string };
    return parsed.error ?? text;
  } catch {
    return text;
  }
}
