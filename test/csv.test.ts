import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCsv, DataError } from '../src/data/csv.ts';
import { CsvOptionsSchema } from '../src/data/options.ts';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { sliceRows, selectSensors, tableLength, filterRows, type SeriesTable } from '../src/data/table.ts';
import { fitScaler } from '../src/data/preprocess.ts';
import { parseTimestamp } from '../src/stream/messages.ts';
import { parseTableCsv } from '../src/fixtures/io.ts';

const at = (t: SeriesTable, row: number, k: number, d = 0) => t.values[(row * t.sensors.length + k) * t.features.length + d];

function throwsData(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('ISO timestamps, auto-detected timestamp and label columns, label never a sensor', () => {
  const csv = 'Timestamp,a,b,Label\n2020-01-01T00:00:00Z,1,2,0\n2020-01-01 00:00:01,1.5,,1\n2020-01-01T00:00:02.5,NaN,null,0\n';
  const t = parseCsv(csv);
  assert.deepEqual(t.sensors, ['a', 'b']);
  assert.deepEqual(t.features, ['value']);
  assert.deepEqual([...t.timestamps], [Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 1, 0, 0, 1), Date.UTC(2020, 0, 1, 0, 0, 2, 500)]);
  assert.deepEqual([...t.labels!], [0, 1, 0]);
  assert.equal(at(t, 1, 0), 1.5);
  assert.ok(Number.isNaN(at(t, 1, 1)));
  assert.ok(Number.isNaN(at(t, 2, 0)));
  assert.ok(Number.isNaN(at(t, 2, 1)));
});

test('ISO offsets are honoured; a missing zone means UTC', () => {
  const t = parseCsv('time,x\n2020-06-01T12:00:00+02:00,1\n2020-06-01T11:00:01,2\n');
  assert.equal(t.timestamps[0], Date.UTC(2020, 5, 1, 10));
  assert.equal(t.timestamps[1], Date.UTC(2020, 5, 1, 11, 0, 1));
});

test('semicolon delimiter, patterns, dropColumns, whitespace in headers', () => {
  const csv = ' datetime ; s1 ;s2; anomaly ;changepoint\n01.02.2021 10:00:00.250;1;2;0;0\n01.02.2021 10:00:01.5;3;4;1;1\n';
  const t = parseCsv(csv, { delimiter: ';', timestampFormat: 'dd.MM.yyyy HH:mm:ss.SSS', dropColumns: ['changepoint'] });
  assert.deepEqual(t.sensors, ['s1', 's2']);
  assert.deepEqual([...t.timestamps], [Date.UTC(2021, 1, 1, 10, 0, 0, 250), Date.UTC(2021, 1, 1, 10, 0, 1, 500)]);
  assert.deepEqual([...t.labels!], [0, 1]);
  const b = parseCsv('DATETIME,x,ATT_FLAG\n06/01/14 00,1,-999\n06/01/14 01,2,1\n', { timestampFormat: 'dd/MM/yy HH' });
  assert.deepEqual([...b.timestamps], [Date.UTC(2014, 0, 6, 0), Date.UTC(2014, 0, 6, 1)]);
  assert.deepEqual([...b.labels!], [0, 1], 'BATADAL -999 (unknown) is not an attack');
});

test('changepoint is a sensor unless dropped; a dropColumns name not in the header is said, not fatal', () => {
  const csv = 'datetime;s1;anomaly;changepoint\n2020-01-01 00:00:00;1;0;0\n';
  assert.deepEqual(parseCsv(csv, { delimiter: ';' }).sensors, ['s1', 'changepoint']);
  const said: string[] = [];
  const t = parseCsv(csv, { delimiter: ';', dropColumns: ['chngpoint'] }, 'x.csv', (m) => said.push(m));
  assert.deepEqual(t.sensors, ['s1', 'changepoint']);
  assert.deepEqual(said, ['x.csv: dropColumns "chngpoint" is not in the header; nothing dropped']);
});

test('label and dropped columns are optional when missing (SKAB anomaly-free.csv under the SKAB preset)', () => {
  const opts = { delimiter: ';' as const, labelColumn: 'anomaly', dropColumns: ['changepoint'] };
  const said: string[] = [];
  const free = parseCsv('datetime;s1;s2\n2020-01-01 00:00:00;1;2\n2020-01-01 00:00:01;3;4\n', opts, 'free.csv', (m) => said.push(m));
  assert.deepEqual(free.sensors, ['s1', 's2']);
  assert.equal(free.labels, undefined);
  assert.equal(said.length, 2);
  assert.match(said.join('\n'), /labelColumn "anomaly" is not in the header; no labels read/);
  const run = parseCsv('datetime;s1;anomaly;changepoint\n2020-01-01 00:00:00;1;1;0\n', opts, 'run.csv', () => assert.fail('nothing to say'));
  assert.deepEqual(run.sensors, ['s1']);
  assert.deepEqual([...run.labels!], [1]);
});

test('a monotone integer index column (Los-loop\'s step) is dropped with a message', () => {
  const rows = Array.from({ length: 12 }, (_, i) => `${i},${(50 + (i % 3)).toFixed(1)},${i * 2}`);
  const said: string[] = [];
  const t = parseCsv(`step,s1,s2\n${rows.join('\n')}\n`, { timestampColumn: null }, 'speed.csv', (m) => said.push(m));
  // step rises by 1 every row: dropped; s2 rises by 2 (a reading that counts up): kept.
  assert.deepEqual(t.sensors, ['s1', 's2']);
  assert.deepEqual([...t.values.slice(0, 4)], [50, 0, 51, 2]);
  assert.deepEqual(said, ['speed.csv: column(s) step look like a row index (integers rising by 1 every row); dropped, not used as sensors']);
  // Short files are left alone: ten rows is the least that counts as an index.
  const short = parseCsv(`step,s1\n${rows.slice(0, 9).map((r) => r.split(',').slice(0, 2).join(',')).join('\n')}\n`, { timestampColumn: null }, 'short.csv', () => {});
  assert.deepEqual(short.sensors, ['step', 's1']);
});

test('epoch timestamps: unit auto-detected from magnitude, or explicit', () => {
  const ms = parseCsv('timestamp,x\n1600000000000,1\n1600000001000,2\n');
  assert.deepEqual([...ms.timestamps], [1600000000000, 1600000001000]);
  const s = parseCsv('timestamp,x\n1600000000,1\n1600000001.5,2\n');
  assert.deepEqual([...s.timestamps], [1600000000000, 1600000001500]);
  const rel = parseCsv('t_seconds,x\n0.00,1\n0.02,2\n', { timestampColumn: 't_seconds', timestampFormat: 'epoch-s' });
  assert.deepEqual([...rel.timestamps], [0, 20]);
});

test('no timestamp column: row index * intervalMs', () => {
  const t = parseCsv('773869,767541\n64.375,67.625\n61.5,66.875\n60,61\n', { intervalMs: 300_000 });
  assert.deepEqual(t.sensors, ['773869', '767541']);
  assert.deepEqual([...t.timestamps], [0, 300_000, 600_000]);
  assert.equal(t.labels, undefined);
  // One column: an interior blank line is a missing reading; trailing blank lines are not rows.
  const single = parseCsv('x\n1\n\n3\n\n\n');
  assert.equal(single.timestamps.length, 3);
  assert.ok(Number.isNaN(single.values[1]));
  const none = parseCsv('time,x\n1,2\n', { timestampColumn: null, dropColumns: ['time'], intervalMs: 5 });
  assert.deepEqual([...none.timestamps], [0]);
});

test('quoted fields: delimiters, doubled quotes and newlines inside quotes; CRLF', () => {
  const csv = 'timestamp,"a,1","b ""q"""\r\n2020-01-01,"1.5"," 2 "\r\n2020-01-02,3,4\r\n';
  const t = parseCsv(csv, { labelColumn: null });
  assert.deepEqual(t.sensors, ['a,1', 'b "q"']);
  assert.equal(at(t, 0, 0), 1.5);
  assert.equal(at(t, 1, 1), 4);
  // A newline inside a quoted header moves every later record down a line; errors must still name the right one.
  throwsData(() => parseCsv('timestamp,"multi\nline"\n2020-01-01,1\n2020-01-02,oops\n'), /line 4, "multi\nline": "oops" is not a number/);
});

test('featureSeparator groups columns into sensors x features', () => {
  const t = parseCsv('time,bus4.vm,bus4.va,bus5.va,bus5.vm\n0,1,2,3,4\n1,5,6,7,8\n', { featureSeparator: '.', timestampFormat: 'epoch-s' });
  assert.deepEqual(t.sensors, ['bus4', 'bus5']);
  assert.deepEqual(t.features, ['vm', 'va']);
  // bus5's columns are listed va, vm but land in the shared feature order.
  assert.deepEqual([...t.values], [1, 2, 4, 3, 5, 6, 8, 7]);
  throwsData(
    () => parseCsv('time,bus4.vm,bus4.va,bus5.vm\n0,1,2,3\n', { featureSeparator: '.' }),
    /"bus5".*same features.*missing: va/,
  );
  throwsData(() => parseCsv('time,bus4.vm,bus5\n0,1,2\n', { featureSeparator: '.' }), /"bus5".*no "<sensor>.<feature>" form/);
});

test('errors name the column, the reason and the 1-based line', () => {
  throwsData(() => parseCsv('timestamp,a,b\n2020-01-01,1,2\n2020-01-02,1,x7\n'), /line 3, "b": "x7" is not a number/);
  throwsData(() => parseCsv('timestamp,a\n2020-01-02,1\n2020-01-01,2\n'), /line 3, "timestamp": timestamps must be strictly increasing/);
  throwsData(() => parseCsv('timestamp,a\n2020-01-02,1\n2020-01-02,2\n'), /line 3.*strictly increasing/);
  throwsData(() => parseCsv('date,a\n31/02/21 10,1\n', { timestampFormat: 'dd/MM/yy HH' }), /line 2, "date": "31\/02\/21 10" is not a timestamp/);
  throwsData(() => parseCsv('timestamp,a\n2020-01-01,1,3\n'), /line 2: expected 2 fields, found 3/);
  throwsData(() => parseCsv('timestamp,a,a\n2020-01-01,1,3\n'), /"a": duplicate column name/);
  throwsData(() => parseCsv('timestamp,a,label\n2020-01-01,1,\n'), /line 2, "label": label "" is not a number/);
  throwsData(() => parseCsv('time,date,a\n1,2,3\n'), /several columns look like the timestamp.*set timestampColumn/);
  throwsData(() => parseCsv('a\n1\n', { delimiter: '|' as ',' }), /options/);
  throwsData(() => parseCsv('a\n1\n', { bogus: true } as never), /options/);
  throwsData(() => parseCsv('a,b\n"1,2\n'), /unterminated quoted field/);
  throwsData(() => parseCsv('timestamp,a\n2020-01-01,1\n\n2020-01-03,2\n'), /line 3: expected 2 fields, found 1/);
});

test('one timestamp parser: a CSV time cell and a sensor message\'s ts read the same text as the same instant', () => {
  const texts = ['2023-12-31T23:00:00,5-01:00', '2024-01-01 00:05:00Z', '2024-02-29T23:59:59.1234+05:30'];
  const t = parseCsv(`time;x\n${texts.map((ts, i) => `${ts};${i}`).join('\n')}\n`, { delimiter: ';', timestampFormat: 'iso' });
  assert.deepEqual([...t.timestamps], texts.map((ts) => parseTimestamp(ts)));
  assert.equal(t.timestamps[2], Date.parse('2024-02-29T18:29:59.123Z'));
  // The message contract still wants a zone and a time of day; CSV reads both as UTC midnight.
  assert.match(String(parseTimestamp('2024-01-01')), /not epoch milliseconds or ISO 8601 with a zone/);
  assert.equal(parseCsv('time,x\n2024-01-01,1\n').timestamps[0], Date.UTC(2024, 0, 1));
  // Fixture tables go through the same tokenizer and parser: a bad time is reported, not NaN.
  assert.throws(() => parseTableCsv('timestamp,a,label\n2024-02-30T00:00:00Z,1,0\n'), /row 2: bad timestamp 2024-02-30T00:00:00Z/);
});

test('the CSV tokenizer rejects text after a closing quote', () => {
  throwsData(() => parseCsv('a,b\n"1"2,3\n'), /line 2: unexpected text after a quoted field/);
  assert.deepEqual(parseCsv('a,b\n"1" ,3\n').sensors, ['a', 'b']);
});

test('CsvOptionsSchema fills documented defaults', () => {
  const o = CsvOptionsSchema.parse({});
  assert.equal(o.delimiter, ',');
  assert.equal(o.intervalMs, 1000);
  assert.deepEqual(o.dropColumns, []);
});

test('table helpers: sliceRows, selectSensors, filterRows copy and keep labels aligned', () => {
  const t = parseCsv('timestamp,a,b,label\n2020-01-01,1,2,0\n2020-01-02,3,4,1\n2020-01-03,5,6,0\n');
  const s = sliceRows(t, 1, 3);
  assert.equal(tableLength(s), 2);
  assert.deepEqual([...s.values], [3, 4, 5, 6]);
  assert.deepEqual([...s.labels!], [1, 0]);
  s.values[0] = 99;
  assert.equal(at(t, 1, 0), 3, 'slice is a copy');
  const b = selectSensors(t, ['b']);
  assert.deepEqual([...b.values], [2, 4, 6]);
  assert.throws(() => selectSensors(t, ['zz']), /unknown sensor\(s\): zz/);
  const f = filterRows(t, [true, false, true]);
  assert.deepEqual([...f.values], [1, 2, 5, 6]);
  assert.deepEqual([...f.labels!], [0, 0]);
});

// --- real data (read in place from ../shared/data, never copied) -------------------------------

const dataDir = fileURLToPath(new URL('../../shared/data/', import.meta.url));

function scalerSummary(train: SeriesTable) {
  const state = fitScaler(train);
  return {
    dropped: state.dropped.map((d) => d.sensor),
    discrete: state.kept.filter((s) => s.features.some((f) => f.discrete)).map((s) => s.sensor),
  };
}

function labelCount(t: SeriesTable): number {
  return t.labels ? t.labels.reduce((a, b) => a + b, 0) : 0;
}

test('parses the real shared datasets', async (t) => {
  if (!existsSync(dataDir)) {
    t.skip('shared data not present');
    return;
  }

  await t.test('BATADAL', async (t) => {
    const opts = { timestampFormat: 'dd/MM/yy HH' };
    const train = await readCsvFile(`${dataDir}batadal/train.csv`, opts);
    const val = await readCsvFile(`${dataDir}batadal/validation.csv`, opts);
    assert.equal(tableLength(train), 8761);
    assert.equal(train.sensors.length, 43);
    assert.ok(!train.sensors.includes('ATT_FLAG') && !train.sensors.includes('DATETIME'));
    assert.equal(labelCount(train), 0);
    assert.equal(tableLength(val), 4177);
    assert.equal(labelCount(val), 492);
    assert.equal(train.timestamps[1] - train.timestamps[0], 3_600_000);
    assert.equal(train.timestamps[0], Date.UTC(2014, 0, 6));
    const s = scalerSummary(train);
    t.diagnostic(`BATADAL train: constant ${s.dropped.join(',')}; discrete ${s.discrete.join(',')}`);
    assert.ok(s.discrete.includes('S_PU1') || s.dropped.includes('S_PU1'));
  });

  await t.test('SKAB valve1/0 and anomaly-free', async (t) => {
    const run = await readCsvFile(`${dataDir}skab/valve1/0.csv`, {
      delimiter: ';',
      timestampFormat: 'yyyy-MM-dd HH:mm:ss',
      dropColumns: ['changepoint'],
    });
    assert.equal(tableLength(run), 1147);
    assert.equal(run.sensors.length, 8);
    assert.ok(!run.sensors.includes('anomaly') && !run.sensors.includes('changepoint'));
    assert.equal(labelCount(run), 401);
    const free = await readCsvFile(`${dataDir}skab/anomaly-free/anomaly-free.csv`, { delimiter: ';' });
    assert.equal(tableLength(free), 9405);
    assert.deepEqual(free.sensors, run.sensors);
    const s = scalerSummary(free);
    t.diagnostic(`SKAB anomaly-free: constant ${s.dropped.join(',')}; discrete ${s.discrete.join(',')}`);
  });

  await t.test('GridSTAGE scenario 18', async (t) => {
    const g = await readCsvFile(`${dataDir}gridstage/scenario18_pmu_vm.csv`, { dropColumns: ['t_seconds'], intervalMs: 20 });
    assert.equal(tableLength(g), 3000);
    assert.equal(g.sensors.length, 68);
    assert.equal(labelCount(g), 1250);
    // The t_seconds column agrees with the synthetic 20 ms grid.
    const withTime = await readCsvFile(`${dataDir}gridstage/scenario18_pmu_vm.csv`, { timestampColumn: 't_seconds', timestampFormat: 'epoch-s' });
    assert.ok(Math.abs(withTime.timestamps[2999] - g.timestamps[2999]) < 1e-6);
    const firstAttack = g.labels!.indexOf(1);
    assert.equal(g.timestamps[firstAttack], 20_000);
    const s = scalerSummary(sliceRows(g, 0, firstAttack));
    t.diagnostic(`GridSTAGE t<20s: constant ${s.dropped.join(',')}; discrete ${s.discrete.join(',')}`);
  });

  await t.test('Los-loop speeds', async (t) => {
    const l = await readCsvFile(`${dataDir}los-loop/los_speed.csv`, { intervalMs: 300_000 });
    assert.equal(tableLength(l), 2016);
    assert.equal(l.sensors.length, 207);
    assert.equal(l.labels, undefined);
    const s = scalerSummary(sliceRows(l, 0, Math.floor(0.8 * 2016)));
    t.diagnostic(`Los-loop first 80%: constant ${s.dropped.join(',')}; discrete ${s.discrete.join(',')}`);
  });
});
