// Reads TAP (from pgTAP, `node --test`, `deno test`) with tap-parser and counts leaf test points:
// a suite that only groups other tests is not itself counted, its tests are. A plan the run does not
// keep — fewer tests than planned, more, or (with requirePlan) none at all — is an error, as pg_prove
// reports it ("Bad plan. You planned 55 tests but ran 60.").
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
  /** The plan was not kept: "planned N tests but ran M", or "no plan" when one was required. */
  planError: string | null
}

export function countTap(text: string, opts: { requirePlan?: boolean } = {}): TapCounts {
  const counts: TapCounts = { passed: 0, failed: 0, missing: 0, failures: [], bailout: null, planError: null }
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
    const plan = results.plan
    // tap-parser reads empty output as "1..0 # no tests found"; a plan line must really be there.
    if (!plan || plan.end === undefined || plan.end === null || !/^1\.\.\d+/m.test(text)) {
      if (opts.requirePlan) counts.planError = 'no plan: the TAP output never said how many tests it would run (select plan(N))'
      return
    }
    if (plan.skipAll) return
    const planned = plan.end
    if (planned > results.count) counts.missing = planned - results.count
    if (planned !== results.count) counts.planError = `bad plan: planned ${planned} test(s) but ran ${results.count}`
  })
  parser.end(text)
  return counts
}
