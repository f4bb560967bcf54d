// /rest/v1/rpc/<fn> through the real supabase-js: function lookup by argument names (defaults, overloads),
// argument conversion, result shapes (set → array, composite → object, scalar → value, void → 204), GET in a
// read-only transaction, single-object Accept, count, filters on results, the request.* settings, the
// schema cache reload, and PostgREST's error JSON with its SQLSTATE → HTTP status mapping.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SQLSTATE_STATUS } from '../stack/postgrest/errors.ts'
import { ANON_KEY, anonClient, createUser, serviceClient, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'

describe('RPC over /rest/v1/rpc', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser

  before(async () => {
    stack = await startTestStack()
    await stack.db.exec(`
      create table public.notes (
        id int generated always as identity primary key,
        owner_id uuid not null default auth.uid() references auth.users (id),
        title text not null unique,
        tags text[] not null default '{}'
      );
      alter table public.notes enable row level security;
      create policy "owners read their notes" on public.notes for select to authenticated using (owner_id = (select auth.uid()));
      create policy "owners add notes" on public.notes for insert to authenticated with check (owner_id = (select auth.uid()));

      create function public.add(a int, b int default 10) returns int language sql immutable as $$ select a + b $$;
      create function public.greet(name text) returns text language sql immutable as $$ select 'hello ' || name $$;
      create function public.greet(name text, punct text) returns text language sql immutable as $$ select 'hello ' || name || punct $$;
      create function public.first_tags(tags text[], n int) returns text[] language sql immutable as $$ select tags[1:n] $$;
      create function public.list_notes() returns setof public.notes language sql stable as $$ select * from public.notes order by id $$;
      create function public.note_titles() returns setof text language sql stable as $$ select title from public.notes order by id $$;
      create function public.note_count() returns table (owner uuid, n bigint) language sql stable
        as $$ select owner_id, count(*) from public.notes group by owner_id $$;
      create function public.first_note() returns public.notes language sql stable as $$ select * from public.notes order by id limit 1 $$;
      create function public.add_note(title text, tags text[] default '{}') returns public.notes language sql
        as $$ insert into public.notes (title, tags) values (title, tags) returning * $$;
      create function public.add_notes(titles text[]) returns setof public.notes language sql
        as $$ insert into public.notes (title) select unnest(titles) returning * $$;
      create function public.forget() returns void language sql as $$ delete from public.notes where false $$;
      create function public.write_on_get() returns int language sql as $$ insert into public.notes (title) values ('x') returning 1 $$;
      create function public.whole_body(jsonb) returns jsonb language sql immutable as $$ select $1 $$;
      create function public.request_info() returns jsonb language sql stable as $$
        select jsonb_build_object(
          'method', current_setting('request.method', true),
          'path', current_setting('request.path', true),
          'client', current_setting('request.headers', true)::jsonb ->> 'x-test',
          'search_path', current_setting('search_path'),
          'role', current_user) $$;
      create function public.fail_with(kind text) returns void language plpgsql as $$
      begin
        case kind
          when 'raise' then raise exception 'the note is locked' using detail = 'locked by bob', hint = 'try later';
          when 'no_data' then raise no_data_found using message = 'no such note';
          when 'unique' then insert into public.notes (title, owner_id) values ('dup', (select id from auth.users limit 1)), ('dup', (select id from auth.users limit 1));
          when 'foreign_key' then insert into public.notes (title, owner_id) values ('orphan', '00000000-0000-0000-0000-00000000dead');
          when 'not_null' then insert into public.notes (title) values (null);
          when 'bad_input' then perform 'not a number'::int;
          when 'payment' then raise exception 'pay first' using errcode = 'PT402';
          when 'undefined_function' then perform public.no_such_function();
          when 'undefined_table' then perform * from public.no_such_table;
          when 'forbidden' then insert into public.notes (title, owner_id) values ('not mine', '00000000-0000-0000-0000-000000000000');
        end case;
      end $$;
      create function public.created(title text) returns public.notes language plpgsql as $$
      declare n public.notes;
      begin
        insert into public.notes (title) values (title) returning * into n;
        perform set_config('response.status', '201', true);
        perform set_config('response.headers', json_build_array(json_build_object('location', '/notes?id=eq.' || n.id))::text, true);
        return n;
      end $$;
      create function public.raise_sqlstate(code text, message text default 'raised on purpose') returns void language plpgsql as $$
      begin
        raise exception using errcode = code, message = message;
      end $$;
      create function public.private_thing() returns int language sql as $$ select 1 $$;
      revoke execute on function public.private_thing() from anon, authenticated, public;`)
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    for (const title of ['a1', 'a2']) assert.equal((await alice.client.rpc('add_note', { title })).error, null)
    assert.equal((await bob.client.rpc('add_note', { title: 'b1', tags: ['x', 'y'] })).error, null)
  })
  after(() => stack?.close())

  const raw = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${stack.apiUrl}/rest/v1/${path}`, { ...init, headers: { apikey: ANON_KEY, 'content-type': 'application/json', ...init.headers } })

  it('calls a function by named arguments, filling defaults and converting types', async () => {
    const db = anonClient(stack)
    assert.deepEqual(await db.rpc('add', { a: 1 }).then((r) => r.data), 11)
    assert.deepEqual(await db.rpc('add', { a: '2', b: 3 }).then((r) => r.data), 5)
    assert.deepEqual(await db.rpc('first_tags', { tags: ['p', 'q', 'r'], n: 2 }).then((r) => r.data), ['p', 'q'])
  })

  it('picks the overload whose argument names match', async () => {
    const db = anonClient(stack)
    assert.equal((await db.rpc('greet', { name: 'ann' })).data, 'hello ann')
    assert.equal((await db.rpc('greet', { name: 'ann', punct: '!' })).data, 'hello ann!')
  })

  it('passes the whole body to a function with a single unnamed jsonb parameter', async () => {
    const { data, error } = await anonClient(stack).rpc('whole_body', { any: ['shape', 1] })
    assert.equal(error, null)
    assert.deepEqual(data, { any: ['shape', 1] })
  })

  it('runs as anon, the user and service_role: RLS decides what each function call sees', async () => {
    const titles = async (c: ReturnType<typeof anonClient>) => ((await c.rpc('list_notes')).data as { title: string }[]).map((n) => n.title)
    assert.deepEqual(await titles(anonClient(stack)), [])
    assert.deepEqual(await titles(alice.client), ['a1', 'a2'])
    assert.deepEqual(await titles(bob.client), ['b1'])
    assert.deepEqual(await titles(serviceClient(stack)), ['a1', 'a2', 'b1'])
  })

  it('shapes results by return type: set → array (even of one), composite → object, scalar → value, void → 204', async () => {
    const one = await bob.client.rpc('list_notes')
    assert.ok(Array.isArray(one.data) && one.data.length === 1, 'a set-returning function with one row still gives an array')
    assert.deepEqual((await bob.client.rpc('note_titles')).data, ['b1'])
    assert.deepEqual((await bob.client.rpc('note_count')).data, [{ owner: bob.id, n: 1 }])
    const first = await alice.client.rpc('first_note')
    assert.equal((first.data as { title: string }).title, 'a1')
    assert.ok(!Array.isArray(first.data))
    const res = await raw('rpc/forget', { method: 'POST', body: '{}' })
    assert.equal(res.status, 204)
    assert.equal(await res.text(), '')
  })

  it('GET calls pass arguments in the query string and run read-only', async () => {
    const db = anonClient(stack)
    assert.equal((await db.rpc('add', { a: 4, b: 1 }, { get: true })).data, 5)
    const write = await alice.client.rpc('write_on_get', {}, { get: true })
    assert.equal(write.status, 405)
    assert.equal(write.error?.code, '25006')
    assert.equal((await alice.client.rpc('list_notes')).data!.length, 2, 'the refused write left nothing behind')
  })

  it('filters, orders, pages and counts the rows of a set-returning function', async () => {
    const r = await serviceClient(stack).rpc('list_notes', {}, { count: 'exact' }).neq('title', 'a1').order('id', { ascending: false }).limit(1)
    assert.equal(r.error, null)
    assert.deepEqual((r.data as { title: string }[]).map((n) => n.title), ['b1'])
    assert.equal(r.count, 2)
    const cs = await serviceClient(stack).rpc('list_notes').contains('tags', ['x']).select('title')
    assert.deepEqual(cs.data, [{ title: 'b1' }])
  })

  it('returns one object for Accept: vnd.pgrst.object+json, and 406 PGRST116 otherwise', async () => {
    const single = await bob.client.rpc('list_notes').single()
    assert.equal((single.data as { title: string }).title, 'b1')
    const many = await alice.client.rpc('list_notes').single()
    assert.equal(many.status, 406)
    assert.equal(many.error?.code, 'PGRST116')
    assert.equal(many.error?.details, 'The result contains 2 rows')
  })

  it('rolls back a singular call whose function wrote other than one row', async () => {
    const two = await alice.client.rpc('add_notes', { titles: ['s1', 's2'] }).single()
    assert.equal(two.status, 406)
    assert.equal(two.error?.code, 'PGRST116')
    const titles = ((await alice.client.rpc('list_notes')).data as { title: string }[]).map((n) => n.title)
    assert.ok(!titles.includes('s1') && !titles.includes('s2'), 'neither row was kept')
    const one = await alice.client.rpc('add_notes', { titles: ['s3'] }).single()
    assert.equal((one.data as { title: string }).title, 's3')
  })

  it('sets role, search_path and request.method/path/headers for the transaction', async () => {
    const { data } = await createClientWithHeader().rpc('request_info')
    assert.deepEqual(data, { method: 'POST', path: '/rpc/request_info', client: 'yes', search_path: '"public", "extensions"', role: 'anon' })
    function createClientWithHeader() {
      const c = anonClient(stack)
      return { rpc: (fn: string) => c.rpc(fn).setHeader('x-test', 'yes') }
    }
  })

  it('lets a function set the response status and headers (response.status / response.headers)', async () => {
    const res = await raw('rpc/created', { method: 'POST', body: '{"title":"located"}', headers: { authorization: `Bearer ${alice.token}` } })
    assert.equal(res.status, 201)
    const body = await res.json()
    assert.equal(res.headers.get('location'), `/notes?id=eq.${body.id}`)
  })

  it('uses Content-Profile to pick an exposed schema and refuses others with 406 PGRST106', async () => {
    const res = await raw('rpc/add', { method: 'POST', body: '{"a":1}', headers: { 'content-profile': 'auth' } })
    assert.equal(res.status, 406)
    const body = await res.json()
    assert.equal(body.code, 'PGRST106')
    assert.match(body.hint, /public, graphql_public/)
    const exposed = await raw('rpc/add', { method: 'POST', body: '{"a":1}', headers: { 'content-profile': 'graphql_public' } })
    assert.equal(exposed.status, 404, 'graphql_public is exposed but has no add()')
  })

  it('answers an unknown function with 404 PGRST202 and a hint naming the close match', async () => {
    const r = await anonClient(stack).rpc('ad', { a: 1 })
    assert.equal(r.status, 404)
    assert.equal(r.error?.code, 'PGRST202')
    assert.equal(r.error?.message, 'Could not find the function public.ad(a) in the schema cache')
    const typo = await anonClient(stack).rpc('list_note')
    assert.match(typo.error?.hint ?? '', /^Perhaps you meant to call the function public\.list_notes\b/)
    const args = await anonClient(stack).rpc('add', { x: 1 })
    assert.equal(args.status, 404)
    assert.equal(args.error?.hint, 'Perhaps you meant to call the function public.add(a, b)')
  })

  it('sees functions created after start, and a changed return type after NOTIFY pgrst', async () => {
    await stack.db.exec(`create function public.late() returns int language sql immutable as $$ select 7 $$`)
    assert.equal((await anonClient(stack).rpc('late')).data, 7)
    await stack.db.exec(`drop function public.late(); create function public.late() returns setof int language sql immutable as $$ values (7), (8) $$;
      notify pgrst, 'reload schema'`)
    assert.deepEqual((await anonClient(stack).rpc('late')).data, [7, 8])
  })

  describe('errors keep PostgREST JSON and status', () => {
    const cases: [string, number, string][] = [
      ['raise', 400, 'P0001'],
      // PostgREST answers every P0 error but P0001 with 500: "not found" must be raised as PT404.
      ['no_data', 500, 'P0002'],
      ['unique', 409, '23505'],
      ['foreign_key', 409, '23503'],
      ['not_null', 400, '23502'],
      ['bad_input', 400, '22P02'],
      ['payment', 402, 'PT402'],
      ['undefined_function', 404, '42883'],
      ['undefined_table', 404, '42P01'],
    ]
    for (const [kind, status, code] of cases) {
      it(`${code} → ${status}`, async () => {
        const r = await serviceClient(stack).rpc('fail_with', { kind })
        assert.equal(r.status, status)
        assert.equal(r.error?.code, code)
        assert.deepEqual(Object.keys(r.error!).sort(), ['code', 'details', 'hint', 'message'])
      })
    }

    // One row per rule of PostgREST's SQLSTATE → HTTP table (stack/postgrest/errors.ts SQLSTATE_STATUS),
    // raised by a function called through supabase-js. [code, message, status, who calls]
    const table: [string, string, number, 'service' | 'anon' | 'user'][] = [
      ['08006', 'raised on purpose', 503, 'service'],
      ['09000', 'raised on purpose', 500, 'service'],
      ['0L000', 'raised on purpose', 403, 'service'],
      ['0P000', 'raised on purpose', 403, 'service'],
      ['23503', 'raised on purpose', 409, 'service'],
      ['23505', 'raised on purpose', 409, 'service'],
      ['25006', 'raised on purpose', 405, 'service'],
      ['21000', 'UPDATE requires a WHERE clause', 400, 'service'],
      ['21000', 'more than one row returned by a subquery used as an expression', 500, 'service'],
      ['22023', 'role "ghost" does not exist', 401, 'service'],
      ['22023', 'invalid parameter value', 400, 'service'],
      ['25P02', 'raised on purpose', 500, 'service'],
      ['28000', 'raised on purpose', 403, 'service'],
      ['2D000', 'raised on purpose', 500, 'service'],
      ['38000', 'raised on purpose', 500, 'service'],
      ['39000', 'raised on purpose', 500, 'service'],
      ['3B000', 'raised on purpose', 500, 'service'],
      ['40001', 'raised on purpose', 500, 'service'],
      ['53400', 'raised on purpose', 500, 'service'],
      ['53200', 'raised on purpose', 503, 'service'],
      ['54001', 'raised on purpose', 500, 'service'],
      ['55000', 'raised on purpose', 500, 'service'],
      ['57P01', 'raised on purpose', 503, 'service'],
      ['57014', 'raised on purpose', 500, 'service'],
      ['58030', 'raised on purpose', 500, 'service'],
      ['F0000', 'raised on purpose', 500, 'service'],
      ['HV000', 'raised on purpose', 500, 'service'],
      ['P0001', 'raised on purpose', 400, 'service'],
      ['P0002', 'raised on purpose', 500, 'service'],
      ['P0003', 'raised on purpose', 500, 'service'],
      ['XX000', 'raised on purpose', 500, 'service'],
      ['42883', 'function xmlagg(integer) does not exist', 406, 'service'],
      ['42883', 'function public.nope() does not exist', 404, 'service'],
      ['42P01', 'raised on purpose', 404, 'service'],
      ['42P17', 'raised on purpose', 500, 'service'],
      ['42501', 'raised on purpose', 401, 'anon'],
      ['42501', 'raised on purpose', 403, 'user'],
      ['PT404', 'thread x not found', 404, 'service'],
      ['PT409', 'stale version', 409, 'service'],
      ['PTABC', 'raised on purpose', 500, 'service'],
      ['23502', 'raised on purpose', 400, 'service'],
      ['22P02', 'raised on purpose', 400, 'service'],
    ]
    it('the table has a row for every rule of the mapping', () => {
      for (const [rule] of SQLSTATE_STATUS) {
        const hit = table.some(([code]) => (rule.endsWith('*') ? code.startsWith(rule.slice(0, -1)) : code === rule))
        assert.ok(hit, `no row tests ${rule}`)
      }
    })
    for (const [code, message, status, who] of table) {
      it(`raised ${code} (${message}) as ${who} → ${status}`, async () => {
        const client = who === 'anon' ? anonClient(stack) : who === 'user' ? alice.client : serviceClient(stack)
        const r = await client.rpc('raise_sqlstate', { code, message })
        assert.equal(r.status, status)
        assert.deepEqual(r.error, { code, message, details: null, hint: null })
      })
    }

    it('P0001 keeps message, detail and hint', async () => {
      const r = await serviceClient(stack).rpc('fail_with', { kind: 'raise' })
      assert.deepEqual(r.error, { code: 'P0001', message: 'the note is locked', details: 'locked by bob', hint: 'try later' })
    })

    it('42501 is 401 for anon and 403 for a signed-in user', async () => {
      const anon = await anonClient(stack).rpc('private_thing')
      assert.equal(anon.status, 401)
      assert.equal(anon.error?.code, '42501')
      const user = await alice.client.rpc('fail_with', { kind: 'forbidden' })
      assert.equal(user.status, 403)
      assert.equal(user.error?.code, '42501')
    })

    it('malformed JSON is 400 PGRST102 and calls nothing', async () => {
      const res = await raw('rpc/add_note', { method: 'POST', body: '{"title": "half', headers: { authorization: `Bearer ${alice.token}` } })
      assert.equal(res.status, 400)
      assert.equal((await res.json()).code, 'PGRST102')
      assert.equal((await alice.client.rpc('list_notes')).data!.length, 4, 'a1, a2, s3 and located only')
    })

    it('a body that is not an object of arguments is 400 PGRST102', async () => {
      const res = await raw('rpc/add', { method: 'POST', body: '[1, 2]' })
      assert.equal(res.status, 400)
      assert.equal((await res.json()).code, 'PGRST102')
    })

    it('a body over the configured limit (10 MB by default) is 413', async () => {
      const res = await raw('rpc/whole_body', { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(10 * 1024 * 1024) }) })
      assert.equal(res.status, 413)
      assert.equal((await res.json()).code, 'PGRST413')
    })

    it('methods other than GET, HEAD and POST are 405 PGRST101', async () => {
      const res = await raw('rpc/add', { method: 'DELETE' })
      assert.equal(res.status, 405)
      assert.equal((await res.json()).code, 'PGRST101')
    })
  })
})
