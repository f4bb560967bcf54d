// Table routes used by supabase-js `.from()`: select (columns, renames, casts, JSON paths), every filter
// operator the issue lists plus not./or, order, limit/offset, Range and Content-Range with count=exact,
// insert (single and bulk), upsert, update and delete with return=representation — all through RLS — and
// the request errors PostgREST gives for unknown tables, columns and bad filters.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { ANON_KEY, anonClient, createUser, serviceClient, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'

describe('tables over /rest/v1/<table>', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser

  before(async () => {
    stack = await startTestStack()
    await stack.db.exec(`
      create table public.docs (
        id int primary key,
        owner_id uuid not null default auth.uid(),
        title text not null,
        rank int,
        tags text[] not null default '{}',
        meta jsonb
      );
      alter table public.docs enable row level security;
      create policy "owners read docs" on public.docs for select to authenticated using (owner_id = (select auth.uid()));
      create policy "owners add docs" on public.docs for insert to authenticated with check (owner_id = (select auth.uid()));
      create policy "owners change docs" on public.docs for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
      create policy "owners remove docs" on public.docs for delete to authenticated using (owner_id = (select auth.uid()));
      create table public.slugs (slug text primary key, hits int not null default 0);`)
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
  })
  after(() => stack?.close())

  beforeEach(async () => {
    await stack.db.exec('delete from public.docs; delete from public.slugs')
    const { error } = await alice.client.from('docs').insert([
      { id: 1, title: 'Alpha', rank: 3, tags: ['red', 'blue'], meta: { lang: 'en', size: { pages: 10 } } },
      { id: 2, title: 'beta', rank: 1, tags: ['blue'], meta: { lang: 'de' } },
      { id: 3, title: 'Gamma', rank: null, tags: [], meta: null },
      { id: 4, title: 'delta', rank: 2, tags: ['red'], meta: { lang: 'en' } },
    ])
    assert.equal(error, null)
    assert.equal((await bob.client.from('docs').insert({ id: 10, title: 'bob only', rank: 5 })).error, null)
  })

  const ids = (data: unknown) => (data as { id: number }[]).map((d) => d.id)

  it('selects columns, renames, casts and JSON paths', async () => {
    const { data, error } = await alice.client.from('docs').select('id,name:title,rank::text,lang:meta->>lang,pages:meta->size->pages').eq('id', 1)
    assert.equal(error, null)
    assert.deepEqual(data, [{ id: 1, name: 'Alpha', rank: '3', lang: 'en', pages: 10 }])
  })

  it('applies each filter operator', async () => {
    const q = () => alice.client.from('docs').select('id').order('id')
    assert.deepEqual(ids((await q().eq('title', 'beta')).data), [2])
    assert.deepEqual(ids((await q().neq('rank', 3)).data), [2, 4])
    assert.deepEqual(ids((await q().gt('rank', 1)).data), [1, 4])
    assert.deepEqual(ids((await q().gte('rank', 2)).data), [1, 4])
    assert.deepEqual(ids((await q().lt('rank', 3)).data), [2, 4])
    assert.deepEqual(ids((await q().lte('rank', 1)).data), [2])
    assert.deepEqual(ids((await q().in('title', ['Alpha', 'delta', 'nope'])).data), [1, 4])
    assert.deepEqual(ids((await q().is('rank', null)).data), [3])
    assert.deepEqual(ids((await q().like('title', '%ta')).data), [2, 4])
    assert.deepEqual(ids((await q().ilike('title', 'a%')).data), [1])
    assert.deepEqual(ids((await q().contains('tags', ['red'])).data), [1, 4])
    assert.deepEqual(ids((await q().containedBy('tags', ['blue'])).data), [2, 3])
    assert.deepEqual(ids((await q().contains('meta', { lang: 'en' })).data), [1, 4])
    assert.deepEqual(ids((await q().eq('meta->>lang', 'de')).data), [2])
    assert.deepEqual(ids((await q().not('rank', 'is', null).not('title', 'eq', 'beta')).data), [1, 4])
    assert.deepEqual(ids((await q().match({ rank: 3, title: 'Alpha' })).data), [1])
    assert.deepEqual(ids((await q().filter('title', 'match', '^[A-Z]')).data), [1, 3])
    assert.deepEqual(ids((await q().not('id', 'in', '(1,2)')).data), [3, 4])
    assert.deepEqual(ids((await q().likeAnyOf('title', ['A%', 'd%'])).data), [1, 4])
    assert.deepEqual(ids((await q().textSearch('title', 'gamma', { config: 'english' })).data), [3])
    assert.deepEqual(ids((await q().or('rank.gte.3,title.eq.beta')).data), [1, 2])
    assert.deepEqual(ids((await q().or('and(rank.gte.2,tags.cs.{red}),title.eq."Gamma"')).data), [1, 3, 4])
  })

  it('orders with nulls first or last, and pages with limit/offset', async () => {
    const q = () => alice.client.from('docs').select('id')
    assert.deepEqual(ids((await q().order('rank', { ascending: true, nullsFirst: true })).data), [3, 2, 4, 1])
    assert.deepEqual(ids((await q().order('rank', { ascending: false, nullsFirst: false })).data), [1, 4, 2, 3])
    assert.deepEqual(ids((await q().order('id').range(1, 2)).data), [2, 3])
    assert.deepEqual(ids((await q().order('id').limit(1)).data), [1])
  })

  it('counts with Prefer: count=exact and answers a partial page with 206 and Content-Range', async () => {
    const page = await alice.client.from('docs').select('id', { count: 'exact' }).order('id').range(0, 1)
    assert.equal(page.status, 206)
    assert.equal(page.count, 4)
    assert.deepEqual(ids(page.data), [1, 2])
    const res = await fetch(`${stack.apiUrl}/rest/v1/docs?select=id&order=id`, {
      headers: { apikey: ANON_KEY, authorization: `Bearer ${alice.token}`, range: '2-3', prefer: 'count=exact' },
    })
    assert.equal(res.headers.get('content-range'), '2-3/4')
    assert.deepEqual(ids(await res.json()), [3, 4])
    const head = await alice.client.from('docs').select('*', { count: 'exact', head: true })
    assert.equal(head.count, 4)
    assert.equal(head.data, null)
  })

  it('returns one object for .single(), and 406 PGRST116 for none or many', async () => {
    const one = await alice.client.from('docs').select('title').eq('id', 2).single()
    assert.deepEqual(one.data, { title: 'beta' })
    const none = await alice.client.from('docs').select('title').eq('id', 10).single()
    assert.equal(none.status, 406)
    assert.equal(none.error?.code, 'PGRST116')
    const maybe = await alice.client.from('docs').select('title').eq('id', 10).maybeSingle()
    assert.equal(maybe.error, null)
    assert.equal(maybe.data, null)
  })

  it('inserts with return=representation and with return=minimal', async () => {
    const rep = await alice.client.from('docs').insert({ id: 5, title: 'new' }).select('id,title,owner_id')
    assert.equal(rep.status, 201)
    assert.deepEqual(rep.data, [{ id: 5, title: 'new', owner_id: alice.id }])
    const min = await alice.client.from('docs').insert({ id: 6, title: 'quiet' })
    assert.equal(min.status, 201)
    assert.equal(min.data, null)
    assert.equal((await alice.client.from('docs').select('id').eq('id', 6)).data!.length, 1)
  })

  it('fills keys a row lacks with NULL, or with the column default when asked (defaultToNull: false)', async () => {
    const rows = [{ id: 20, title: 'tagged', tags: ['t'] }, { id: 21, title: 'untagged', rank: 1 }]
    const nulls = await alice.client.from('docs').insert(rows).select('id,tags,rank').order('id')
    assert.equal(nulls.status, 400, 'tags is NOT NULL, so the missing key fails the whole insert')
    assert.equal(nulls.error?.code, '23502')
    const defaults = await alice.client.from('docs').insert(rows, { defaultToNull: false }).select('id,tags,rank,owner_id').order('id')
    assert.equal(defaults.error, null)
    assert.deepEqual(defaults.data, [
      { id: 20, tags: ['t'], rank: null, owner_id: alice.id },
      { id: 21, tags: [], rank: 1, owner_id: alice.id },
    ])
  })

  it('bulk inserts are all or nothing', async () => {
    const r = await alice.client.from('docs').insert([{ id: 7, title: 'ok' }, { id: 1, title: 'duplicate id' }])
    assert.equal(r.status, 409)
    assert.equal(r.error?.code, '23505')
    assert.equal((await serviceClient(stack).from('docs').select('id').eq('id', 7)).data!.length, 0)
  })

  it('upserts: merge-duplicates updates, ignore-duplicates keeps, on_conflict picks the key', async () => {
    const db = serviceClient(stack)
    assert.equal((await db.from('slugs').insert({ slug: 'a', hits: 1 })).error, null)
    const merged = await db.from('slugs').upsert([{ slug: 'a', hits: 5 }, { slug: 'b', hits: 1 }]).select().order('slug')
    assert.deepEqual(merged.data, [{ slug: 'a', hits: 5 }, { slug: 'b', hits: 1 }])
    const kept = await db.from('slugs').upsert({ slug: 'a', hits: 99 }, { onConflict: 'slug', ignoreDuplicates: true }).select()
    assert.deepEqual(kept.data, [])
    assert.deepEqual((await db.from('slugs').select('hits').eq('slug', 'a').single()).data, { hits: 5 })
  })

  it('updates and deletes filtered rows with return=representation', async () => {
    const upd = await alice.client.from('docs').update({ rank: 9, tags: ['x'] }).in('id', [1, 2]).select('id,rank,tags').order('id')
    assert.equal(upd.status, 200)
    assert.deepEqual(upd.data, [{ id: 1, rank: 9, tags: ['x'] }, { id: 2, rank: 9, tags: ['x'] }])
    const del = await alice.client.from('docs').delete().eq('id', 3).select('id')
    assert.deepEqual(del.data, [{ id: 3 }])
    const quiet = await alice.client.from('docs').delete().eq('id', 4)
    assert.equal(quiet.status, 204)
    assert.deepEqual(ids((await alice.client.from('docs').select('id').order('id')).data), [1, 2])
  })

  it("RLS applies: another user's rows are invisible, untouchable and not writable", async () => {
    assert.deepEqual(ids((await bob.client.from('docs').select('id')).data), [10])
    assert.deepEqual((await bob.client.from('docs').update({ title: 'mine now' }).eq('id', 1).select()).data, [])
    assert.deepEqual((await bob.client.from('docs').delete().eq('id', 1).select()).data, [])
    const forged = await bob.client.from('docs').insert({ id: 11, title: 'as alice', owner_id: alice.id })
    assert.equal(forged.status, 403)
    assert.equal(forged.error?.code, '42501')
    const anon = await anonClient(stack).from('docs').insert({ id: 12, title: 'anon' })
    assert.equal(anon.status, 401)
    assert.equal((await serviceClient(stack).from('docs').select('title').eq('id', 1).single()).data?.title, 'Alpha')
  })

  it('a singular update that matches other than one row is rolled back with 406', async () => {
    const r = await alice.client.from('docs').update({ title: 'same' }).in('id', [1, 2]).select().single()
    assert.equal(r.status, 406)
    assert.equal(r.error?.code, 'PGRST116')
    assert.deepEqual((await alice.client.from('docs').select('title').in('id', [1, 2]).order('id')).data, [{ title: 'Alpha' }, { title: 'beta' }])
  })

  it('refuses update and delete without a filter (as hosted pg-safeupdate does) and changes nothing', async () => {
    const del = await alice.client.from('docs').delete()
    assert.equal(del.status, 400)
    assert.equal(del.error?.code, '21000')
    const upd = await alice.client.from('docs').update({ rank: 0 })
    assert.equal(upd.status, 400)
    assert.equal((await alice.client.from('docs').select('id')).data!.length, 4)
  })

  describe('bad input', () => {
    it('an unknown table is 404 PGRST205 with the close match as hint', async () => {
      const r = await alice.client.from('doc').select()
      assert.equal(r.status, 404)
      assert.equal(r.error?.code, 'PGRST205')
      assert.equal(r.error?.hint, "Perhaps you meant the table 'public.docs'")
    })

    it('an unknown column in select or a filter is 400 42703 naming it', async () => {
      const sel = await alice.client.from('docs').select('id,titel')
      assert.equal(sel.status, 400)
      assert.equal(sel.error?.code, '42703')
      assert.match(sel.error!.message, /titel/)
      const filt = await alice.client.from('docs').select('id').eq('titel', 'x')
      assert.equal(filt.status, 400)
      assert.equal(filt.error?.code, '42703')
    })

    it('an unknown column in an insert body is 400 PGRST204 and nothing is written', async () => {
      const r = await alice.client.from('docs').insert({ id: 8, title: 'x', colour: 'red' })
      assert.equal(r.status, 400)
      assert.equal(r.error?.code, 'PGRST204')
      assert.equal(r.error?.message, "Could not find the 'colour' column of 'docs' in the schema cache")
      assert.equal((await alice.client.from('docs').select('id').eq('id', 8)).data!.length, 0)
    })

    it('a filter without a known operator is 400 PGRST100', async () => {
      const res = await fetch(`${stack.apiUrl}/rest/v1/docs?title=beta`, { headers: { apikey: ANON_KEY } })
      assert.equal(res.status, 400)
      assert.equal((await res.json()).code, 'PGRST100')
    })

    it('a value of the wrong type is 400 22P02', async () => {
      const r = await alice.client.from('docs').select('id').eq('rank', 'high')
      assert.equal(r.status, 400)
      assert.equal(r.error?.code, '22P02')
    })

    it('malformed JSON in an insert is 400 PGRST102', async () => {
      const res = await fetch(`${stack.apiUrl}/rest/v1/docs`, {
        method: 'POST',
        headers: { apikey: ANON_KEY, authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body: '[{"id": 9,',
      })
      assert.equal(res.status, 400)
      assert.equal((await res.json()).code, 'PGRST102')
    })

    it('embedding related tables is refused clearly (not available locally)', async () => {
      const r = await alice.client.from('docs').select('id, owner:users(id)')
      assert.equal(r.status, 400)
      assert.equal(r.error?.code, 'PGRST127')
    })
  })
})
