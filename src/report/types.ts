// The backtest report's input: plain data only, so any caller (the CLI's backtest today, more
// baselines tomorrow) can fill it without touching the report code. Times are epoch ms.
import type { SerializedGraph } from 'graphology-types';

export type Numbers = Float32Array | Float64Array | number[];
export type Flags = Uint8Array | number[];

export interface ReportMethod {
  /** Shown in legends and tables, e.g. "GANF", "z-score". */
  name: string;
  /** Anomaly score per step (higher = more anomalous), same length as `timestamps`. */
  scores: Numbers;
  threshold: number;
  /** 0/1 per step: the method's own alert decision. */
  alerts: Flags;
  /**
   * The alerts the stream would have sent from `alerts` (step indices: open [start, end), sent at
   * `fired`), where the caller replayed them.
   */
  sent?: readonly { start: number; fired: number; end: number }[];
}

/** A labelled interval and what the primary method (methods[0]) made of it. */
export interface ReportEvent {
  /** Step indices, end exclusive. */
  start: number;
  end: number;
  kind?: string;
  /** Sensors the label names, where known (e.g. a fixture's truth.json). */
  sensors?: string[];
  detected: boolean;
  /** First alert step inside the event minus its start. */
  delaySteps: number | null;
  /** The primary method's top sensors at its peak step inside the event. */
  topSensors: ReportTopSensor[];
}

/** A sensor behind an event, and (where the method models readings) what it expected vs what was read. */
export interface ReportTopSensor {
  sensor: string;
  /** Per feature, raw units, at the peak step. */
  readings?: { feature: string; expected: number; observed: number }[];
}

export interface ReportPerSensor {
  sensors: string[];
  /** T × K row-major, calibrated per-sensor scores (e.g. excess NLL over the calibration median). */
  values: Numbers;
}

export type MetricCell = string | number | null;

export interface ReportInput {
  title: string;
  /** Free text under the title, e.g. data files and model version. */
  subtitle?: string;
  timestamps: Numbers;
  labels?: Flags;
  /** methods[0] is the primary method: its alerts drive the events table. */
  methods: ReportMethod[];
  perSensor?: ReportPerSensor;
  events?: ReportEvent[];
  /** graphology `graph.export()` of the learned DAG; edges carry a numeric `weight` attribute. */
  graph?: SerializedGraph;
  metrics: { columns: string[]; rows: MetricCell[][] };
}
