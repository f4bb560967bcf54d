// `npm run bench`: the performance record. Runs the sections in scripts/bench/ — those on the shared corpus
// (scripts/bench/dataset.ts) at every corpus size, grown 1k → 10k → 100k by inserting the difference, the
// time-based ones (stacks under load, pipelines) once — and prints a table of figures (value, baseline
// measured in the same run, ratio, target, verdict) and the growth exponent of every latency between sizes
// (slope on log-log: 1 = linear, 0 = flat). Writes the JSON record (every figure with unit, corpus size,
// baseline, ratio and target; machine info; durations) and plots next to it: latency against corpus size per
// section (log-log, baselines dashed, `scale-<section>.svg`) and latency-percentile curves (`<section>-latency.svg`).
//   npm run bench -- [--quick] [--sizes 1k,10k,100k | --size 10k] [--only <section,...>] [--out FILE]
//                    [--samples N] [--scifact DIR]
//   --quick    sizes 1k and 10k, fewer samples (5 s per figure at most), and the once-per-run parts of the
//              time-based sections and of scifact left out (name them with --only to run them); the full
//              run is sizes 1k, 10k, 100k with everything (20 s per latency figure at most).
//   --out      the JSON file (default .data/bench/results.json, overwritten); plots go to its directory.
//   --samples  samples per latency figure, overriding each section's default (for tests and quick looks).
// `npm run bench:readme` turns a results file into README's Performance section.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from '../stack/core/config.ts'
import { BenchCorpus } from './bench/dataset.ts'
import { BENCHES } from './bench/index.ts'
import { formatSize, makeContext, parseSize, plotLatency, plotScale, type BenchReport, type Series } from './bench/lib.ts'
import { buildRecord, formatTable, type SectionRun } from './bench/record.ts'

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    size: { type: 'string' },
    out: { type: 'string' },
    samples: { type: 'string' },
    scifact: { type: 'string' },
  },
  strict: true,
})
const started = performance.now()
const wanted = values.only?.split(',')
for (const name of wanted ?? []) {
  if (!BENCHES.some((b) => b.name === name)) throw new Error(`--only: unknown section "${name}" (have: ${BENCHES.map((b) => b.name).join(', ')})`)
}
if (values.sizes && values.size) throw new Error('--size and --sizes: give one of them')
const quick = values.quick ?? false
const sizes = (values.size ?? values.sizes ?? (quick ? '1k,10k' : '1k,10k,100k')).split(',').map(parseSize).sort((a, b) => a - b)
if (new Set(sizes).size !== sizes.length) throw new Error(`--sizes: ${values.sizes} repeats a size`)
const samples = values.samples === undefined ? undefined : Number(values.samples)
if (samples !== undefined && !(Number.isInteger(samples) && samples >= 5)) throw new Error('--samples must be a whole number ≥ 5')
if (values.scifact) process.env.AGENT_MEMORY_SCIFACT_DIR = resolve(values.scifact)
const outFile = resolve(values.out ?? join(ROOT, '.data', 'bench', 'results.json'))
const outDir = dirname(outFile)
mkdirSync(outDir, { recursive: true })

const ctx = makeContext(quick, samples, sizes)
const selected = BENCHES.filter((b) => !wanted || wanted.includes(b.name))
const runs = new Map<string, SectionRun>(selected.map((b) => [b.name, { name: b.name, description: b.description, reports: [], seconds: 0, errors: [] }]))
const attempt = async (name: string, label: string, fn: () => Promise<BenchReport>) => {
  const run = runs.get(name)!
  const t = performance.now()
  try {
    run.reports.push(await fn())
  } catch (err) {
    const message = (err as Error).stack ?? String(err)
    console.error(`  ✖ ${name} ${label}: ${message}`)
    run.errors.push(`${label}: ${(err as Error).message}`)
  }
  run.seconds += (performance.now() - t) / 1000
}

// 1. Per size: grow the shared corpus (when a selected section needs it), then every per-size section.
const perSize = selected.filter((b) => b.runAt)
const corpusRun: SectionRun = { name: 'corpus', description: 'the shared corpus: load steps and the API batch insert rate', reports: [], seconds: 0, errors: [] }
let corpus: BenchCorpus | null = null
let pgVersion: string | null = null
let sharedBuffers: string | null = null
try {
  if (perSize.some((b) => b.corpus)) {
    console.log(`\n▶ corpus: starting a stack for the shared corpus (sizes ${sizes.map(formatSize).join(', ')})`)
    const t = performance.now()
    corpus = await BenchCorpus.open()
    pgVersion = (await corpus.db.query<{ v: string }>('select version() as v')).rows[0].v
    sharedBuffers = (await corpus.db.query<{ v: string }>(`select current_setting('shared_buffers') as v`)).rows[0].v
    corpusRun.seconds += (performance.now() - t) / 1000
  }
  for (const size of sizes) {
    // Fixed setups of their own (the mirror's LibSQL file) build in the background while the corpus grows.
    const setups = perSize.map((b) => b.prepareAt?.(ctx, size)).filter((s) => s !== undefined)
    if (corpus) {
      console.log(`\n▶ corpus: growing to ${formatSize(size)} (${size.toLocaleString('en')} messages in the long thread, as many chunks, …)`)
      const t = performance.now()
      const step = await corpus.grow(size, ctx)
      const total = Object.values(step.seconds).reduce((a, b) => a + b, 0)
      corpusRun.seconds += (performance.now() - t) / 1000
      corpusRun.reports.push({
        figures: [
          { name: 'save_messages batch insert (1,000 per call, with triggers)', value: step.batchInsertPerSecond, unit: 'messages/s', size },
          { name: 'corpus load step (to this size, incl. embeddings and HNSW build)', value: total, unit: 's', size },
        ],
        notes: [`${formatSize(size)}: ${Object.entries(step.seconds).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`],
      })
      console.log(`  loaded in ${total.toFixed(1)} s`)
    }
    // Nothing is measured while a setup still runs; one that failed is reported by its section's runAt.
    for (const setup of setups) await setup.wait(ctx).catch(() => {})
    for (const bench of perSize) {
      console.log(`\n▶ ${bench.name} at ${formatSize(size)}: ${bench.description}`)
      await attempt(bench.name, `at ${formatSize(size)}`, () => bench.runAt!(ctx, size, bench.corpus ? corpus : null))
    }
  }
} finally {
  await corpus?.close()
}

// 2. Once per run: the fixed setups (time-based ones only in a full run, or when named with --only).
for (const bench of selected.filter((b) => b.run)) {
  if (quick && bench.slow && !wanted?.includes(bench.name)) {
    runs.get(bench.name)!.skipped = 'its once-per-run part (time-based, or a long fixed setup) is left out of --quick; name it with --only to run it'
    continue
  }
  console.log(`\n▶ ${bench.name}: ${bench.description}`)
  await attempt(bench.name, 'once', () => bench.run!(ctx))
}

// 3. The record: JSON, table, plots.
const pkgVersion = (name: string) => {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return null
  }
}
let commit: string | null = null
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
} catch {
  // not a git checkout
}
const sections = [...(corpus || corpusRun.reports.length ? [corpusRun] : []), ...runs.values()]
const record = buildRecord({
  command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
  quick,
  sizes,
  samples: samples ?? null,
  sections,
  machine: {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? null,
    memoryGB: Math.round(totalmem() / 1024 ** 3),
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    pglite: pkgVersion('@electric-sql/pglite'),
    pgvector: pkgVersion('@electric-sql/pglite-pgvector'),
    postgres: pgVersion,
    sharedBuffers,
    loadavg: loadavg().map((l) => Number(l.toFixed(2))),
  },
  commit,
  totalSeconds: (performance.now() - started) / 1000,
})
writeFileSync(outFile, JSON.stringify(record, null, 2) + '\n')
console.log('\n' + formatTable(record))

for (const run of sections) {
  const points = record.figures
    .filter((f) => f.section === run.name && f.unit === 'ms' && f.size !== null && f.name.endsWith(' p95'))
    .flatMap((f) => [
      { operation: f.name.replace(/ p95$/, ''), size: f.size!, ms: f.value ?? NaN, baseline: false },
      ...(f.baseline ? [{ operation: f.baseline.name.replace(/ p95$/, ''), size: f.size!, ms: f.baseline.value ?? NaN, baseline: true }] : []),
    ])
  const file = join(outDir, `scale-${run.name}.svg`)
  if (new Set(points.map((p) => p.size)).size >= 2) {
    writeFileSync(file, await plotScale(`${run.name}: p95 latency against corpus size (dashed: baselines, same run)`, points))
    console.log(`plot: ${file}`)
  } else rmSync(file, { force: true }) // an older run's plot would pass for this one's
  const series: Series[] = run.reports.flatMap((r) => r.series ?? [])
  if (series.length) writeFileSync(join(outDir, `${run.name}-latency.svg`), await plotLatency(`${run.name}: latency percentiles`, series))
}
console.log(`\nresults: ${outFile} (${(record.durations.totalSeconds / 60).toFixed(1)} min)`)
if (sections.some((s) => s.errors.length)) process.exitCode = 1
