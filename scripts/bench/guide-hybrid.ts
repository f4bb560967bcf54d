// The hybrid search of Supabase's own guide (https://supabase.com/docs/guides/ai/hybrid-search), the
// baseline `npm run bench` and `npm run eval` measure hybrid_search against: full-text candidates ranked by
// ts_rank_cd over websearch_to_tsquery, vector candidates by distance, fused with reciprocal rank fusion
// (rrf_k 50), both channels and the result capped at least(match_count, 30) — so it can never return more
// than 30 rows. Adapted only as far as this schema needs: chunks in document_chunks (fts), vectors in
// embeddings (the hash-384 rows, cosine distance `<=>` on the per-model expression so the HNSW index serves
// it, where the guide uses inner product on a column of the same table). Bench/eval only, created in their
// own throw-away databases; never a migration.
export const GUIDE_HYBRID_SQL = `
create or replace function public.bench_guide_hybrid_search(
  query_text text,
  query_embedding extensions.vector,
  match_count integer,
  full_text_weight float default 1,
  semantic_weight float default 1,
  rrf_k integer default 50
)
returns table (id uuid, document_id uuid)
language sql
stable
security invoker
set search_path = ''
as $$
with full_text as (
  select c.id,
         row_number() over (order by ts_rank_cd(c.fts, websearch_to_tsquery('english', query_text)) desc) as rank_ix
    from public.document_chunks c
   where c.fts @@ websearch_to_tsquery('english', query_text)
   order by rank_ix
   limit least(match_count, 30) * 2
),
semantic as (
  select e.source_id as id,
         row_number() over (order by e.embedding::extensions.vector(384) operator(extensions.<=>) query_embedding::extensions.vector(384)) as rank_ix
    from public.embeddings e
   where e.model = 'hash-384' and e.source_table = 'document_chunks'
   order by rank_ix
   limit least(match_count, 30) * 2
)
select c.id, c.document_id
  from full_text
  full outer join semantic on full_text.id = semantic.id
  join public.document_chunks c on coalesce(full_text.id, semantic.id) = c.id
 order by coalesce(1.0 / (rrf_k + full_text.rank_ix), 0.0) * full_text_weight
        + coalesce(1.0 / (rrf_k + semantic.rank_ix), 0.0) * semantic_weight desc
 limit least(match_count, 30)
$$;
grant execute on function public.bench_guide_hybrid_search(text, extensions.vector, integer, float, float, integer) to authenticated;`
