-- pg_cron stand-in: the SQL API of pg_cron 1.6 as Supabase ships it — `cron.schedule`, `cron.unschedule`,
-- `cron.alter_job`, `cron.job`, `cron.job_run_details` — with the same schedule syntax (5-field cron in
-- GMT, or '[1-59] seconds'), the same "same name replaces" rule and the same row level security. The
-- scheduler that runs due jobs lives in the stack process (stack/pg_cron/scheduler.ts) and wakes on NOTIFY cron_job.

create schema if not exists cron;
grant usage on schema cron to postgres, service_role;

create table if not exists cron.job (
  jobid bigserial primary key,
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  nodeport integer not null default 5432,
  database text not null default current_database(),
  username text not null default current_user,
  active boolean not null default true,
  jobname text
);
create unique index if not exists jobname_username_uniq on cron.job (jobname, username);

create table if not exists cron.job_run_details (
  jobid bigint,
  runid bigserial primary key,
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);
create index if not exists job_run_details_jobid_idx on cron.job_run_details (jobid, start_time desc);

alter table cron.job enable row level security;
alter table cron.job_run_details enable row level security;
drop policy if exists cron_job_policy on cron.job;
create policy cron_job_policy on cron.job using (username = current_user);
drop policy if exists cron_job_run_details_policy on cron.job_run_details;
create policy cron_job_run_details_policy on cron.job_run_details using (username = current_user);
grant select on cron.job to public;
grant select, delete on cron.job_run_details to public;
grant insert, update, delete on cron.job to service_role;
grant usage on sequence cron.job_jobid_seq to service_role;

-- Validates a schedule as pg_cron's parser does; raises 22023 "invalid schedule" otherwise.
create or replace function cron._validate_schedule(schedule text) returns void
language plpgsql immutable security invoker
as $$
declare
  fields text[];
  lows int[] := array[0, 0, 1, 1, 0];
  highs int[] := array[59, 23, 31, 12, 7];
  item text;
  m text[];
  lo int;
  hi int;
  i int;
begin
  if schedule is null then
    raise exception 'invalid schedule: null' using errcode = '22023';
  end if;
  if schedule ~* '^\s*([1-9]|[1-5][0-9])\s+seconds?\s*$' then
    return;
  end if;
  if lower(btrim(schedule)) in ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly') then
    return;
  end if;
  fields := regexp_split_to_array(btrim(schedule), '\s+');
  if array_length(fields, 1) <> 5 then
    raise exception 'invalid schedule: %', schedule using errcode = '22023',
      hint = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
  end if;
  for i in 1..5 loop
    foreach item in array string_to_array(lower(fields[i]), ',') loop
      -- month and day-of-week names map to numbers; "$" is pg_cron's last day of month
      item := replace(replace(replace(replace(replace(replace(replace(item,
        'sun', '0'), 'mon', '1'), 'tue', '2'), 'wed', '3'), 'thu', '4'), 'fri', '5'), 'sat', '6');
      if i = 4 then
        item := replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(item,
          'jan', '1'), 'feb', '2'), 'mar', '3'), 'apr', '4'), 'may', '5'), 'jun', '6'), 'jul', '7'), 'aug', '8'),
          'sep', '9'), 'oct', '10'), 'nov', '11'), 'dec', '12');
      end if;
      if i = 3 and item = '$' then
        continue;
      end if;
      m := regexp_match(item, '^(\*|(\d+)(-(\d+))?)(/(\d+))?$');
      if m is null or (m[6] is not null and m[6]::int = 0) then
        raise exception 'invalid schedule: %', schedule using errcode = '22023',
          hint = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
      end if;
      if m[2] is not null then
        lo := m[2]::int;
        hi := coalesce(m[4]::int, lo);
        if lo < lows[i] or hi > highs[i] or lo > hi then
          raise exception 'invalid schedule: %', schedule using errcode = '22023',
            detail = format('field %s allows %s-%s', i, lows[i], highs[i]);
        end if;
      end if;
    end loop;
  end loop;
end
$$;

-- Wakes the scheduler whenever the job list changes.
create or replace function cron._notify_jobs_changed() returns trigger
language plpgsql security invoker
as $$
begin
  perform pg_notify('cron_job', '');
  return null;
end
$$;
drop trigger if exists job_changed on cron.job;
create trigger job_changed after insert or update or delete on cron.job
for each statement execute function cron._notify_jobs_changed();

-- The functions run as the caller (security invoker): like pg_cron, the job belongs to current_user and
-- row level security limits a role to its own jobs; superusers (postgres) see all of them.
create or replace function cron.schedule(job_name text, schedule text, command text) returns bigint
language plpgsql volatile security invoker
as $$
declare
  id bigint;
begin
  perform cron._validate_schedule(schedule);
  insert into cron.job (jobname, schedule, command, username)
  values (job_name, schedule, command, current_user)
  on conflict (jobname, username) do update
    set schedule = excluded.schedule, command = excluded.command, active = true
  returning jobid into id;
  return id;
end
$$;

create or replace function cron.schedule(schedule text, command text) returns bigint
language sql volatile security invoker
as $$ select cron.schedule(null::text, schedule, command) $$;

create or replace function cron.unschedule(job_id bigint) returns boolean
language plpgsql volatile security invoker
as $$
begin
  delete from cron.job where jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id using errcode = 'P0002';
  end if;
  return true;
end
$$;

create or replace function cron.unschedule(job_name text) returns boolean
language plpgsql volatile security invoker
as $$
begin
  delete from cron.job where jobname = job_name;
  if not found then
    raise exception 'could not find valid entry for job ''%''', job_name using errcode = 'P0002';
  end if;
  return true;
end
$$;

create or replace function cron.alter_job(
  job_id bigint,
  schedule text default null,
  command text default null,
  database text default null,
  username text default null,
  active boolean default null
) returns void
language plpgsql volatile security invoker
as $$
begin
  if schedule is not null then
    perform cron._validate_schedule(schedule);
  end if;
  update cron.job j
     set schedule = coalesce(alter_job.schedule, j.schedule),
         command = coalesce(alter_job.command, j.command),
         database = coalesce(alter_job.database, j.database),
         username = coalesce(alter_job.username, j.username),
         active = coalesce(alter_job.active, j.active)
   where j.jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id using errcode = 'P0002';
  end if;
end
$$;

revoke all on function cron.schedule(text, text, text), cron.schedule(text, text), cron.unschedule(bigint),
  cron.unschedule(text), cron.alter_job(bigint, text, text, text, text, boolean) from public;
grant execute on function cron.schedule(text, text, text), cron.schedule(text, text), cron.unschedule(bigint),
  cron.unschedule(text), cron.alter_job(bigint, text, text, text, text, boolean) to postgres, service_role;
