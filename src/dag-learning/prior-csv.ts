// Parsing of user-supplied prior topologies (grid lines, road segments) into index edges. Two
// layouts: an edge list `source,target[,weight]`, or a K×K adjacency matrix whose row/column order
// is the sensor order (as ../shared/data/los-loop/los_adj.csv, which has no header and follows the
// column order of los_speed.csv) or is named by a header row.
import { csvRecords } from '../data/csv.ts';

export interface PriorEdge {
  from: number;
  to: number;
  /** > 0; 1 when the edge list gives no weight. */
  weight: number;
}

interface CsvLine {
  /** 1-based line number in the file, for error messages. */
  line: number;
  fields: string[];
}

/**
 * The records of the project's CSV tokenizer (src/data/csv.ts), without blank lines and `#`
 * comment lines: a hand-written prior may be annotated and spaced out.
 */
export function readCsvLines(text: string): CsvLine[] {
  // Comment lines are blanked before tokenizing (line numbers kept), so a quote in a comment is no error.
  const uncommented = text.replace(/^[ \t]*#.*$/gm, '');
  return csvRecords(uncommented, ',').filter((r) => !(r.fields.length === 1 && r.fields[0] === ''));
}

const isNumber = (s: string): boolean => s !== '' && Number.isFinite(Number(s));

function sensorIndex(sensors: readonly string[]): Map<string, number> {
  return new Map(sensors.map((s, i) => [s, i]));
}

/**
 * `source,target[,weight]` rows. The first row is taken as a header only when neither of its first
 * two fields is a known sensor and it has no numeric weight, so a misspelt sensor further down
 * is always reported, never skipped. Self-loops are dropped (a DAG cannot use them).
 */
export function parseEdgeListCsv(text: string, sensors: readonly string[]): PriorEdge[] {
  const pos = sensorIndex(sensors);
  const lines = readCsvLines(text);
  const first = lines[0];
  if (first && !pos.has(first.fields[0]) && !pos.has(first.fields[1] ?? '') && !isNumber(first.fields[2] ?? '')) lines.shift();
  const edges: PriorEdge[] = [];
  for (const { line, fields } of lines) {
    if (fields.length < 2 || fields.length > 3) throw new Error(`line ${line}: expected source,target[,weight] but found ${fields.length} field(s)`);
    const [source, target, w] = fields;
    const from = pos.get(source);
    const to = pos.get(target);
    if (from === undefined) throw new Error(`line ${line}: unknown sensor "${source}"`);
    if (to === undefined) throw new Error(`line ${line}: unknown sensor "${target}"`);
    const weight = w === undefined || w === '' ? 1 : Number(w);
    if (!(Number.isFinite(weight) && weight > 0)) throw new Error(`line ${line}: weight must be a positive number (got "${w}")`);
    if (from !== to) edges.push({ from, to, weight });
  }
  return edges;
}

/**
 * K×K matrix, entry (row k, column j) > 0 meaning an edge k → j with that weight. Either exactly
 * K rows in sensor order (no header), or K + 1 rows whose first names the columns; data rows may
 * then start with their own sensor name (and the header with a corner cell). The row count, not
 * the look of the first row, decides: sensor ids are often numeric. The diagonal is ignored.
 */
export function parseAdjacencyCsv(text: string, sensors: readonly string[]): PriorEdge[] {
  const K = sensors.length;
  const pos = sensorIndex(sensors);
  const lines = readCsvLines(text);
  let colOf: number[] = sensors.map((_, i) => i);
  let rowLabels = false;
  if (lines.length === K + 1) {
    const header = lines.shift()!;
    rowLabels = header.fields.length === K + 1;
    const names = rowLabels ? header.fields.slice(1) : header.fields;
    if (names.length !== K) throw new Error(`line ${header.line}: header names ${names.length} columns for ${K} sensors`);
    colOf = names.map((name) => {
      const i = pos.get(name);
      if (i === undefined) throw new Error(`line ${header.line}: unknown sensor "${name}" in the header`);
      return i;
    });
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`line ${header.line}: sensor "${dup}" appears twice in the header`);
  } else if (lines.length !== K) {
    throw new Error(`adjacency matrix has ${lines.length} rows; expected ${K} (one per sensor) or ${K + 1} (with a header row)`);
  }
  const edges: PriorEdge[] = [];
  const seenRows = new Set<number>();
  lines.forEach(({ line, fields }, r) => {
    let values = fields;
    let from = colOf[r];
    if (rowLabels) {
      const label = fields[0];
      const i = pos.get(label);
      if (i === undefined) throw new Error(`line ${line}: unknown sensor "${label}" as row label`);
      if (seenRows.has(i)) throw new Error(`line ${line}: row for sensor "${label}" appears twice`);
      seenRows.add(i);
      from = i;
      values = fields.slice(1);
    }
    if (values.length !== K) throw new Error(`line ${line}: row has ${values.length} values; expected ${K}`);
    values.forEach((v, c) => {
      const w = Number(v);
      if (v === '' || !Number.isFinite(w) || w < 0) throw new Error(`line ${line}, column ${c + 1}: expected a non-negative number (got "${v}")`);
      const to = colOf[c];
      if (w > 0 && from !== to) edges.push({ from, to, weight: w });
    });
  });
  return edges;
}
