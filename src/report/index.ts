// The backtest report: a typed plain-data input (types.ts) -> a self-contained HTML file.
export type { ReportInput, ReportMethod, ReportEvent, ReportTopSensor, ReportPerSensor, MetricCell } from './types.ts';
export { reportData, labelledEvents, eventPeaks, rocCurve, prCurve, bucketMax, runs, DEFAULT_LIMITS, type ReportData, type ReportLimits } from './data.ts';
export { renderReport, writeReport, reportScript } from './html.ts';
