-- Keeps the observability tables bounded: a nightly cron job deletes traces (with their spans and events),
-- guarded-RPC durations and quota windows older than observability.retention_days (default 14), and rate
-- limit counters whose window ended more than a day ago. Runs at 03:27 UTC, after the cron history purge.

insert into public.settings (category, key, value, description) values
  ('observability', 'retention_days', '14',
   'Days of traces, spans, events, RPC durations and quota windows kept; older ones are deleted nightly.')
on conflict (category, key) do nothing;

-- util.prune_observability() → jsonb
--   Deletes what is older than the retention and returns the counts {traces, rpc_calls, usage_windows,
--   rate_limit_counters}. Raises 22023 when observability.retention_days is not a whole number of 1 to 3650.
--   Caller: the cron job 'prune-observability'; service_role by hand.
create or replace function util.prune_observability()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  days jsonb := private.setting('observability', 'retention_days', '14');
  cutoff timestamptz;
  n_traces bigint;
  n_calls bigint;
  n_usage bigint;
  n_counters bigint;
begin
  if jsonb_typeof(days) <> 'number' or days::text::numeric not between 1 and 3650 or days::text::numeric <> trunc(days::text::numeric) then
    raise exception 'setting observability.retention_days must be a whole number from 1 to 3650, got %', days using errcode = '22023';
  end if;
  cutoff := now() - make_interval(days => days::text::integer);
  delete from public.traces t where t.ended_at < cutoff;
  get diagnostics n_traces = row_count;
  delete from private.rpc_calls c where c.called_at < cutoff;
  get diagnostics n_calls = row_count;
  delete from public.usage_counters u where u.window_start + make_interval(secs => u.window_seconds) < cutoff;
  get diagnostics n_usage = row_count;
  delete from public.rate_limit_counters c where c.window_start + make_interval(secs => c.window_seconds) < now() - interval '1 day';
  get diagnostics n_counters = row_count;
  return jsonb_build_object('traces', n_traces, 'rpc_calls', n_calls, 'usage_windows', n_usage, 'rate_limit_counters', n_counters);
end
$$;
revoke all on function util.prune_observability() from public, anon, authenticated;
grant execute on function util.prune_observability() to service_role;

select cron.schedule('prune-observability', '27 3 * * *', 'select util.prune_observability()');
