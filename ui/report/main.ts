// The backtest report page: reads the JSON embedded by src/report/html.ts and draws it with
// ECharts (timeline, ROC/PR curves, heatmap) and sigma.js (the DAG). Runs offline from file://.
import * as echarts from 'echarts/core';
import { LineChart, HeatmapChart, ScatterChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent, MarkAreaComponent, MarkLineComponent, DataZoomComponent, VisualMapComponent, TitleComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ReportData, MethodData, Span } from '../../src/report/data.ts';
import { drawDag, type DagView } from '../shared/dag-view.ts';

echarts.use([LineChart, HeatmapChart, ScatterChart, GridComponent, TooltipComponent, LegendComponent, MarkAreaComponent, MarkLineComponent, DataZoomComponent, VisualMapComponent, TitleComponent, CanvasRenderer]);

const PALETTE = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const LABEL_FILL = 'rgba(214, 39, 40, 0.16)';
const ALERT_FILL = 'rgba(255, 159, 28, 0.28)';
const SENT_FILL = 'rgba(148, 103, 189, 0.22)';

/** What the page exposes for inspection (the browser tests read it). */
export interface ReportHandle {
  charts: Record<string, echarts.EChartsType>;
  dag: DagView | null;
}

declare global {
  interface Window {
    ganfReport?: ReportHandle;
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function section(id: string, title: string, note?: string): HTMLElement {
  const s = el('section', { id });
  s.append(el('h2', {}, title));
  if (note) s.append(el('p', { class: 'note' }, note));
  document.getElementById('content')!.append(s);
  return s;
}

const fmtTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

function spansArea(spans: Span[]): [{ xAxis: number }, { xAxis: number }][] {
  return spans.map((s) => [{ xAxis: s.from }, { xAxis: s.to }]);
}

/**
 * One grid per method, sharing the time axis: methods score on unrelated scales (NLL vs |z|), so a
 * common y axis would flatten all but one. The y axis stops above the 98th percentile so rare huge
 * peaks do not flatten normal operation; the note says where.
 */
function timeline(data: ReportData): echarts.EChartsType {
  const s = section('timeline', 'Score timeline',
    `Red: labelled intervals. Orange: alert runs (steps above the threshold). Purple: the alerts the stream's alert rule would have sent, from when each was sent to its end. Dashed: each method's threshold. Each y axis stops a little above the larger of the threshold and the 90th percentile, so higher peaks run off the top (zoom with the slider or the wheel; hover for values).` +
    (data.bucket > 1 ? ` Downsampled for the browser: each point is the maximum of ${data.bucket} steps (${data.steps} steps in all); shaded intervals are exact.` : ` All ${data.steps} steps.`));
  const div = el('div', { class: 'chart', style: `height:${90 + 170 * data.methods.length}px` });
  s.append(div);
  const chart = echarts.init(div);
  const n = data.methods.length;
  const grids = data.methods.map((_, i) => ({ left: 70, right: 30, top: 40 + i * 170, height: 130 }));
  const yMax = (m: MethodData) => {
    const v = m.scores.filter(Number.isFinite).sort((a, b) => a - b);
    const q = v.length ? v[Math.floor(0.9 * (v.length - 1))] : 1;
    const top = Math.max(q, m.threshold);
    return top + 0.5 * Math.abs(top - (v[0] ?? 0));
  };
  chart.setOption({
    animation: false,
    legend: { top: 0, data: ['labelled', 'alerts', 'alerts sent', ...data.methods.map((m) => m.name)] },
    tooltip: { trigger: 'axis' },
    grid: grids,
    xAxis: data.methods.map((_, i) => ({ type: 'time', gridIndex: i, axisLabel: { show: i === n - 1 } })),
    yAxis: data.methods.map((m, i) => ({ type: 'value', gridIndex: i, name: m.name, scale: true, max: Number(yMax(m).toPrecision(4)) })),
    dataZoom: [{ type: 'inside', xAxisIndex: data.methods.map((_, i) => i) }, { type: 'slider', xAxisIndex: data.methods.map((_, i) => i), bottom: 5, height: 20 }],
    series: data.methods.flatMap((m, i) => [
      {
        name: m.name, type: 'line', xAxisIndex: i, yAxisIndex: i, showSymbol: false, sampling: 'lttb', lineStyle: { width: 1 },
        color: PALETTE[i % PALETTE.length], clip: true,
        data: data.time.map((t, j) => [t, m.scores[j]]),
        markLine: { symbol: 'none', silent: true, lineStyle: { type: 'dashed', color: '#333' }, label: { formatter: `threshold ${m.threshold.toPrecision(4)}` }, data: [{ yAxis: m.threshold }] },
      },
      { name: 'labelled', type: 'line', xAxisIndex: i, yAxisIndex: i, data: [], color: LABEL_FILL, markArea: { silent: true, itemStyle: { color: LABEL_FILL }, data: spansArea(data.labelSpans) } },
      { name: 'alerts', type: 'line', xAxisIndex: i, yAxisIndex: i, data: [], color: ALERT_FILL, markArea: { silent: true, itemStyle: { color: ALERT_FILL }, data: spansArea(m.alertSpans) } },
      {
        name: 'alerts sent', type: 'line', xAxisIndex: i, yAxisIndex: i, data: [], color: SENT_FILL,
        markArea: { silent: true, itemStyle: { color: SENT_FILL }, data: spansArea(m.sentSpans) },
      },
    ]),
  });
  return chart;
}

function curve(id: string, title: string, data: ReportData, pick: (m: MethodData) => { x: number; y: number }[] | null, axes: [string, string]): echarts.EChartsType | null {
  const drawn = data.methods.filter((m) => pick(m));
  if (drawn.length === 0) return null;
  const wrap = document.getElementById('curves') ?? section('curves', 'ROC and precision-recall curves', 'From the full-resolution scores against the labels; every method of the run.');
  const div = el('div', { class: 'chart half', id });
  wrap.append(div);
  const chart = echarts.init(div);
  chart.setOption({
    animation: false,
    title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
    legend: { bottom: 0 },
    tooltip: { trigger: 'item' },
    grid: { left: 55, right: 20, top: 35, bottom: 55 },
    xAxis: { type: 'value', min: 0, max: 1, name: axes[0], nameLocation: 'middle', nameGap: 25 },
    yAxis: { type: 'value', min: 0, max: 1, name: axes[1], nameLocation: 'middle', nameGap: 35 },
    series: drawn.map((m) => ({
      name: m.name, type: 'line', showSymbol: false, step: false, lineStyle: { width: 2 },
      color: PALETTE[data.methods.indexOf(m) % PALETTE.length],
      data: pick(m)!.map((p) => [p.x, p.y]),
    })),
  });
  return chart;
}

function heatmap(data: ReportData): echarts.EChartsType | null {
  const h = data.heatmap;
  if (!h) return null;
  const labelled = new Set(h.labelled);
  const s = section('heatmap', 'Per-sensor scores',
    `Excess NLL over each sensor's calibration median (colour capped at the 99th percentile, ${h.max}; below 0 drawn as 0). ` +
    (h.bucket > 1 ? `Each column is the maximum of ${h.bucket} steps. ` : '') +
    (labelled.size ? 'Sensors named by a label are marked ● in red, with red dots over their labelled intervals.' : 'No sensor-level labels were given for this run.'));
  const div = el('div', { class: 'chart', style: `height:${Math.max(240, 80 + 14 * h.sensors.length)}px` });
  s.append(div);
  const chart = echarts.init(div);
  const cells: [number, number, number][] = [];
  h.values.forEach((col, x) => col.forEach((v, y) => cells.push([x, y, Math.min(h.max, Math.max(0, Number.isFinite(v) ? v : 0))])));
  const xLabels = h.time.map(fmtTime);
  const columnOf = (ms: number) => {
    let i = 0;
    while (i + 1 < h.time.length && h.time[i + 1] <= ms) i++;
    return i;
  };
  // One red dot per (labelled sensor, column inside its labelled interval).
  const marks: [number, number][] = [];
  for (const e of data.events) {
    for (const sensor of (e.sensors ?? []).filter((x) => labelled.has(x))) {
      for (let x = columnOf(e.from); x <= columnOf(e.to - 1); x++) marks.push([x, h.sensors.indexOf(sensor)]);
    }
  }
  chart.setOption({
    animation: false,
    tooltip: { formatter: (p: { value: [number, number, number] }) => `${h.sensors[p.value[1]]} ${fmtTime(h.time[p.value[0]])}: ${p.value[2]}` },
    grid: { left: 80, right: 80, top: 10, bottom: 50 },
    xAxis: { type: 'category', data: xLabels, axisLabel: { hideOverlap: true } },
    yAxis: {
      type: 'category', data: h.sensors, inverse: true,
      axisLabel: { interval: 0, fontSize: 10, formatter: (v: string) => (labelled.has(v) ? `{l|● ${v}}` : v), rich: { l: { color: '#d62728', fontWeight: 'bold', fontSize: 10 } } },
    },
    visualMap: { seriesIndex: 0, min: 0, max: h.max, calculable: true, orient: 'vertical', right: 0, top: 'center', inRange: { color: ['#f7fbff', '#6baed6', '#08306b'] } },
    series: [
      // Drawn in one pass: progressive chunks would leave the picture half done for a while.
      { name: 'excess NLL', type: 'heatmap', data: cells, progressive: 0, progressiveThreshold: 1e9 },
      { name: 'labelled', type: 'scatter', data: marks, symbol: 'circle', symbolSize: 4, itemStyle: { color: '#d62728' }, silent: true, tooltip: { show: false } },
    ],
  });
  return chart;
}

function table(parent: HTMLElement, columns: string[], rows: (string | number | null)[][]): HTMLTableElement {
  const t = el('table');
  const head = el('tr');
  for (const c of columns) head.append(el('th', {}, c));
  t.append(el('thead'), el('tbody'));
  t.tHead!.append(head);
  for (const r of rows) {
    const tr = el('tr');
    for (const c of r) tr.append(el('td', {}, c === null ? '–' : typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(3)) : c));
    t.tBodies[0].append(tr);
  }
  parent.append(t);
  return t;
}

/** "B05 12.3 → 18.9" (expected → observed at the peak, raw units; features named when there are several). */
function topSensor(t: ReportData['events'][number]['topSensors'][number]): string {
  const v = (x: number) => String(Number(x.toPrecision(4)));
  const r = t.readings ?? [];
  return r.length ? `${t.sensor} ${r.map((x) => `${r.length > 1 ? `${x.feature} ` : ''}${v(x.expected)} → ${v(x.observed)}`).join(', ')}` : t.sensor;
}

function events(data: ReportData): void {
  const primary = data.methods[0]?.name ?? '';
  const s = section('events', 'Labelled events', `Detected = at least one ${primary} alert inside the interval; delay in steps to the first; top sensors at ${primary}'s peak inside it, with the reading the model expected there and the one it saw.`);
  if (data.events.length === 0) {
    s.append(el('p', {}, 'No labelled events in this run.'));
    return;
  }
  const t = table(s, ['start', 'end', 'kind', 'labelled sensors', 'detected', 'delay (steps)', 'top sensors: expected → observed'],
    data.events.map((e) => [fmtTime(e.from), fmtTime(e.to), e.kind ?? '', (e.sensors ?? []).join(', '), e.detected ? 'detected' : 'missed', e.delaySteps, e.topSensors.map(topSensor).join('; ')]));
  t.id = 'events-table';
  data.events.forEach((e, i) => t.tBodies[0].rows[i].classList.add(e.detected ? 'hit' : 'miss'));
}

function graph(data: ReportData): DagView | null {
  if (!data.graph) return null;
  const order = data.graph.nodes.length;
  const size = data.graph.edges.length;
  const s = section('graph', 'Learned DAG', `${order} sensors, ${size} edges (parent → child); edge width and label: learned weight. ForceAtlas2 layout. Red: sensors named by a label. Drag to pan, scroll to zoom.`);
  const div = el('div', { class: 'graph', id: 'dag' });
  s.append(div);
  return drawDag(div, data.graph, { highlight: data.heatmap?.labelled ?? [] });
}

function main(): void {
  const data = JSON.parse(document.getElementById('report-data')!.textContent!) as ReportData;
  document.title = data.title;
  document.getElementById('title')!.textContent = data.title;
  document.getElementById('subtitle')!.textContent = `${data.subtitle}${data.subtitle ? ' · ' : ''}generated ${data.generatedAt}`;
  const charts: Record<string, echarts.EChartsType> = {};
  charts.timeline = timeline(data);
  const roc = curve('roc', 'ROC', data, (m) => m.roc, ['false-positive rate', 'true-positive rate']);
  const pr = curve('pr', 'Precision-recall', data, (m) => m.pr, ['recall', 'precision']);
  if (!roc) section('curves', 'ROC and precision-recall curves', 'The run has no labels with both classes: no curves.');
  if (roc) charts.roc = roc;
  if (pr) charts.pr = pr;
  const hm = heatmap(data);
  if (hm) charts.heatmap = hm;
  events(data);
  const dag = graph(data);
  table(section('metrics', 'Metrics'), data.metrics.columns, data.metrics.rows).id = 'metrics-table';
  window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
  window.ganfReport = { charts, dag };
}

main();
