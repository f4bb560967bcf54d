// The dashboard's charts: Vega-Lite specs compiled to Vega and rendered as SVG (the same libraries the
// benchmarks plot with), sized to their panel. Each render replaces the previous view of its element.
import { parse, View } from 'vega'
import { compile, type Config, type TopLevelSpec } from 'vega-lite'
import type { CostRow, FailureRow, LatencyRow } from './api.ts'

const views = new WeakMap<HTMLElement, View>()

/** The last `n` UTC days as YYYY-MM-DD, oldest first: a fixed x axis, so one busy day is not one wide bar. */
export function lastDays(n: number, now = Date.now()): string[] {
  return Array.from({ length: n }, (_, i) => new Date(now - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10))
}

const FONT = 'Inter, ui-sans-serif, system-ui, -apple-system, "Segoe UI", sans-serif'
const CONFIG: Config = {
  background: 'transparent',
  font: FONT,
  view: { stroke: null },
  axis: {
    labelColor: '#5b6478',
    titleColor: '#5b6478',
    gridColor: '#e8ebf2',
    domainColor: '#cfd5e2',
    tickColor: '#cfd5e2',
    labelFontSize: 11,
    titleFontSize: 11,
    titleFontWeight: 500,
  },
  legend: { labelColor: '#39425a', titleColor: '#5b6478', labelFontSize: 11, titleFontSize: 11, orient: 'bottom', symbolType: 'square' },
  range: { category: ['#4f6bed', '#12b5a6', '#f5a524', '#e5484d', '#8e4ec6', '#0ea5e9', '#64748b', '#d9468f'] },
}

async function render(el: HTMLElement, spec: TopLevelSpec): Promise<void> {
  views.get(el)?.finalize()
  // The whole chart (axes and legend included) fits the width of the panel's content box.
  const style = getComputedStyle(el)
  const width = Math.max(240, el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 2)
  const fitted = { ...spec, width, autosize: { type: 'fit-x', contains: 'padding' }, config: CONFIG } as TopLevelSpec
  const view = new View(parse(compile(fitted).spec), { renderer: 'svg', container: el, hover: true })
  views.set(el, view)
  await view.runAsync()
}

export function costChart(el: HTMLElement, rows: CostRow[]): Promise<void> {
  const values = rows.map((r) => ({ day: r.day, model: r.model, cost: Number(r.cost_usd ?? 0), tokens: Number(r.input_tokens ?? 0) + Number(r.output_tokens ?? 0), calls: r.calls }))
  return render(el, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    height: 190,
    data: { values },
    mark: { type: 'bar', cornerRadiusTopLeft: 3, cornerRadiusTopRight: 3 },
    encoding: {
      x: { field: 'day', type: 'ordinal', title: null, scale: { domain: lastDays(14) },
        axis: { labelAngle: 0, labelExpr: "timeFormat(toDate(datum.value + 'T00:00:00'), '%b %d')", labelOverlap: 'greedy' } },
      y: { aggregate: 'sum', field: 'cost', type: 'quantitative', title: 'USD', axis: { format: '$.3~f', tickCount: 5 } },
      color: { field: 'model', type: 'nominal', title: null },
      tooltip: [
        { field: 'day', type: 'ordinal' },
        { field: 'model', type: 'nominal' },
        { field: 'cost', type: 'quantitative', format: '$.6f', title: 'cost' },
        { field: 'tokens', type: 'quantitative', format: ',' },
        { field: 'calls', type: 'quantitative' },
      ],
    },
  } as TopLevelSpec)
}

export function latencyChart(el: HTMLElement, rows: LatencyRow[]): Promise<void> {
  const values = rows.flatMap((r) => [
    { name: `${r.kind === 'rpc' ? 'rpc' : 'fn'} · ${r.name}`, percentile: 'p50', ms: r.p50_ms, calls: r.calls },
    { name: `${r.kind === 'rpc' ? 'rpc' : 'fn'} · ${r.name}`, percentile: 'p95', ms: r.p95_ms, calls: r.calls },
    { name: `${r.kind === 'rpc' ? 'rpc' : 'fn'} · ${r.name}`, percentile: 'p99', ms: r.p99_ms, calls: r.calls },
  ])
  return render(el, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    mark: { type: 'bar', cornerRadiusEnd: 2, height: { band: 0.8 } },
    encoding: {
      y: { field: 'name', type: 'nominal', title: null, sort: null },
      yOffset: { field: 'percentile', sort: ['p50', 'p95', 'p99'] },
      // Functions take seconds, RPCs milliseconds: a symmetric log scale shows both (and starts bars at 0).
      x: { field: 'ms', type: 'quantitative', title: 'milliseconds, last 24 h (log scale)', scale: { type: 'symlog', constant: 1 },
        axis: { values: [0, 1, 10, 100, 1000, 10000, 100000], labelExpr: "datum.value >= 1000 ? datum.value / 1000 + ' s' : datum.value + ' ms'" } },
      color: { field: 'percentile', type: 'nominal', title: null, scale: { domain: ['p50', 'p95', 'p99'], range: ['#9fb0f7', '#4f6bed', '#26338f'] } },
      tooltip: [{ field: 'name' }, { field: 'percentile' }, { field: 'ms', format: ',.1f', title: 'ms' }, { field: 'calls' }],
    },
    height: { step: 10 },
  } as unknown as TopLevelSpec)
}

export function failuresChart(el: HTMLElement, rows: FailureRow[]): Promise<void> {
  const values = rows.map((r) => ({ day: r.day, kind: r.kind === 'dead_letter' ? 'dead-lettered jobs' : 'failed spans', failures: r.failures }))
  return render(el, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    height: 150,
    data: { values },
    mark: { type: 'bar', cornerRadiusTopLeft: 2, cornerRadiusTopRight: 2 },
    encoding: {
      x: { field: 'day', type: 'ordinal', title: null, scale: { domain: lastDays(14) },
        axis: { labelAngle: 0, labelExpr: "timeFormat(toDate(datum.value + 'T00:00:00'), '%d')", labelOverlap: 'greedy' } },
      y: { aggregate: 'sum', field: 'failures', type: 'quantitative', title: null, axis: { tickMinStep: 1 } },
      color: { field: 'kind', type: 'nominal', title: null, scale: { domain: ['failed spans', 'dead-lettered jobs'], range: ['#e5484d', '#f5a524'] } },
      tooltip: [{ field: 'day' }, { field: 'kind' }, { aggregate: 'sum', field: 'failures', title: 'failures' }],
    },
  } as TopLevelSpec)
}
