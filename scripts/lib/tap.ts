// Reads TAP (from pgTAP, `node --test`, `deno test`) with tap-parser and counts leaf test points:
// a suite that only groups other tests is not itself counted, its tests are.
import { Parser, type Result } from 'tap-parser'

export interface TapFailure {
  name: string
  diag: string
}

export interface TapCounts {
  passed: number
  failed: number
  /** Planned tests that never reported (a crash or an error mid-file). */
  missing: number
  failures: TapFailure[]
  bailout: string | null
}

export function countTap(text: string): TapCounts {
  const counts: TapCounts = { passed: 0, failed: 0, missing: 0, failures: [], bailout: null }
  const watch = (parser: Parser) => {
    // A subtest's lines come before the test point that closes it: that point is a group, not a test.
    let closesChild = false
    parser.on('child', (child: Parser) => {
      closesChild = true
      watch(child)
    })
    parser.on('assert', (r: Result) => {
      const group = closesChild
      closesChild = false
      if (group || r.skip || r.todo) return
      if (r.ok) counts.passed++
      else {
        counts.failed++
        counts.failures.push({ name: r.fullname || r.name, diag: r.diag ? JSON.stringify(r.diag, null, 2) : '' })
      }
    })
  }
  const parser = new Parser()
  watch(parser)
  parser.on('bailout', (reason: string) => (counts.bailout = reason || 'bailed out'))
  parser.on('complete', (results) => {
    const planned = results.plan?.end ?? 0
    if (planned > results.count) counts.missing = planned - results.count
  })
  parser.end(text)
  return counts
}
