// LangChain compatibility through the whole stack, with the real, unmodified @langchain/community
// SupabaseVectorStore and SupabaseHybridSearch over signed-in users' supabase-js clients, and a LangChain
// Embeddings class backed by hash-384 (the default embedding model, so LangChain's vectors and the
// pipeline's agree). The vector store is tested on the table `document_chunks` and on an updatable view
// over it (`with (security_invoker = true)`, created by a test migration): addDocuments with and without
// ids, similaritySearch with a metadata filter, similaritySearchWithScore, maxMarginalRelevanceSearch and
// delete — and another user's LangChain documents never appear.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SupabaseHybridSearch } from '@langchain/community/retrievers/supabase'
import { SupabaseVectorStore } from '@langchain/community/vectorstores/supabase'
import { Document } from '@langchain/core/documents'
import { Embeddings } from '@langchain/core/embeddings'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'
import { createUser, makeWorkdir, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'

/** LangChain Embeddings computing hash-384 in this process: the same vectors the embed function stores. */
class HashEmbeddings extends Embeddings {
  calls = 0
  constructor() {
    super({})
  }
  embedDocuments(texts: string[]): Promise<number[][]> {
    this.calls++
    return Promise.resolve(texts.map((t) => hashEmbedding(t, 384)))
  }
  embedQuery(text: string): Promise<number[]> {
    return Promise.resolve(hashEmbedding(text, 384))
  }
}

// What LangChain's Supabase guide asks for, as a view over this schema: the columns SupabaseVectorStore
// writes, invoker's rights so row level security of document_chunks applies to whoever uses the view.
const VIEW_MIGRATION = `
create view public.langchain_documents with (security_invoker = true) as
  select id, content, metadata, embedding from public.document_chunks;
grant select, insert, update, delete on public.langchain_documents to authenticated;
`

const A = 'Cats purr when they are happy and relaxed.'
const A2 = 'Cats purr when they are happy and relaxed at home.'
const B = 'Happy dogs wag their tails.'
const C = 'The stock market closed higher today.'

describe('LangChain SupabaseVectorStore and SupabaseHybridSearch against the stack', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  const embeddings = new HashEmbeddings()

  before(async () => {
    stack = await startTestStack({ workdir: makeWorkdir({ migrations: { '20991231000000_langchain_view.sql': VIEW_MIGRATION } }) })
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
  })
  after(() => stack?.close())

  const store = (user: TestUser, tableName: string) =>
    new SupabaseVectorStore(embeddings, { client: user.client, tableName, queryName: 'match_documents' })

  async function rows(ids: string[]) {
    const r = await stack.db.query<{ id: string; owner_id: string; document_id: string | null; content: string; metadata: unknown }>(
      `select id, owner_id, document_id, content, metadata from public.document_chunks where id = any($1::uuid[]) order by content`,
      [ids],
    )
    return r.rows
  }

  async function storedVector(id: string): Promise<{ vector: number[]; model: string; fresh: boolean } | null> {
    const r = await stack.db.query<{ v: string; model: string; fresh: boolean }>(
      `select e.embedding::text as v, e.model, e.content_hash = c.content_hash as fresh
         from public.embeddings e join public.document_chunks c on c.id = e.source_id where e.source_id = $1`,
      [id],
    )
    return r.rows[0] ? { vector: JSON.parse(r.rows[0].v), model: r.rows[0].model, fresh: r.rows[0].fresh } : null
  }

  for (const tableName of ['document_chunks', 'langchain_documents']) {
    describe(`SupabaseVectorStore, tableName ${tableName}`, () => {
      let ids: string[] = []
      const tag = tableName === 'document_chunks' ? 'table' : 'view'

      it('addDocuments without ids: standalone chunks of the signed-in user, searchable at once', async () => {
        const vs = store(alice, tableName)
        ids = await vs.addDocuments([
          new Document({ pageContent: A, metadata: { animal: 'cat', via: tag } }),
          new Document({ pageContent: B, metadata: { animal: 'dog', via: tag } }),
          new Document({ pageContent: C, metadata: { topic: 'finance', via: tag } }),
        ])
        assert.equal(ids.length, 3)
        assert.ok(ids.every((id) => /^[0-9a-f-]{36}$/.test(id)), 'the database generated uuids')
        const stored = await rows(ids)
        assert.deepEqual(stored.map((r) => r.content).sort(), [A, B, C].sort())
        assert.ok(stored.every((r) => r.owner_id === alice.id && r.document_id === null))
        // The vector LangChain sent is stored under the default model for the chunk's current text (so
        // the pipeline has nothing left to do) — no waiting for it.
        const v = await storedVector(ids[0])
        assert.equal(v?.model, 'hash-384')
        assert.equal(v?.fresh, true)
        const expected = hashEmbedding(A, 384)
        assert.ok(v!.vector.every((x, i) => Math.abs(x - expected[i]) < 1e-6))
      })

      it('addDocuments with ids: those ids, and adding again with an id updates the document', async () => {
        const vs = store(alice, tableName)
        const id = crypto.randomUUID()
        assert.deepEqual(await vs.addDocuments([new Document({ pageContent: 'first version', metadata: {} })], { ids: [id] }), [id])
        assert.deepEqual(await vs.addDocuments([new Document({ pageContent: A2, metadata: { animal: 'cat', via: tag } })], { ids: [id] }), [id])
        const [row] = await rows([id])
        assert.equal(row.content, A2)
        assert.equal((await storedVector(id))?.fresh, true, 'the embedding follows the new text')
        ids.push(id)
      })

      it('similaritySearch with a metadata filter, and similaritySearchWithScore', async () => {
        const vs = store(alice, tableName)
        const cats = await vs.similaritySearch('cats purr when they are happy', 5, { animal: 'cat', via: tag })
        assert.deepEqual(cats.map((d) => d.pageContent), [A, A2])
        assert.deepEqual(cats[0].metadata, { animal: 'cat', via: tag })
        const dogs = await vs.similaritySearch('cats purr when they are happy', 5, { animal: 'dog', via: tag })
        assert.deepEqual(dogs.map((d) => d.pageContent), [B])

        const scored = await vs.similaritySearchWithScore('cats purr when they are happy', 3, { via: tag })
        assert.deepEqual(scored.map(([d]) => d.pageContent), [A, A2, B])
        const q = hashEmbedding('cats purr when they are happy', 384)
        const cosine = (t: string) => hashEmbedding(t, 384).reduce((s, x, i) => s + x * q[i], 0)
        for (const [d, score] of scored) assert.ok(Math.abs(score - cosine(d.pageContent)) < 1e-4, 'the score is the cosine similarity')
      })

      it('maxMarginalRelevanceSearch trades a near-duplicate for a different document', async () => {
        const vs = store(alice, tableName)
        const top2 = await vs.similaritySearch('cats purr when they are happy', 2, { via: tag })
        assert.deepEqual(top2.map((d) => d.pageContent), [A, A2])
        const mmr = await vs.maxMarginalRelevanceSearch('cats purr when they are happy', { k: 2, fetchK: 4, filter: { via: tag } })
        assert.deepEqual(mmr.map((d) => d.pageContent), [A, B])
      })

      it('another user\'s LangChain documents never appear, and their delete does not touch ours', async () => {
        const bobs = store(bob, tableName)
        const bobIds = await bobs.addDocuments([new Document({ pageContent: A, metadata: { animal: 'cat', via: tag } })])
        const mine = await store(alice, tableName).similaritySearch('cats purr when they are happy', 10, { via: tag })
        assert.equal(mine.filter((d) => d.pageContent === A).length, 1, 'only Alice\'s copy')
        const theirs = await bobs.similaritySearch('cats purr when they are happy', 10, { via: tag })
        assert.deepEqual(theirs.map((d) => d.pageContent), [A], 'Bob sees only his own document')

        await bobs.delete({ ids })
        assert.equal((await rows(ids)).length, ids.length, 'Bob cannot delete Alice\'s documents')
        const { data } = await bob.client.from(tableName).select('id').in('id', ids)
        assert.deepEqual(data, [], 'nor read them through the table or view')
        await bobs.delete({ ids: bobIds })
      })

      it('delete({ ids }) removes the documents and their embeddings', async () => {
        const vs = store(alice, tableName)
        await vs.delete({ ids })
        assert.deepEqual(await rows(ids), [])
        const left = await stack.db.query(`select 1 from public.embeddings where source_id = any($1::uuid[])`, [ids])
        assert.equal(left.rowCount, 0)
        assert.deepEqual(await vs.similaritySearch('cats purr when they are happy', 5, { via: tag }), [])
      })
    })
  }

  it('SupabaseHybridSearch: match_documents and kw_match_documents (BM25), the caller\'s chunks only', async () => {
    const vs = store(alice, 'document_chunks')
    await vs.addDocuments([
      new Document({ pageContent: 'Refund requests are answered within 30 days.', metadata: { kind: 'policy' } }),
      new Document({ pageContent: 'Our office plants need water twice a week.', metadata: { kind: 'office' } }),
      new Document({ pageContent: 'Invoice INV-7731 was paid by wire transfer.', metadata: { kind: 'finance' } }),
    ])
    await store(bob, 'document_chunks').addDocuments([
      new Document({ pageContent: 'Bob: refund requests and invoice INV-7731 are answered within 30 days.', metadata: {} }),
    ])
    const retriever = new SupabaseHybridSearch(embeddings, {
      client: alice.client,
      tableName: 'document_chunks',
      similarityK: 2,
      keywordK: 2,
    })
    const docs = await retriever.invoke('refund requests within 30 days')
    assert.ok(docs.length >= 1 && docs.length <= 4)
    assert.equal(docs[0].pageContent, 'Refund requests are answered within 30 days.')
    assert.ok(docs.every((d) => !d.pageContent.startsWith('Bob')), 'Bob\'s chunk never appears')

    // Each channel on its own (LangChain's own methods; `protected` in its typings only).
    const channels = retriever as unknown as {
      keywordSearch(q: string, k: number): Promise<[Document, number, string][]>
      similaritySearch(q: string, k: number): Promise<[Document, number, string][]>
    }
    const kw = await channels.keywordSearch('INV-7731', 2)
    assert.equal(kw[0][0].pageContent, 'Invoice INV-7731 was paid by wire transfer.')
    assert.ok(kw[0][1] > 0, 'the BM25 score (times 10, as LangChain reports it)')
    assert.ok(kw.every(([d]) => !d.pageContent.startsWith('Bob')))
    const sim = await channels.similaritySearch('office plants water', 1)
    assert.equal(sim[0][0].pageContent, 'Our office plants need water twice a week.')
    assert.deepEqual(sim[0][0].metadata, { kind: 'office' })
  })
})
