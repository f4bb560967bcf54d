-- Thread time to live: threads whose expires_at has passed are deleted by util.prune_expired(), which a
-- pg_cron job ('prune-expired', schedule from setting ttl.prune_schedule, default every minute) runs.
-- Each run does a bounded amount of work — at most ttl.prune_batch_size messages and as many threads —
-- so a thread with a huge history is removed over several runs instead of in one long transaction.
-- Until its run comes, an expired thread is still readable (TTL precision is the schedule).

-- util.prune_expired(batch_size) → (threads_deleted, messages_deleted)
--   Deletes up to `batch_size` (default: setting ttl.prune_batch_size, 10000) messages of expired threads,
--   oldest expiry first, then the expired threads that have no messages left (at most batch_size; their
--   agent states go with them). Rows locked by other transactions are skipped until the next run.
--   Errors: 22023 batch_size not positive. Callers: the cron job (postgres), service_role.
create or replace function util.prune_expired(batch_size integer default null)
returns table (threads_deleted integer, messages_deleted integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  batch integer := coalesce(prune_expired.batch_size, (private.setting('ttl', 'prune_batch_size', '10000') #>> '{}')::integer);
begin
  if batch is null or batch < 1 then
    raise exception 'batch_size must be positive (got %)', coalesce(batch::text, 'null') using errcode = '22023';
  end if;

  with expired as (
    select t.id
      from public.memory_threads t
     where t.expires_at <= now()
     order by t.expires_at
     limit batch
  ), doomed as (
    select m.id
      from public.messages m
     where m.thread_id in (select e.id from expired e)
     limit batch
       for update skip locked
  )
  delete from public.messages m using doomed d where m.id = d.id;
  get diagnostics messages_deleted = row_count;

  with emptied as (
    select t.id
      from public.memory_threads t
     where t.expires_at <= now()
       and not exists (select from public.messages m where m.thread_id = t.id)
     order by t.expires_at
     limit batch
       for update skip locked
  )
  delete from public.memory_threads t using emptied e where t.id = e.id;
  get diagnostics threads_deleted = row_count;

  return next;
end
$$;
revoke all on function util.prune_expired(integer) from public, anon, authenticated;
grant execute on function util.prune_expired(integer) to service_role;

-- util.schedule_prune_expired() → bigint
--   (Re)schedules the cron job 'prune-expired' with the schedule in setting ttl.prune_schedule and returns
--   its job id. Run it after changing that setting. Callers: postgres (migrations, operators).
create or replace function util.schedule_prune_expired()
returns bigint
language sql
volatile
security invoker
set search_path = ''
as $$
  select cron.schedule('prune-expired',
                       private.setting('ttl', 'prune_schedule', '"* * * * *"') #>> '{}',
                       'select * from util.prune_expired()')
$$;
revoke all on function util.schedule_prune_expired() from public, anon, authenticated, service_role;

select util.schedule_prune_expired();
