// 50 supabase-js clients (50 users) calling RPCs at once for a few seconds: every call succeeds, every
// acknowledged write is stored once, and each user reads back exactly their own rows — the shared PGlite
// session keeps role and claims per transaction even under concurrency. (Timings: `npm run bench`.)
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createUser, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'

describe('50 concurrent API clients', () => {
  let stack: TestStack
  let people: TestUser[]

  before(async () => {
    stack = await startTestStack()
    await stack.db.exec(`
      create table public.jots (id bigint generated always as identity primary key, owner_id uuid not null default auth.uid(), body text not null);
      alter table public.jots enable row level security;
      create policy "owners read jots" on public.jots for select to authenticated using (owner_id = (select auth.uid()));
      create policy "owners add jots" on public.jots for insert to authenticated with check (owner_id = (select auth.uid()));
      create function public.jot(body text) returns bigint language sql as $$ insert into public.jots (body) values (body) returning id $$;
      create function public.my_jots() returns setof public.jots language sql stable as $$ select * from public.jots order by id $$;`)
    people = []
    for (let i = 0; i < 50; i++) people.push(await createUser(stack, `c${i}`))
  })
  after(() => stack?.close())

  it('mixed reads and writes for 3 s: no errors, no lost or leaked rows', async () => {
    const deadline = Date.now() + 3000
    const errors: string[] = []
    const acknowledged = new Map<string, string[]>()
    await Promise.all(
      people.map(async (p, i) => {
        const mine: string[] = []
        acknowledged.set(p.id, mine)
        for (let n = 0; Date.now() < deadline; n++) {
          if (n % 3 === 0) {
            const body = `${i}:${n}`
            const r = await p.client.rpc('jot', { body })
            if (r.error) errors.push(r.error.message)
            else mine.push(body)
          } else {
            const r = await p.client.rpc('my_jots')
            if (r.error) errors.push(r.error.message)
            else if ((r.data as { owner_id: string }[]).some((row) => row.owner_id !== p.id)) errors.push(`user ${i} read another user's row`)
          }
        }
      }),
    )
    assert.deepEqual(errors, [])
    for (const p of people) {
      const { data, error } = await p.client.rpc('my_jots')
      assert.equal(error, null)
      assert.deepEqual((data as { body: string }[]).map((r) => r.body), acknowledged.get(p.id))
    }
  })
})
