-- How the LibSQL mirror is doing, for operators (service_role): util.libsql_mirror_status has one row —
-- queue depth, changes visible now, the age of the oldest queued change, when the last batch was applied
-- and its highest version, how many versions the mirror is behind, and the failures. It lives in `util`
-- because it aggregates every tenant's changes, which no signed-in user may see, and `util` is not exposed by
-- the API. A signed-in user sees their own dead-lettered changes in public.libsql_mirror_failures (RLS).

-- util.libsql_mirror_queue_metrics() → pgmq.metrics_result
--   pgmq.metrics('libsql_mirror'). Security definer: pgmq.metrics reads the queue with its caller's
--   privileges, and service_role has none on pgmq's tables.
create or replace function util.libsql_mirror_queue_metrics()
returns pgmq.metrics_result
language sql
stable
security definer
set search_path = ''
as $$
  select * from pgmq.metrics('libsql_mirror')
$$;
revoke all on function util.libsql_mirror_queue_metrics() from public, anon, authenticated;
grant execute on function util.libsql_mirror_queue_metrics() to service_role;

-- util.libsql_mirror_latest_version() → bigint
--   The highest version handed out so far (0 before the first change). Security definer: reading the
--   sequence needs a privilege service_role does not have.
create or replace function util.libsql_mirror_latest_version()
returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select case when s.is_called then s.last_value else 0 end from util.libsql_mirror_version s
$$;
revoke all on function util.libsql_mirror_latest_version() from public, anon, authenticated;
grant execute on function util.libsql_mirror_latest_version() to service_role;

-- Depth, age and total from pgmq.metrics; the visible count from the queue's vt column (pgmq 1.4.4 and 1.5.1
-- both have it), read with the view owner's rights.
create view util.libsql_mirror_status as
select q.queue_length as queue_depth,
       (select count(*) from pgmq.q_libsql_mirror c where c.vt <= clock_timestamp()) as visible_changes,
       coalesce(q.oldest_msg_age_sec, 0) as oldest_change_age_seconds,
       q.total_messages as changes_enqueued_total,
       p.last_applied_at,
       p.last_applied_version,
       extract(epoch from clock_timestamp() - p.last_applied_at)::double precision as seconds_since_last_applied,
       p.applied_total,
       p.last_batch_size,
       util.libsql_mirror_latest_version() as latest_version,
       (select count(*) from public.libsql_mirror_failures f where f.failed_at > now() - interval '24 hours') as failures_last_24_hours,
       (select count(*) from public.libsql_mirror_failures) as dead_lettered_total
  from util.libsql_mirror_queue_metrics() q
 cross join util.libsql_mirror_progress p;
comment on view util.libsql_mirror_status is
  'LibSQL mirror health: queue depth, oldest change age, last applied (time, version), failures (service_role).';
revoke all on util.libsql_mirror_status from public, anon, authenticated;
grant select on util.libsql_mirror_status to service_role;
