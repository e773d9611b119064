// What scoring needs of a fitted detector, and what it returns: the types at the boundary between
// the detector facade (src/detector.ts: fit, save, load) and the scoring path, kept here so that
// scoring never imports the facade.
import type { tf } from '../flow/tf.ts';
import type { GanfModel } from '../flow/ganf.ts';
import type { ScalerState } from '../data/preprocess.ts';
import type { MissingReport } from '../data/missing.ts';
import type { DagGraph } from '../dag-learning/extract.ts';
import type { GanfConfig } from '../config.ts';
import type { ThresholdState } from './threshold.ts';
import type { SensorCalibration } from './calibration.ts';

export interface ScoringModel {
  modelVersion: string;
  config: GanfConfig;
  model: GanfModel;
  scaler: ScalerState;
  /** Sensors the model scores (constant ones dropped), in model order. */
  sensors: string[];
  features: string[];
  graph: DagGraph;
  /** Extracted DAG weights the model is conditioned on (row = parent). */
  adjacency: tf.Tensor2D;
  threshold: ThresholdState;
  /** Per-sensor tail models of the validation window NLLs: raw NLL -> calibrated surprise. */
  calibration: SensorCalibration;
  /** Per-sensor median validation NLL ("excess" is measured from it). */
  calibrationMedians: Float32Array;
  /** Standardised last training rows [Lc, K, D]: warm-up context for data that follows training. */
  context: Float32Array;
}

export interface Contribution {
  sensor: string;
  /** Calibrated surprise -log P(NLL >= nll) under the sensor's validation distribution (what steps are ranked by). */
  surprise: number;
  /** NLL of this sensor at this step minus its calibration median. */
  excess: number;
  nll: number;
  parents: string[];
  /** Set when the sensor was constant in training and now reads another value (no NLL: it has no model). */
  unseenValue?: true;
  /** Set when the sensor has repeated one reading for this many steps, longer than in its training data (stuck). */
  stuckSteps?: number;
}

export interface TableScores {
  timestamps: Float64Array;
  sensors: string[];
  /** Anomaly score per step (model.scoreAggregate over perSensor). */
  total: Float32Array;
  /** Window NLL per step and sensor [T*K]. */
  perSensor: Float32Array;
  /** Calibrated surprise per step and sensor [T*K] (src/scoring/calibration.ts). */
  surprise: Float32Array;
  /**
   * Sensors whose level the drift baseline was taking off at the last step (shift >= DRIFTED_SHIFT,
   * surprise-baseline.ts), largest shift first: what a refit would have to learn.
   */
  drifted: { sensor: string; shift: number }[];
  /** Steps at which a sensor that was constant in training read another value. */
  unseen: { t: number; sensor: string }[];
  /** Steps at which a sensor had repeated one reading for `steps` steps, longer than in its training data (stuck-readings.ts). */
  stuck: { t: number; sensor: string; steps: number }[];
  /** Steps at which a sensor read a value outside its plausible range (clipped before the model). */
  implausible: { t: number; sensor: string }[];
  /** 1 where the score exceeds the model's threshold (exceeds() in threshold.ts). */
  alerts: Uint8Array;
  missing: MissingReport;
  /** With scoreTable's `expected`: the flow's condition [K*C] of the steps asked for, and the raw (gap-filled) readings [T*K*D] in model order. */
  expected?: { conditions: Map<number, Float32Array>; observed: Float32Array };
}
