// `npm run bench`'s record: the corpus generator is deterministic for a seed (and a bigger corpus starts
// with the smaller one), and a real, tiny run (two sizes (200 and 400), five samples per figure, two sections) writes a
// JSON record in which every figure has its unit, corpus size, baseline and ratio, with the machine's core
// count and Node/PGlite versions — checked field by field, never the timings themselves. The README section
// rendered from that record carries the markers and every figure with a target.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { END, renderSection, replaceSection, START } from '../scripts/bench-readme.ts'
import { conversations, documents, take } from '../scripts/bench/corpus.ts'
import { missingFields, type BenchRecord } from '../scripts/bench/record.ts'
import { ROOT } from '../stack/core/config.ts'

test('the corpus generator is deterministic for a seed, and a bigger corpus starts with the smaller one', () => {
  const a = take(conversations({ seed: 5 }), 3000)
  assert.deepEqual(take(conversations({ seed: 5 }), 3000), a, 'the same seed gives the same messages')
  assert.deepEqual(take(conversations({ seed: 5 }), 1000), a.slice(0, 1000), 'the first 1,000 of 3,000 are the 1,000 of a smaller corpus')
  assert.notDeepEqual(take(conversations({ seed: 6 }), 1000), a.slice(0, 1000), 'another seed gives other messages')
  const d = take(documents({ seed: 5 }), 2000)
  assert.deepEqual(take(documents({ seed: 5 }), 2000), d, 'the same seed gives the same chunks')
  assert.deepEqual(take(documents({ seed: 5 }), 700), d.slice(0, 700), 'chunks grow by appending')

  // The shape the issue asks for: threads of realistic lengths, chat-like lengths, tool calls.
  const threads = new Map<number, number>()
  for (const m of a) threads.set(m.thread, (threads.get(m.thread) ?? 0) + 1)
  assert.ok(threads.size > 20, `3,000 messages fall in many threads (got ${threads.size})`)
  const calls = a.filter((m) => m.role === 'assistant' && m.tool_call_id)
  const results = a.filter((m) => m.role === 'tool')
  assert.ok(calls.length > 0 && calls.length === results.length, 'every tool call has its result')
  for (const r of results) assert.ok(calls.some((c) => c.tool_call_id === r.tool_call_id && c.tool_name === r.tool_name), 'a result answers a call')
  const words = (role: string) => {
    const n = a.filter((m) => m.role === role).map((m) => m.content.split(' ').length).sort((x, y) => x - y)
    return n[Math.floor(n.length / 2)]
  }
  assert.ok(words('user') < words('assistant'), 'user turns are shorter than assistant turns, as in chat transcripts')
  const single = take(conversations({ seed: 5, single: true }), 2000)
  assert.ok(single.every((m) => m.thread === 0), 'single: one long thread')
  assert.equal(single.filter((m) => m.role === 'system').length, 1, 'single: one system prompt')
})

test('a tiny real run writes a record with every field; the README section renders from it', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-test-'))
  try {
    const out = join(dir, 'results.json')
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'scripts/bench.ts', '--quick', '--sizes', '200,400', '--samples', '5', '--only', 'memory-core,retrieval', '--out', out],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    )
    assert.equal(run.status, 0, `npm run bench failed:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`)
    const record = JSON.parse(readFileSync(out, 'utf8')) as BenchRecord
    assert.deepEqual(missingFields(record as unknown as Record<string, unknown>), [], 'no field is missing')
    assert.deepEqual(record.errors, {}, 'no section failed')
    assert.deepEqual(record.sizes, [200, 400])
    assert.ok(record.machine.cores >= 1, 'the core count')
    assert.match(record.machine.node, /^v\d+/, 'the Node version')
    assert.match(record.machine.pglite ?? '', /^\d+\.\d+\.\d+/, 'the PGlite version')
    assert.match(record.machine.postgres ?? '', /PostgreSQL/, 'the Postgres version')
    assert.match(record.command, /^npm run bench -- /)

    const sections = new Set(record.figures.map((f) => f.section))
    for (const s of ['corpus', 'memory-core', 'retrieval']) assert.ok(sections.has(s), `figures of ${s}`)
    for (const f of record.figures) {
      assert.equal(typeof f.value, 'number', `${f.name}: a number`)
      assert.ok(f.unit.length > 0, `${f.name}: a unit`)
      assert.ok(f.size === 200 || f.size === 400, `${f.name}: measured at a corpus size of the run`)
      if (f.baseline) {
        assert.equal(typeof f.baseline.name, 'string', `${f.name}: the baseline is named`)
        assert.equal(f.ratio, f.value! / f.baseline.value!, `${f.name}: ratio = value / baseline`)
      } else assert.equal(f.ratio, null, `${f.name}: no ratio without a baseline`)
      if (f.target) assert.equal(typeof f.met, 'boolean', `${f.name}: a verdict for its target`)
    }
    // Every baseline the two sections promise, measured at both sizes.
    for (const name of ['pg_textsearch BM25 index p95', 'Supabase guide hybrid (ts_rank_cd + RRF, 30) p95', 'exact sequential vector scan p95', 'save_message in process p95']) {
      const sizes = record.figures.filter((f) => f.baseline?.name === name).map((f) => f.size)
      assert.deepEqual(sizes, [200, 400], `baseline "${name}" at both sizes`)
    }
    for (const name of ['HNSW recall@10 (match_documents vs exact scan)', 'HNSW index size, halfvec(384)', 'recall@10, halfvec(384) HNSW']) {
      assert.equal(record.figures.filter((f) => f.name === name).length, 2, `${name} at both sizes`)
    }
    // A growth exponent per latency (and baseline) between the two sizes.
    const latencies = record.figures.filter((f) => f.unit === 'ms' && f.size === 400)
    for (const f of latencies) {
      assert.ok(record.growth.some((g) => g.section === f.section && g.name === f.name && g.from === 200 && g.to === 400), `growth of ${f.name}`)
    }

    const section = renderSection(record, ['docs/bench/scale-retrieval.svg'], 'docs/bench/results.json')
    assert.ok(section.startsWith(START) && section.endsWith(END), 'the section is between its markers')
    for (const f of record.figures.filter((x) => x.target)) assert.ok(section.includes(f.name), `the section shows the target of "${f.name}"`)
    assert.ok(section.includes(record.command), 'the section shows the command')
    const withRun2 = renderSection(record, [], 'docs/bench/results.json', [{ record, path: 'docs/bench/results-run2.json' }])
    assert.ok(withRun2.includes('memory-core (run 2)') && withRun2.includes('docs/bench/results-run2.json'), 'a second run is shown labelled, with its record')
    const readme = '# Title\n\nintro\n'
    const once = replaceSection(readme, section)
    assert.equal(replaceSection(once, section), once, 'replacing the section again changes nothing')
    assert.ok(once.startsWith(readme), 'the rest of README is left alone')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
