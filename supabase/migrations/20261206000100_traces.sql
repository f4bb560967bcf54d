-- Observability storage in OpenTelemetry's shape: `traces` (one row per trace and owner, with totals),
-- `spans` (parent, kind, start/end, status, model, tokens in/out, cost, attributes) and `events` (span
-- events: exceptions, log lines). Two writers feed them through public.ingest_spans (a later migration):
-- the Edge Functions' own tracing (supabase/functions/_shared/tracing.ts) and the `otlp` function, which
-- accepts an agent's OpenTelemetry exports (OTLP/HTTP, JSON or protobuf).
--
-- Who sees what: a trace belongs to the user it was recorded for (owner_id), who may read it with its spans
-- and events; traces recorded without a user (the embed worker, exports made with the service key) have no
-- owner and only service_role sees them. Nobody writes these tables directly (clients hold select only).
-- A trace id is unique per owner, not globally: two tenants sending the same OTLP trace id get two traces,
-- so nobody can attach spans to another tenant's trace.
--
-- Costs come from the prices of the model a span names: public.models (chat, USD per million input and
-- output tokens) and, added here, public.embedding_models.input_price_per_mtok.

alter table public.embedding_models
  add column input_price_per_mtok numeric(12, 6) not null default 0
    constraint embedding_models_input_price_non_negative check (input_price_per_mtok >= 0);
comment on column public.embedding_models.input_price_per_mtok is
  'USD per million input tokens, for the cost of embedding calls in traces (0: free or unknown).';

create type public.span_kind as enum ('internal', 'server', 'client', 'producer', 'consumer');
create type public.span_status as enum ('unset', 'ok', 'error');

create table public.traces (
  id uuid primary key default gen_random_uuid(),
  -- The OpenTelemetry trace id: 32 lower-case hex digits, not all zeros.
  trace_id text not null
    constraint traces_trace_id_format check (trace_id ~ '^[0-9a-f]{32}$' and trace_id <> repeat('0', 32)),
  owner_id uuid references auth.users (id) on delete cascade,
  -- 'function': recorded by one of this project's Edge Functions; 'otlp': exported by a client.
  source text not null default 'otlp'
    constraint traces_source_known check (source in ('function', 'otlp')),
  -- service.name of the root span's resource (the function's name for function traces).
  service text,
  -- The root span's name (until the root arrives: the earliest span's).
  name text not null,
  root_span_id text,
  status public.span_status not null default 'unset',
  started_at timestamptz not null,
  ended_at timestamptz not null,
  duration_ms double precision generated always as ((extract(epoch from ended_at - started_at) * 1000)::double precision) stored,
  span_count integer not null default 0,
  error_count integer not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cost_usd numeric(16, 8) not null default 0,
  -- Models the spans of this trace called.
  models text[] not null default '{}',
  -- Resource attributes of the root span (service.name, telemetry.sdk.*, …).
  attributes jsonb not null default '{}'
    constraint traces_attributes_is_object check (jsonb_typeof(attributes) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint traces_time_order check (ended_at >= started_at),
  constraint traces_owner_trace_id_key unique nulls not distinct (owner_id, trace_id)
);
comment on table public.traces is
  'One row per trace (and owner): root span name, service, status, duration, span count, tokens and cost.';
create index traces_started_at_idx on public.traces (started_at desc);
create index traces_owner_started_at_idx on public.traces (owner_id, started_at desc);

create table public.spans (
  id bigint generated always as identity primary key,
  trace uuid not null references public.traces (id) on delete cascade,
  -- The trace's owner, kept on the span for row level security.
  owner_id uuid references auth.users (id) on delete cascade,
  span_id text not null
    constraint spans_span_id_format check (span_id ~ '^[0-9a-f]{16}$' and span_id <> repeat('0', 16)),
  parent_span_id text
    constraint spans_parent_span_id_format check (parent_span_id ~ '^[0-9a-f]{16}$'),
  name text not null
    constraint spans_name_length check (char_length(name) between 1 and 1000),
  kind public.span_kind not null default 'internal',
  status public.span_status not null default 'unset',
  status_message text,
  -- service.name of the span's resource and its instrumentation scope (e.g. "ai", "agent-memory").
  service text,
  scope text,
  started_at timestamptz not null,
  ended_at timestamptz not null,
  duration_ms double precision generated always as ((extract(epoch from ended_at - started_at) * 1000)::double precision) stored,
  -- For model calls (GenAI semantic conventions, or the legacy llm.* / AI SDK ai.* attributes).
  model text,
  provider text,
  input_tokens integer
    constraint spans_input_tokens_non_negative check (input_tokens >= 0),
  output_tokens integer
    constraint spans_output_tokens_non_negative check (output_tokens >= 0),
  cost_usd numeric(16, 8)
    constraint spans_cost_non_negative check (cost_usd >= 0),
  attributes jsonb not null default '{}'
    constraint spans_attributes_is_object check (jsonb_typeof(attributes) = 'object'),
  created_at timestamptz not null default now(),
  constraint spans_time_order check (ended_at >= started_at),
  constraint spans_trace_span_id_key unique (trace, span_id)
);
comment on table public.spans is
  'Spans of a trace: parent, name, kind, start/end, status, model, tokens in/out, cost (USD) and attributes.';
create index spans_owner_started_at_idx on public.spans (owner_id, started_at desc);
create index spans_started_at_idx on public.spans (started_at);
create index spans_model_started_at_idx on public.spans (model, started_at) where model is not null;

create table public.events (
  id bigint generated always as identity primary key,
  trace uuid not null references public.traces (id) on delete cascade,
  span bigint not null references public.spans (id) on delete cascade,
  owner_id uuid references auth.users (id) on delete cascade,
  name text not null
    constraint events_name_length check (char_length(name) between 1 and 1000),
  occurred_at timestamptz not null,
  attributes jsonb not null default '{}'
    constraint events_attributes_is_object check (jsonb_typeof(attributes) = 'object')
);
comment on table public.events is 'Span events (exceptions, log lines) with their time and attributes.';
create index events_span_idx on public.events (span);
create index events_trace_idx on public.events (trace);

create trigger traces_touch_updated_at before update on public.traces
  for each row execute function private.touch_updated_at();

alter table public.traces enable row level security;
alter table public.spans enable row level security;
alter table public.events enable row level security;

create policy "owners can read their traces" on public.traces
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can read their spans" on public.spans
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can read their span events" on public.events
  for select to authenticated using (owner_id = (select auth.uid()));

revoke all on public.traces, public.spans, public.events from anon;
revoke insert, update, delete, truncate, references, trigger on public.traces, public.spans, public.events from authenticated;
grant select on public.traces, public.spans, public.events to authenticated;
grant all on public.traces, public.spans, public.events to service_role;

-- The dashboard follows new traces live (postgres_changes on traces); spans are not published, so a busy
-- OTLP export costs one change per trace, not one per span.
alter publication supabase_realtime add table public.traces;
