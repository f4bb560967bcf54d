// The ingest Edge Function through a whole stack, as a signed-in user: POST /functions/v1/ingest (fetch
// and supabase-js functions.invoke) → chunking in Deno → ingest_document as the caller (RLS) → chunks that
// BM25 finds and the embedding pipeline embeds (leaves only). Re-ingesting unchanged content is a no-op
// that queues nothing; a changed paragraph replaces the chunks atomically and keeps the unchanged ones'
// ids; another user can neither ingest into nor see the document; every bad input is refused with its
// status and field and leaves the database as it was.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ANON_KEY, createUser, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

interface ChunkRow {
  id: string
  ordinal: number
  level: number
  parent_id: string | null
  content: string
  heading_path: string[]
  token_count: number
  char_start: number
  char_end: number
}

const FILLER = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Paragraph ${i} about ${topic} explains one more detail of the ${topic} process in plain words.`).join('\n\n')

const HANDBOOK = [
  'Welcome to the handbook.',
  '',
  '# Billing',
  '',
  '## Refunds',
  '',
  'Refunds are paid back to the original card within 30 days of the request.',
  '',
  '## Invoices',
  '',
  FILLER('invoicing', 12),
  '',
  '# Support',
  '',
  'Support answers tickets on weekdays.',
].join('\n')

const SETTINGS = { chunk_tokens: 64, chunk_overlap: 16, parent_tokens: 256 }

describe('ingest Edge Function', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let docId: string

  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
  })
  after(() => stack?.close())

  /** POST /functions/v1/ingest with a JSON body (or a raw one with `type`), as `user`. */
  async function ingest(
    user: TestUser | null,
    body: unknown,
    opts: { type?: string; query?: string; raw?: BodyInit } = {},
  ): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { apikey: ANON_KEY, 'content-type': opts.type ?? 'application/json' }
    if (user) headers.authorization = `Bearer ${user.token}`
    const res = await fetch(`${stack.apiUrl}/functions/v1/ingest${opts.query ?? ''}`, {
      method: 'POST',
      headers,
      body: opts.raw ?? (typeof body === 'string' ? body : JSON.stringify(body)),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }

  async function chunksOf(user: TestUser, documentId: string): Promise<ChunkRow[]> {
    const { data, error } = await user.client
      .from('document_chunks')
      .select('id, ordinal, level, parent_id, content, heading_path, token_count, char_start, char_end')
      .eq('document_id', documentId)
      .order('ordinal')
    assert.ifError(error)
    return data as ChunkRow[]
  }

  async function counts(): Promise<{ documents: number; chunks: number; jobs: number }> {
    const r = await stack.db.query<{ documents: number; chunks: number; jobs: number }>(
      `select (select count(*)::int from public.documents) as documents,
              (select count(*)::int from public.document_chunks) as chunks,
              (select jobs_enqueued_total::int from util.embedding_pipeline) as jobs`,
    )
    return r.rows[0]
  }

  it('stores a Markdown document as heading-aware leaves and parents that BM25 finds and the pipeline embeds', async () => {
    const { data, error } = await alice.client.functions.invoke('ingest', {
      body: { content: HANDBOOK, title: 'Handbook', source_uri: 'kb://handbook', metadata: { team: 'ops' }, ...SETTINGS },
    })
    assert.ifError(error)
    assert.equal(data.replaced, true)
    assert.equal(data.strategy, 'markdown')
    assert.equal(data.tokenizer, 'cl100k_base')
    assert.equal(data.chunks_kept, 0)
    docId = data.document.id
    assert.equal(data.document.title, 'Handbook')
    assert.equal(data.document.source_uri, 'kb://handbook')
    assert.deepEqual(data.document.metadata, { team: 'ops' })
    assert.equal(data.document.chunking.strategy, 'markdown')
    assert.equal(data.document.chunking.chunk_tokens, 64)

    const chunks = await chunksOf(alice, docId)
    assert.equal(chunks.length, data.chunk_count)
    for (const c of chunks) {
      assert.equal(HANDBOOK.slice(c.char_start, c.char_end), c.content, `chunk ${c.ordinal} is an exact slice`)
      assert.ok(c.token_count <= (c.level === 0 ? 64 : 256))
    }
    const byId = new Map(chunks.map((c) => [c.id, c]))
    assert.deepEqual(
      chunks.filter((c) => c.level === 0 && c.parent_id === null).map((c) => [c.heading_path, c.content]),
      [
        [['Handbook'], 'Welcome to the handbook.'],
        [['Handbook', 'Billing', 'Refunds'], 'Refunds are paid back to the original card within 30 days of the request.'],
        [['Handbook', 'Support'], 'Support answers tickets on weekdays.'],
      ],
      'sections that fit in one leaf have no parent',
    )
    const invoices = chunks.filter((c) => c.heading_path.join('/') === 'Handbook/Billing/Invoices')
    const parents = invoices.filter((c) => c.level === 1)
    assert.ok(parents.length >= 1, 'the long section has parents')
    for (const leaf of invoices.filter((c) => c.level === 0)) {
      const parent = byId.get(leaf.parent_id!)
      assert.ok(parent && parent.level === 1, 'every leaf of the long section points at a parent')
      assert.ok(parent.ordinal < leaf.ordinal && parent.char_start <= leaf.char_start && leaf.char_end <= parent.char_end)
    }

    // BM25 finds the refunds chunk, with its heading path (the heading is indexed with the content).
    const { data: hits, error: searchError } = await alice.client.rpc('bm25_search', { query_text: 'refunds card', match_count: 3 })
    assert.ifError(searchError)
    const refunds = chunks.find((c) => c.content.startsWith('Refunds'))!
    assert.equal(hits[0].id, refunds.id)
    assert.deepEqual(hits[0].heading_path, ['Handbook', 'Billing', 'Refunds'])
    // "Billing" appears only in the heading path: contextual chunking makes it searchable.
    const { data: byHeading } = await alice.client.rpc('bm25_search', { query_text: 'billing', match_count: 50 })
    assert.ok(byHeading.some((h: { id: string }) => h.id === refunds.id))

    // The pipeline embeds the leaves, never the parents.
    const leafIds = chunks.filter((c) => c.level === 0).map((c) => c.id)
    const parentIds = chunks.filter((c) => c.level === 1).map((c) => c.id)
    await waitFor(async () => {
      const { data: status } = await alice.client.from('embedding_status').select('source_id, status').in('source_id', leafIds)
      return status?.length === leafIds.length && status.every((s) => s.status === 'embedded')
    }, 60_000, 250)
    const { data: parentStatus } = await alice.client.from('embedding_status').select('status').in('source_id', parentIds)
    assert.ok(parentStatus!.every((s) => s.status === 'empty'), 'parents have nothing to embed')
    const embedded = await stack.db.query<{ n: number; parents: number }>(
      `select count(*) filter (where source_id = any($1::uuid[]))::int as n,
              count(*) filter (where source_id = any($2::uuid[]))::int as parents
         from public.embeddings where source_table = 'document_chunks'`,
      [leafIds, parentIds],
    )
    assert.deepEqual(embedded.rows[0], { n: leafIds.length, parents: 0 })
  })

  it('re-ingesting the same content and settings is a no-op that queues no embedding job', async () => {
    const before = await counts()
    const chunksBefore = await chunksOf(alice, docId)
    const res = await ingest(alice, { content: HANDBOOK, title: 'Handbook', source_uri: 'kb://handbook', metadata: { team: 'ops' }, ...SETTINGS })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.replaced, false)
    assert.equal(res.body.document.id, docId)
    assert.equal(res.body.chunk_count, chunksBefore.length)
    assert.deepEqual(await counts(), before, 'no new document, chunk or embedding job')
    assert.deepEqual(await chunksOf(alice, docId), chunksBefore)
  })

  it('a changed paragraph replaces the chunks atomically; unchanged chunks keep their ids', async () => {
    const before = await chunksOf(alice, docId)
    const edited = HANDBOOK.replace('within 30 days', 'within 14 days')
    const res = await ingest(alice, { content: edited, title: 'Handbook', source_uri: 'kb://handbook', ...SETTINGS })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.replaced, true)
    assert.equal(res.body.document.id, docId, 'same source_uri: same document')
    const after = await chunksOf(alice, docId)
    assert.equal(after.length, before.length)
    assert.equal(res.body.chunks_kept, before.length - 1, 'only the edited chunk is new')
    const beforeByContent = new Map(before.map((c) => [c.content, c.id]))
    for (const c of after) {
      if (c.content.includes('14 days')) assert.ok(!before.some((b) => b.id === c.id), 'the edited chunk is new')
      else assert.equal(c.id, beforeByContent.get(c.content), `unchanged chunk ${c.ordinal} kept its id`)
    }
    const { data: hits } = await alice.client.rpc('bm25_search', { query_text: '14 days refund', match_count: 1 })
    assert.match(hits[0].content, /within 14 days/)
    // Changing a setting re-chunks even though the text is the same.
    const rechunk = await ingest(alice, { content: edited, title: 'Handbook', source_uri: 'kb://handbook', ...SETTINGS, chunk_tokens: 200 })
    assert.equal(rechunk.body.replaced, true)
    assert.ok(rechunk.body.chunk_count < after.length)
  })

  it("another user cannot ingest into or see the document", async () => {
    const before = await counts()
    const res = await ingest(bob, { content: 'Bob overwrites it.', document_id: docId })
    assert.equal(res.status, 404)
    assert.equal(res.body.error.code, 'not_found')
    assert.match(res.body.error.message, new RegExp(docId))
    assert.deepEqual(await counts(), before)
    assert.equal((await chunksOf(alice, docId)).length > 0, true, "Alice's chunks are intact")
    assert.deepEqual(await chunksOf(bob, docId), [], "Bob cannot read Alice's chunks")
    const { data: docs } = await bob.client.from('documents').select('id')
    assert.deepEqual(docs, [])
    const { data: hits } = await bob.client.rpc('bm25_search', { query_text: 'refund', match_count: 10 })
    assert.deepEqual(hits, [])
    // The same source_uri is Bob's own document, not Alice's.
    const own = await ingest(bob, { content: 'Bob has his own handbook.', source_uri: 'kb://handbook' })
    assert.equal(own.status, 200)
    assert.notEqual(own.body.document.id, docId)
    const unknown = await ingest(alice, { content: 'x', document_id: '00000000-0000-4000-8000-000000000000' })
    assert.equal(unknown.status, 404)
  })

  it('bad input: each case has its status and field, and nothing is written', async () => {
    const before = await counts()
    const big = 'x'.repeat(5 * 1024 * 1024 + 1)
    const cases: [string, () => Promise<{ status: number; body: any }>, number, string | null, RegExp][] = [
      ['no JWT', () => ingest(null, { content: 'x' }), 401, null, /authorization/i],
      ['missing content', () => ingest(alice, { title: 'x' }), 400, 'invalid_input', /^content is required/],
      ['blank content', () => ingest(alice, { content: '   \n ' }), 400, 'invalid_input', /^content must not be blank/],
      ['content not a string', () => ingest(alice, { content: ['x'] }), 400, 'invalid_input', /^content must be a string/],
      ['unknown strategy', () => ingest(alice, { content: 'x', strategy: 'magic' }), 400, 'invalid_input', /^strategy/],
      ['unknown format', () => ingest(alice, { content: 'x', format: 'pdf' }), 400, 'invalid_input', /^format/],
      ['chunk_tokens out of range', () => ingest(alice, { content: 'x', chunk_tokens: 10 }), 400, 'invalid_input', /^chunk_tokens/],
      ['chunk_overlap out of range', () => ingest(alice, { content: 'x', chunk_overlap: 300 }), 400, 'invalid_input', /^chunk_overlap/],
      ['parent_tokens out of range', () => ingest(alice, { content: 'x', parent_tokens: 100 }), 400, 'invalid_input', /^parent_tokens/],
      ['semantic_threshold out of range', () => ingest(alice, { content: 'x', semantic_threshold: 10 }), 400, 'invalid_input', /^semantic_threshold/],
      ['unknown field', () => ingest(alice, { content: 'x', owner_id: bob.id }), 400, 'invalid_input', /^unknown field\(s\): owner_id/],
      ['malformed JSON', () => ingest(alice, '{"content": '), 400, 'invalid_input', /^body is not valid JSON/],
      ['metadata not an object', () => ingest(alice, { content: 'x', metadata: 'tag' }), 400, 'invalid_input', /^metadata/],
      ['bad document_id', () => ingest(alice, { content: 'x', document_id: '42' }), 400, 'invalid_input', /^document_id/],
      ['binary body', () => ingest(alice, null, { type: 'application/octet-stream', raw: new Uint8Array([0, 1, 2, 255]) }), 415, 'unsupported_media_type', /octet-stream/],
      ['image', () => ingest(alice, null, { type: 'image/png', raw: new Uint8Array([0x89, 0x50, 0x4e, 0x47]) }), 415, 'unsupported_media_type', /image\/png/],
      ['invalid UTF-8', () => ingest(alice, null, { type: 'text/plain', raw: new Uint8Array([0x61, 0xc3, 0x28]) }), 415, 'unsupported_media_type', /UTF-8/],
      ['NUL byte', () => ingest(alice, null, { type: 'text/plain', raw: new Uint8Array([0x61, 0x00, 0x62]) }), 415, 'unsupported_media_type', /NUL/],
      ['too large', () => ingest(alice, null, { type: 'text/plain', raw: big }), 413, 'payload_too_large', /5 MiB/],
    ]
    for (const [name, run, status, code, message] of cases) {
      const res = await run()
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`)
      if (code) {
        assert.equal(res.body.error.code, code, name)
        assert.match(res.body.error.message, message, name)
      } else assert.match(res.body.message, message, name)
    }
    // Over the chunk limit: refused before ingest_document.
    await stack.db.query(`update public.settings set value = '5' where category = 'documents' and key = 'max_chunks'`)
    try {
      const res = await ingest(alice, { content: FILLER('limits', 30), chunk_tokens: 32, chunk_overlap: 0 })
      assert.equal(res.status, 413)
      assert.equal(res.body.error.code, 'too_many_chunks')
      assert.match(res.body.error.message, /more than 5 chunks/)
    } finally {
      await stack.db.query(`update public.settings set value = '10000' where category = 'documents' and key = 'max_chunks'`)
    }
    assert.deepEqual(await counts(), before, 'no bad request wrote anything')
  })

  it('takes a raw text/plain or text/markdown body with the fields as query parameters', async () => {
    const text = 'First note about lisbon trams.\n\nSecond note about porto bridges.'
    const plain = await ingest(alice, null, {
      type: 'text/plain; charset=utf-8',
      raw: text,
      query: `?title=Notes&source_uri=${encodeURIComponent('file://notes.txt')}&metadata=${encodeURIComponent('{"kind":"note"}')}`,
    })
    assert.equal(plain.status, 200, JSON.stringify(plain.body))
    assert.equal(plain.body.strategy, 'paragraph')
    assert.equal(plain.body.document.format, 'text')
    assert.equal(plain.body.document.title, 'Notes')
    assert.deepEqual(plain.body.document.metadata, { kind: 'note' })
    const chunks = await chunksOf(alice, plain.body.document.id)
    assert.deepEqual(chunks.map((c) => [c.heading_path, c.content]), [[['Notes'], text]])

    const md = await ingest(alice, null, { type: 'text/markdown', raw: '# Trams\n\nLisbon has old trams.\n\n# Bridges\n\nPorto has bridges.' })
    assert.equal(md.status, 200, JSON.stringify(md.body))
    assert.equal(md.body.strategy, 'markdown')
    const mdChunks = await chunksOf(alice, md.body.document.id)
    assert.deepEqual(mdChunks.map((c) => c.heading_path), [['Trams'], ['Bridges']])
  })

  it('semantic and token strategies run through the stack (hash-384 is the default model)', async () => {
    const text = [
      'The kitchen oven bakes fresh bread every morning.',
      'Fresh bread from the kitchen oven smells wonderful.',
      'The oven in the kitchen bakes bread and pastries.',
      'Satellites orbit the planet in elliptical paths.',
      'An elliptical orbit brings satellites close to the planet.',
      'The planet pulls satellites along their orbit paths.',
    ].join(' ')
    const semantic = await ingest(alice, { content: text, format: 'text', strategy: 'semantic', semantic_threshold: 80 })
    assert.equal(semantic.status, 200, JSON.stringify(semantic.body))
    assert.equal(semantic.body.strategy, 'semantic')
    assert.equal(semantic.body.document.chunking.embedding_model, 'hash-384')
    const chunks = await chunksOf(alice, semantic.body.document.id)
    assert.deepEqual(chunks.map((c) => c.content.includes('oven') !== c.content.includes('orbit')), chunks.map(() => true))
    const windows = await ingest(alice, { content: FILLER('windows', 10), strategy: 'token', chunk_tokens: 50, chunk_overlap: 10 })
    assert.equal(windows.status, 200, JSON.stringify(windows.body))
    const w = await chunksOf(alice, windows.body.document.id)
    assert.ok(w.filter((c) => c.level === 0).every((c) => c.token_count <= 50))
  })
})
