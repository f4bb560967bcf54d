// The JSON record `npm run bench` writes, built from the sections' reports: every figure flattened with its
// section, unit, corpus size, baseline, ratio (value / baseline) and target; the growth exponent of every
// latency (and of its baseline) between consecutive sizes; machine info; durations; notes and errors.
// Pure functions, so the test checks the record's shape on a real (tiny) run and scripts/bench-readme.ts
// reads the same shape back.
import { formatSize, growthExponent, type BenchReport } from './lib.ts'

export interface SectionRun {
  name: string
  description: string
  reports: BenchReport[]
  seconds: number
  errors: string[]
  skipped?: string
}

export interface FigureRecord {
  section: string
  name: string
  /** null when not measurable (NaN or infinite in the run, e.g. a message never mirrored: see the notes). */
  value: number | null
  unit: string
  /** Corpus size the figure was measured at; null for a fixed setup (see the section's notes). */
  size: number | null
  baseline: { name: string; value: number | null } | null
  /** value / baseline.value; null without a baseline (or when either is null). */
  ratio: number | null
  target: { op: '<=' | '>='; value: number } | null
  /** Whether the target is met; null without a target. */
  met: boolean | null
  /** Samples a latency figure summarises; null for other figures. */
  samples: number | null
}

export interface GrowthRecord {
  section: string
  /** The operation (a latency figure's name, or its baseline's). */
  name: string
  baseline: boolean
  from: number
  to: number
  /** Slope of log(latency) against log(size) between the two sizes. */
  exponent: number
}

export interface Machine {
  cores: number
  cpu: string | null
  memoryGB: number
  platform: string
  node: string
  pglite: string | null
  pgvector: string | null
  postgres: string | null
  /** shared_buffers of the corpus database (the embedded stack's buffer cache). */
  sharedBuffers: string | null
  loadavg: number[]
}

export interface BenchRecord {
  at: string
  command: string
  commit: string | null
  quick: boolean
  sizes: number[]
  samples: number | null
  machine: Machine
  durations: { totalSeconds: number; sections: Record<string, number> }
  figures: FigureRecord[]
  growth: GrowthRecord[]
  notes: Record<string, string[]>
  skipped: Record<string, string>
  errors: Record<string, string[]>
}

/** The fields every figure of a record must have (the test checks them all). */
export const FIGURE_FIELDS = ['section', 'name', 'value', 'unit', 'size', 'baseline', 'ratio', 'target', 'met', 'samples'] as const
export const RECORD_FIELDS = ['at', 'command', 'commit', 'quick', 'sizes', 'samples', 'machine', 'durations', 'figures', 'growth', 'notes', 'skipped', 'errors'] as const
export const MACHINE_FIELDS = ['cores', 'cpu', 'memoryGB', 'platform', 'node', 'pglite', 'pgvector', 'postgres', 'sharedBuffers', 'loadavg'] as const

export function buildRecord(input: {
  command: string
  commit: string | null
  quick: boolean
  sizes: number[]
  samples: number | null
  sections: SectionRun[]
  machine: Machine
  totalSeconds: number
  at?: Date
}): BenchRecord {
  const figures: FigureRecord[] = []
  for (const s of input.sections) {
    for (const r of s.reports) {
      for (const f of r.figures) {
        const finite = (v: number) => (Number.isFinite(v) ? v : null)
        const met = f.target ? (f.target.op === '<=' ? f.value <= f.target.value : f.value >= f.target.value) : null
        const ratio = f.baseline ? finite(f.value / f.baseline.value) : null
        figures.push({
          section: s.name,
          name: f.name,
          value: finite(f.value),
          unit: f.unit,
          size: f.size ?? null,
          baseline: f.baseline ? { name: f.baseline.name, value: finite(f.baseline.value) } : null,
          ratio: finite(f.value) === null ? null : ratio,
          target: f.target ?? null,
          met,
          samples: f.samples ?? null,
        })
      }
    }
  }
  return {
    at: (input.at ?? new Date()).toISOString(),
    command: input.command,
    commit: input.commit,
    quick: input.quick,
    sizes: input.sizes,
    samples: input.samples,
    machine: input.machine,
    durations: { totalSeconds: input.totalSeconds, sections: Object.fromEntries(input.sections.map((s) => [s.name, Number(s.seconds.toFixed(1))])) },
    figures,
    growth: growth(figures),
    notes: Object.fromEntries(input.sections.map((s) => [s.name, s.reports.flatMap((r) => r.notes ?? [])])),
    skipped: Object.fromEntries(input.sections.filter((s) => s.skipped).map((s) => [s.name, s.skipped!])),
    errors: Object.fromEntries(input.sections.filter((s) => s.errors.length).map((s) => [s.name, s.errors])),
  }
}

/** Growth exponents of every latency figure (ms, with a size) and of its baseline, between consecutive sizes. */
export function growth(figures: FigureRecord[]): GrowthRecord[] {
  const curves = new Map<string, { section: string; name: string; baseline: boolean; points: { size: number; value: number }[] }>()
  const add = (section: string, name: string, baseline: boolean, size: number, value: number) => {
    const key = `${section}\u0000${name}\u0000${baseline}`
    if (!curves.has(key)) curves.set(key, { section, name, baseline, points: [] })
    curves.get(key)!.points.push({ size, value })
  }
  for (const f of figures) {
    if (f.unit !== 'ms' || f.size === null) continue
    if (f.value !== null) add(f.section, f.name, false, f.size, f.value)
    if (f.baseline?.value != null) add(f.section, f.baseline.name, true, f.size, f.baseline.value)
  }
  const out: GrowthRecord[] = []
  for (const c of curves.values()) {
    const points = [...new Map(c.points.map((p) => [p.size, p])).values()].sort((a, b) => a.size - b.size)
    for (let i = 1; i < points.length; i++) {
      if (points[i - 1].value > 0 && points[i].value > 0) {
        out.push({ section: c.section, name: c.name, baseline: c.baseline, from: points[i - 1].size, to: points[i].size, exponent: growthExponent(points[i - 1], points[i]) })
      }
    }
  }
  return out
}

/** Fields missing from a record or from any of its figures (empty when the record is complete). */
export function missingFields(record: Record<string, unknown>): string[] {
  const missing: string[] = []
  for (const k of RECORD_FIELDS) if (!(k in record)) missing.push(k)
  const machine = (record.machine ?? {}) as Record<string, unknown>
  for (const k of MACHINE_FIELDS) if (!(k in machine)) missing.push(`machine.${k}`)
  const figures = (record.figures ?? []) as Record<string, unknown>[]
  figures.forEach((f, i) => {
    for (const k of FIGURE_FIELDS) if (!(k in f)) missing.push(`figures[${i}].${k}`)
    if (typeof f.value !== 'number' && f.value !== null) missing.push(`figures[${i}].value (a number or null)`)
    if (typeof f.unit !== 'string' || !f.unit) missing.push(`figures[${i}].unit (a string)`)
    const b = f.baseline as { name?: unknown; value?: unknown } | null | undefined
    if (b && (typeof b.name !== 'string' || !('value' in b))) missing.push(`figures[${i}].baseline (name and value)`)
    if (b && typeof b.value === 'number' && typeof f.value === 'number' && typeof f.ratio !== 'number') missing.push(`figures[${i}].ratio (a baseline without its ratio)`)
  })
  return missing
}

export const fmt = (v: number | null | undefined): string =>
  v === null || v === undefined || Number.isNaN(v)
    ? '—'
    : !Number.isFinite(v)
      ? String(v)
      : Number.isInteger(v)
        ? v.toLocaleString('en')
        : Math.abs(v) >= 100
          ? Math.round(v).toLocaleString('en')
          : Math.abs(v) >= 10
            ? v.toFixed(1)
            : Math.abs(v) >= 1
              ? v.toFixed(2)
              : v.toFixed(3)

/** The console table: one row per figure, then the growth exponents. */
export function formatTable(record: BenchRecord): string {
  const rows = record.figures.map((f) => [
    f.section,
    f.name,
    f.size === null ? '' : formatSize(f.size),
    `${fmt(f.value)} ${f.unit}`,
    f.baseline ? `${fmt(f.baseline.value)} ${f.unit} (${f.baseline.name})` : '',
    f.ratio === null ? '' : `${fmt(f.ratio)}×`,
    f.target ? `${f.target.op} ${fmt(f.target.value)} ${f.unit}` : '',
    f.met === null ? '' : f.met ? 'met' : 'MISSED',
  ])
  const table = (head: string[], body: string[][]) => {
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
    return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
  }
  const out = [table(['section', 'figure', 'size', 'value', 'baseline (same run)', 'ratio', 'target', ''], rows)]
  if (record.growth.length) {
    out.push(
      '',
      'growth exponents (slope of log p50/p95 against log size; 1 = linear, 0 = flat):',
      table(
        ['section', 'operation', 'sizes', 'exponent'],
        record.growth.map((g) => [g.section, `${g.name}${g.baseline ? ' (baseline)' : ''}`, `${formatSize(g.from)} → ${formatSize(g.to)}`, fmt(g.exponent)]),
      ),
    )
  }
  for (const [section, why] of Object.entries(record.skipped)) out.push(`skipped ${section}: ${why}`)
  for (const [section, errs] of Object.entries(record.errors)) for (const e of errs) out.push(`ERROR ${section}: ${e}`)
  return out.join('\n')
}
