-- Rate limits and quotas in Postgres (the seed planned Redis counters for them).
--
-- Rate limits are FIXED windows: one counter row per (owner, key) holding the start of the current window
-- (aligned to the epoch: a 60 s window starts at every full minute) and the hits in it. A hit is one
-- INSERT … ON CONFLICT DO UPDATE, so concurrent callers queue on the row lock and each sees a distinct
-- count: exactly `limit` hits per window are allowed, however many arrive at once. A sliding window would
-- need a row per hit (a log) to be exact, or be an estimate (the two-window weighted counter); the fixed
-- window is exact with one row, at the known price that a client can spend up to 2 × limit across a window
-- boundary. Denied hits that commit still count (the counter shows the pressure); denied hits whose
-- transaction rolls back — an RPC that answers 429 — do not.
--
--   rate_limit_hit(key, limit, window_seconds)   a counter of the caller's own (the seed's INCR + EXPIRE):
--                                                 returns allowed, hits, remaining, resets_at, retry_after
--   check_limits(rule)                            the configured limit `rule` and the daily quotas for the
--                                                 caller; raises PT429 (HTTP 429, Retry-After) when over
-- Configured limits are settings (category 'rate_limits', key = rule, value {"limit": n, "window_seconds": s}
-- or null for none), per signed-in user; service_role is not limited. Quotas (category 'quotas'):
-- tokens_per_day and cost_usd_per_day (null: none) over windows of window_seconds (86400: a UTC day),
-- counted from the tokens and cost of the caller's traces (public.ingest_spans adds them up in
-- usage_counters). The `search` and `ingest` functions and the heavy RPCs enforce them (a later migration).
--
-- Over a limit, the answer is PostgREST's custom error: RAISE SQLSTATE 'PGRST' with the JSON PostgREST
-- turns into HTTP 429, a Retry-After header, and {code: "PT429", message, details, hint}; `details` is JSON
-- {rule, limit, window_seconds, retry_after_seconds, resets_at} for SDKs that cannot read headers.

create type public.rate_limit_result as (
  allowed boolean,
  key text,
  hits integer,
  "limit" integer,
  remaining integer,
  window_seconds integer,
  resets_at timestamptz,
  retry_after_seconds integer
);
comment on type public.rate_limit_result is
  'A rate limit hit: allowed, hits in the window (this one included), limit, remaining, window end and seconds to wait.';

create table public.rate_limit_counters (
  id bigint generated always as identity primary key,
  -- null: a project-wide key (service_role).
  owner_id uuid references auth.users (id) on delete cascade,
  key text not null
    constraint rate_limit_counters_key_format check (key ~ '^[A-Za-z0-9][A-Za-z0-9:._/@-]{0,199}$'),
  window_seconds integer not null
    constraint rate_limit_counters_window_range check (window_seconds between 1 and 2592000),
  window_start timestamptz not null,
  hits integer not null,
  "limit" integer not null,
  updated_at timestamptz not null default now(),
  constraint rate_limit_counters_owner_key unique nulls not distinct (owner_id, key)
);
comment on table public.rate_limit_counters is
  'Fixed-window rate limit counters: one row per owner and key (rule:<name> for the configured limits).';

create table public.usage_counters (
  owner_id uuid not null references auth.users (id) on delete cascade,
  window_seconds integer not null,
  window_start timestamptz not null,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cost_usd numeric(16, 8) not null default 0,
  updated_at timestamptz not null default now(),
  primary key (owner_id, window_seconds, window_start)
);
comment on table public.usage_counters is
  'Tokens and cost of each user''s traces per quota window (kept by ingest_spans; read by the quota checks).';
create index usage_counters_window_start_idx on public.usage_counters (window_start);

alter table public.rate_limit_counters enable row level security;
alter table public.usage_counters enable row level security;
create policy "owners can read their rate limit counters" on public.rate_limit_counters
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can read their usage" on public.usage_counters
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.rate_limit_counters, public.usage_counters from anon;
revoke insert, update, delete, truncate, references, trigger on public.rate_limit_counters, public.usage_counters from authenticated;
grant select on public.rate_limit_counters, public.usage_counters to authenticated;
grant all on public.rate_limit_counters, public.usage_counters to service_role;

insert into public.settings (category, key, value, description) values
  ('rate_limits', 'search', '{"limit": 300, "window_seconds": 60}',
   'Calls of the search Edge Function per signed-in user and window (null: unlimited).'),
  ('rate_limits', 'ingest', '{"limit": 120, "window_seconds": 60}',
   'Calls of the ingest Edge Function per signed-in user and window (null: unlimited).'),
  ('rate_limits', 'otlp', '{"limit": 600, "window_seconds": 60}',
   'OTLP export requests to the otlp Edge Function per signed-in user and window (null: unlimited).'),
  ('rate_limits', 'search_rpc', '{"limit": 1200, "window_seconds": 60}',
   'Calls of hybrid_search, bm25_search (and kw_match_documents) and search_memories together, per signed-in user and window.'),
  ('rate_limits', 'ingest_rpc', '{"limit": 600, "window_seconds": 60}',
   'Calls of ingest_document per signed-in user and window (null: unlimited).'),
  ('quotas', 'tokens_per_day', 'null',
   'Input + output tokens a signed-in user''s traces may use per quota window before search and ingest answer 429 (null: no quota).'),
  ('quotas', 'cost_usd_per_day', 'null',
   'USD a signed-in user''s traces may cost per quota window before search and ingest answer 429 (null: no quota).'),
  ('quotas', 'window_seconds', '86400',
   'Length of the quota window in seconds, aligned to the epoch (86400: UTC days).')
on conflict (category, key) do nothing;

-- private.window_start(ts, window_seconds) → timestamptz
--   Start of the fixed window of `window_seconds` containing `ts`, aligned to the Unix epoch.
create or replace function private.window_start(ts timestamptz, window_seconds integer)
returns timestamptz
language sql
immutable
strict
security invoker
as $$
  select to_timestamp((floor(extract(epoch from ts) / window_seconds) * window_seconds)::double precision)
$$;
revoke all on function private.window_start(timestamptz, integer) from public, anon;
grant execute on function private.window_start(timestamptz, integer) to authenticated, service_role;

-- private.limit_rule(rule) → table ("limit" integer, window_seconds integer)
--   The configured rate limit `rule` (settings rate_limits.<rule>): one row, or no row when the setting is
--   null (unlimited). Raises 22023 for an unknown rule or a malformed value.
create or replace function private.limit_rule(rule text)
returns table ("limit" integer, window_seconds integer)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v jsonb;
begin
  select s.value into v from public.settings s where s.category = 'rate_limits' and s.key = limit_rule.rule;
  if not found then
    raise exception 'unknown rate limit rule %', coalesce(quote_literal(limit_rule.rule), 'null') using errcode = '22023',
      hint = 'Rules are the settings of category rate_limits.';
  end if;
  if v is null or jsonb_typeof(v) = 'null' then
    return;
  end if;
  if jsonb_typeof(v) <> 'object' or jsonb_typeof(v -> 'limit') <> 'number' or jsonb_typeof(v -> 'window_seconds') <> 'number'
     or (v ->> 'limit')::numeric not between 1 and 1000000000 or (v ->> 'limit')::numeric <> trunc((v ->> 'limit')::numeric)
     or (v ->> 'window_seconds')::numeric not between 1 and 2592000
     or (v ->> 'window_seconds')::numeric <> trunc((v ->> 'window_seconds')::numeric)
     or exists (select from jsonb_object_keys(v) k where k not in ('limit', 'window_seconds')) then
    raise exception 'setting rate_limits.% must be null or {"limit": 1..1000000000, "window_seconds": 1..2592000}, got %',
      limit_rule.rule, v using errcode = '22023';
  end if;
  return query select (v ->> 'limit')::integer, (v ->> 'window_seconds')::integer;
end
$$;
revoke all on function private.limit_rule(text) from public, anon, authenticated;

-- private.quota_settings() → table (tokens_per_day numeric, cost_usd_per_day numeric, window_seconds integer)
--   The quota settings (nulls: no quota). Raises 22023 naming a malformed setting.
create or replace function private.quota_settings()
returns table (tokens_per_day numeric, cost_usd_per_day numeric, window_seconds integer)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  t jsonb := private.setting('quotas', 'tokens_per_day', 'null');
  c jsonb := private.setting('quotas', 'cost_usd_per_day', 'null');
  w jsonb := private.setting('quotas', 'window_seconds', '86400');
begin
  if jsonb_typeof(t) not in ('null', 'number') or (jsonb_typeof(t) = 'number' and (t::text::numeric < 0 or t::text::numeric <> trunc(t::text::numeric))) then
    raise exception 'setting quotas.tokens_per_day must be null or a whole number ≥ 0, got %', t using errcode = '22023';
  end if;
  if jsonb_typeof(c) not in ('null', 'number') or (jsonb_typeof(c) = 'number' and c::text::numeric < 0) then
    raise exception 'setting quotas.cost_usd_per_day must be null or a number ≥ 0, got %', c using errcode = '22023';
  end if;
  if jsonb_typeof(w) <> 'number' or w::text::numeric not between 1 and 2592000 or w::text::numeric <> trunc(w::text::numeric) then
    raise exception 'setting quotas.window_seconds must be a whole number from 1 to 2592000, got %', w using errcode = '22023';
  end if;
  return query select case when jsonb_typeof(t) = 'number' then t::text::numeric end,
                      case when jsonb_typeof(c) = 'number' then c::text::numeric end,
                      w::text::integer;
end
$$;
revoke all on function private.quota_settings() from public, anon, authenticated;

-- private.limit_settings_changed() → trigger
--   AFTER INSERT OR UPDATE row trigger on public.settings for categories rate_limits and quotas: an invalid
--   value fails the write with 22023, so a typo cannot switch a limit off unnoticed.
create or replace function private.limit_settings_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.category = 'rate_limits' then
    perform private.limit_rule(new.key);
  else
    perform private.quota_settings();
  end if;
  return null;
end
$$;
revoke all on function private.limit_settings_changed() from public, anon, authenticated;

create trigger settings_limits_changed after insert or update on public.settings
  for each row when (new.category in ('rate_limits', 'quotas')) execute function private.limit_settings_changed();

-- private.caller_owner() → uuid
--   The signed-in user a limit applies to: auth.uid() for the API roles; null for service_role and for a
--   session without an API role (postgres), which are not limited — and for a token without a user (`sub`),
--   which only the holder of the JWT secret can sign.
create or replace function private.caller_owner()
returns uuid
language sql
stable
security invoker
set search_path = ''
as $$
  select case when current_setting('role') in ('none', 'postgres', 'service_role') then null else (select auth.uid()) end
$$;
revoke all on function private.caller_owner() from public, anon;
grant execute on function private.caller_owner() to authenticated, service_role;

-- private.rate_limit_hit(owner_id, key, limit, window_seconds) → rate_limit_result
--   One atomic hit on the counter (owner_id, key); see the header. Validates its arguments (22023, naming
--   the argument). Callers: public.rate_limit_hit, the limit checks below.
create or replace function private.rate_limit_hit(owner_id uuid, key text, "limit" integer, window_seconds integer)
returns public.rate_limit_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  ts timestamptz := clock_timestamp();
  got_hits integer;
  got_start timestamptz;
  resets timestamptz;
begin
  if rate_limit_hit.key is null or rate_limit_hit.key !~ '^[A-Za-z0-9][A-Za-z0-9:._/@-]{0,199}$' then
    raise exception 'key must be 1 to 200 characters of letters, digits and : . _ / @ -, starting with a letter or digit, got %',
      coalesce(quote_literal(left(rate_limit_hit.key, 40)), 'null') using errcode = '22023';
  end if;
  if rate_limit_hit."limit" is null or rate_limit_hit."limit" not between 1 and 1000000000 then
    raise exception 'limit must be a whole number from 1 to 1000000000, got %', coalesce(rate_limit_hit."limit"::text, 'null')
      using errcode = '22023';
  end if;
  if rate_limit_hit.window_seconds is null or rate_limit_hit.window_seconds not between 1 and 2592000 then
    raise exception 'window_seconds must be a whole number from 1 to 2592000 (30 days), got %',
      coalesce(rate_limit_hit.window_seconds::text, 'null') using errcode = '22023';
  end if;
  insert into public.rate_limit_counters as c (owner_id, key, window_seconds, window_start, hits, "limit", updated_at)
  values (rate_limit_hit.owner_id, rate_limit_hit.key, rate_limit_hit.window_seconds,
          private.window_start(ts, rate_limit_hit.window_seconds), 1, rate_limit_hit."limit", ts)
  on conflict on constraint rate_limit_counters_owner_key do update
    -- A caller that computed its window before waiting for the row lock may find the row already in the
    -- next window: it counts there (greatest), never restarting a newer window.
    set hits = case when c.window_seconds = excluded.window_seconds and c.window_start >= excluded.window_start
                    then c.hits + 1 else 1 end,
        window_start = case when c.window_seconds = excluded.window_seconds
                            then greatest(c.window_start, excluded.window_start) else excluded.window_start end,
        window_seconds = excluded.window_seconds,
        "limit" = excluded."limit",
        updated_at = excluded.updated_at
  returning c.hits, c.window_start into got_hits, got_start;
  resets := got_start + make_interval(secs => rate_limit_hit.window_seconds);
  return (got_hits <= rate_limit_hit."limit", rate_limit_hit.key, got_hits, rate_limit_hit."limit",
          greatest(rate_limit_hit."limit" - got_hits, 0), rate_limit_hit.window_seconds, resets,
          case when got_hits <= rate_limit_hit."limit" then 0
               else greatest(1, ceil(extract(epoch from resets - clock_timestamp()))::integer) end)::public.rate_limit_result;
end
$$;
revoke all on function private.rate_limit_hit(uuid, text, integer, integer) from public, anon, authenticated;

-- rate_limit_hit(key, limit, window_seconds) → rate_limit_result
--   Counts one hit on the caller's counter `key` in fixed windows of window_seconds (1 s … 30 days) and says
--   whether it is within `limit` (1 … 10^9): {allowed, key, hits, limit, remaining, window_seconds,
--   resets_at, retry_after_seconds}. Never raises for a denied hit — the caller decides what to do. A
--   signed-in user's keys are their own (another user's `key` is another counter); service_role's keys are
--   project-wide; a token without a user gets 42501. Calling a key with another window_seconds restarts its count. Keys starting with `rule:`
--   or `quota:` are the configured limits' and are refused. Errors: 22023 naming the argument out of range.
--   Callers: authenticated, service_role.
create or replace function public.rate_limit_hit(key text, "limit" integer, window_seconds integer)
returns public.rate_limit_result
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if current_setting('role') not in ('none', 'postgres', 'service_role') and (select auth.uid()) is null then
    raise exception 'rate_limit_hit needs a signed-in user or the service role' using errcode = '42501';
  end if;
  if rate_limit_hit.key ~ '^(rule|quota):' then
    raise exception 'key %: keys starting with rule: or quota: belong to the configured limits', quote_literal(rate_limit_hit.key)
      using errcode = '22023', hint = 'Use another prefix, e.g. app:<name>.';
  end if;
  return private.rate_limit_hit(private.caller_owner(), rate_limit_hit.key, rate_limit_hit."limit", rate_limit_hit.window_seconds);
end
$$;
comment on function public.rate_limit_hit(text, integer, integer) is
  'One hit on the caller''s fixed-window counter `key`: allowed, hits, remaining, resets_at, retry_after_seconds. Exact under concurrency.';
revoke all on function public.rate_limit_hit(text, integer, integer) from public, anon;
grant execute on function public.rate_limit_hit(text, integer, integer) to authenticated, service_role;
-- private.rate_limit_hit is definer, so the invoker wrapper may call it.
grant execute on function private.rate_limit_hit(uuid, text, integer, integer) to authenticated, service_role;

-- private.raise_rate_limited(rule, limit, window_seconds, retry_after_seconds, resets_at, what)
--   Raises PostgREST's custom error for HTTP 429 with a Retry-After header (see the header).
create or replace function private.raise_rate_limited(rule text, "limit" numeric, window_seconds integer,
                                                      retry_after_seconds integer, resets_at timestamptz, what text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', 'PT429',
      'message', what,
      'details', json_build_object('rule', rule, 'limit', "limit", 'window_seconds', window_seconds,
                                   'retry_after_seconds', retry_after_seconds, 'resets_at', resets_at)::text,
      'hint', format('Retry after %s s.', retry_after_seconds))::text,
    detail = json_build_object('status', 429, 'headers', json_build_object('Retry-After', retry_after_seconds::text))::text;
end
$$;
revoke all on function private.raise_rate_limited(text, numeric, integer, integer, timestamptz, text) from public, anon;
grant execute on function private.raise_rate_limited(text, numeric, integer, integer, timestamptz, text) to authenticated, service_role;

-- private.check_quota(owner_id) → void
--   Raises PT429 when owner_id's traces used up a quota in the current quota window (nothing for null).
create or replace function private.check_quota(owner_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  q record;
  u record;
  win timestamptz;
  resets timestamptz;
begin
  if check_quota.owner_id is null then
    return;
  end if;
  select * into q from private.quota_settings();
  if q.tokens_per_day is null and q.cost_usd_per_day is null then
    return;
  end if;
  win := private.window_start(clock_timestamp(), q.window_seconds);
  select c.input_tokens + c.output_tokens as tokens, c.cost_usd into u
    from public.usage_counters c
   where c.owner_id = check_quota.owner_id and c.window_seconds = q.window_seconds and c.window_start = win;
  if not found then
    return;
  end if;
  resets := win + make_interval(secs => q.window_seconds);
  if q.tokens_per_day is not null and u.tokens >= q.tokens_per_day then
    perform private.raise_rate_limited('quota:tokens_per_day', q.tokens_per_day, q.window_seconds,
      greatest(1, ceil(extract(epoch from resets - clock_timestamp()))::integer), resets,
      format('token quota used up: %s of %s tokens in this %s s window', u.tokens, q.tokens_per_day, q.window_seconds));
  end if;
  if q.cost_usd_per_day is not null and u.cost_usd >= q.cost_usd_per_day then
    perform private.raise_rate_limited('quota:cost_usd_per_day', q.cost_usd_per_day, q.window_seconds,
      greatest(1, ceil(extract(epoch from resets - clock_timestamp()))::integer), resets,
      format('cost quota used up: %s of %s USD in this %s s window', round(u.cost_usd, 6), q.cost_usd_per_day, q.window_seconds));
  end if;
end
$$;
revoke all on function private.check_quota(uuid) from public, anon;
grant execute on function private.check_quota(uuid) to authenticated, service_role;

-- private.precheck_limits(rule, quota) → void
--   Lock-free: raises PT429 when the caller's counter for `rule` is already full in the current window (or,
--   with quota, a quota is used up), so over-limit traffic is turned away before any work. It takes no row
--   lock, so concurrent calls of one user are not serialised by it; exactness comes from hit_limit.
create or replace function private.precheck_limits(rule text, quota boolean)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  owner uuid := private.caller_owner();
  r record;
  c record;
  resets timestamptz;
begin
  if owner is null then
    return;
  end if;
  select * into r from private.limit_rule(precheck_limits.rule);
  if found then
    select k.hits, k.window_start into c from public.rate_limit_counters k
     where k.owner_id = owner and k.key = 'rule:' || precheck_limits.rule and k.window_seconds = r.window_seconds
       and k.window_start = private.window_start(clock_timestamp(), r.window_seconds);
    if found and c.hits >= r."limit" then
      resets := c.window_start + make_interval(secs => r.window_seconds);
      perform private.raise_rate_limited(precheck_limits.rule, r."limit", r.window_seconds,
        greatest(1, ceil(extract(epoch from resets - clock_timestamp()))::integer), resets,
        format('rate limit %s exceeded: %s calls per %s s', precheck_limits.rule, r."limit", r.window_seconds));
    end if;
  end if;
  if quota then
    perform private.check_quota(owner);
  end if;
end
$$;
revoke all on function private.precheck_limits(text, boolean) from public, anon;
grant execute on function private.precheck_limits(text, boolean) to authenticated, service_role;

-- private.hit_limit(rule) → rate_limit_result
--   One atomic hit on the caller's counter rule:<rule>; raises PT429 when it is over the configured limit.
--   Null for callers that are not limited (service_role) and for an unlimited rule. The counter row stays
--   locked until the caller's transaction ends, so callers hit it as late as they can (see util.guard_rpc).
create or replace function private.hit_limit(rule text)
returns public.rate_limit_result
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  owner uuid := private.caller_owner();
  r record;
  h public.rate_limit_result;
begin
  if owner is null then
    return null;
  end if;
  select * into r from private.limit_rule(hit_limit.rule);
  if not found then
    return null;
  end if;
  h := private.rate_limit_hit(owner, 'rule:' || hit_limit.rule, r."limit", r.window_seconds);
  if not h.allowed then
    perform private.raise_rate_limited(hit_limit.rule, r."limit", r.window_seconds, h.retry_after_seconds, h.resets_at,
      format('rate limit %s exceeded: %s calls per %s s', hit_limit.rule, r."limit", r.window_seconds));
  end if;
  return h;
end
$$;
revoke all on function private.hit_limit(text) from public, anon;
grant execute on function private.hit_limit(text) to authenticated, service_role;

-- check_limits(rule) → rate_limit_result
--   For Edge Functions, before they spend anything on the caller's behalf: the caller's quotas, then one hit
--   on the configured limit `rule` (settings rate_limits.<rule>). Returns the hit (null when the caller is
--   not limited: service_role, or the rule is null); raises PT429 — HTTP 429 with Retry-After — when over
--   the limit or a quota; 22023 for an unknown rule. Callers: authenticated, service_role.
create or replace function public.check_limits(rule text)
returns public.rate_limit_result
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  perform private.check_quota(private.caller_owner());
  return private.hit_limit(check_limits.rule);
end
$$;
comment on function public.check_limits(text) is
  'The caller''s quotas and one hit on the configured rate limit `rule`; raises PT429 (HTTP 429 + Retry-After) when over.';
revoke all on function public.check_limits(text) from public, anon;
grant execute on function public.check_limits(text) to authenticated, service_role;

-- public.rate_limits: every counter and quota the caller is subject to now — kind 'rate' (a counter:
-- configured rules as rule:<name>, own keys of rate_limit_hit) or 'quota' (tokens / cost of the current
-- quota window, also for users who have not used any yet only once they have a usage row), with the limit,
-- what is used in the current window, what remains and when the window ends. Row level security of the
-- counter tables applies: a user sees their own rows, service_role everyone's.
create view public.rate_limits with (security_invoker = true) as
with q as (select * from private.quota_settings())
select 'rate'::text as kind, c.owner_id, c.key, c."limit"::numeric as "limit",
       case when c.window_start = private.window_start(clock_timestamp(), c.window_seconds) then c.hits else 0 end::numeric as used,
       greatest(c."limit" - case when c.window_start = private.window_start(clock_timestamp(), c.window_seconds) then c.hits else 0 end, 0)::numeric
         as remaining,
       c.window_seconds,
       private.window_start(clock_timestamp(), c.window_seconds) as window_start,
       private.window_start(clock_timestamp(), c.window_seconds) + make_interval(secs => c.window_seconds) as resets_at
  from public.rate_limit_counters c
union all
select 'quota', u.owner_id, x.key, x."limit", x.used, greatest(x."limit" - x.used, 0), u.window_seconds, u.window_start,
       u.window_start + make_interval(secs => u.window_seconds)
  from public.usage_counters u
  cross join q
  cross join lateral (values ('quota:tokens_per_day', q.tokens_per_day, (u.input_tokens + u.output_tokens)::numeric),
                             ('quota:cost_usd_per_day', q.cost_usd_per_day, u.cost_usd)) as x(key, "limit", used)
 where u.window_seconds = q.window_seconds
   and u.window_start = private.window_start(clock_timestamp(), q.window_seconds)
   and x."limit" is not null;
comment on view public.rate_limits is
  'Rate limit counters and quota usage of the current windows: limit, used, remaining, resets_at. Row level security applies.';
revoke all on public.rate_limits from public, anon, authenticated, service_role;
grant select on public.rate_limits to authenticated, service_role;
grant execute on function private.quota_settings() to authenticated, service_role;
