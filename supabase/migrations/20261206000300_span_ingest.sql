-- public.ingest_spans: the one way spans get into traces / spans / events, for both writers — the Edge
-- Functions' tracing (one call per request, after the response) and the `otlp` function (one call per OTLP
-- export request, as the exporting user). One statement inserts the traces, spans and events; a second adds
-- the new spans to their traces' totals; a third adds tokens and cost to the owners' quota window
-- (usage_counters). Re-sending a span (an exporter retrying) changes nothing: spans are unique per trace and
-- span id, and totals count only spans that were new.

-- private.model_price(model) → table (model text, input_price_per_mtok numeric, output_price_per_mtok numeric)
--   The price row for a model name as telemetry spells it: a public.models id (chat) or a
--   public.embedding_models name (embeddings, input only), matched case-insensitively, without a
--   provider prefix ("openai/gpt-4o" → gpt-4o), or as a dated snapshot of a known model
--   ("gpt-4o-mini-2024-07-18" → gpt-4o-mini, the longest such match). No row when nothing matches.
create or replace function private.model_price(model text)
returns table (model text, input_price_per_mtok numeric, output_price_per_mtok numeric)
language sql
stable
security definer
set search_path = ''
as $$
  with wanted as (select lower(model_price.model) as a, lower(regexp_replace(model_price.model, '^[^/]+/', '')) as b),
  prices as (
    select m.id as name, m.input_price_per_mtok as ip, m.output_price_per_mtok as op from public.models m
    union all
    select lower(e.name), e.input_price_per_mtok, 0 from public.embedding_models e)
  select p.name, p.ip, p.op
    from prices p, wanted w
   where p.name in (w.a, w.b) or w.a like p.name || '-%' or w.b like p.name || '-%'
   order by p.name in (w.a, w.b) desc, length(p.name) desc
   limit 1
$$;
revoke all on function private.model_price(text) from public, anon, authenticated;

-- private.events_invalid(events) → boolean
--   True when an element of a span's events array is not {name (1 to 1000 characters), time_ns (Unix
--   nanoseconds, digits), attributes? object}.
create or replace function private.events_invalid(events jsonb)
returns boolean
language sql
immutable
security invoker
set search_path = ''
as $$
  select exists (select from jsonb_array_elements(events) e
                  where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'name') is distinct from 'string'
                     or char_length(e ->> 'name') not between 1 and 1000
                     or coalesce(e ->> 'time_ns', '') !~ '^[0-9]{1,19}$'
                     or jsonb_typeof(e -> 'attributes') not in ('null', 'object'))
$$;
revoke all on function private.events_invalid(jsonb) from public, anon, authenticated;

-- private.span_problem(span, trusted) → text
--   What is wrong with one element of ingest_spans' input, or null when nothing is.
-- No `set search_path` on this and unix_ns (security invoker, built-in functions only): a SET clause keeps
-- Postgres from inlining a SQL function, and called once per span they cost ~0.3 ms each not inlined —
-- most of an OTLP export's time. They are called from ingest_spans, whose search_path is ''.
create or replace function private.span_problem(v jsonb, trusted boolean)
returns text
language sql
immutable
security invoker
as $$
  select case
    when jsonb_typeof(v) is distinct from 'object' then 'must be a JSON object'
    when coalesce(v ->> 'trace_id', '') !~ '^[0-9a-f]{32}$' or v ->> 'trace_id' = repeat('0', 32) then
      'trace_id must be 32 lower-case hex digits, not all zeros'
    when coalesce(v ->> 'span_id', '') !~ '^[0-9a-f]{16}$' or v ->> 'span_id' = repeat('0', 16) then
      'span_id must be 16 lower-case hex digits, not all zeros'
    when jsonb_typeof(v -> 'parent_span_id') not in ('null', 'string')
      or (jsonb_typeof(v -> 'parent_span_id') = 'string' and v ->> 'parent_span_id' !~ '^[0-9a-f]{16}$') then
      'parent_span_id must be null or 16 lower-case hex digits'
    when jsonb_typeof(v -> 'name') is distinct from 'string' or char_length(v ->> 'name') not between 1 and 1000 then
      'name must be a string of 1 to 1000 characters'
    when coalesce(v ->> 'kind', 'internal') not in ('internal', 'server', 'client', 'producer', 'consumer') then
      'kind must be internal, server, client, producer or consumer'
    when coalesce(v ->> 'status', 'unset') not in ('unset', 'ok', 'error') then 'status must be unset, ok or error'
    when coalesce(v ->> 'start_ns', '') !~ '^[0-9]{1,19}$' then 'start_ns must be Unix time in nanoseconds (a whole number, as a string or number)'
    when coalesce(v ->> 'end_ns', '') !~ '^[0-9]{1,19}$' then 'end_ns must be Unix time in nanoseconds (a whole number, as a string or number)'
    when (v ->> 'end_ns')::numeric < (v ->> 'start_ns')::numeric then 'end_ns is before start_ns'
    -- Casts only inside CASE, which (unlike OR) evaluates in order: a bad value is a message, not a cast error.
    when case jsonb_typeof(v -> 'input_tokens') when 'null' then false
              when 'number' then case when v ->> 'input_tokens' ~ '^[0-9]{1,10}$' then (v ->> 'input_tokens')::bigint > 2147483647 else true end
              else v ? 'input_tokens' end then
      'input_tokens must be null or a whole number from 0 to 2147483647'
    when case jsonb_typeof(v -> 'output_tokens') when 'null' then false
              when 'number' then case when v ->> 'output_tokens' ~ '^[0-9]{1,10}$' then (v ->> 'output_tokens')::bigint > 2147483647 else true end
              else v ? 'output_tokens' end then
      'output_tokens must be null or a whole number from 0 to 2147483647'
    when case jsonb_typeof(v -> 'cost_usd') when 'null' then false
              when 'number' then (v ->> 'cost_usd')::numeric < 0 or (v ->> 'cost_usd')::numeric >= 100000000
              else v ? 'cost_usd' end then
      'cost_usd must be null or a number from 0 to 10^8'
    when jsonb_typeof(v -> 'attributes') not in ('null', 'object') then 'attributes must be an object'
    when jsonb_typeof(v -> 'resource') not in ('null', 'object') then 'resource must be an object'
    when jsonb_typeof(v -> 'events') not in ('null', 'array') then 'events must be an array'
    -- The events' check only for spans that have events (most have none), in a function of its own: a
    -- subquery here would keep this function from being inlined.
    when case when jsonb_typeof(v -> 'events') = 'array' and jsonb_array_length(v -> 'events') > 0 then
           private.events_invalid(v -> 'events')
         else false end then
      'each event needs a name (1 to 1000 characters), time_ns (Unix nanoseconds) and optional attributes object'
    when jsonb_typeof(v -> 'owner_id') not in ('null', 'string') or (jsonb_typeof(v -> 'owner_id') = 'string'
      and v ->> 'owner_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then 'owner_id must be a uuid'
    when jsonb_typeof(v -> 'owner_id') = 'string' and not trusted then 'owner_id may only be given with the service role'
    when jsonb_typeof(v -> 'service') not in ('null', 'string') or jsonb_typeof(v -> 'scope') not in ('null', 'string')
      or jsonb_typeof(v -> 'model') not in ('null', 'string') or jsonb_typeof(v -> 'provider') not in ('null', 'string')
      or jsonb_typeof(v -> 'status_message') not in ('null', 'string') then
      'service, scope, model, provider and status_message must be strings when given'
  end
$$;
revoke all on function private.span_problem(jsonb, boolean) from public, anon, authenticated;

-- private.unix_ns(ns) → timestamptz
--   A Unix time in nanoseconds (text of digits) as timestamptz, rounded to whole microseconds (what Postgres
--   keeps). Integer microseconds times an interval of one: exact (no seconds-as-double rounding), so span
--   durations are exact to the microsecond.
create or replace function private.unix_ns(ns text)
returns timestamptz
language sql
immutable
strict
security invoker
as $$
  select timestamptz '1970-01-01 00:00:00+00' + (ns::numeric / 1000)::bigint * interval '1 microsecond'
$$;
revoke all on function private.unix_ns(text) from public, anon;
grant execute on function private.unix_ns(text) to authenticated, service_role;

-- ingest_spans(spans jsonb, owner_id uuid default null, source text default 'otlp') → jsonb
--   Stores spans (a JSON array, at most 10,000) and returns {traces, spans, events, duplicates}: traces
--   touched, spans and events stored, spans skipped because they were stored before. Each span:
--     {trace_id (32 hex), span_id (16 hex), parent_span_id?, name, kind? internal|server|client|producer|
--      consumer, status? unset|ok|error, status_message?, start_ns, end_ns (Unix nanoseconds, string or
--      number), service?, scope?, model?, provider?, input_tokens?, output_tokens?, cost_usd?,
--      attributes? {}, resource? {}, events? [{name, time_ns, attributes?}], owner_id?}
--   cost_usd, when a span does not carry its own, is computed from the model's prices (private.model_price);
--   null when the model is unknown. Owner: a signed-in caller's spans are always their own (owner_id other
--   than the caller: 42501) and count towards the rate limit 'otlp'; service_role (or postgres) names the
--   owner per span or for all (owner_id argument; none: project-level) and may set source 'function'.
--   Tokens and cost of owned spans are added to the owner's quota window. All or nothing: any bad span
--   (22023, naming its index and field) writes nothing. Callers: authenticated, service_role.
-- Security definer (in private, behind the invoker wrapper below): it writes tables clients may only read,
-- after deciding the owner itself.
create or replace function private.ingest_spans(spans jsonb, owner_id uuid, source text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  trusted boolean := current_setting('role') in ('none', 'postgres', 'service_role');
  caller uuid := (select auth.uid());
  default_owner uuid := ingest_spans.owner_id;
  src text := coalesce(ingest_spans.source, 'otlp');
  total integer;
  problem text;
  n_traces integer;
  n_spans integer;
  n_events integer;
  aggs jsonb;
  usage jsonb;
begin
  if not trusted then
    if caller is null then
      raise exception 'ingest_spans needs a signed-in user or the service role' using errcode = '42501';
    end if;
    if default_owner is not null and default_owner <> caller then
      raise exception 'owner_id must be the caller''s own id (or omitted)' using errcode = '42501';
    end if;
    default_owner := caller;
    src := 'otlp';
  end if;
  if src not in ('function', 'otlp') then
    raise exception 'source must be function or otlp, got %', quote_literal(src) using errcode = '22023';
  end if;
  if ingest_spans.spans is null or jsonb_typeof(ingest_spans.spans) <> 'array' then
    raise exception 'spans must be a JSON array of spans' using errcode = '22023';
  end if;
  total := jsonb_array_length(ingest_spans.spans);
  if total > 10000 then
    raise exception 'spans: at most 10000 spans per call, got %', total using errcode = '22023',
      hint = 'Send them in smaller batches (OpenTelemetry''s batch span processor sends 512 at a time).';
  end if;
  select format('spans[%s]: %s', s.n - 1, private.span_problem(s.v, trusted)) into problem
    from jsonb_array_elements(ingest_spans.spans) with ordinality s(v, n)
   where private.span_problem(s.v, trusted) is not null
   order by s.n
   limit 1;
  if problem is not null then
    raise exception '%', problem using errcode = '22023';
  end if;
  if total = 0 then
    return jsonb_build_object('traces', 0, 'spans', 0, 'events', 0, 'duplicates', 0);
  end if;
  if not trusted then
    perform private.precheck_limits('otlp', false);
  end if;

  with input as materialized (
    select s.n, s.v ->> 'trace_id' as trace_id, s.v ->> 'span_id' as span_id, s.v ->> 'parent_span_id' as parent_span_id,
           s.v ->> 'name' as name, coalesce(s.v ->> 'kind', 'internal')::public.span_kind as kind,
           coalesce(s.v ->> 'status', 'unset')::public.span_status as status, s.v ->> 'status_message' as status_message,
           s.v ->> 'service' as service, s.v ->> 'scope' as scope,
           private.unix_ns(s.v ->> 'start_ns') as started_at, private.unix_ns(s.v ->> 'end_ns') as ended_at,
           s.v ->> 'model' as model, s.v ->> 'provider' as provider,
           (s.v ->> 'input_tokens')::integer as input_tokens, (s.v ->> 'output_tokens')::integer as output_tokens,
           (s.v ->> 'cost_usd')::numeric as cost_usd,
           coalesce(nullif(s.v -> 'attributes', 'null'), '{}') as attributes,
           coalesce(nullif(s.v -> 'resource', 'null'), '{}') as resource,
           case when jsonb_typeof(s.v -> 'events') = 'array' then s.v -> 'events' else '[]' end as events,
           case when trusted then coalesce((s.v ->> 'owner_id')::uuid, default_owner) else default_owner end as owner_id
      from jsonb_array_elements(ingest_spans.spans) with ordinality s(v, n)),
  -- Each model's price looked up once per batch, not once per span.
  priced as (
    select m.model, p.input_price_per_mtok, p.output_price_per_mtok
      from (select distinct i.model from input i where i.model is not null) m
      cross join lateral private.model_price(m.model) p),
  tr as (
    select distinct on (i.owner_id, i.trace_id) i.owner_id, i.trace_id, i.name, i.span_id, i.parent_span_id, i.service, i.resource,
           min(i.started_at) over w as started_at, max(i.ended_at) over w as ended_at
      from input i
    window w as (partition by i.owner_id, i.trace_id)
     order by i.owner_id, i.trace_id, (i.parent_span_id is null) desc, i.started_at, i.n),
  t as (
    insert into public.traces as t (trace_id, owner_id, source, service, name, root_span_id, started_at, ended_at, attributes)
    select tr.trace_id, tr.owner_id, src, tr.service, tr.name, case when tr.parent_span_id is null then tr.span_id end,
           tr.started_at, tr.ended_at, tr.resource
      from tr
    on conflict on constraint traces_owner_trace_id_key do update set updated_at = now()
    returning t.id, t.owner_id, t.trace_id),
  s as (
    insert into public.spans as sp (trace, owner_id, span_id, parent_span_id, name, kind, status, status_message, service, scope,
                                    started_at, ended_at, model, provider, input_tokens, output_tokens, cost_usd, attributes)
    select t.id, i.owner_id, i.span_id, i.parent_span_id, i.name, i.kind, i.status, i.status_message, i.service, i.scope,
           i.started_at, i.ended_at, i.model, i.provider, i.input_tokens, i.output_tokens,
           coalesce(i.cost_usd, case when i.input_tokens is not null or i.output_tokens is not null then
             round((coalesce(i.input_tokens, 0) * p.input_price_per_mtok + coalesce(i.output_tokens, 0) * p.output_price_per_mtok)
                   / 1000000, 8) end),
           i.attributes
      from input i
      join t on t.trace_id = i.trace_id and t.owner_id is not distinct from i.owner_id
      left join priced p on p.model = i.model
     order by i.n
    on conflict on constraint spans_trace_span_id_key do nothing
    returning sp.id, sp.trace, sp.owner_id, sp.span_id, sp.parent_span_id, sp.name, sp.status, sp.service, sp.started_at, sp.ended_at,
              sp.model, sp.input_tokens, sp.output_tokens, sp.cost_usd),
  e as (
    insert into public.events (trace, span, owner_id, name, occurred_at, attributes)
    select s.trace, s.id, s.owner_id, ev ->> 'name', private.unix_ns(ev ->> 'time_ns'), coalesce(nullif(ev -> 'attributes', 'null'), '{}')
      -- Only the spans that have events, each span's first occurrence in the input; joined, not looked up
      -- per span (a lookup per stored span reads the whole input each time).
      from (select distinct on (i.owner_id, i.trace_id, i.span_id) i.owner_id, i.trace_id, i.span_id, i.events
              from input i
             where jsonb_array_length(i.events) > 0
             order by i.owner_id, i.trace_id, i.span_id, i.n) i
      join t on t.trace_id = i.trace_id and t.owner_id is not distinct from i.owner_id
      join s on s.trace = t.id and s.span_id = i.span_id
      cross join jsonb_array_elements(i.events) ev
    returning 1)
  select (select count(*) from t), (select count(*) from s), (select count(*) from e),
         (select coalesce(jsonb_agg(a), '[]') from (
            select s.trace, count(*) as spans, count(*) filter (where s.status = 'error') as errors,
                   coalesce(sum(s.input_tokens), 0) as input_tokens, coalesce(sum(s.output_tokens), 0) as output_tokens,
                   coalesce(sum(s.cost_usd), 0) as cost_usd, min(s.started_at) as started_at, max(s.ended_at) as ended_at,
                   (array_agg(s.name order by s.started_at) filter (where s.parent_span_id is null))[1] as root_name,
                   (array_agg(s.span_id order by s.started_at) filter (where s.parent_span_id is null))[1] as root_span_id,
                   (array_agg(s.service order by s.started_at) filter (where s.parent_span_id is null))[1] as root_service,
                   (array_agg(s.status order by s.started_at) filter (where s.parent_span_id is null))[1] as root_status,
                   (array_agg(s.service order by s.started_at) filter (where s.service is not null))[1] as any_service,
                   coalesce(array_agg(distinct s.model) filter (where s.model is not null), '{}') as models
              from s group by s.trace) a),
         (select coalesce(jsonb_agg(u), '[]') from (
            select s.owner_id, coalesce(sum(s.input_tokens), 0) as input_tokens, coalesce(sum(s.output_tokens), 0) as output_tokens,
                   coalesce(sum(s.cost_usd), 0) as cost_usd
              from s where s.owner_id is not null group by s.owner_id) u)
    into n_traces, n_spans, n_events, aggs, usage;

  update public.traces t
     set span_count = t.span_count + a.spans,
         error_count = t.error_count + a.errors,
         input_tokens = t.input_tokens + a.input_tokens,
         output_tokens = t.output_tokens + a.output_tokens,
         cost_usd = t.cost_usd + a.cost_usd,
         started_at = least(t.started_at, a.started_at),
         ended_at = greatest(t.ended_at, a.ended_at),
         name = coalesce(a.root_name, t.name),
         root_span_id = coalesce(a.root_span_id, t.root_span_id),
         service = coalesce(a.root_service, t.service, a.any_service),
         status = case when t.error_count + a.errors > 0 then 'error'::public.span_status
                       when a.root_status is not null then a.root_status else t.status end,
         models = (select coalesce(array_agg(distinct m order by m), '{}') from unnest(t.models || a.models) m)
    from jsonb_to_recordset(aggs) as a(trace uuid, spans integer, errors integer, input_tokens bigint, output_tokens bigint,
                                       cost_usd numeric, started_at timestamptz, ended_at timestamptz, root_name text,
                                       root_span_id text, root_service text, root_status public.span_status, any_service text,
                                       models text[])
   where t.id = a.trace;

  insert into public.usage_counters as c (owner_id, window_seconds, window_start, input_tokens, output_tokens, cost_usd)
  select u.owner_id, q.window_seconds, private.window_start(clock_timestamp(), q.window_seconds), u.input_tokens, u.output_tokens,
         u.cost_usd
    from jsonb_to_recordset(usage) as u(owner_id uuid, input_tokens bigint, output_tokens bigint, cost_usd numeric)
    cross join private.quota_settings() q
   where u.input_tokens + u.output_tokens > 0 or u.cost_usd > 0
  on conflict on constraint usage_counters_pkey do update
    set input_tokens = c.input_tokens + excluded.input_tokens,
        output_tokens = c.output_tokens + excluded.output_tokens,
        cost_usd = c.cost_usd + excluded.cost_usd,
        updated_at = now();

  -- Last, so the counter row is locked only for the end of this transaction (see private.hit_limit).
  if not trusted then
    perform private.hit_limit('otlp');
  end if;
  return jsonb_build_object('traces', n_traces, 'spans', n_spans, 'events', n_events, 'duplicates', total - n_spans);
end
$$;
revoke all on function private.ingest_spans(jsonb, uuid, text) from public, anon;
grant execute on function private.ingest_spans(jsonb, uuid, text) to authenticated, service_role;

create or replace function public.ingest_spans(spans jsonb, owner_id uuid default null, source text default 'otlp')
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.ingest_spans(ingest_spans.spans, ingest_spans.owner_id, ingest_spans.source)
$$;
comment on function public.ingest_spans(jsonb, uuid, text) is
  'Stores spans (OpenTelemetry''s model, as JSON) into traces, spans and events, with tokens and cost; idempotent per span.';
revoke all on function public.ingest_spans(jsonb, uuid, text) from public, anon;
grant execute on function public.ingest_spans(jsonb, uuid, text) to authenticated, service_role;
