-- Keeps pg_cron's run history bounded. The embedding worker runs every few seconds, and pg_cron records
-- every run in cron.job_run_details without ever deleting one; Supabase's pg_cron guide recommends a
-- cleanup job like this. Runs nightly at 03:17 UTC and keeps seven days of history.

select cron.schedule(
  'purge-cron-history',
  '17 3 * * *',
  $$delete from cron.job_run_details where end_time < now() - interval '7 days'$$
);
