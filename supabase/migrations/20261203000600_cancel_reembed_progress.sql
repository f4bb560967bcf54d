-- util.cancel_reembed with resumable re-embedding: 20261202000100_cancel_reembed.sql ends a build (model
-- ready, its queued jobs dropped), and 20261203000500_operation_progress.sql made util.reembed a run that
-- the advance-operations cron job continues batch by batch. Cancelling must end that run as well, or the
-- next tick would queue the rest of the model's rows again. The run is marked 'cancelled' (with
-- finished_at) in public.operation_progress, so its progress row says how it ended.

-- util.cancel_reembed(model text) → integer
--   As in 20261202000100 (jobs dropped, returns how many), plus: the model's running reembed operation
--   becomes 'cancelled'. Caller: service_role / postgres.
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
  -- Its resumable run ends too, or the advance-operations cron job would go on queuing batches of it.
  update public.operation_progress o
     set status = 'cancelled', error = 'cancelled by util.cancel_reembed', finished_at = now(), updated_at = now()
   where o.kind = 'reembed' and o.subject = m.name and o.owner_id is null and o.status = 'running';
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
