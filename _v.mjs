import { createClient } from '@libsql/client'
import { rmSync } from 'node:fs'
rmSync('/tmp/lx/v.db', { force: true })
const c = createClient({ url: 'file:/tmp/lx/v.db' })
const D = Number(process.argv[2] ?? 384), N = Number(process.argv[3] ?? 5000)
await c.execute(`create table e (id integer primary key, owner text, emb F32_BLOB(${D}))`)
await c.execute(`create index e_idx on e (libsql_vector_idx(emb, 'metric=cosine', ${(process.env.OPTS ?? "'max_neighbors=16'")}))`)
const rnd = () => { const v = Array.from({ length: D }, () => Math.random() - 0.5); return JSON.stringify(v) }
let t = Date.now()
for (let b = 0; b < N; b += 500) {
  const stmts = []
  for (let i = b; i < Math.min(N, b + 500); i++) stmts.push({ sql: 'insert into e (id, owner, emb) values (?, ?, vector32(?))', args: [i + 1, 'o' + (i % 3), rnd()] })
  await c.batch(stmts, 'write')
}
console.log('insert', N, 'x', D, (Date.now() - t) / N, 'ms/row')
const q = rnd()
t = Date.now()
for (let i = 0; i < 100; i++) await c.execute({ sql: "select e.id, vector_distance_cos(e.emb, vector32(?)) d from vector_top_k('e_idx', vector32(?), 10) k join e on e.rowid = k.id order by d", args: [q, q] })
console.log('topk', (Date.now() - t) / 100, 'ms')
t = Date.now()
for (let i = 0; i < 10; i++) await c.execute({ sql: 'select id, vector_distance_cos(emb, vector32(?)) d from e order by d limit 10', args: [q] })
console.log('brute', (Date.now() - t) / 10, 'ms')
const a = await c.execute({ sql: "select e.id from vector_top_k('e_idx', vector32(?), 10) k join e on e.rowid = k.id order by vector_distance_cos(e.emb, vector32(?))", args: [q, q] })
const b = await c.execute({ sql: 'select id from e order by vector_distance_cos(emb, vector32(?)) limit 10', args: [q] })
console.log(a.rows.map(r => r.id).join(','), '\n', b.rows.map(r => r.id).join(','))
console.log((await c.execute({ sql: "explain query plan select e.id from vector_top_k('e_idx', vector32(?), 10) k join e on e.rowid = k.id", args: [q] })).rows)
