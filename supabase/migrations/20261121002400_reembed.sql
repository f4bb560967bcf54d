-- Switching embedding models without a migration: util.reembed(model) queues every row for a model and
-- marks it 'building'. New rows are embedded with both the current default and the model being built;
-- searches keep using the default until the build is complete, then the new model becomes the default
-- by itself (util.finish_embedding_builds, run after every stored batch).

-- util.reembed(model text, source_table text default null) → integer
--   Queues a job for every row of `source_table` (every registered source when null) with content and no
--   up-to-date embedding in `model` (rows already queued are skipped), marks a non-default model
--   'building' (build_started_at = now()), and returns the number of jobs queued. When nothing needed
--   embedding the model is promoted at once. Re-running it after failures retries the missing rows.
--   Unknown model → 22023 listing the registered models; unknown source → 22023 listing the sources.
--   Caller: service_role / postgres.
create or replace function util.reembed(model text, source_table text default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
  sent integer;
begin
  if source_table is not null and not exists (select from util.embedding_sources s where s.source_table = reembed.source_table) then
    raise exception 'unknown embedding source "%"; registered sources: %', source_table,
      coalesce((select string_agg(s.source_table, ', ' order by s.source_table) from util.embedding_sources s), '(none)')
      using errcode = '22023';
  end if;
  if not m.is_default then
    update public.embedding_models em set state = 'building', build_started_at = now() where em.name = m.name;
  end if;
  sent := util.enqueue_embeddings(m.name, source_table);
  perform util.finish_embedding_builds();
  return sent;
end
$$;
revoke all on function util.reembed(text, text) from public, anon, authenticated;
grant execute on function util.reembed(text, text) to service_role;
