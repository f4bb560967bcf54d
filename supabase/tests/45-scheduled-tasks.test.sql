-- Scheduled tasks over pg_cron: refused to authenticated and anon (RPCs and table), schedules validated
-- before pg_cron sees them with errors naming the cron field, the table kept in step with cron.job on
-- create / update / (de)activate / delete, run_now running at once in the caller's transaction and
-- recorded in the run history (failures too, with their changes undone), Edge Function tasks calling
-- the function through pg_net with the service key from Vault, and the scheduler's own path
-- (util.run_scheduled_task) running a command as service_role.
begin;
\ir helpers/test_helpers.psql
select plan(70);

select tests.create_supabase_user('alice');
create table public.task_log (note text, who text default current_user, at timestamptz default clock_timestamp());
-- Supabase's default privileges cover tables postgres creates; this file runs as another role, so grant it.
grant select, insert on public.task_log to service_role;
select vault.create_secret('https://project.example', 'project_url');
select vault.create_secret('service-key-from-vault', 'service_role_key');

-- ── only service_role ──────────────────────────────────────────────────────────────────────────────
select tests.authenticate_as('alice');
select throws_ok($$ select create_scheduled_task('mine', '* * * * *', 'select 1') $$, '42501', null,
  'a signed-in user cannot create a scheduled task');
select throws_ok($$ select list_scheduled_tasks() $$, '42501', null, 'a signed-in user cannot list scheduled tasks');
select throws_ok($$ select get_scheduled_task('nightly') $$, '42501', null, 'a signed-in user cannot read a task');
select throws_ok($$ select run_scheduled_task_now('nightly') $$, '42501', null, 'a signed-in user cannot run a task');
select throws_ok($$ select update_scheduled_task('nightly', '{"active": false}') $$, '42501', null, 'a signed-in user cannot change a task');
select throws_ok($$ select delete_scheduled_task('nightly') $$, '42501', null, 'a signed-in user cannot delete a task');
select throws_ok($$ insert into scheduled_tasks (name, schedule, command) values ('mine', '* * * * *', 'select 1') $$, '42501', null,
  'a signed-in user cannot insert into scheduled_tasks');
select throws_ok($$ select * from scheduled_tasks $$, '42501', null, 'a signed-in user cannot read scheduled_tasks');
select throws_ok($$ select util.run_scheduled_task('nightly') $$, '42501', null, 'a signed-in user cannot call the task runner');
select tests.clear_authentication();
select throws_ok($$ select create_scheduled_task('mine', '* * * * *', 'select 1') $$, '42501', null, 'anon cannot create a scheduled task');
select throws_ok($$ select list_scheduled_tasks() $$, '42501', null, 'anon cannot list scheduled tasks');
select throws_ok($$ select run_scheduled_task_now('nightly') $$, '42501', null, 'anon cannot run a task');
select throws_ok($$ select * from scheduled_tasks $$, '42501', null, 'anon cannot read scheduled_tasks');

-- ── schedule validation (before pg_cron) ───────────────────────────────────────────────────────────
select tests.authenticate_as_service_role();
select throws_ok($$ select create_scheduled_task('t', '61 * * * *', 'select 1') $$, '22023',
  'schedule: minute field "61" is out of range 0-59', 'a minute out of range is named');
select throws_ok($$ select create_scheduled_task('t', '0 24 * * *', 'select 1') $$, '22023',
  'schedule: hour field "24" is out of range 0-23', 'an hour out of range is named');
select throws_ok($$ select create_scheduled_task('t', '0 0 0 * *', 'select 1') $$, '22023',
  'schedule: day-of-month field "0" is out of range 1-31', 'a day of month out of range is named');
select throws_ok($$ select create_scheduled_task('t', '0 0 1 13 *', 'select 1') $$, '22023',
  'schedule: month field "13" is out of range 1-12', 'a month out of range is named');
select throws_ok($$ select create_scheduled_task('t', '0 0 * * 8', 'select 1') $$, '22023',
  'schedule: day-of-week field "8" is out of range 0-7', 'a day of week out of range is named');
select throws_ok($$ select create_scheduled_task('t', '0 0 * FOO *', 'select 1') $$, '22023',
  'schedule: month field "FOO" is not a number or a month name (JAN-DEC)', 'an unknown month name is named');
select throws_ok($$ select create_scheduled_task('t', '0 0 * * MON-FUN', 'select 1') $$, '22023',
  'schedule: day-of-week field "FUN" is not a number or a day name (SUN-SAT)', 'an unknown day name is named');
select throws_ok($$ select create_scheduled_task('t', '0 0 * MON *', 'select 1') $$, '22023',
  'schedule: month field "MON" is not a number or a month name (JAN-DEC)', 'a day name in the month field is refused');
select throws_ok($$ select create_scheduled_task('t', '*/0 * * * *', 'select 1') $$, '22023',
  'schedule: minute field "*/0" has step 0; a step must be between 1 and 9999', 'a step of 0 is refused');
select throws_ok($$ select create_scheduled_task('t', '30-10 * * * *', 'select 1') $$, '22023',
  'schedule: minute field "30-10" is a backwards range (30 is after 10)', 'a backwards range is refused');
select throws_ok($$ select create_scheduled_task('t', '1,,2 * * * *', 'select 1') $$, '22023',
  'schedule: minute field "1,,2" has an empty list item', 'an empty list item is refused');
select throws_ok($$ select create_scheduled_task('t', '? * * * *', 'select 1') $$, '22023',
  'schedule: minute field "?" is not a number, range (a-b), list (a,b), step (*/n) or *', 'a stray character is refused');
select throws_ok($$ select create_scheduled_task('t', '* * * *', 'select 1') $$, '22023',
  'schedule: expected 5 fields (minute hour day-of-month month day-of-week) or "N seconds", got 4 in "* * * *"',
  'four fields are refused');
select throws_ok($$ select create_scheduled_task('t', '0 seconds', 'select 1') $$, '22023',
  'schedule: "0 seconds" is out of range: an interval schedule takes 1 to 59 seconds', '0 seconds is refused');
select throws_ok($$ select create_scheduled_task('t', '60 seconds', 'select 1') $$, '22023',
  'schedule: "60 seconds" is out of range: an interval schedule takes 1 to 59 seconds', '60 seconds is refused');
select throws_ok($$ select create_scheduled_task('t', '', 'select 1') $$, '22023', null, 'an empty schedule is refused');
select is((select count(*)::int from cron.job where jobname like 'scheduled-task:%'), 0,
  'no refused schedule reached pg_cron');
select lives_ok($$ select create_scheduled_task('ok-' || x, s, 'select 1')
                     from unnest(array['*/15 9-17 * * MON-FRI', '0 0 $ JAN,jul *', '5,35 */2 1-15/3 * sun,7', '@daily', '59 seconds', '1 second'])
                          with ordinality as u(s, x) $$,
  'valid cron syntax is accepted: ranges, lists, steps, names, $, nicknames, N seconds');

-- ── create → cron.schedule ─────────────────────────────────────────────────────────────────────────
select results_eq(
  $$ select name, schedule, command, active, jobid is not null
       from create_scheduled_task('nightly', '  30 3 * * *  ', 'insert into task_log (note) values (''nightly'')',
                                  description => 'Writes a note', metadata => '{"team": "ops"}') $$,
  $$ values ('nightly', '30 3 * * *', 'insert into task_log (note) values (''nightly'')', true, true) $$,
  'create_scheduled_task stores the task (schedule trimmed) with its job id');
select results_eq(
  $$ select j.jobname, j.schedule, j.command, j.username, j.active from cron.job j join scheduled_tasks t on t.jobid = j.jobid where t.name = 'nightly' $$,
  $$ values ('scheduled-task:nightly', '30 3 * * *', 'select util.run_scheduled_task(''nightly'')', 'postgres', true) $$,
  'its pg_cron job runs util.run_scheduled_task for it, owned by postgres');
select throws_ok($$ select create_scheduled_task('nightly', '* * * * *', 'select 1') $$, 'PT409', 'scheduled task "nightly" already exists',
  'a task name is taken once');
select is((select schedule from cron.job where jobname = 'scheduled-task:nightly'), '30 3 * * *',
  'the refused duplicate did not change the existing job');
select results_eq($$ select active from create_scheduled_task('dormant', '0 * * * *', 'select 1', active => false) $$, $$ values (false) $$,
  'a task can be created inactive');
select is((select active from cron.job where jobname = 'scheduled-task:dormant'), false, 'its cron job is inactive');

-- ── update → cron.alter_job ────────────────────────────────────────────────────────────────────────
select results_eq($$ select schedule from update_scheduled_task('nightly', '{"schedule": "*/10 * * * *"}') $$, $$ values ('*/10 * * * *') $$,
  'update_scheduled_task changes the schedule');
select is((select schedule from cron.job where jobname = 'scheduled-task:nightly'), '*/10 * * * *', 'the cron job has the new schedule');
select update_scheduled_task('nightly', '{"active": false}');
select is((select active from cron.job where jobname = 'scheduled-task:nightly'), false, 'deactivating the task deactivates its job');
select update_scheduled_task('nightly', '{"active": true}');
select is((select active from cron.job where jobname = 'scheduled-task:nightly'), true, 'activating it activates the job again');
select throws_ok($$ select update_scheduled_task('nightly', '{"schedule": "61 * * * *"}') $$, '22023', 'schedule: minute field "61" is out of range 0-59', 'a bad new schedule is refused');
select throws_ok($$ select update_scheduled_task('nightly', '{"schedule": "0 0 * * *", "command": "select 2", "colour": "red"}') $$, '22023',
  'patch has unknown field(s): colour', 'an unknown patch field is refused');
select throws_ok($$ select update_scheduled_task('nightly', '{"edge_function": "report"}') $$, '22023',
  'a scheduled task runs either a SQL command or an Edge Function: set exactly one of command and edge_function',
  'a task cannot have both a command and an Edge Function');
select throws_ok($$ select update_scheduled_task('nightly', '{"active": "yes"}') $$, '22023', 'patch.active must be true or false (got string)',
  'active must be a boolean');
select throws_ok($$ update scheduled_tasks set name = 'renamed' where name = 'nightly' $$, '22023', null, 'a task cannot be renamed');
select throws_ok($$ select update_scheduled_task('missing', '{"active": false}') $$, 'PT404', 'scheduled task "missing" not found',
  'updating an unknown task is not found');
select results_eq($$ select j.schedule, t.command from scheduled_tasks t join cron.job j on j.jobid = t.jobid where t.name = 'nightly' $$,
  $$ values ('*/10 * * * *', 'insert into task_log (note) values (''nightly'')') $$, 'refused updates changed neither the task nor its job');

-- ── run_now (in the caller's transaction) and history ─────────────────────────────────────────────
select results_eq($$ select trigger, status, return_message from run_scheduled_task_now('nightly') $$,
  $$ values ('run_now', 'succeeded', 'command ran') $$, 'run_now runs the task and reports the run');
select results_eq($$ select note, who from task_log $$, $$ values ('nightly', 'service_role') $$,
  'the command ran at once, in the caller''s transaction, as service_role');
select create_scheduled_task('broken', '1 seconds', 'insert into task_log (note) values (''half''); select 1 / 0');
select results_eq($$ select trigger, status, return_message from run_scheduled_task_now('broken') $$,
  $$ values ('run_now', 'failed', 'ERROR:  division by zero') $$, 'a failing command is recorded as failed with its error');
select is((select count(*)::int from task_log where note = 'half'), 0, 'the failed run''s changes were undone');
select results_eq(
  $$ select (g.task).name, array(select r.trigger || ':' || r.status from unnest(g.runs) r) from get_scheduled_task('nightly') g $$,
  $$ values ('nightly', array['run_now:succeeded']) $$, 'get_scheduled_task returns the task with its run history');
-- A run of the scheduler itself, as the stand-in (and pg_cron) record it, shows up in the same history.
select tests.authenticate_as_owner();
insert into cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
select jobid, current_database(), 'postgres', command, 'succeeded', 'SELECT 1', clock_timestamp(), clock_timestamp()
  from cron.job where jobname = 'scheduled-task:nightly';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select array(select r.trigger from unnest(g.runs) r) from get_scheduled_task('nightly') g $$,
  $$ values (array['schedule', 'run_now']) $$, 'runs are newest first and tell the scheduler''s runs from run_now');
select is((select cardinality(runs) from get_scheduled_task('nightly', 1)), 1, 'max_runs limits the history');
select throws_ok($$ select get_scheduled_task('nightly', 0) $$, '22023', 'max_runs must be between 1 and 1000 (got 0)', 'max_runs must be positive');
select throws_ok($$ select run_scheduled_task_now('missing') $$, 'PT404', 'scheduled task "missing" not found', 'running an unknown task is not found');

-- ── the scheduler's path ───────────────────────────────────────────────────────────────────────────
select tests.authenticate_as_owner();
select is(util.run_scheduled_task('nightly'), 'command ran', 'the cron job''s command runs the task (as the scheduler does, as postgres)');
select is((select who from task_log order by at desc limit 1), 'service_role', 'and the command runs as service_role there too');
select throws_ok($$ select util.run_scheduled_task('broken') $$, '22012', 'division by zero',
  'a failing command fails the cron run (pg_cron records it as failed)');
select tests.authenticate_as_service_role();

-- ── Edge Function tasks ────────────────────────────────────────────────────────────────────────────
select results_eq($$ select edge_function, body, command from create_scheduled_task('digest', '0 8 * * *', edge_function => 'send-digest', body => '{"period": "day"}') $$,
  $$ values ('send-digest', '{"period": "day"}'::jsonb, null::text) $$, 'an Edge Function task stores the function and body');
select matches((select return_message from run_scheduled_task_now('digest')), '^POST /functions/v1/send-digest queued as pg_net request \d+$',
  'run_now queues the call through pg_net');
select tests.authenticate_as_owner();
select results_eq(
  $$ select method::text, url, headers ->> 'Authorization', convert_from(body, 'UTF8')::jsonb from net.http_request_queue
      where url like '%/send-digest' $$,
  $$ values ('POST', 'https://project.example/functions/v1/send-digest', 'Bearer service-key-from-vault', '{"period": "day"}'::jsonb) $$,
  'the request goes to the project''s function with the service key from Vault');
select tests.authenticate_as_service_role();
select throws_ok($$ select create_scheduled_task('bad', '* * * * *', edge_function => 'no such/function') $$, '22023',
  'edge_function: invalid Edge Function name ''no such/function''', 'an invalid function name is refused');
select throws_ok($$ select create_scheduled_task('bad', '* * * * *', edge_function => 'f', body => '[]') $$, '22023',
  'body must be a JSON object (got array)', 'the body must be an object');
select throws_ok($$ select create_scheduled_task('bad name!', '* * * * *', 'select 1') $$, '22023', null, 'a name with spaces is refused');

-- ── delete → cron.unschedule ───────────────────────────────────────────────────────────────────────
select results_eq($$ select name from delete_scheduled_task('broken') $$, $$ values ('broken') $$, 'delete_scheduled_task returns the task');
select is((select count(*)::int from cron.job where jobname = 'scheduled-task:broken'), 0, 'its cron job is gone');
select throws_ok($$ select delete_scheduled_task('broken') $$, 'PT404', 'scheduled task "broken" not found', 'deleting twice is not found');
select results_eq($$ select name from list_scheduled_tasks() where name not like 'ok-%' $$,
  $$ values ('digest'), ('dormant'), ('nightly') $$, 'list_scheduled_tasks lists the tasks by name');

select * from finish();
rollback;
