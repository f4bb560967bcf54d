// Shared pieces of `npm run bench`: the shape of a benchmark and its figures, latency summaries,
// progress bars (cli-progress), growth exponents, and plots (Vega-Lite rendered to SVG): latency-percentile
// curves of one run, and latency against corpus size (log-log, baselines dashed).
import cliProgress from 'cli-progress'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'

/** What a figure is compared with, measured in the same run (same corpus, same machine, same minute). */
export interface Baseline {
  name: string
  value: number
}

/**
 * One reported number, optionally with the target an issue sets for it, the corpus size it was measured at
 * (figures of the same name at several sizes make a scale curve) and a baseline (ratio = value / baseline).
 */
export interface Figure {
  name: string
  value: number
  unit: string
  target?: { op: '<=' | '>='; value: number }
  /** Corpus size (messages / chunks) the figure was measured at; absent for figures of a fixed setup. */
  size?: number
  baseline?: Baseline
  /** How many samples a latency figure summarises. */
  samples?: number
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
  /** The corpus sizes of this run, ascending. */
  sizes: number[]
  /** Samples per latency figure: `full` in a full run, `quick` with --quick (or --samples for both). */
  samples(full: number, quick: number): number
  /**
   * Wall-time budget of one latency figure in seconds (20 in a full run, 5 with --quick): `sample` stops
   * early once it is spent and at least 20 samples are in, so slow operations at 100k do not stretch the run.
   */
  budgetSeconds: number
  /** A progress bar for a loop of `total` steps; call `tick()` per step and `done()` at the end. */
  progress(label: string, total: number): { tick(n?: number): void; done(): void }
  log(line: string): void
  /** Shorter runs for a quick look (`npm run bench -- --quick`); targets still apply. */
  quick: boolean
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

/**
 * p50/p95 figures of an operation at a corpus size, each with the same percentile of a baseline measured in
 * the same run when given, and a target on p95 (or p50 with `targetOn`).
 */
export function scaledLatency(
  name: string,
  samplesMs: number[],
  opts: { size: number; target?: number; targetOn?: 'p50' | 'p95'; baseline?: { name: string; samplesMs: number[] } },
): Figure[] {
  const s = summarize(samplesMs)
  const b = opts.baseline ? summarize(opts.baseline.samplesMs) : null
  return (['p50', 'p95'] as const).map((p) => ({
    name: `${name} ${p}`,
    value: s[p],
    unit: 'ms',
    size: opts.size,
    ...(opts.target !== undefined && (opts.targetOn ?? 'p95') === p ? { target: { op: '<=' as const, value: opts.target } } : {}),
    ...(b ? { baseline: { name: `${opts.baseline!.name} ${p}`, value: b[p] } } : {}),
    samples: s.n,
  }))
}

/**
 * A latency figure's samples: `call` `n` times after `warmup` unmeasured calls, with a progress bar; stops
 * early when the context's time budget is spent and at least 20 samples are in (the figure's `samples`
 * field says how many it got).
 */
export async function sample(ctx: BenchContext, label: string, n: number, call: (i: number) => Promise<unknown>, warmup = 10): Promise<number[]> {
  for (let i = 0; i < warmup; i++) {
    try {
      await call(i)
    } catch (err) {
      // The first HTTP call after seconds of in-process work can meet a keep-alive connection the gateway
      // closed meanwhile (PGlite runs on the event loop, so the client did not see it close): "fetch
      // failed". A warm-up call is retried once; a measured call never is.
      if (i > 0 || !/fetch failed/.test(String((err as Error).message))) throw err
      ctx.log(`  ${label}: the first warm-up call failed (${(err as Error).message}); retried`)
      await call(i)
    }
  }
  const bar = ctx.progress(label, n)
  const out: number[] = []
  const deadline = performance.now() + ctx.budgetSeconds * 1000
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await call(i)
    out.push(performance.now() - t)
    bar.tick()
    if (out.length >= 20 && performance.now() > deadline) break
  }
  bar.done()
  if (out.length < n) ctx.log(`  ${label}: ${out.length} of ${n} samples within the ${ctx.budgetSeconds} s budget`)
  return out
}

/** The slope of log(value) against log(size) between two sizes: 1 = linear, 0 = flat, 0.5 = √n. */
export function growthExponent(a: { size: number; value: number }, b: { size: number; value: number }): number {
  return Math.log(b.value / a.value) / Math.log(b.size / a.size)
}

/** Parses 1k, 10k, 100k, 2500, 1m into numbers. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim())
  if (!m) throw new Error(`not a size: "${text}" (expected e.g. 1k, 10k, 100k or 2500)`)
  const n = Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1000 : m[2].toLowerCase() === 'm' ? 1_000_000 : 1)
  if (!Number.isInteger(n) || n < 100) throw new Error(`size ${text} must be a whole number of at least 100`)
  return n
}

/** 1000 → 1k, 100000 → 100k, 2500 → 2.5k; other sizes as numbers (5183 → 5,183). */
export function formatSize(n: number): string {
  if (n >= 1_000_000 && n % 100_000 === 0) return `${n / 1_000_000}M`
  if (n >= 1000 && n % 100 === 0) return `${n / 1000}k`
  return n.toLocaleString('en')
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now()
  const v = await fn()
  return [v, performance.now() - t]
}

export function makeContext(quick: boolean, samplesOverride?: number, sizes: number[] = []): BenchContext {
  const bars = process.stderr.isTTY
  return {
    quick,
    sizes,
    samples: (full, quickN) => samplesOverride ?? (quick ? quickN : full),
    budgetSeconds: samplesOverride !== undefined ? Infinity : quick ? 5 : 20,
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

/** One point of a scale plot: an operation's latency at a corpus size; baselines are drawn dashed. */
export interface ScalePoint {
  operation: string
  size: number
  ms: number
  baseline: boolean
}

/** Renders latency against corpus size, log-log, one line per operation, baselines dashed, to SVG. */
export async function plotScale(title: string, points: ScalePoint[]): Promise<string> {
  const values = points.filter((p) => p.ms > 0 && Number.isFinite(p.ms)).map((p) => ({ ...p, kind: p.baseline ? 'baseline' : 'Agent Memory' }))
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 640,
    height: 380,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'size', type: 'quantitative', title: 'corpus size (messages / chunks, log scale)', scale: { type: 'log' } },
      y: { field: 'ms', type: 'quantitative', title: 'p95 latency (ms, log scale)', scale: { type: 'log' } },
      color: { field: 'operation', type: 'nominal', legend: { labelLimit: 360 } },
      strokeDash: { field: 'kind', type: 'nominal', title: null, scale: { domain: ['Agent Memory', 'baseline'], range: [[1, 0], [6, 4]] } },
    },
  }
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  return view.toSVG()
}
