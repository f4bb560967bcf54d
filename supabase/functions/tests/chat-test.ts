// The OpenAI-compatible chat client and the HyDE / query-expansion rewrites against the fake chat
// server: the request sent (model, prompt, max_tokens, key), the text returned, the parsing of
// alternative queries, and a coded ProviderError for every failure (missing key, timeout, 5xx,
// malformed JSON, no choices, empty text, a reply without usable alternatives).
import assert from 'node:assert/strict'
import {
  type ChatConfig,
  createChatClient,
  expand,
  expandPrompt,
  hyde,
  HYDE_PROMPT,
  MAX_ALTERNATIVE_CHARS,
  parseAlternatives,
} from '../_shared/chat.ts'
import { ProviderError } from '../_shared/provider-http.ts'
import { FakeChat, type FakeChatMode } from './fake-chat.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }
const env = (vars: Record<string, string>) => (name: string) => vars[name]

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${err}`)
    return err
  }
  throw new Error('expected the call to fail')
}

function config(fake: FakeChat, extra: Partial<ChatConfig> = {}): ChatConfig {
  return {
    model: 'fake-chat-1',
    baseUrl: fake.baseUrl,
    apiKeyEnv: 'CHAT_TEST_KEY',
    maxTokens: 128,
    timeoutMs: 500,
    ...extra,
  }
}

Deno.test('chat client, HyDE and expansion', opts, async (t) => {
  const fake = await FakeChat.start()
  const chat = createChatClient(config(fake), { env: env({ CHAT_TEST_KEY: 'sk-chat-secret' }) })
  try {
    await t.step('HyDE sends the HyDE prompt and the query, and returns the passage', async () => {
      fake.passage = '  Photosynthesis turns light into chemical energy in chloroplasts.  '
      const passage = await hyde(chat, 'how do plants make food?')
      assert.equal(passage, 'Photosynthesis turns light into chemical energy in chloroplasts.')
      const req = fake.requests.at(-1)!
      assert.equal(req.model, 'fake-chat-1')
      assert.equal(req.max_tokens, 128)
      assert.equal(req.authorization, 'Bearer sk-chat-secret')
      assert.deepEqual(req.messages, [
        { role: 'system', content: HYDE_PROMPT },
        { role: 'user', content: 'how do plants make food?' },
      ])
    })

    await t.step('expansion asks for n phrasings and returns at most n, without the query itself', async () => {
      fake.alternatives = [
        '1. automobile repair',
        '- Car Repair',
        '"vehicle maintenance"',
        '',
        'auto mechanic',
        'extra one',
      ]
      const alternatives = await expand(chat, 'car repair', 3)
      assert.deepEqual(alternatives, ['automobile repair', 'vehicle maintenance', 'auto mechanic'])
      assert.deepEqual(fake.requests.at(-1)!.messages[0], { role: 'system', content: expandPrompt(3) })
      assert.equal(fake.requests.at(-1)!.messages[1].content, 'car repair')
    })

    await t.step('an expansion reply that only repeats the query is a bad reply', async () => {
      fake.alternatives = ['car repair', '  CAR   REPAIR ', '---']
      const err = await rejection(expand(chat, 'car repair', 2))
      assert.equal(err.code, 'bad_reply')
    })

    const failures: { mode: FakeChatMode; code: string; message: RegExp }[] = [
      { mode: 'hang', code: 'timeout', message: /within 500 ms/ },
      { mode: '500', code: 'http', message: /HTTP 500.*The server had an error/ },
      { mode: 'malformed', code: 'bad_reply', message: /not valid JSON/ },
      { mode: 'no-choices', code: 'bad_reply', message: /no "choices"/ },
      { mode: 'empty', code: 'bad_reply', message: /no text/ },
    ]
    for (const f of failures) {
      await t.step(`${f.mode} → ${f.code}, for HyDE and expansion alike`, async () => {
        fake.setMode(f.mode)
        for (const call of [() => hyde(chat, 'q'), () => expand(chat, 'q', 2)]) {
          const err = await rejection(call())
          assert.equal(err.code, f.code)
          assert.match(err.message, f.message)
          assert.ok(!err.message.includes('sk-chat-secret'))
        }
        fake.setMode('ok')
      })
    }

    await t.step('OpenAI itself without a key is refused before any request', async () => {
      const openai = createChatClient({ ...config(fake), baseUrl: null, apiKeyEnv: null }, { env: env({}) })
      const before = fake.requests.length
      const err = await rejection(hyde(openai, 'q'))
      assert.equal(err.code, 'config')
      assert.match(err.message, /OPENAI_API_KEY is not set/)
      assert.equal(fake.requests.length, before)
    })

    await t.step('a self-hosted server without a configured key variable gets no Authorization header', async () => {
      const local = createChatClient({ ...config(fake), apiKeyEnv: null }, { env: env({}) })
      fake.passage = 'p'
      assert.equal(await hyde(local, 'q'), 'p')
      assert.equal(fake.requests.at(-1)!.authorization, null)
    })
  } finally {
    await fake.close()
  }
})

Deno.test('parseAlternatives', () => {
  assert.deepEqual(parseAlternatives('a b\n2) c d\n* e f\n• g h', 'x', 5), ['a b', 'c d', 'e f', 'g h'])
  assert.deepEqual(parseAlternatives('one\nOne\nONE  \ntwo', 'x', 5), ['one', 'two'], 'repeats are dropped')
  assert.deepEqual(parseAlternatives('“quoted query”\n‘other’', 'x', 5), ['quoted query', 'other'])
  assert.deepEqual(parseAlternatives('1.\n-\n...', 'x', 5), [], 'lines without words are dropped')
  assert.deepEqual(parseAlternatives('2024 results', 'x', 5), ['2024 results'], 'a line starting with a number is kept')
  const long = parseAlternatives('word '.repeat(400), 'x', 1)[0]
  assert.ok(long.length <= MAX_ALTERNATIVE_CHARS && long.endsWith('word'), 'long lines are cut at a word boundary')
})
