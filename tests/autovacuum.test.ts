// The autovacuum stand-in: PGlite has no background workers, so the stack vacuums and analyzes tables that
// cross Postgres' autovacuum thresholds — otherwise queues bloat and the planner works without statistics.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Autovacuum } from '../stack/autovacuum/autovacuum.ts'
import { Database } from '../stack/core/database.ts'

describe('autovacuum stand-in', () => {
  let db: Database
  before(async () => {
    db = await Database.open()
    await db.query('create table public.churn (id int primary key, v text)')
    await db.query('create table public.quiet (id int primary key)')
    await db.query('insert into public.quiet select generate_series(1, 10)')
    await db.query(`insert into public.churn select i, 'x' from generate_series(1, 2000) i`)
    await db.query('delete from public.churn where id <= 1500')
  })
  after(() => db?.close())

  const stats = async (table: string) => {
    await db.query('select pg_stat_force_next_flush()')
    return (
      await db.query<{ n_dead_tup: number; last_vacuum: Date | null; last_analyze: Date | null }>(
        'select n_dead_tup::int, last_vacuum, last_analyze from pg_stat_user_tables where relname = $1',
        [table],
      )
    ).rows[0]
  }

  it('vacuums and analyzes a table past the thresholds, and leaves a quiet one alone', async () => {
    assert.equal((await stats('churn')).n_dead_tup, 1500)
    const done = await new Autovacuum(db).pass()
    const churn = done.find((t) => t.relname === 'churn')
    assert.deepEqual(churn, { schemaname: 'public', relname: 'churn', vacuum: true, analyze: true })
    assert.equal(done.find((t) => t.relname === 'quiet'), undefined)
    const after = await stats('churn')
    assert.equal(after.n_dead_tup, 0)
    assert.ok(after.last_vacuum && after.last_analyze)
    const planned = (await db.query<{ reltuples: number }>(`select reltuples from pg_class where relname = 'churn'`)).rows[0]
    assert.equal(planned.reltuples, 500)
  })

  it('has nothing to do right after a pass', async () => {
    assert.deepEqual(await new Autovacuum(db).pass(), [])
  })
})
