-- Row estimates of the ranking functions: each returns its top k (k = match_count or the hybrid candidates:
-- 10 or 20 by default, at most 10,000), not the 1,000 rows Postgres assumes of a set-returning function it
-- cannot inline. With that guess, joining a ranking to its table by a hash join over a sequential scan
-- looks cheaper than 1,000 index lookups whenever the table is small enough, and the statements around the
-- rankings got such plans: at 10k messages search_memories spent 14.8 ms of its 38 ms mean in its own final
-- statement (1.4 ms at 100k, where a scan looks too dear); with estimates near the usual k its mean was
-- 20.7 ms. A caller asking for 1,000 rows gets the same plans, which stay cheap (one index lookup a row).

alter function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) rows 20;
alter function private.vector_rank(text, extensions.vector, integer, jsonb, text) rows 20;
alter function private.hybrid_rank(text, text, extensions.vector, integer, jsonb, double precision, double precision, integer, integer, text) rows 20;
alter function private.message_neighbours_of(uuid[], integer, integer) rows 20;
alter function private.search_rows(text, uuid[]) rows 20;
