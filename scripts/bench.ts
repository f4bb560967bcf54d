// `npm run bench`: runs the benchmarks in scripts/bench/ and prints a table of figures (value, target,
// verdict); writes .data/bench/results.json and a latency-curve plot per benchmark (.data/bench/*.svg).
//   npm run bench -- --only <name,...>   --quick
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from '../stack/core/config.ts'
import { BENCHES } from './bench/index.ts'
import { makeContext, plotLatency, type Figure } from './bench/lib.ts'

const { values } = parseArgs({ options: { only: { type: 'string' }, quick: { type: 'boolean', default: false } }, strict: true })
const wanted = values.only?.split(',')
for (const name of wanted ?? []) {
  if (!BENCHES.some((b) => b.name === name)) throw new Error(`--only: unknown benchmark "${name}" (have: ${BENCHES.map((b) => b.name).join(', ')})`)
}
const outDir = join(ROOT, '.data', 'bench')
mkdirSync(outDir, { recursive: true })
const ctx = makeContext(values.quick ?? false)
const all: { bench: string; figure: Figure; met: boolean | null }[] = []
const results: Record<string, unknown> = {}

for (const bench of BENCHES.filter((b) => !wanted || wanted.includes(b.name))) {
  console.log(`\n▶ ${bench.name}: ${bench.description}`)
  const report = await bench.run(ctx)
  results[bench.name] = { figures: report.figures, notes: report.notes ?? [] }
  for (const figure of report.figures) {
    const met = figure.target ? (figure.target.op === '<=' ? figure.value <= figure.target.value : figure.value >= figure.target.value) : null
    all.push({ bench: bench.name, figure, met })
  }
  for (const note of report.notes ?? []) console.log(`  note: ${note}`)
  if (report.series?.length) {
    const file = join(outDir, `${bench.name}-latency.svg`)
    writeFileSync(file, await plotLatency(`${bench.name}: latency percentiles`, report.series))
    console.log(`  plot: ${file}`)
  }
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))
const rows = all.map(({ bench, figure, met }) => [
  bench,
  figure.name,
  `${fmt(figure.value)} ${figure.unit}`,
  figure.target ? `${figure.target.op} ${fmt(figure.target.value)} ${figure.unit}` : '',
  met === null ? '' : met ? 'met' : 'MISSED',
])
const head = ['benchmark', 'figure', 'value', 'target', '']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ')
console.log('\n' + line(head) + '\n' + widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows) console.log(line(r))
writeFileSync(join(outDir, 'results.json'), JSON.stringify({ at: new Date().toISOString(), results }, null, 2) + '\n')
console.log(`\nresults: ${join(outDir, 'results.json')}`)
