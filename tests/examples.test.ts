// Every file in examples/ runs, as a user runs it (`npx tsx examples/<file>`), against a fresh stack of its
// own, and prints what it should; and every TypeScript block in README.md is an excerpt of one of them, so
// the README cannot drift from code that runs. An example without an entry in EXPECTED fails: say what it
// must print when adding it.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { FakeOpenAI } from '../supabase/functions/tests/fake-openai.ts'
import { ROOT } from '../stack/core/config.ts'
import { startTestStack, type TestStack } from './helpers/stack.ts'

const EXAMPLES = join(ROOT, 'examples')
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

interface Expectation {
  /** Extra environment (beyond the stack's URLs and keys) and anything to start first. */
  setup?: () => Promise<{ env: Record<string, string>; check?: () => void; close?: () => Promise<void> }>
  /** Environment that depends on the example's stack (its data directory, …). */
  env?: (stack: TestStack) => Record<string, string>
  /** Lines the output must contain, in this order (other lines may come between). */
  lines: RegExp[]
}

let fake: FakeOpenAI | null = null

const EXPECTED: Record<string, Expectation> = {
  'quickstart.ts': {
    lines: [
      /^signed up as quickstart-\d+@example\.com$/,
      new RegExp(`^created thread ${UUID}$`),
      /^loaded 2 messages \(more: false\)$/,
      /^context: 1 system \+ 1 messages, \d+ of 4000 tokens$/,
      /^agent state version 1, then 2$/,
      /^a stale expectedVersion is a conflict: /,
      /^countTokens: 6$/,
      /^realtime: INSERT system "You are a helpful assistant\." \(\d+ tokens, exact: false\)$/,
      /^realtime: INSERT user "Why was I charged twice\?" \(\d+ tokens, exact: false\)$/,
      /^realtime: UPDATE (system|user) ".*" \(\d+ tokens, exact: true\)$/,
      /^realtime: UPDATE (system|user) ".*" \(\d+ tokens, exact: true\)$/,
      /^signed in again as quickstart-\d+@example\.com: 1 thread\(s\)$/,
    ],
  },
  'embeddings.ts': {
    // The model is served by the fake OpenAI-compatible server the Edge Function tests use.
    setup: async () => {
      fake = await FakeOpenAI.start({ dims: 768 })
      const server = fake
      return {
        env: { EMBEDDINGS_BASE_URL: server.baseUrl },
        check: () => {
          assert.ok(server.requests.length > 0, 'the example embedded through the OpenAI-compatible server')
          assert.ok(server.requests.every((r) => r.model === 'nomic-embed-text' && r.authorization === null), 'model id sent, no key')
        },
        close: () => server.close(),
      }
    },
    lines: [
      /^registered nomic-embed-text \(768 dims at http:\/\/127\.0\.0\.1:\d+\/v1\); util\.reembed queued \d+ jobs$/,
      new RegExp(`^message ${UUID}: embedded with nomic-embed-text$`),
      /^nomic-embed-text is now the default embedding model$/,
    ],
  },
  'long-term.ts': {
    lines: [
      /^memories: "Lives in Berlin\.", "Lives in Paris\." \(superseded\)$/,
      /^search: "Lives in Berlin\."$/,
      /^working memory v1: \{"name":"Alex"\}$/,
      /^summary: 0 step\(s\), nothing to summarize yet$/,
      /^context: 2 messages, 1 working memory, memories "Lives in Berlin\.", \d+ of 8000 tokens$/,
      /^history of the Berlin memory: add, update, forget$/,
    ],
  },
  'mirror.ts': {
    // The stack mirrors to a file next to its database; the example reads that file.
    env: (stack) => ({ LIBSQL_DATABASE_URL: `file:${join(stack.dataDir, 'mirror.db')}` }),
    lines: [
      /^mirror: 2 messages in the thread$/,
      /^mirror keyword: "What is the refund policy for annual plans\?"$/,
      /^mirror hybrid: 2 hits, first "What is the refund policy for annual plans\?"$/,
      /^offline read: 2 messages from mirror$/,
      /^offline write: outbox$/,
      /^replayed 1 write\(s\), 0 refused$/,
      /^supabase now has 3 messages \(source supabase\)$/,
    ],
  },
  'search.ts': {
    lines: [
      /^ingested "Billing handbook": 3 chunks \(markdown\)$/,
      /^ingested again: replaced false$/,
      /^bm25: "Billing handbook > Refunds" \(score \d+\.\d\d, matched (charg|duplic|refund)(, (charg|duplic|refund)){2}\)$/,
      /^hybrid: "Billing handbook > Refunds" \(bm25 rank \d+, vector rank \d+; embedded with hash-384\)$/,
      /^memory: "My order number is 4417 and it arrived damaged\." then "Sorry about that\. I have opened a replacement request\."$/,
      /^context: 1 newest \+ 1 recalled \("My order number is 4417 and it arrived damaged\."\)$/,
    ],
  },
}

function run(file: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join('examples', file)], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

function assertLinesInOrder(out: string, expected: RegExp[]): void {
  const lines = out.split('\n')
  let at = 0
  for (const re of expected) {
    const found = lines.findIndex((l, i) => i >= at && re.test(l))
    assert.ok(found >= 0, `expected a line matching ${re} after line ${at} in:\n${out}`)
    at = found + 1
  }
}

const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts')).sort()

describe('examples/ run as written against a fresh stack', () => {
  let stack: TestStack | null = null
  after(async () => {
    await fake?.close()
    await stack?.close()
  })

  it('every example has its expected output here', () => {
    assert.deepEqual(files.filter((f) => !EXPECTED[f]), [], 'say in EXPECTED what each example prints')
  })

  for (const file of files) {
    it(`${file} runs and prints what it should`, { timeout: 240_000 }, async () => {
      const expectation = EXPECTED[file]
      assert.ok(expectation, `no expectation for ${file}`)
      stack = await startTestStack()
      const extra = (await expectation.setup?.()) ?? { env: {} }
      try {
        const { code, out } = await run(file, {
          SUPABASE_URL: stack.apiUrl,
          SUPABASE_DB_URL: stack.dbUrl,
          ...expectation.env?.(stack),
          ...extra.env,
        })
        assert.equal(code, 0, `${file} exited with ${code}:\n${out}`)
        assertLinesInOrder(out, expectation.lines)
        extra.check?.()
      } finally {
        await extra.close?.()
        fake = null
        await stack.close()
        stack = null
      }
    })
  }
})

describe('README.md', () => {
  it('every ```ts block is an excerpt of a file in examples/', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
    assert.ok(blocks.length >= 3, 'the quickstart, sign-in and embeddings snippets')
    const sources = files.map((f) => ({ f, text: readFileSync(join(EXAMPLES, f), 'utf8') }))
    for (const block of blocks) {
      const home = sources.find((s) => s.text.includes(block))
      assert.ok(home, `this README block is in no example file (copy it from one, or change the example first):\n${block}`)
    }
  })
})
