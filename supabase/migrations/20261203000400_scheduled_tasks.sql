-- Scheduled tasks over pg_cron: named tasks that run a SQL command, or call an Edge Function with a JSON
-- body, on a cron schedule. Each task owns one pg_cron job (named "scheduled-task:<name>", so no task can
-- replace one of the project's own jobs) whose command is always `select util.run_scheduled_task('<name>')`;
-- what the task does is read from its row when it runs, so changing the command never touches cron.
-- The table is kept in step with cron.job by triggers — whoever writes it, through the RPCs or the Data API:
--   insert                    → cron.schedule (+ cron.alter_job(active => false) for an inactive task)
--   schedule / active change  → cron.alter_job
--   delete                    → cron.unschedule
-- Run history is pg_cron's own cron.job_run_details for the task's job (kept seven days by
-- 'purge-cron-history').
--
-- service_role only. Scheduling SQL is an administrator's power: the RPCs and the table are refused to
-- authenticated and anon (42501, HTTP 401/403). SQL commands run as service_role (the role is switched
-- for the command, whether the scheduler or run_now runs it), so a task sees what the service key sees.
-- That switch is no sandbox: a command run by the scheduler (session user postgres) could switch back.
--
-- Schedules are validated here, before pg_cron sees them, with an error naming the field:
--   5-field cron   minute hour day-of-month month day-of-week, each *, n, a-b, lists (a,b,c) and steps
--                  (*/n, a-b/n); month names JAN-DEC, day names SUN-SAT (0 and 7 are Sunday); '$' as
--                  day-of-month is pg_cron's last day of the month; or @hourly/@daily/@weekly/@monthly/
--                  @yearly/@annually/@midnight
--   'N seconds'    pg_cron's sub-minute interval, N from 1 to 59
-- e.g. schedule: minute field "61" is out of range 0-59 (SQLSTATE 22023).

-- private.validate_cron_schedule(schedule text, field text default 'schedule') → text
--   Returns the schedule without surrounding white space when pg_cron accepts it (grammar above); raises
--   22023 "<field>: <what is wrong>" naming the cron field and the offending item otherwise.
create or replace function private.validate_cron_schedule(schedule text, field text default 'schedule')
returns text
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  s text := btrim(schedule);
  m text[];
  parts text[];
  item text;
  token text;
  names constant text[] := array['minute', 'hour', 'day-of-month', 'month', 'day-of-week'];
  lows constant integer[] := array[0, 0, 1, 1, 0];
  highs constant integer[] := array[59, 23, 31, 12, 7];
  months constant text[] := array['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
  days constant text[] := array['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
  bounds integer[];
  i integer;
  k integer;
  v integer;
begin
  if s is null or s = '' then
    raise exception '% is required: a 5-field cron expression such as "*/5 * * * *", or "N seconds" with N from 1 to 59', field
      using errcode = '22023';
  end if;
  m := regexp_match(s, '^(\d+)\s+seconds?$', 'i');
  if m is not null then
    if length(m[1]) > 2 or m[1]::integer not between 1 and 59 then
      raise exception '%: "%" is out of range: an interval schedule takes 1 to 59 seconds', field, s using errcode = '22023',
        hint = 'For intervals of a minute or more use cron syntax, e.g. "*/2 * * * *".';
    end if;
    return s;
  end if;
  if lower(s) in ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly') then
    return s;
  end if;
  parts := regexp_split_to_array(s, '\s+');
  if cardinality(parts) <> 5 then
    raise exception '%: expected 5 fields (minute hour day-of-month month day-of-week) or "N seconds", got % in "%"',
      field, cardinality(parts), s using errcode = '22023';
  end if;
  for i in 1..5 loop
    foreach item in array string_to_array(parts[i], ',') loop
      if item = '' then
        raise exception '%: % field "%" has an empty list item', field, names[i], parts[i] using errcode = '22023';
      end if;
      continue when i = 3 and item = '$';
      m := regexp_match(upper(item), '^(\*|([0-9A-Z]+)(-([0-9A-Z]+))?)(/([0-9]+))?$');
      if m is null then
        raise exception '%: % field "%" is not a number, range (a-b), list (a,b), step (*/n) or *', field, names[i], item
          using errcode = '22023';
      end if;
      if m[6] is not null and (length(m[6]) > 4 or m[6]::integer = 0) then
        raise exception '%: % field "%" has step %; a step must be between 1 and 9999', field, names[i], item, m[6]
          using errcode = '22023';
      end if;
      continue when m[1] = '*';
      bounds := '{}';
      foreach token in array array_remove(array[m[2], m[4]], null) loop
        if token ~ '^[0-9]+$' then
          v := case when length(token) > 4 then 10000 else token::integer end;
        elsif i = 4 and token = any (months) then
          v := array_position(months, token);
        elsif i = 5 and token = any (days) then
          v := array_position(days, token) - 1;
        else
          raise exception '%: % field "%" is not a number%', field, names[i], token,
            case i when 4 then ' or a month name (JAN-DEC)' when 5 then ' or a day name (SUN-SAT)' else '' end
            using errcode = '22023';
        end if;
        if v not between lows[i] and highs[i] then
          raise exception '%: % field "%" is out of range %-%', field, names[i], token, lows[i], highs[i] using errcode = '22023';
        end if;
        bounds := bounds || v;
      end loop;
      if cardinality(bounds) = 2 and bounds[1] > bounds[2] then
        raise exception '%: % field "%" is a backwards range (% is after %)', field, names[i], item, m[2], m[4]
          using errcode = '22023';
      end if;
    end loop;
  end loop;
  return s;
end
$$;
revoke all on function private.validate_cron_schedule(text, text) from public, anon, authenticated;
grant execute on function private.validate_cron_schedule(text, text) to service_role;

create table public.scheduled_tasks (
  id uuid primary key default gen_random_uuid(),
  name text not null
    constraint scheduled_tasks_name_key unique
    constraint scheduled_tasks_name_format check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'),
  schedule text not null,
  -- Exactly one of: a SQL command, or an Edge Function (name + JSON body) called through
  -- util.invoke_edge_function with the service key from Vault.
  command text
    constraint scheduled_tasks_command_not_blank check (command is null or command ~ '\S'),
  edge_function text
    constraint scheduled_tasks_edge_function_name check (edge_function is null or edge_function ~ '^[A-Za-z0-9][A-Za-z0-9_-]*$'),
  body jsonb not null default '{}'
    constraint scheduled_tasks_body_is_object check (jsonb_typeof(body) = 'object'),
  active boolean not null default true,
  metadata jsonb not null default '{}'
    constraint scheduled_tasks_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  description text,
  -- The pg_cron job (cron.job.jobid) that runs the task; maintained by the triggers below.
  jobid bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint scheduled_tasks_one_action check ((command is null) <> (edge_function is null))
);
comment on table public.scheduled_tasks is
  'Named cron tasks (SQL command or Edge Function call), each kept in step with its pg_cron job. service_role only.';
comment on column public.scheduled_tasks.jobid is 'The cron.job that runs this task (job name "scheduled-task:<name>").';

-- private.scheduled_task_job_name(name) → text / private.scheduled_task_job_command(name) → text
create or replace function private.scheduled_task_job_name(name text)
returns text
language sql
immutable
security invoker
as $$ select 'scheduled-task:' || name $$;
revoke all on function private.scheduled_task_job_name(text) from public, anon, authenticated;
grant execute on function private.scheduled_task_job_name(text) to service_role;

create or replace function private.scheduled_task_job_command(name text)
returns text
language sql
immutable
security invoker
as $$ select format('select util.run_scheduled_task(%L)', name) $$;
revoke all on function private.scheduled_task_job_command(text) from public, anon, authenticated;
grant execute on function private.scheduled_task_job_command(text) to service_role;

-- private.scheduled_tasks_sync() → trigger
--   BEFORE INSERT OR UPDATE OR DELETE row trigger on scheduled_tasks. Security definer (owner postgres) so
--   every task's cron job belongs to postgres, whichever role writes the table.
--   Insert/update: validates the row with errors naming the field — schedule (see
--   private.validate_cron_schedule), command or edge_function (exactly one), edge_function's name, body
--   and metadata (objects), name (format, taken → PT409, cannot change → 22023) — then, on insert or
--   when schedule or active changed (or the job has gone), schedules the job or alters it and stores its
--   jobid. Delete: unschedules the job. All in the writer's transaction: a failed write changes no job.
create or replace function private.scheduled_tasks_sync()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  job_exists boolean;
begin
  if tg_op = 'DELETE' then
    if old.jobid is not null and exists (select from cron.job j where j.jobid = old.jobid) then
      perform cron.unschedule(old.jobid);
    end if;
    return old;
  end if;

  if new.name is null or new.name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$' then
    raise exception 'name must be 1 to 100 letters, digits, "_", ".", ":" or "-", starting with a letter or digit (got %)',
      coalesce(quote_literal(new.name), 'null') using errcode = '22023';
  end if;
  if tg_op = 'UPDATE' and new.name <> old.name then
    raise exception 'a scheduled task''s name cannot be changed (delete "%" and create "%")', old.name, new.name
      using errcode = '22023';
  end if;
  if tg_op = 'INSERT' and exists (select from public.scheduled_tasks t where t.name = new.name) then
    raise exception 'scheduled task "%" already exists', new.name using errcode = 'PT409',
      hint = 'Change it with update_scheduled_task, or delete it first.';
  end if;
  new.schedule := private.validate_cron_schedule(new.schedule, 'schedule');
  if (new.command is null) = (new.edge_function is null) then
    raise exception 'a scheduled task runs either a SQL command or an Edge Function: set exactly one of command and edge_function'
      using errcode = '22023';
  end if;
  if new.command is not null and new.command !~ '\S' then
    raise exception 'command must not be empty' using errcode = '22023';
  end if;
  if new.edge_function is not null and new.edge_function !~ '^[A-Za-z0-9][A-Za-z0-9_-]*$' then
    raise exception 'edge_function: invalid Edge Function name %', quote_literal(new.edge_function) using errcode = '22023',
      hint = 'Function names contain letters, digits, "-" and "_".';
  end if;
  new.body := private.require_object(coalesce(new.body, '{}'), 'body');
  new.metadata := private.require_object(coalesce(new.metadata, '{}'), 'metadata');
  new.active := coalesce(new.active, true);
  new.updated_at := now();

  -- The job is the trigger's to manage: a jobid written by hand could point at another job.
  if tg_op = 'UPDATE' then
    new.jobid := old.jobid;
    new.created_at := old.created_at;
  else
    new.jobid := null;
  end if;
  job_exists := new.jobid is not null and exists (select from cron.job j where j.jobid = new.jobid);
  if not job_exists then
    new.jobid := cron.schedule(private.scheduled_task_job_name(new.name), new.schedule,
                               private.scheduled_task_job_command(new.name));
    if not new.active then
      perform cron.alter_job(new.jobid, active => false);
    end if;
  elsif new.schedule <> old.schedule or new.active <> old.active then
    perform cron.alter_job(new.jobid, schedule => new.schedule, active => new.active);
  end if;
  return new;
end
$$;
revoke all on function private.scheduled_tasks_sync() from public, anon, authenticated;

create trigger scheduled_tasks_sync before insert or update or delete on public.scheduled_tasks
  for each row execute function private.scheduled_tasks_sync();

alter table public.scheduled_tasks enable row level security;
-- service_role bypasses row level security anyway; the policy says in the schema who the table is for.
-- No policy names authenticated or anon, and neither holds any privilege on the table.
create policy "service_role manages scheduled tasks" on public.scheduled_tasks
  for all to service_role using (true) with check (true);
revoke all on public.scheduled_tasks from public, anon, authenticated;
grant all on public.scheduled_tasks to service_role;

-- One run of a task: a row of cron.job_run_details for its job. trigger is 'schedule' for runs of the
-- scheduler and 'run_now' for run_scheduled_task_now.
create type public.scheduled_task_run as (
  runid bigint,
  jobid bigint,
  trigger text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);
comment on type public.scheduled_task_run is 'One run of a scheduled task, from cron.job_run_details (newest first in lists).';

create type public.scheduled_task_details as (
  task public.scheduled_tasks,
  runs public.scheduled_task_run[]
);
comment on type public.scheduled_task_details is 'A scheduled task with its most recent runs (newest first).';

-- private.run_scheduled_sql(command text) → void
--   Executes a task's SQL (one or more statements) as service_role with search_path "$user", public,
--   extensions: the SET clauses switch both for the call and restore them afterwards. Security invoker on purpose — a role switch is refused inside a
--   security definer function — and only reached through util.run_scheduled_task.
create or replace function private.run_scheduled_sql(command text)
returns void
language plpgsql
volatile
security invoker
set role = service_role
-- What pg_cron gives a job on hosted Supabase (the database default), not the caller's pinned '' path:
-- task commands name tables without a schema.
set search_path = "$user", public, extensions
as $$
begin
  execute command;
end
$$;
revoke all on function private.run_scheduled_sql(text) from public, anon, authenticated;
grant execute on function private.run_scheduled_sql(text) to service_role;

-- util.run_scheduled_task(name text) → text
--   The body of every task's cron job: runs the task named `name` once, in the caller's transaction —
--   its SQL command as service_role, or its Edge Function call queued through util.invoke_edge_function
--   (sent by pg_net after commit; the response lands in net._http_response). Returns what it did. An
--   error in the command propagates, so pg_cron records the run as failed with it. Runs inactive tasks
--   too (their cron job does not call it). Errors: PT404 unknown task. Callers: the cron job (postgres),
--   run_scheduled_task_now, service_role.
create or replace function util.run_scheduled_task(name text)
returns text
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  t public.scheduled_tasks;
  request_id bigint;
begin
  select * into t from public.scheduled_tasks st where st.name = run_scheduled_task.name;
  if not found then
    raise exception 'scheduled task "%" not found', run_scheduled_task.name using errcode = 'PT404';
  end if;
  if t.command is not null then
    perform private.run_scheduled_sql(t.command);
    return 'command ran';
  end if;
  request_id := util.invoke_edge_function(t.edge_function, t.body);
  return format('POST /functions/v1/%s queued as pg_net request %s', t.edge_function, request_id);
end
$$;
revoke all on function util.run_scheduled_task(text) from public, anon, authenticated;
grant execute on function util.run_scheduled_task(text) to service_role;

-- private.scheduled_task_runs(jobid bigint, max_runs integer) → setof scheduled_task_run
--   The newest `max_runs` rows of cron.job_run_details for the job. Security definer: the rows belong to
--   postgres (the jobs' owner) and pg_cron's row level security shows a role only its own.
create or replace function private.scheduled_task_runs(jobid bigint, max_runs integer)
returns setof public.scheduled_task_run
language sql
stable
security definer
set search_path = ''
as $$
  select d.runid, d.jobid, case when d.command like 'run_now: %' then 'run_now' else 'schedule' end,
         d.status, d.return_message, d.start_time, d.end_time
    from cron.job_run_details d
   where d.jobid = scheduled_task_runs.jobid
   order by d.start_time desc nulls last, d.runid desc
   limit max_runs
$$;
revoke all on function private.scheduled_task_runs(bigint, integer) from public, anon, authenticated;
grant execute on function private.scheduled_task_runs(bigint, integer) to service_role;

-- private.record_scheduled_task_run(jobid, command, succeeded, message, start_time, end_time) → scheduled_task_run
--   Adds a run to cron.job_run_details as pg_cron would (username postgres, this database and backend),
--   its command prefixed "run_now: " so the history can tell it from the scheduler's runs. Security
--   definer: pg_cron grants its tables to postgres only.
create or replace function private.record_scheduled_task_run(jobid bigint, command text, succeeded boolean, message text,
  start_time timestamptz, end_time timestamptz)
returns public.scheduled_task_run
language sql
volatile
security definer
set search_path = ''
as $$
  insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
  values (record_scheduled_task_run.jobid, pg_backend_pid(), current_database(), 'postgres',
          'run_now: ' || record_scheduled_task_run.command, case when succeeded then 'succeeded' else 'failed' end,
          message, record_scheduled_task_run.start_time, record_scheduled_task_run.end_time)
  returning runid, jobid, 'run_now', status, return_message, start_time, end_time
$$;
revoke all on function private.record_scheduled_task_run(bigint, text, boolean, text, timestamptz, timestamptz)
  from public, anon, authenticated;
grant execute on function private.record_scheduled_task_run(bigint, text, boolean, text, timestamptz, timestamptz)
  to service_role;

-- create_scheduled_task(name, schedule, command default null, edge_function default null, body default {},
--     active default true, metadata default {}, description default null) → scheduled_tasks
--   Creates a task and its pg_cron job. Give exactly one of command (SQL, run as service_role) and
--   edge_function (called with `body`). Errors: 22023 invalid schedule (naming the field, e.g.
--   "schedule: minute field "61" is out of range 0-59"), name, edge_function, body or metadata, neither
--   or both of command and edge_function; PT409 name taken. Callers: service_role only.
create or replace function public.create_scheduled_task(
  name text,
  schedule text,
  command text default null,
  edge_function text default null,
  body jsonb default '{}',
  active boolean default true,
  metadata jsonb default '{}',
  description text default null
)
returns public.scheduled_tasks
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.scheduled_tasks;
begin
  insert into public.scheduled_tasks (name, schedule, command, edge_function, body, active, metadata, description)
  values (create_scheduled_task.name, create_scheduled_task.schedule, create_scheduled_task.command,
          create_scheduled_task.edge_function, coalesce(create_scheduled_task.body, '{}'), create_scheduled_task.active,
          coalesce(create_scheduled_task.metadata, '{}'), create_scheduled_task.description)
  returning * into result;
  return result;
end
$$;
comment on function public.create_scheduled_task(text, text, text, text, jsonb, boolean, jsonb, text) is
  'Creates a scheduled task (SQL command or Edge Function call) and its pg_cron job. service_role only.';

-- update_scheduled_task(name, patch) → scheduled_tasks
--   Changes the fields named in `patch` (a JSON object): schedule (string), command (string or null),
--   edge_function (string or null), body (object), active (boolean), metadata (object, replaces the old),
--   description (string or null). Switching between a command and an Edge Function sets one and nulls
--   the other in the same patch. A new schedule or active flag is applied to the cron job at once.
--   Errors: PT404 unknown task; 22023 unknown field, wrong type, and as create_scheduled_task.
--   Callers: service_role only.
create or replace function public.update_scheduled_task(name text, patch jsonb)
returns public.scheduled_tasks
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  allowed constant text[] := array['schedule', 'command', 'edge_function', 'body', 'active', 'metadata', 'description'];
  unknown text[];
  field text;
  result public.scheduled_tasks;
begin
  perform private.require_object(update_scheduled_task.patch, 'patch');
  select array_agg(k order by k) into unknown from jsonb_object_keys(update_scheduled_task.patch) k where k <> all (allowed);
  if unknown is not null then
    raise exception 'patch has unknown field(s): %', array_to_string(unknown, ', ') using errcode = '22023',
      hint = 'Fields that can be changed: ' || array_to_string(allowed, ', ') || '.';
  end if;
  foreach field in array array['command', 'edge_function', 'description'] loop
    if jsonb_typeof(update_scheduled_task.patch -> field) not in ('string', 'null') then
      raise exception 'patch.% must be a string or null (got %)', field, jsonb_typeof(update_scheduled_task.patch -> field)
        using errcode = '22023';
    end if;
  end loop;
  if jsonb_typeof(update_scheduled_task.patch -> 'schedule') <> 'string' then
    raise exception 'patch.schedule must be a string (got %)', jsonb_typeof(update_scheduled_task.patch -> 'schedule')
      using errcode = '22023';
  end if;
  if jsonb_typeof(update_scheduled_task.patch -> 'active') <> 'boolean' then
    raise exception 'patch.active must be true or false (got %)', jsonb_typeof(update_scheduled_task.patch -> 'active')
      using errcode = '22023';
  end if;
  foreach field in array array['body', 'metadata'] loop
    if update_scheduled_task.patch ? field then
      perform private.require_object(update_scheduled_task.patch -> field, 'patch.' || field);
    end if;
  end loop;

  update public.scheduled_tasks t
     set schedule = coalesce(update_scheduled_task.patch ->> 'schedule', t.schedule),
         command = case when update_scheduled_task.patch ? 'command' then update_scheduled_task.patch ->> 'command' else t.command end,
         edge_function = case when update_scheduled_task.patch ? 'edge_function'
                              then update_scheduled_task.patch ->> 'edge_function' else t.edge_function end,
         body = coalesce(update_scheduled_task.patch -> 'body', t.body),
         active = coalesce((update_scheduled_task.patch ->> 'active')::boolean, t.active),
         metadata = coalesce(update_scheduled_task.patch -> 'metadata', t.metadata),
         description = case when update_scheduled_task.patch ? 'description'
                            then update_scheduled_task.patch ->> 'description' else t.description end
   where t.name = update_scheduled_task.name
  returning * into result;
  if not found then
    raise exception 'scheduled task "%" not found', update_scheduled_task.name using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.update_scheduled_task(text, jsonb) is
  'Changes the fields of a scheduled task named in patch; schedule and active reach the cron job at once. service_role only.';

-- run_scheduled_task_now(name) → scheduled_task_run
--   Runs the task at once, in the caller's transaction (active or not), and records the run in its
--   history (cron.job_run_details, trigger 'run_now'). A SQL command runs in a subtransaction: when it
--   fails, its changes are undone, the run is recorded as failed with the error ("ERROR:  <message>",
--   as pg_cron writes it) and returned — the call itself succeeds. An Edge Function call is queued and
--   sent by pg_net when the transaction commits ('succeeded' means queued).
--   Errors: PT404 unknown task. Callers: service_role only.
create or replace function public.run_scheduled_task_now(name text)
returns public.scheduled_task_run
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  t public.scheduled_tasks;
  started timestamptz := clock_timestamp();
  message text;
  ok boolean := true;
begin
  select * into t from public.scheduled_tasks st where st.name = run_scheduled_task_now.name;
  if not found then
    raise exception 'scheduled task "%" not found', run_scheduled_task_now.name using errcode = 'PT404';
  end if;
  begin
    message := util.run_scheduled_task(t.name);
  exception when others then
    ok := false;
    message := 'ERROR:  ' || sqlerrm;
  end;
  return private.record_scheduled_task_run(t.jobid, private.scheduled_task_job_command(t.name), ok, message, started,
                                           clock_timestamp());
end
$$;
comment on function public.run_scheduled_task_now(text) is
  'Runs a scheduled task now in the caller''s transaction and records the run in its history. service_role only.';

-- delete_scheduled_task(name) → scheduled_tasks
--   Deletes the task and unschedules its cron job (its run history stays until the nightly purge);
--   returns the deleted task. Errors: PT404 unknown task. Callers: service_role only.
create or replace function public.delete_scheduled_task(name text)
returns public.scheduled_tasks
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.scheduled_tasks;
begin
  delete from public.scheduled_tasks t where t.name = delete_scheduled_task.name returning * into result;
  if not found then
    raise exception 'scheduled task "%" not found', delete_scheduled_task.name using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.delete_scheduled_task(text) is 'Deletes a scheduled task and unschedules its cron job. service_role only.';

-- list_scheduled_tasks() → setof scheduled_tasks
--   Every task, by name. Callers: service_role only.
create or replace function public.list_scheduled_tasks()
returns setof public.scheduled_tasks
language sql
stable
security invoker
set search_path = ''
as $$
  select * from public.scheduled_tasks t order by t.name
$$;
comment on function public.list_scheduled_tasks() is 'Every scheduled task, by name. service_role only.';

-- get_scheduled_task(name, max_runs default 20) → scheduled_task_details
--   The task with its newest `max_runs` (1..1000) runs, newest first, from cron.job_run_details.
--   Errors: PT404 unknown task; 22023 max_runs out of range. Callers: service_role only.
create or replace function public.get_scheduled_task(name text, max_runs integer default 20)
returns public.scheduled_task_details
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  t public.scheduled_tasks;
begin
  perform private.require_limit(get_scheduled_task.max_runs, 'max_runs');
  select * into t from public.scheduled_tasks st where st.name = get_scheduled_task.name;
  if not found then
    raise exception 'scheduled task "%" not found', get_scheduled_task.name using errcode = 'PT404';
  end if;
  return row(t, coalesce((select array_agg(r order by r.start_time desc nulls last, r.runid desc)
                           from private.scheduled_task_runs(t.jobid, get_scheduled_task.max_runs) r), '{}'))
    ::public.scheduled_task_details;
end
$$;
comment on function public.get_scheduled_task(text, integer) is
  'A scheduled task with its recent runs from cron.job_run_details (newest first). service_role only.';

revoke all on function
  public.create_scheduled_task(text, text, text, text, jsonb, boolean, jsonb, text),
  public.update_scheduled_task(text, jsonb), public.run_scheduled_task_now(text), public.delete_scheduled_task(text),
  public.list_scheduled_tasks(), public.get_scheduled_task(text, integer)
  from public, anon, authenticated;
grant execute on function
  public.create_scheduled_task(text, text, text, text, jsonb, boolean, jsonb, text),
  public.update_scheduled_task(text, jsonb), public.run_scheduled_task_now(text), public.delete_scheduled_task(text),
  public.list_scheduled_tasks(), public.get_scheduled_task(text, integer)
  to service_role;
