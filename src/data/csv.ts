// CSV text -> SeriesTable (reading the file is src/adapters/csv-file.ts). Strict on purpose: a garbage cell, a duplicate header or a timestamp going
// backwards is an error naming the line and column, because a silently mis-parsed sensor would
// surface much later as a baffling anomaly score.
import { z } from 'zod';
import { DataError, type SeriesTable } from './table.ts';
import { CsvOptionsSchema, type CsvOptions } from './options.ts';
import { NUMBER_RE, timestampParser } from './timestamps.ts';

export { DataError } from './table.ts';
export type { CsvOptions } from './options.ts';

type ResolvedCsvOptions = z.output<typeof CsvOptionsSchema>;

const TIMESTAMP_NAMES = ['timestamp', 'time', 'datetime', 'date'];
const LABEL_NAMES = ['label', 'anomaly', 'attack', 'att_flag'];
const MISSING_TOKENS = new Set(['', 'nan', 'null', 'na']);

export interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts. */
  line: number;
}

/**
 * RFC 4180 records: quoted fields may hold delimiters, doubled quotes and newlines. The project's
 * one CSV tokenizer: parseCsv below, fixture tables (src/fixtures/io.ts) and prior topologies read
 * through it.
 */
export function csvRecords(text: string, delimiter: string = ',', source?: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  /** A quoted field was closed: only spaces may follow before the next delimiter. */
  let afterQuote = false;
  const endField = () => {
    afterQuote = false;
    // Every cell here is a name, number or timestamp, where surrounding spaces never carry meaning
    // (BATADAL pads some header names).
    fields.push(field.trim());
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push({ fields, line: recordLine });
    fields = [];
  };

  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
          afterQuote = true;
        }
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (afterQuote && c !== delimiter && c !== '\n' && c !== '\r' && c.trim() !== '') {
      throw new DataError({ source, line, reason: 'unexpected text after a quoted field' });
    } else if (c === '"') {
      if (field.trim() !== '') {
        throw new DataError({ source, line, reason: 'quote inside an unquoted field' });
      }
      field = '';
      quoted = true;
    } else if (c === delimiter) {
      endField();
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      field += c;
    }
  }
  if (quoted) throw new DataError({ source, line: recordLine, reason: 'unterminated quoted field' });
  endRecord();
  // Only trailing blank lines are dropped: inside the data a blank line is either an error (several
  // columns) or a missing value (one column), never something to skip silently.
  const blank = (r: CsvRecord) => r.fields.length === 1 && r.fields[0] === '';
  while (records.length > 0 && blank(records[records.length - 1])) records.pop();
  return records;
}

function isMissing(cell: string): boolean {
  return MISSING_TOKENS.has(cell.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// Columns

interface ColumnPlan {
  timestampAt: number | undefined;
  labelAt: number | undefined;
  sensors: string[];
  features: string[];
  /** For each header column, its (sensor, feature) slot, or undefined when it is not a sensor column. */
  slot: ({ k: number; d: number } | undefined)[];
}

function findByName(header: string[], candidates: string[], what: string, optionName: string, source?: string): number | undefined {
  const hits = header.map((h, i) => [h, i] as const).filter(([h]) => candidates.includes(h.toLowerCase()));
  if (hits.length > 1) {
    throw new DataError({
      source,
      field: optionName,
      reason: `several columns look like the ${what} (${hits.map(([h]) => h).join(', ')}); set ${optionName}`,
    });
  }
  return hits[0]?.[1];
}

function planColumns(header: string[], opts: ResolvedCsvOptions, notify: Notify, source?: string): ColumnPlan {
  const seen = new Set<string>();
  for (const h of header) {
    if (h === '') throw new DataError({ source, line: 1, reason: 'empty column name in header' });
    if (seen.has(h)) throw new DataError({ source, line: 1, field: h, reason: 'duplicate column name' });
    seen.add(h);
  }
  const named = (name: string, option: string) => {
    const at = header.indexOf(name.trim());
    if (at < 0) throw new DataError({ source, field: name, reason: `${option} names a column that is not in the header` });
    return at;
  };
  // Label and ignored columns are optional: one preset serves a dataset's labelled runs and its
  // label-free file (SKAB's anomaly-free.csv has no anomaly/changepoint columns). Said, not silent,
  // because a misspelt name would otherwise leave the column in as a sensor.
  const optional = (name: string, option: string) => {
    const at = header.indexOf(name.trim());
    if (at < 0) notify(`${source ?? 'csv'}: ${option} "${name}" is not in the header; ${option === 'labelColumn' ? 'no labels read' : 'nothing dropped'}`);
    return at < 0 ? undefined : at;
  };

  const dropped = new Set(opts.dropColumns.map((c) => optional(c, 'dropColumns')).filter((i) => i !== undefined));
  const timestampAt =
    opts.timestampColumn === null
      ? undefined
      : opts.timestampColumn !== undefined
        ? named(opts.timestampColumn, 'timestampColumn')
        : findByName(header, TIMESTAMP_NAMES, 'timestamp', 'timestampColumn', source);
  const labelAt =
    opts.labelColumn === null
      ? undefined
      : opts.labelColumn !== undefined
        ? optional(opts.labelColumn, 'labelColumn')
        : findByName(header, LABEL_NAMES, 'label', 'labelColumn', source);
  if (timestampAt !== undefined && timestampAt === labelAt) {
    throw new DataError({ source, field: header[timestampAt], reason: 'the same column cannot be timestamp and label' });
  }

  const sensorColumns: number[] = [];
  header.forEach((_, i) => {
    if (i !== timestampAt && i !== labelAt && !dropped.has(i)) sensorColumns.push(i);
  });
  if (sensorColumns.length === 0) throw new DataError({ source, line: 1, reason: 'no sensor columns left' });

  const slot: ColumnPlan['slot'] = header.map(() => undefined);
  const sep = opts.featureSeparator;
  if (sep === undefined) {
    sensorColumns.forEach((col, k) => (slot[col] = { k, d: 0 }));
    return { timestampAt, labelAt, sensors: sensorColumns.map((c) => header[c]), features: ['value'], slot };
  }

  const bySensor = new Map<string, Map<string, number>>();
  for (const col of sensorColumns) {
    const name = header[col];
    const cut = name.lastIndexOf(sep);
    if (cut <= 0 || cut + sep.length >= name.length) {
      throw new DataError({ source, field: name, reason: `column name has no "<sensor>${sep}<feature>" form` });
    }
    const sensor = name.slice(0, cut);
    const feature = name.slice(cut + sep.length);
    if (!bySensor.has(sensor)) bySensor.set(sensor, new Map());
    bySensor.get(sensor)!.set(feature, col);
  }
  const sensors = [...bySensor.keys()];
  const features = [...bySensor.get(sensors[0])!.keys()];
  sensors.forEach((sensor, k) => {
    const own = bySensor.get(sensor)!;
    const missing = features.filter((f) => !own.has(f));
    const extra = [...own.keys()].filter((f) => !features.includes(f));
    if (missing.length > 0 || extra.length > 0) {
      throw new DataError({
        source,
        field: sensor,
        reason:
          `every sensor needs the same features as "${sensors[0]}" (${features.join(', ')})` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') +
          (extra.length ? `; unexpected: ${extra.join(', ')}` : ''),
      });
    }
    features.forEach((f, d) => (slot[own.get(f)!] = { k, d }));
  });
  return { timestampAt, labelAt, sensors, features, slot };
}

// ---------------------------------------------------------------------------------------------

/** Where the reader says what it did on its own (an optional column absent, an index column dropped). */
export type Notify = (message: string) => void;

const toStderr: Notify = (m) => {
  if (process.env.GANF_QUIET !== '1') process.stderr.write(`[ganf] ${m}\n`);
};

export function parseCsv(text: string, options: CsvOptions = {}, source?: string, notify: Notify = toStderr): SeriesTable {
  const parsed = CsvOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new DataError({ source, field: 'options', reason: z.prettifyError(parsed.error) });
  }
  const opts = parsed.data;
  const records = csvRecords(text, opts.delimiter, source);
  if (records.length === 0) throw new DataError({ source, reason: 'file is empty' });

  const header = records[0].fields.map((h) => h.trim());
  const plan = planColumns(header, opts, notify, source);
  const rows = records.slice(1);
  const T = rows.length;
  const K = plan.sensors.length;
  const D = plan.features.length;

  const timestamps = new Float64Array(T);
  const values = new Float32Array(T * K * D);
  const labels = plan.labelAt !== undefined ? new Uint8Array(T) : undefined;
  const tsParser =
    plan.timestampAt !== undefined && T > 0 ? timestampParser(opts.timestampFormat, rows[0].fields[plan.timestampAt]) : undefined;

  for (let t = 0; t < T; t++) {
    const { fields, line } = rows[t];
    if (fields.length !== header.length) {
      throw new DataError({ source, line, reason: `expected ${header.length} fields, found ${fields.length}` });
    }
    if (tsParser) {
      const cell = fields[plan.timestampAt!];
      const ms = tsParser.parse(cell);
      if (ms === undefined || !Number.isFinite(ms)) {
        throw new DataError({ source, line, field: header[plan.timestampAt!], reason: `"${cell}" is not a timestamp (${tsParser.describe})` });
      }
      if (t > 0 && ms <= timestamps[t - 1]) {
        throw new DataError({
          source,
          line,
          field: header[plan.timestampAt!],
          reason: `timestamps must be strictly increasing ("${cell}" is not after line ${rows[t - 1].line})`,
        });
      }
      timestamps[t] = ms;
    } else {
      timestamps[t] = t * opts.intervalMs;
    }

    if (labels) {
      const cell = fields[plan.labelAt!];
      if (!NUMBER_RE.test(cell)) {
        throw new DataError({ source, line, field: header[plan.labelAt!], reason: `label "${cell}" is not a number` });
      }
      // BATADAL marks unknown hours with -999; only positive values are attacks.
      labels[t] = Number(cell) > 0 ? 1 : 0;
    }

    const base = t * K * D;
    for (let c = 0; c < fields.length; c++) {
      const s = plan.slot[c];
      if (!s) continue;
      const cell = fields[c];
      let v: number;
      if (isMissing(cell)) v = NaN;
      else if (NUMBER_RE.test(cell)) v = Number(cell);
      else throw new DataError({ source, line, field: header[c], reason: `"${cell}" is not a number` });
      values[base + s.k * D + s.d] = v;
    }
  }

  return dropIndexColumns({
    timestamps,
    sensors: plan.sensors,
    features: plan.features,
    values,
    ...(labels ? { labels } : {}),
  }, notify, source);
}

/**
 * Integers rising by exactly 1 every row: a row number like Los-loop's `step`. A few rows cannot
 * tell a row number from a reading that happens to count up, so short files are left alone.
 */
const INDEX_MIN_ROWS = 10;

function isIndexColumn(values: Float32Array, K: number, k: number, T: number): boolean {
  if (T < INDEX_MIN_ROWS) return false;
  for (let t = 0; t < T; t++) {
    const v = values[t * K + k];
    if (!Number.isInteger(v) || (t > 0 && v - values[(t - 1) * K + k] !== 1)) return false;
  }
  return true;
}

/**
 * A row-number column is not a sensor: kept, it would be standardised on the training range and
 * then score every later row as an ever-growing anomaly. Dropped, with a message saying so.
 */
function dropIndexColumns(table: SeriesTable, notify: Notify, source?: string): SeriesTable {
  const K = table.sensors.length;
  const T = table.timestamps.length;
  if (table.features.length !== 1 || K < 2) return table;
  const index = table.sensors.map((_, k) => isIndexColumn(table.values, K, k, T));
  if (!index.some(Boolean)) return table;
  const keep = table.sensors.map((_, k) => k).filter((k) => !index[k]);
  const dropped = table.sensors.filter((_, k) => index[k]);
  notify(`${source ?? 'csv'}: column(s) ${dropped.join(', ')} look like a row index (integers rising by 1 every row); dropped, not used as sensors`);
  const values = new Float32Array(T * keep.length);
  for (let t = 0; t < T; t++) keep.forEach((k, j) => (values[t * keep.length + j] = table.values[t * K + k]));
  return { ...table, sensors: keep.map((k) => table.sensors[k]), values };
}
