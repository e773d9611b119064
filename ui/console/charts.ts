// The console's one chart type: score lines over time with an optional threshold (ECharts).
import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent, MarkLineComponent, MarkAreaComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([LineChart, GridComponent, TooltipComponent, LegendComponent, MarkLineComponent, MarkAreaComponent, CanvasRenderer]);

export interface Line {
  name: string;
  points: [number, number][];
  /** A second y axis (per-sensor excess beside the total score). */
  right?: boolean;
}

export function lineChart(el: HTMLElement, lines: Line[], opts: { threshold?: number | null; shade?: [number, number] } = {}): echarts.EChartsType {
  const chart = echarts.init(el);
  chart.setOption({
    animation: false,
    legend: { top: 0 },
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 60, top: 30, bottom: 30 },
    xAxis: { type: 'time' },
    yAxis: [{ type: 'value', scale: true, name: 'score' }, { type: 'value', scale: true, name: 'excess', splitLine: { show: false } }],
    series: lines.map((l, i) => ({
      name: l.name, type: 'line', showSymbol: false, yAxisIndex: l.right ? 1 : 0, data: l.points, lineStyle: { width: i === 0 ? 2 : 1 },
      ...(i === 0 && opts.threshold != null ? { markLine: { symbol: 'none', lineStyle: { type: 'dashed', color: '#333' }, data: [{ yAxis: opts.threshold }] } } : {}),
      ...(i === 0 && opts.shade ? { markArea: { itemStyle: { color: 'rgba(214,39,40,0.12)' }, data: [[{ xAxis: opts.shade[0] }, { xAxis: opts.shade[1] }]] } } : {}),
    })),
  });
  return chart;
}
