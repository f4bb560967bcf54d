import { freshDatabase } from '../lib/fresh-db.ts'
const f = await freshDatabase()
const db = f.db
await db.exec(`create table v as select i as id, (select array_agg(random()*2-1) from generate_series(1,384) where i > 0)::extensions.vector(384) as v from generate_series(1,10000) i;
create table h as select id, v::extensions.halfvec(384) as v from v;`)
for (const [t, ops] of [['v', 'vector_cosine_ops'], ['h', 'halfvec_cosine_ops']]) {
  for (const mem of ['64MB', '1GB']) {
  const s = performance.now()
  await db.exec(`set maintenance_work_mem = '${mem}'; create index ${t}_idx on ${t} using hnsw (v extensions.${ops}); reset maintenance_work_mem`)
  console.log(t, mem, ((performance.now() - s) / 1000).toFixed(1), 's', (await db.query(`select pg_relation_size('${t}_idx') as s`)).rows[0])
  await db.exec(`drop index ${t}_idx`)
  }
}
await f.close()
