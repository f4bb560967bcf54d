-- Ending a model switch that cannot finish: util.cancel_reembed(model) stops a build util.reembed started
-- (for instance one whose jobs are dead-lettered because the provider key is missing or refused). The
-- model goes back to 'ready' without becoming the default, so new rows stop being queued for it, and its
-- queued jobs are dropped; searches keep using the default model, which never changed.

-- util.cancel_reembed(model text) → integer
--   Marks `model` 'ready' (build_started_at cleared; is_default stays false) and deletes its queued jobs
--   (pgmq.delete on the ids of the jobs naming it, in flight or waiting), returning how many were dropped.
--   Embeddings already stored in the model are kept: util.reembed(model) later embeds only what is
--   missing, and `delete from public.embeddings where model = …` removes them. Dead-letter rows stay in
--   public.embedding_failures as the record of why the build failed. Safe to run on a model that is not
--   building (drops its stray jobs, if any). A worker that has jobs of the model in flight finishes them
--   harmlessly (their deletion or retry finds nothing).
--   Errors: 22023 unknown model (listing the registered ones); 22023 for the default model, which has no
--   build to cancel. Caller: service_role / postgres.
create or replace function util.cancel_reembed(model text)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
  ids bigint[];
begin
  if m.is_default then
    raise exception 'model % is the default embedding model: there is no build of it to cancel', m.name
      using errcode = '22023',
            hint = 'util.cancel_reembed ends a build started by util.reembed(<another model>); to switch the default, run util.reembed on the new model.';
  end if;
  update public.embedding_models em set state = 'ready', build_started_at = null where em.name = m.name;
  select array_agg(q.msg_id order by q.msg_id) into ids
    from pgmq.q_embedding_jobs q
   where q.message ->> 'model' = m.name;
  if ids is null then
    return 0;
  end if;
  perform pgmq.delete('embedding_jobs', ids);
  return cardinality(ids);
end
$$;
revoke all on function util.cancel_reembed(text) from public, anon, authenticated;
grant execute on function util.cancel_reembed(text) to service_role;
comment on function util.cancel_reembed(text) is
  'Ends a build started by util.reembed(model): the model is ready again (not the default) and its queued jobs are dropped.';
