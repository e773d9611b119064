// When the alert engine (alert-engine.ts) fires and resolves: schema only, so config modules can
// import it without the engine.
import { z } from 'zod';

export const AlertRuleSchema = z.strictObject({
  alertname: z.string().min(1).default('GanfAnomaly'),
  /** N: exceeding steps needed among the last M. */
  fireAfter: z.number().int().min(1).default(3),
  /** M. */
  ofLast: z.number().int().min(1).default(5),
  /** Event time the score must stay below the threshold before the alert resolves. */
  resolveHoldMs: z.number().int().min(0).default(1_800_000),
  /** Contributing sensors listed per alert. */
  topSensors: z.number().int().min(1).default(3),
  /** Severity "critical" when the peak score's tail probability is at most this; "warning" otherwise. */
  criticalTailProbability: z.number().gt(0).lt(1).default(1e-5),
  /** alertname of the per-sensor alert for a reading outside the sensor's plausible range. */
  implausibleAlertname: z.string().min(1).default('GanfImplausibleValue'),
  /** alertname of the per-sensor alert for a sensor repeating one reading (stuck; see stuck-readings.ts). */
  stuckAlertname: z.string().min(1).default('GanfStuckSensor'),
  /** alertname of the site alert for a site that stopped sending (see processing.silence). */
  noDataAlertname: z.string().min(1).default('GanfNoData'),
}).refine((r) => r.fireAfter <= r.ofLast, { message: 'fireAfter must be <= ofLast', path: ['fireAfter'] });
export type AlertRule = z.infer<typeof AlertRuleSchema>;
