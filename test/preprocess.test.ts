import { seededUniform } from '../src/util/rng.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillMissing } from '../src/data/missing.ts';
import { fitScaler, applyScaler, checkSensors, parseScalerState, keptSensors, standardiseRow, unstandardise } from '../src/data/preprocess.ts';
import { DataError, type SeriesTable } from '../src/data/table.ts';

/** mulberry32, local so the test does not depend on other modules' rng. */
const rng = seededUniform;

/** Table from per-sensor columns (one feature), timestamps 1 s apart. */
function table(columns: Record<string, number[]>, labels?: number[]): SeriesTable {
  const sensors = Object.keys(columns);
  const T = columns[sensors[0]].length;
  const values = new Float32Array(T * sensors.length);
  sensors.forEach((s, k) => columns[s].forEach((v, t) => (values[t * sensors.length + k] = v)));
  return {
    timestamps: Float64Array.from({ length: T }, (_, t) => Date.UTC(2024, 0, 1) + t * 1000),
    sensors,
    features: ['value'],
    values,
    ...(labels ? { labels: Uint8Array.from(labels) } : {}),
  };
}

const column = (t: SeriesTable, k: number) => Array.from({ length: t.timestamps.length }, (_, i) => t.values[i * t.sensors.length + k]);

// --- missing values ------------------------------------------------------------------------------

test('ffill (default) fills interior and trailing gaps with the last value, leading gaps backward', () => {
  const { table: out, report } = fillMissing(table({ a: [NaN, NaN, 1, NaN, NaN, 4, NaN], b: [1, 2, 3, 4, 5, 6, 7] }));
  assert.deepEqual(column(out, 0), [1, 1, 1, 1, 1, 4, 4]);
  assert.deepEqual(report.filled, { a: 5, b: 0 });
  assert.equal(report.droppedRows, 0);
});

test('interpolate is linear in time between neighbours; edges are held', () => {
  const t = table({ a: [NaN, 0, NaN, NaN, 3, NaN] });
  const { table: out } = fillMissing(t, { method: 'interpolate' });
  assert.deepEqual(column(out, 0), [0, 0, 1, 2, 3, 3]);
  // Uneven spacing: the fill follows the clock, not the row count.
  const uneven = table({ a: [0, NaN, 10] });
  uneven.timestamps = Float64Array.from([0, 9000, 10000]);
  assert.equal(column(fillMissing(uneven, { method: 'interpolate' }).table, 0)[1], 9);
});

test('a gap longer than the limit is an error naming the sensor and the time range', () => {
  const t = table({ a: [1, 2, 3, 4, 5, 6], pump: [1, NaN, NaN, NaN, NaN, 1] });
  assert.throws(
    () => fillMissing(t, { limit: 3 }),
    (e: unknown) =>
      e instanceof DataError &&
      e.field === 'pump' &&
      /gap of 4 steps exceeds the fill limit 3: 2024-01-01T00:00:01\.000Z \.\. 2024-01-01T00:00:04\.000Z \(rows 1\.\.4/.test(e.message),
  );
  // Exactly at the limit is fine.
  assert.doesNotThrow(() => fillMissing(t, { limit: 4 }));
  // Never a zero fill, even with limit 0: a single gap is then already too long.
  assert.throws(() => fillMissing(table({ a: [1, NaN, 1] }), { limit: 0 }), /exceeds the fill limit 0/);
  // An all-missing sensor cannot be filled from anything.
  assert.throws(() => fillMissing(table({ a: [NaN, NaN], b: [1, 2] }), { limit: 5 }), /"a"/);
});

test("onLongGap: 'drop-rows' drops and reports the rows; labels stay aligned", () => {
  const t = table({ a: [1, NaN, NaN, NaN, 5, NaN, 7], b: [1, 2, NaN, 4, 5, 6, 7] }, [0, 0, 1, 1, 0, 0, 1]);
  const { table: out, report } = fillMissing(t, { limit: 2, onLongGap: 'drop-rows' });
  assert.equal(report.droppedRows, 3);
  assert.deepEqual(report.droppedGaps.map((g) => [g.sensor, g.start, g.end]), [['a', 1, 4]]);
  assert.deepEqual(column(out, 0), [1, 5, 5, 7]);
  assert.deepEqual(column(out, 1), [1, 5, 6, 7]);
  assert.deepEqual([...out.labels!], [0, 0, 0, 1]);
  assert.deepEqual([...out.timestamps].map((x) => (x - t.timestamps[0]) / 1000), [0, 4, 5, 6]);
  // b's fill at row 2 was in a dropped row, so it is not counted.
  assert.deepEqual(report.filled, { a: 1, b: 0 });
});

test("method 'error' rejects any missing value; input is never mutated", () => {
  const t = table({ a: [1, NaN, 3] });
  assert.throws(() => fillMissing(t, { method: 'error' }), /"a".*missing values at .*rows 1\.\.1.*policy: error/);
  fillMissing(t);
  assert.ok(Number.isNaN(t.values[1]));
  assert.throws(() => fillMissing(t, { limit: -1 }), DataError);
});

// --- scaler -------------------------------------------------------------------------------------

function trainTable(T: number, seed: number): SeriesTable {
  const r = rng(seed);
  const cont: number[] = [];
  const pump: number[] = [];
  const valve: number[] = [];
  for (let t = 0; t < T; t++) {
    cont.push(10 + 2 * (r() + r() + r() - 1.5));
    pump.push(r() < 0.3 ? 1 : 0);
    valve.push([0, 0.5, 2][Math.floor(r() * 3)]);
  }
  // drift: one float32 ulp off a large constant, i.e. noise rather than signal.
  return table({ flow: cont, pump, off: new Array(T).fill(7), valve, drift: cont.map((_, t) => (t === 5 ? 1e6 + 0.0625 : 1e6)) });
}

test('fitScaler: mean/std from training; constant sensors dropped with a reason; discrete sensors marked', () => {
  const train = trainTable(2000, 1);
  const state = fitScaler(train);
  assert.deepEqual(keptSensors(state), ['flow', 'pump', 'valve']);
  assert.deepEqual(
    state.dropped.map((d) => d.sensor),
    ['off', 'drift'],
  );
  assert.match(state.dropped[0].reason, /constant \(7\)/);
  assert.match(state.dropped[1].reason, /near-constant/);
  assert.ok(state.warnings.some((w) => /dropped sensor off/.test(w)));
  const pump = state.kept[1].features[0];
  assert.deepEqual(pump.discrete, { levels: [0, 1], gap: 1 });
  assert.deepEqual(state.kept[2].features[0].discrete, { levels: [0, 0.5, 2], gap: 0.5 });
  assert.equal(state.kept[0].features[0].discrete, undefined);

  // Moments of the dequantised variable: mean + gap/2, variance + gap^2/12.
  const raw = column(train, 1);
  const m = raw.reduce((a, b) => a + b, 0) / raw.length;
  const v = raw.reduce((a, b) => a + (b - m) ** 2, 0) / raw.length;
  assert.ok(Math.abs(pump.mean - (m + 0.5)) < 1e-9);
  assert.ok(Math.abs(pump.std - Math.sqrt(v + 1 / 12)) < 1e-9);
});

const rawStd = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length - (v.reduce((a, x) => a + x, 0) / v.length) ** 2);

test('fitScaler: a continuous sensor on a grid (values repeat) gets its resolution; random dequantisation breaks its exact repeats, midpoint shifts by half of it', () => {
  // A slow walk stored to 0.01 (most steps repeat the previous reading exactly) beside a float one.
  const r = rng(5);
  let level = 10;
  const grid: number[] = [];
  const fine: number[] = [];
  for (let t = 0; t < 3000; t++) {
    level += 0.004 * (r() - 0.5);
    grid.push(Math.round(level * 100) / 100);
    fine.push(r());
  }
  const train = table({ grid, fine });
  const state = fitScaler(train);
  const [g, f] = state.kept.map((k) => k.features[0]);
  assert.equal(g.discrete, undefined, 'many levels: continuous, not discrete');
  assert.ok(0.1 * rawStd(grid) < 0.01, `the grid (0.01) is wider than the noise floor (${0.1 * rawStd(grid)})`);
  assert.ok(Math.abs(g.resolution! - 0.01) < 1e-5, `resolution ${g.resolution}`); // float32 storage
  assert.ok(Math.abs(f.resolution! - 0.1 * rawStd(fine)) < 1e-9, `float readings that do not repeat get the noise floor: ${f.resolution}`);
  const repeats = (v: ArrayLike<number>) => {
    let n = 0;
    for (let t = 1; t < 3000; t++) if (v[t * 2] === v[(t - 1) * 2]) n++;
    return n;
  };
  assert.ok(repeats(Float32Array.from(grid.flatMap((v) => [v, 0]))) > 2500);
  assert.equal(repeats(applyScaler(train, state, { dequantise: 'random', rng: rng(6) })), 0);
  const mid = applyScaler(train, state, { dequantise: 'midpoint' });
  assert.ok(Math.abs(mid[0] - (grid[0] + 0.005 - g.mean) / g.std) < 1e-5);
  assert.ok(Math.abs(unstandardise(mid[0], g) - grid[0]) < 1e-5);
});

test('fitScaler: every float sensor is dequantised by at least a tenth of its std, so a point mass (a pump flow at exactly 0 while off) gets a real density', () => {
  const r = rng(7);
  const flow: number[] = [];
  for (let t = 0; t < 2000; t++) flow.push(t % 24 < 6 ? 0 : 95 + 3 * (r() - 0.5)); // off a quarter of the time
  const train = table({ flow });
  const state = fitScaler(train);
  const f = state.kept[0].features[0];
  assert.equal(f.discrete, undefined);
  const sd = rawStd(flow);
  assert.ok(Math.abs(f.resolution! - 0.1 * sd) < 1e-6 * sd, `width ${f.resolution} vs std ${sd}`);
  assert.ok(Math.abs(f.std - Math.sqrt(sd ** 2 + f.resolution! ** 2 / 12)) < 1e-6 * sd, 'std of the dequantised readings');
  const z = applyScaler(train, state, { dequantise: 'random', rng: rng(8) });
  const off: number[] = [];
  for (let t = 0; t < 2000; t++) if (flow[t] === 0) off.push(z[t]);
  assert.equal(new Set(off).size, off.length, 'no two off readings coincide');
  const spread = Math.max(...off) - Math.min(...off);
  assert.ok(spread > 0.09 && spread < 0.1, `off readings spread over ${spread} std`);
});

test('ScalerState survives a JSON round trip', () => {
  const state = fitScaler(trainTable(300, 2));
  const back = parseScalerState(JSON.parse(JSON.stringify(state)));
  assert.deepEqual(back, state);
  assert.throws(() => parseScalerState({ ...state, version: 2 }), DataError);
});

test('applyScaler standardises: random dequantisation gives mean 0 / std 1; midpoint is deterministic', () => {
  const train = trainTable(20000, 3);
  const state = fitScaler(train);
  const K = state.kept.length;
  const z = applyScaler(train, state, { dequantise: 'random', rng: rng(9) });
  assert.equal(z.length, 20000 * K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    let ss = 0;
    for (let t = 0; t < 20000; t++) s += z[t * K + k];
    const mean = s / 20000;
    for (let t = 0; t < 20000; t++) ss += (z[t * K + k] - mean) ** 2;
    assert.ok(Math.abs(mean) < 0.03, `sensor ${k} mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(ss / 20000) - 1) < 0.03, `sensor ${k} std`);
  }
  const a = applyScaler(train, state, { dequantise: 'midpoint' });
  // At the midpoint, continuous sensors are exactly centred on the training data.
  let s = 0;
  for (let t = 0; t < 20000; t++) s += a[t * K];
  assert.ok(Math.abs(s / 20000) < 1e-5);

  const b = applyScaler(train, state, { dequantise: 'midpoint' });
  assert.deepEqual(a, b);
  const pump = state.kept[1].features[0];
  assert.ok(Math.abs(a[1] - (train.values[1] + 0.5 - pump.mean) / pump.std) < 1e-6);
  // Same seed, same training input.
  assert.deepEqual(applyScaler(train, state, { dequantise: 'random', rng: rng(9) }), z);
  assert.throws(() => applyScaler(train, state, { dequantise: 'random' } as never), /needs a seeded rng/);
});

test('applyScaler follows the model sensor order, not the table order', () => {
  const train = table({ a: [1, 2, 3, 4], b: [10, 30, 20, 40] });
  const state = fitScaler(train, { maxDiscreteLevels: 1 });
  const swapped = table({ b: [10, 30, 20, 40], a: [1, 2, 3, 4] });
  assert.deepEqual(applyScaler(swapped, state, { dequantise: 'midpoint' }), applyScaler(train, state, { dequantise: 'midpoint' }));
});

test('checkSensors names the missing and the unexpected sensors', () => {
  const state = fitScaler(trainTable(200, 4));
  const other = table({ flow: [1, 2], pump: [0, 1], tank9: [1, 2] });
  assert.throws(
    () => checkSensors(other, state),
    (e: unknown) => e instanceof DataError && /missing 1 sensor\(s\).*: valve/.test(e.message) && /unknown to the model: tank9/.test(e.message),
  );
  // Sensors dropped at fit time may be absent.
  assert.doesNotThrow(() => checkSensors(table({ flow: [1], pump: [0], valve: [2] }), state));
  assert.throws(() => applyScaler(table({ flow: [1, NaN], pump: [0, 1], valve: [2, 2] }), state, { dequantise: 'midpoint' }), /"flow".*row 1.*fillMissing/);
});

test('multi-feature sensor: a constant feature beside a varying one is kept, centred, with a warning', () => {
  const t: SeriesTable = {
    timestamps: Float64Array.from([0, 1, 2, 3]),
    sensors: ['bus1', 'bus2'],
    features: ['vm', 'va'],
    values: Float32Array.from([1, 5, 1, 5, 2, 6, 2, 5, 3, 7, 3, 5, 4, 8, 4, 5]),
  };
  const state = fitScaler(t, { maxDiscreteLevels: 1 });
  assert.deepEqual(keptSensors(state), ['bus1', 'bus2']);
  assert.equal(state.kept[1].features[1].constant, true);
  assert.ok(state.warnings.some((w) => /bus2\/va is constant/.test(w)));
});

test('unstandardise maps a standardised value back to raw units (continuous and discrete), inverting standardiseRow inside the plausible range', () => {
  const state = fitScaler(trainTable(2000, 1));
  const row = [3.25, 1, 0.5]; // flow, pump (levels 0/1), valve (levels 0/0.5/2), in keptSensors order
  const z = standardiseRow(row, state);
  state.kept.forEach(({ features }, k) => {
    assert.ok(Math.abs(unstandardise(z[k], features[0]) - row[k]) < 1e-5, `${state.kept[k].sensor}: ${unstandardise(z[k], features[0])} vs ${row[k]}`);
  });
  // Closed form: z * std + mean, less the discrete midpoint shift.
  const pump = state.kept[1].features[0];
  assert.equal(unstandardise(0, pump), pump.mean - 0.5);
});
