// The SDK's retrieval methods. Against a whole stack: searchDocuments and semanticSearchMemory (the
// search function), hybridSearch (the hybrid_search RPC, one round trip), buildContext with recall, and
// the MemoryError codes users get. Against a recorded fetch (no stack): ingestDocument's mapping to the
// ingest function's contract — request body, response, every error status — and the mapping of the
// search function's answers and failures, so the SDK's side of both contracts is pinned down.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory, MemoryError, type Memory } from '../client/index.ts'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'
import { ANON_KEY, anonClient, createUser, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

async function rejects(fn: () => Promise<unknown>, code: string): Promise<MemoryError> {
  try {
    await fn()
  } catch (err) {
    assert.ok(err instanceof MemoryError, `expected a MemoryError, got ${err}`)
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`)
    return err
  }
  assert.fail(`expected MemoryError ${code}, but the call succeeded`)
}

interface Recorded {
  url: string
  method: string
  authorization: string | null
  body: any
}

/** A Memory over a supabase-js client whose requests go to `answer` instead of the network. */
function recordedMemory(answer: (r: Recorded) => Response | Promise<Response>): { memory: Memory; requests: Recorded[] } {
  const requests: Recorded[] = []
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init)
    const text = await req.text()
    const r = { url: req.url, method: req.method, authorization: req.headers.get('authorization'), body: text ? JSON.parse(text) : null }
    requests.push(r)
    return answer(r)
  }
  const supabase = createClient('http://sdk.test', ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
    global: { fetch: fakeFetch as typeof fetch, headers: { Authorization: 'Bearer user-token' } },
  })
  return { memory: createMemory({ supabase }), requests }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

describe('ingestDocument ↔ the ingest function contract (recorded fetch)', () => {
  const document = {
    id: '11111111-1111-4111-8111-111111111111',
    owner_id: '22222222-2222-4222-8222-222222222222',
    title: 'Handbook',
    source_uri: 'https://example.com/handbook.md',
    format: 'markdown',
    metadata: { team: 'support' },
    content_hash: 'a'.repeat(64),
    chunking: { strategy: 'markdown' },
    chunk_count: 3,
    token_count: 120,
    created_at: '2026-12-01T00:00:00Z',
    updated_at: '2026-12-01T00:00:00Z',
  }

  it('sends every option under its contract name and maps the answer', async () => {
    const { memory, requests } = recordedMemory(() =>
      json(200, { document, replaced: true, chunk_count: 3, chunks_kept: 1, strategy: 'markdown', tokenizer: 'cl100k_base' })
    )
    const r = await memory.ingestDocument('# Handbook\n\nBe kind.', {
      title: 'Handbook',
      format: 'markdown',
      strategy: 'semantic',
      chunkTokens: 300,
      chunkOverlap: 40,
      parentTokens: 1200,
      sourceUri: 'https://example.com/handbook.md',
      metadata: { team: 'support' },
      documentId: document.id,
    })
    assert.equal(requests.length, 1)
    assert.equal(requests[0].url, 'http://sdk.test/functions/v1/ingest')
    assert.equal(requests[0].method, 'POST')
    assert.equal(requests[0].authorization, 'Bearer user-token')
    assert.deepEqual(requests[0].body, {
      content: '# Handbook\n\nBe kind.',
      title: 'Handbook',
      format: 'markdown',
      strategy: 'semantic',
      chunk_tokens: 300,
      chunk_overlap: 40,
      parent_tokens: 1200,
      source_uri: 'https://example.com/handbook.md',
      metadata: { team: 'support' },
      document_id: document.id,
    })
    assert.deepEqual(r, { document, replaced: true, chunkCount: 3, chunksKept: 1, strategy: 'markdown', tokenizer: 'cl100k_base' })
  })

  it('leaves out options not given, so the function applies its defaults', async () => {
    const { memory, requests } = recordedMemory(() =>
      json(200, { document, replaced: false, chunk_count: 3, chunks_kept: 3, strategy: 'markdown', tokenizer: 'cl100k_base' })
    )
    const r = await memory.ingestDocument('plain text')
    assert.deepEqual(requests[0].body, { content: 'plain text' })
    assert.equal(r.replaced, false)
  })

  it('maps every error status of the contract to a MemoryError code, with the function\'s message', async () => {
    const cases: [number, string, string][] = [
      [400, 'invalid_input', 'chunk_tokens must be between 32 and 8192'],
      [404, 'not_found', 'document 1111 not found'],
      [413, 'invalid_input', 'content is 12 MB; at most 10 MB'],
      [415, 'invalid_input', 'content must be Markdown or plain text'],
      [502, 'server', 'the embedding provider failed (semantic chunking)'],
      [401, 'unauthorized', 'sign in'],
      [403, 'forbidden', 'not yours'],
    ]
    for (const [status, code, message] of cases) {
      const { memory } = recordedMemory(() => json(status, { error: { code: `e${status}`, message } }))
      const err = await rejects(() => memory.ingestDocument('text'), code)
      assert.equal(err.message, message)
      assert.equal(err.status, status)
      assert.equal(err.details, `e${status}`, 'the function\'s own code is kept in details')
    }
  })

  it('a gateway error body, a network failure and a malformed answer', async () => {
    const gateway = recordedMemory(() => json(401, { code: 401, message: 'Invalid JWT' }))
    assert.equal((await rejects(() => gateway.memory.ingestDocument('t'), 'unauthorized')).message, 'Invalid JWT')
    const down = recordedMemory(() => {
      throw new TypeError('fetch failed')
    })
    const err = await rejects(() => down.memory.ingestDocument('t'), 'network')
    assert.equal(err.status, 0)
    const odd = recordedMemory(() => json(200, { ok: true }))
    await rejects(() => odd.memory.ingestDocument('t'), 'unexpected_response')
    const text = recordedMemory(() => new Response('done', { status: 200 }))
    await rejects(() => text.memory.ingestDocument('t'), 'unexpected_response')
    await rejects(() => odd.memory.ingestDocument(42 as never), 'invalid_input')
    await rejects(() => odd.memory.ingestDocument('a\u0000b'), 'invalid_input')
  })
})

describe('search function requests from the SDK (recorded fetch)', () => {
  const empty = { query: 'q', mode: 'hybrid', scope: 'all', results: [], reranked: false, steps: {} }

  it('semanticSearchMemory picks the scope and sends filters and steps in the function\'s names', async () => {
    const { memory, requests } = recordedMemory(() => json(200, empty))
    await memory.semanticSearchMemory('hotel', {
      threadId: '33333333-3333-4333-8333-333333333333',
      mode: 'bm25',
      k: 5,
      before: 2,
      after: 0,
      roles: ['user'],
      filter: { lang: 'en' },
      createdAfter: new Date('2026-01-01T00:00:00Z'),
      rerank: { topN: 40 },
      hyde: true,
      expand: { n: 2 },
    })
    assert.equal(requests[0].url, 'http://sdk.test/functions/v1/search')
    assert.deepEqual(requests[0].body, {
      query: 'hotel',
      scope: 'thread',
      mode: 'bm25',
      k: 5,
      before: 2,
      after: 0,
      filters: {
        thread_id: '33333333-3333-4333-8333-333333333333',
        roles: ['user'],
        metadata: { lang: 'en' },
        created_after: '2026-01-01T00:00:00.000Z',
      },
      rerank: { top_n: 40 },
      hyde: true,
      expand: { n: 2 },
    })
    await memory.semanticSearchMemory('hotel', { agentId: 'assistant' })
    assert.deepEqual(requests[1].body, { query: 'hotel', scope: 'agent', filters: { agent_id: 'assistant' } })
    await memory.semanticSearchMemory('hotel', { rerank: true, expand: true })
    assert.deepEqual(requests[2].body, { query: 'hotel', scope: 'all', filters: {}, rerank: true, expand: true })
  })

  it('searchDocuments sends scope documents with document ids', async () => {
    const { memory, requests } = recordedMemory(() => json(200, { ...empty, scope: 'documents' }))
    await memory.searchDocuments('refunds', { documentIds: ['44444444-4444-4444-8444-444444444444'], k: 3, mode: 'vector' })
    assert.deepEqual(requests[0].body, {
      query: 'refunds',
      scope: 'documents',
      mode: 'vector',
      k: 3,
      filters: { document_ids: ['44444444-4444-4444-8444-444444444444'] },
    })
  })

  it('maps the search function\'s failures', async () => {
    for (const [status, code] of [[400, 'invalid_input'], [404, 'not_found'], [500, 'server'], [502, 'server']] as const) {
      const { memory } = recordedMemory(() => json(status, { error: { code: 'x', message: `status ${status}` } }))
      assert.equal((await rejects(() => memory.searchDocuments('q'), code)).message, `status ${status}`)
    }
    const { memory } = recordedMemory(() => json(200, { results: 'nope' }))
    await rejects(() => memory.semanticSearchMemory('q'), 'unexpected_response')
  })
})

describe('SDK retrieval against the stack', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let memory: Memory
  let bobMemory: Memory
  let docId: string
  let threadId: string
  let otherThreadId: string
  const messageIds: string[] = []

  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    memory = createMemory({ supabase: alice.client })
    bobMemory = createMemory({ supabase: bob.client })
    const { data, error } = await alice.client.rpc('ingest_document', {
      title: 'Billing',
      metadata: { topic: 'billing' },
      chunks: [
        { content: 'Refunds are issued within 30 days of the purchase.', heading_path: ['Refunds'] },
        { content: 'Invoices are emailed monthly.', heading_path: ['Invoices'] },
      ],
    })
    assert.ifError(error)
    docId = data.document.id
    const { error: e2 } = await bob.client.rpc('ingest_document', { title: 'Bob', chunks: [{ content: 'Refunds for Bob within 30 days.' }] })
    assert.ifError(e2)

    const thread = await memory.createMemoryThread({ agentId: 'assistant', name: 'trip' })
    threadId = thread.id
    // Older messages about a passport, then enough chatter that a small budget leaves them out.
    const saved = await memory.saveMessages(threadId, [
      { role: 'user', content: 'My passport number ends in 4417 and expires in March.' },
      { role: 'assistant', content: 'Noted, your passport expires in March.' },
      ...Array.from({ length: 30 }, (_, i) => ({
        role: (i % 2 ? 'assistant' : 'user') as 'user' | 'assistant',
        content: `Small talk message number ${i} about the weather in Lisbon today.`,
      })),
      { role: 'user', content: 'When does my passport expire?' },
    ])
    messageIds.push(...saved.map((m) => m.id))
    otherThreadId = (await memory.createMemoryThread({ agentId: 'researcher' })).id
    await memory.saveMessage(otherThreadId, { role: 'user', content: 'Research the hotel prices.' })
    const bobThread = await bobMemory.createMemoryThread({ agentId: 'assistant' })
    await bobMemory.saveMessage(bobThread.id, { role: 'user', content: 'My passport expires in March too.' })

    await waitFor(async () => {
      const r = await stack.db.query<{ pending: number }>(
        `select (select count(*)::int from public.document_chunks c where c.owner_id = any($1::uuid[]) and not exists
                  (select from public.embeddings e where e.source_id = c.id))
              + (select count(*)::int from public.messages m where m.owner_id = any($1::uuid[]) and not exists
                  (select from public.embeddings e where e.source_id = m.id)) as pending`,
        [[alice.id, bob.id]],
      )
      return r.rows[0].pending === 0
    }, 60_000, 200)
  })
  after(() => stack?.close())

  it('searchDocuments: the caller\'s chunks with steps; filters; never another user\'s', async () => {
    const r = await memory.searchDocuments('refunds within 30 days', { k: 5 })
    assert.equal(r.scope, 'documents')
    assert.equal(r.mode, 'hybrid')
    assert.ok(r.results.length >= 1)
    assert.equal(r.results[0].document_id, docId)
    assert.match(r.results[0].content!, /^Refunds are issued/)
    assert.equal(r.steps.embed.status, 'ok')
    assert.equal(r.steps.rerank.status, 'skipped')
    assert.ok(r.results.every((h) => h.document_id === docId), 'Bob\'s refund chunk never appears')

    const none = await memory.searchDocuments('refunds', { filter: { topic: 'travel' } })
    assert.deepEqual(none.results, [])
    const byDoc = await memory.searchDocuments('invoices', { documentIds: [docId], mode: 'bm25' })
    assert.match(byDoc.results[0].content!, /^Invoices/)
    const reranked = await memory.searchDocuments('refunds', { rerank: true })
    assert.equal(reranked.reranked, false)
    assert.match(reranked.steps.rerank.reason!, /search\.rerank_provider/)
  })

  it('semanticSearchMemory: thread with neighbours, agent, all', async () => {
    const t = await memory.semanticSearchMemory('passport number 4417', { threadId, k: 1, before: 0, after: 1 })
    assert.equal(t.scope, 'thread')
    assert.equal(t.results[0].id, messageIds[0])
    assert.deepEqual(t.results[0].before, [])
    assert.deepEqual(t.results[0].after.map((m) => m.id), [messageIds[1]])
    assert.equal(typeof t.results[0].cursor, 'string')

    const agent = await memory.semanticSearchMemory('hotel prices', { agentId: 'assistant', mode: 'bm25' })
    assert.equal(agent.scope, 'agent')
    assert.ok(agent.results.every((h) => h.thread_id === threadId))
    const all = await memory.semanticSearchMemory('hotel prices', { mode: 'bm25' })
    assert.equal(all.scope, 'all')
    assert.equal(all.results[0].thread_id, otherThreadId)

    const bobs = await bobMemory.semanticSearchMemory('passport expires March', { k: 50 })
    assert.ok(bobs.results.length > 0)
    assert.ok(bobs.results.every((h) => !messageIds.includes(h.id)), 'Alice\'s messages never reach Bob')
  })

  it('search errors: invalid_input, not_found, unauthorized', async () => {
    await rejects(() => memory.searchDocuments('   '), 'invalid_input')
    await rejects(() => memory.searchDocuments('q', { k: 0 }), 'invalid_input')
    await rejects(() => memory.searchDocuments('q', { mode: 'fuzzy' as never }), 'invalid_input')
    const e = await rejects(() => bobMemory.semanticSearchMemory('passport', { threadId }), 'not_found')
    assert.match(e.message, /not found/)
    assert.equal(e.status, 404)
    await rejects(() => createMemory({ supabase: anonClient(stack) }).searchDocuments('refunds'), 'unauthorized')
  })

  it('hybridSearch: one RPC; BM25 alone without a vector, both channels with one, weights, messages', async () => {
    const bm25 = await memory.hybridSearch('refunds 30 days')
    assert.equal(bm25[0].document_id, docId)
    assert.ok(bm25.every((h) => h.vector_rank === null && h.bm25_rank !== null))

    const query = 'Refunds are issued within 30 days'
    const both = await memory.hybridSearch(query, { queryEmbedding: hashEmbedding(query, 384), k: 2 })
    assert.ok(both[0].bm25_rank !== null && both[0].vector_rank !== null)
    assert.ok(both.length <= 2)

    const vectorOnly = await memory.hybridSearch(query, { queryEmbedding: hashEmbedding(query, 384), weights: { bm25: 0 } })
    assert.ok(vectorOnly.every((h) => h.bm25_rank === null && h.vector_rank !== null))

    const msgs = await memory.hybridSearch('passport expires', { source: 'messages', threadId, roles: ['assistant'] })
    assert.deepEqual(msgs.map((h) => h.id), [messageIds[1]])
    assert.ok(msgs.every((h) => h.thread_id === threadId && h.role === 'assistant'))

    await rejects(() => memory.hybridSearch('q', { k: 0 }), 'invalid_input')
    await rejects(() => memory.hybridSearch('', {}), 'invalid_input')
    const size = await rejects(() => memory.hybridSearch('q', { queryEmbedding: [0.1, 0.2, 0.3] }), 'invalid_input')
    assert.match(size.message, /3.*384|384.*3/, 'a vector of the wrong size names both sizes')
    await rejects(() => memory.hybridSearch('q', { queryEmbedding: [Number.NaN] }), 'invalid_input')
    await rejects(() => memory.hybridSearch('q', { source: 'chunks' as never }), 'invalid_input')
    await rejects(() => memory.hybridSearch('q', { source: 'documents', threadId }), 'invalid_input')
  })

  it('buildContext with a query recalls older messages, typed, and says what it did', async () => {
    const ctx = await memory.buildContext(threadId, { tokenBudget: 200, query: 'passport 4417', recall: { k: 2, before: 0, after: 1 } })
    assert.ok(ctx.recall, 'recall info is returned')
    assert.equal(ctx.recall!.query, 'passport 4417')
    assert.equal(ctx.recall!.query_source, 'option')
    assert.equal(ctx.recall!.channels.bm25, 'ran')
    assert.match(ctx.recall!.channels.vector, /skipped/)
    const first = ctx.recalled[0]
    assert.equal(first.message.id, messageIds[0])
    assert.equal(typeof first.message.cursor, 'string')
    assert.deepEqual(first.after.map((m) => m.id), [messageIds[1]])
    assert.deepEqual(first.before, [])
    assert.match(first.reason, /keyword match #1 \(4417, passport\)/)
    assert.deepEqual(first.matched, ['4417', 'passport'])
    assert.ok(ctx.recalled.every((r) => r.message.id !== messageIds[1]), 'a neighbour already recalled is not recalled again')
    assert.ok(ctx.tokenCount <= 200)
    assert.ok(!ctx.messages.some((m) => m.id === messageIds[0]), 'the recalled message is not in the recent window')

    const withVector = await memory.buildContext(threadId, {
      tokenBudget: 200,
      query: 'passport number',
      queryEmbedding: hashEmbedding('passport number', 384),
    })
    assert.equal(withVector.recall!.channels.vector, 'ran')
    assert.ok(withVector.recalled.some((r) => r.vector_rank !== null))

    const off = await memory.buildContext(threadId, { tokenBudget: 200, query: 'passport', recall: false })
    assert.equal(off.recall, null)
    assert.deepEqual(off.recalled, [])

    await rejects(() => memory.buildContext(threadId, { query: 'x', queryEmbedding: [1, 2] }), 'invalid_input')
    await rejects(() => memory.buildContext(threadId, { recall: { k: 99 } }), 'invalid_input')
    await rejects(() => memory.buildContext(threadId, { recall: 'yes' as never }), 'invalid_input')
  })
})
