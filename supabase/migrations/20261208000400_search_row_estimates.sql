-- Row estimates of the ranking functions: each returns its top k (k = match_count or the hybrid candidates:
-- 10 or 20 by default, at most 10,000), not the 1,000 rows Postgres assumes of a set-returning function it
-- cannot inline. With that guess the planner joined a ranking to its table with a hash join over a
-- sequential scan whenever the table was small enough for that to look cheaper than 1,000 index lookups:
-- search_memories at 10k messages read every message on each call (14.8 ms of its 38 ms mean, more than at
-- 100k, where the scan looked too dear). With estimates near the usual k, the results are joined by primary
-- key lookups, whatever the table's size; a caller asking for 1,000 rows still gets the same plan, which
-- stays cheap (one index lookup a row).

alter function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) rows 20;
alter function private.vector_rank(text, extensions.vector, integer, jsonb, text) rows 20;
alter function private.hybrid_rank(text, text, extensions.vector, integer, jsonb, double precision, double precision, integer, integer, text) rows 20;
alter function private.message_neighbours_of(uuid[], integer, integer) rows 20;
alter function private.search_rows(text, uuid[]) rows 20;
