// Okapi BM25 in SQL against a reference implementation written here in TypeScript, over the same lexemes
// (each row's tsvector, read back from the database): every score of bm25_search equals the reference to
// 1e-6 and the ranking is identical (ties by id), on a small corpus with repeated terms, after inserts,
// edits and deletes (the incrementally kept statistics stay exact), for both sources, for service_role
// (statistics over every owner) — and one tenant's rows never change another tenant's scores.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ZipfText } from '../scripts/bench/corpus.ts'
import { createUser, serviceClient, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'
import type { SupabaseClient } from '@supabase/supabase-js'

interface Hit {
  id: string
  score: number
  rank: number
  matched: string[]
}

/** BM25 as the migration defines it, from each row's lexeme → tf map and the query's lexeme → qtf map. */
function referenceBm25(
  docs: Map<string, Map<string, number>>,
  query: Map<string, number>,
  k1: number,
  b: number,
  k: number,
  eligible?: Set<string>,
): Hit[] {
  const indexed = [...docs].filter(([, terms]) => terms.size > 0)
  const n = indexed.length
  const length = (terms: Map<string, number>) => [...terms.values()].reduce((a, x) => a + x, 0)
  const avgdl = indexed.reduce((a, [, t]) => a + length(t), 0) / n
  const df = new Map<string, number>()
  for (const [, terms] of indexed) for (const t of terms.keys()) df.set(t, (df.get(t) ?? 0) + 1)
  const scored: Hit[] = []
  for (const [id, terms] of indexed) {
    if (eligible && !eligible.has(id)) continue
    let score = 0
    const matched: string[] = []
    for (const [t, qtf] of query) {
      const tf = terms.get(t)
      if (!tf) continue
      const idf = Math.log(1 + (n - df.get(t)! + 0.5) / (df.get(t)! + 0.5))
      score += qtf * idf * ((tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * length(terms)) / avgdl)))
      matched.push(t)
    }
    if (matched.length) scored.push({ id, score, rank: 0, matched: matched.sort() })
  }
  scored.sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1))
  return scored.slice(0, k).map((h, i) => ({ ...h, rank: i + 1 }))
}

describe('BM25 matches a reference implementation over the same lexemes', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let service: SupabaseClient
  const text = new ZipfText({ seed: 11, vocabulary: 80, exponent: 0.8 })
  const queries = ['cat dog', 'the quick brown fox', 'cats chasing cats', 'dog', 'zebra']

  /** Each visible row's lexemes with their term frequency, as the database tokenised them. */
  async function lexemes(table: 'document_chunks' | 'messages', owner: string | null): Promise<Map<string, Map<string, number>>> {
    const rows = (
      await stack.db.query<{ id: string; lexeme: string | null; tf: number | null }>(
        `select c.id, t.lexeme, coalesce(cardinality(t.positions), 1) as tf
           from ${table} c left join lateral unnest(c.fts) t on true
          where ($1::uuid is null or c.owner_id = $1) and c.fts is not null`,
        [owner],
      )
    ).rows
    const docs = new Map<string, Map<string, number>>()
    for (const r of rows) {
      if (!docs.has(r.id)) docs.set(r.id, new Map())
      if (r.lexeme) docs.get(r.id)!.set(r.lexeme, r.tf!)
    }
    return docs
  }

  async function queryLexemes(q: string): Promise<Map<string, number>> {
    const rows = (
      await stack.db.query<{ lexeme: string; qtf: number }>(
        `select lexeme, coalesce(cardinality(positions), 1) as qtf from unnest(to_tsvector('english', $1))`,
        [q],
      )
    ).rows
    return new Map(rows.map((r) => [r.lexeme, r.qtf]))
  }

  async function search(client: SupabaseClient, q: string, source: string, args: Record<string, unknown> = {}): Promise<Hit[]> {
    const { data, error } = await client.rpc('bm25_search', { query_text: q, match_count: 1000, source, ...args })
    if (error) throw new Error(`${error.code} ${error.message}`)
    return (data as Hit[]).map((h) => ({ id: h.id, score: h.score, rank: h.rank, matched: [...h.matched].sort() }))
  }

  async function assertMatchesReference(client: SupabaseClient, owner: string | null, source: 'document_chunks' | 'messages', label: string, k1 = 0.9, b = 0.4) {
    const docs = await lexemes(source, owner)
    for (const q of queries) {
      const got = await search(client, q, source, k1 === 0.9 && b === 0.4 ? {} : { k1, b })
      const want = referenceBm25(docs, await queryLexemes(q), k1, b, 1000)
      assert.deepEqual(got.map((h) => h.id), want.map((h) => h.id), `${label}: "${q}" ranks the same rows in the same order`)
      for (const [i, h] of got.entries()) {
        assert.ok(Math.abs(h.score - want[i].score) <= 1e-6, `${label}: "${q}" rank ${i + 1} scores ${h.score}, reference ${want[i].score}`)
        assert.deepEqual(h.matched, want[i].matched, `${label}: "${q}" rank ${i + 1} matched lexemes`)
        assert.equal(h.rank, i + 1)
      }
      // A small k takes the early-stopping path (MaxScore, length bounds): still exactly the reference's top k.
      for (const k of [1, 3, 10]) {
        const top = await search(client, q, source, { match_count: k, ...(k1 === 0.9 && b === 0.4 ? {} : { k1, b }) })
        assert.deepEqual(top.map((h) => h.id), want.slice(0, k).map((h) => h.id), `${label}: "${q}" top ${k} is the reference's top ${k}`)
      }
    }
  }

  const chunk = () => {
    const words = text.text(text.int(4, 30)).split(' ')
    // Repeated and real words, so tf > 1 and the English stemmer both matter.
    if (text.random() < 0.5) words.push('cats', 'cat', 'dog')
    if (text.random() < 0.3) words.push('the quick brown fox jumps')
    return words.join(' ')
  }

  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    service = serviceClient(stack)
    const rows = Array.from({ length: 40 }, () => ({ content: chunk() }))
    const { error } = await alice.client.from('document_chunks').insert([...rows, { content: 'only stop words: the of and' }])
    assert.equal(error, null)
    const thread = await alice.client.rpc('create_thread', { name: 'bm25' })
    const saved = await alice.client.rpc('save_messages', {
      thread_id: thread.data.id,
      messages: [...Array.from({ length: 30 }, () => ({ role: 'user', content: chunk() })), { role: 'assistant', content: '' }],
    })
    assert.equal(saved.error, null)
  })
  after(() => stack?.close())

  it('scores and ranks document chunks exactly like the reference', async () => {
    await assertMatchesReference(alice.client, alice.id, 'document_chunks', 'initial corpus')
    await assertMatchesReference(alice.client, alice.id, 'document_chunks', 'k1 = 1.2, b = 0.75', 1.2, 0.75)
  })

  it('scores and ranks messages exactly like the reference', async () => {
    await assertMatchesReference(alice.client, alice.id, 'messages', 'messages')
  })

  it('stays exact after inserts, edits and deletes', async () => {
    const inserted = await alice.client.from('document_chunks').insert(Array.from({ length: 15 }, () => ({ content: chunk() }))).select('id')
    assert.equal(inserted.error, null)
    await assertMatchesReference(alice.client, alice.id, 'document_chunks', 'after inserts')
    const ids = inserted.data!.map((r) => r.id)
    for (const id of ids.slice(0, 5)) {
      const { error } = await alice.client.from('document_chunks').update({ content: chunk() + ' zebra zebra' }).eq('id', id)
      assert.equal(error, null)
    }
    // An edit that empties a row of lexemes takes it out of the corpus.
    assert.equal((await alice.client.from('document_chunks').update({ content: 'and the of' }).eq('id', ids[5])).error, null)
    await assertMatchesReference(alice.client, alice.id, 'document_chunks', 'after edits')
    assert.equal((await alice.client.from('document_chunks').delete().in('id', ids.slice(6, 12))).error, null)
    await assertMatchesReference(alice.client, alice.id, 'document_chunks', 'after deletes')
    // The kept statistics equal a recount from the rows.
    const drift = await stack.db.query<{ n: number }>(`
      with recount as (
        select c.owner_id, t.lexeme, count(*) as df from document_chunks c cross join unnest(tsvector_to_array(c.fts)) t(lexeme)
         where length(c.fts) > 0 group by 1, 2)
      select count(*)::int as n from recount r full join private.bm25_terms s
        on s.source = 'document_chunks' and s.owner_id = r.owner_id and s.lexeme = r.lexeme
       where (s.source is null or s.source = 'document_chunks') and r.df is distinct from s.doc_freq`)
    assert.equal(drift.rows[0].n, 0, 'per-lexeme document frequencies equal a recount')
  })

  it('keeps tenants apart: another tenant\'s rows change neither what nor how Alice\'s searches score', async () => {
    const before = await Promise.all(queries.map((q) => search(alice.client, q, 'document_chunks')))
    const { error } = await bob.client.from('document_chunks').insert(Array.from({ length: 25 }, () => ({ content: chunk() + ' cat cat zebra' })))
    assert.equal(error, null)
    const afterBob = await Promise.all(queries.map((q) => search(alice.client, q, 'document_chunks')))
    assert.deepEqual(afterBob, before, "Alice's results and scores are unchanged by Bob's rows")
    for (const hits of await Promise.all(queries.map((q) => search(bob.client, q, 'document_chunks')))) {
      const owners = await stack.db.query<{ owner_id: string }>(`select distinct owner_id from document_chunks where id = any($1::uuid[])`, [hits.map((h) => h.id)])
      assert.ok(owners.rows.every((r) => r.owner_id === bob.id), 'Bob sees only his own rows')
    }
    await assertMatchesReference(bob.client, bob.id, 'document_chunks', "Bob's own corpus")
  })

  it('ranks every owner\'s rows for service_role, with statistics over all of them', async () => {
    await assertMatchesReference(service, null, 'document_chunks', 'service_role')
  })

  // A corpus large enough that query lexemes occur in hundreds of rows: the search then fetches rows of
  // common lexemes through the impact cells (fts_cells) instead of whole, and must still return exactly
  // the reference's top k, for any k, parameters and filter, before and after edits.
  it('finds exactly the reference top k when common lexemes are fetched through impact cells', async () => {
    const carol = await createUser(stack, 'carol')
    const zipf = new ZipfText({ seed: 5, vocabulary: 150, exponent: 0.8 })
    const rows = Array.from({ length: 600 }, (_, i) => ({
      content: zipf.text(zipf.int(20, 90)) + (i % 7 === 0 ? ' ' + zipf.text(200) : ''),
      metadata: { half: i % 2 === 0 ? 'even' : 'odd' },
    }))
    const inserted = await carol.client.from('document_chunks').insert(rows).select('id, metadata')
    assert.equal(inserted.error, null)
    const qs = [...Array.from({ length: 10 }, (_, i) => zipf.queryFrom(rows[i * 37].content)), zipf.words[60], `${zipf.words[55]} ${zipf.words[56]}`]
    const common = await stack.db.query<{ n: number }>(
      `select count(*)::int as n from private.bm25_terms where source = 'document_chunks' and owner_id = $1 and doc_freq >= 4 * 25 + 64`,
      [carol.id],
    )
    assert.ok(common.rows[0].n >= 10, `the corpus has lexemes common enough to be fetched through cells (${common.rows[0].n})`)
    const check = async (label: string, eligibleOf?: (id: string) => boolean) => {
      const docs = await lexemes('document_chunks', carol.id)
      const eligible = eligibleOf ? new Set([...docs.keys()].filter(eligibleOf)) : undefined
      for (const q of qs) {
        const ql = await queryLexemes(q)
        for (const [k1, b] of [[0.9, 0.4], [1.2, 0.75]]) {
          const want = referenceBm25(docs, ql, k1, b, 25, eligible)
          for (const k of [1, 10, 25]) {
            const got = await search(carol.client, q, 'document_chunks', {
              match_count: k,
              ...(k1 === 0.9 ? {} : { k1, b }),
              ...(eligibleOf ? { filter: { half: 'even' } } : {}),
            })
            assert.deepEqual(got.map((h) => h.id), want.slice(0, k).map((h) => h.id), `${label}: "${q}" k1 ${k1} b ${b}: top ${k}`)
            for (const [i, h] of got.entries()) assert.ok(Math.abs(h.score - want[i].score) <= 1e-6, `${label}: "${q}" rank ${i + 1} score`)
          }
        }
      }
    }
    await check('cells')
    const even = new Set(inserted.data!.filter((r) => (r.metadata as { half: string }).half === 'even').map((r) => r.id as string))
    await check('cells with a metadata filter', (id) => even.has(id))
    // Edits and deletes: cells follow the content; the corpus length bounds still bound every row.
    const ids = inserted.data!.map((r) => r.id as string)
    for (const id of ids.slice(0, 10)) {
      assert.equal((await carol.client.from('document_chunks').update({ content: zipf.text(zipf.int(2, 300)) }).eq('id', id)).error, null)
    }
    assert.equal((await carol.client.from('document_chunks').delete().in('id', ids.slice(10, 40))).error, null)
    await check('cells after edits and deletes')
    const stale = await stack.db.query<{ n: number }>(
      `select count(*)::int as n from document_chunks c
         join private.bm25_corpus s on s.source = 'document_chunks' and s.owner_id = c.owner_id
        where c.owner_id = $1 and length(c.fts) > 0
          and (c.fts_cells is distinct from private.bm25_cells(c.fts, c.fts_length)
               or c.fts_length < s.min_length or c.fts_length > s.max_length)`,
      [carol.id],
    )
    assert.equal(stale.rows[0].n, 0, 'every row has the cells of its lexemes and lies within the corpus length bounds')
  })

  it('returns nothing for a query of stop words only, and refuses empty queries', async () => {
    assert.deepEqual(await search(alice.client, 'the and of', 'document_chunks'), [])
    const { error } = await alice.client.rpc('bm25_search', { query_text: '   ' })
    assert.equal(error?.code, '22023')
    assert.match(error!.message, /query_text must not be empty/)
  })
})
