// Shared pieces of `npm run bench`: the shape of a benchmark and its figures, latency summaries,
// progress bars (cli-progress) and latency-curve plots (Vega-Lite rendered to SVG).
import cliProgress from 'cli-progress'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'

/** One reported number, optionally with the target an issue sets for it. */
export interface Figure {
  name: string
  value: number
  unit: string
  target?: { op: '<=' | '>='; value: number }
}

/** Latency samples of one operation, plotted as a percentile curve. */
export interface Series {
  name: string
  samplesMs: number[]
}

export interface BenchReport {
  figures: Figure[]
  series?: Series[]
  notes?: string[]
}

export interface BenchContext {
  /** A progress bar for a loop of `total` steps; call `tick()` per step and `done()` at the end. */
  progress(label: string, total: number): { tick(n?: number): void; done(): void }
  log(line: string): void
  /** Shorter runs for a quick look (`npm run bench -- --quick`); targets still apply. */
  quick: boolean
}

export interface Bench {
  name: string
  description: string
  run(ctx: BenchContext): Promise<BenchReport>
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]
}

export function summarize(samplesMs: number[]): { n: number; mean: number; p50: number; p95: number; p99: number; max: number } {
  const s = [...samplesMs].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1)
  return { n: s.length, mean, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.at(-1) ?? NaN }
}

/** Figures p50/p95/p99 for a series, with a target on p95 when given. */
export function latencyFigures(name: string, samplesMs: number[], p95Target?: number): Figure[] {
  const s = summarize(samplesMs)
  return [
    { name: `${name} p50`, value: s.p50, unit: 'ms' },
    { name: `${name} p95`, value: s.p95, unit: 'ms', ...(p95Target !== undefined ? { target: { op: '<=' as const, value: p95Target } } : {}) },
    { name: `${name} p99`, value: s.p99, unit: 'ms' },
  ]
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now()
  const v = await fn()
  return [v, performance.now() - t]
}

export function makeContext(quick: boolean): BenchContext {
  const bars = process.stderr.isTTY
  return {
    quick,
    log: (line) => console.log(line),
    progress(label, total) {
      if (!bars) {
        // Without a terminal, print a line every 10% so logs still show progress.
        let done = 0
        let shown = -1
        return {
          tick(n = 1) {
            done += n
            const pct = Math.floor((done / total) * 10)
            if (pct !== shown) {
              shown = pct
              console.log(`  ${label}: ${Math.min(100, pct * 10)}% (${done}/${total})`)
            }
          },
          done() {},
        }
      }
      const bar = new cliProgress.SingleBar(
        { format: `  ${label} [{bar}] {percentage}% {value}/{total} eta {eta}s`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
      bar.start(total, 0)
      return { tick: (n = 1) => bar.increment(n), done: () => bar.stop() }
    },
  }
}

/** Renders latency percentile curves (x = percentile, y = latency, log scale) to SVG. */
export async function plotLatency(title: string, series: Series[]): Promise<string> {
  const values = series.flatMap((s) => {
    const sorted = [...s.samplesMs].sort((a, b) => a - b)
    const step = Math.max(1, Math.floor(sorted.length / 400))
    const points = []
    for (let i = 0; i < sorted.length; i += step) points.push({ series: s.name, percentile: ((i + 1) / sorted.length) * 100, ms: Math.max(sorted[i], 0.001) })
    if (sorted.length) points.push({ series: s.name, percentile: 100, ms: Math.max(sorted.at(-1)!, 0.001) })
    return points
  })
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 640,
    height: 360,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'percentile', type: 'quantitative', title: 'percentile', scale: { domain: [0, 100] } },
      y: { field: 'ms', type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' } },
      color: { field: 'series', type: 'nominal' },
    },
  }
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  return view.toSVG()
}
