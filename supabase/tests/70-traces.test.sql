-- traces, spans and events: what ingest_spans stores (owner rules, totals, cost from model prices, a root that
-- arrives in a later batch, idempotent re-sends, tenants with the same trace id), what it refuses (naming the
-- span and field, writing nothing), and row level security (owners read their own, nobody writes directly).
begin;
\ir helpers/test_helpers.psql
select plan(34);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- A span as ingest_spans takes it: trace t, span s, parent p (or null), ms offsets from a fixed start.
create function pg_temp.span(t text, s text, p text, name text, start_ms integer, end_ms integer, extra jsonb default '{}')
returns jsonb language sql as $$
  select jsonb_build_object('trace_id', repeat(t, 32), 'span_id', repeat(s, 16), 'parent_span_id', case when p is null then null else repeat(p, 16) end,
                            'name', name, 'start_ns', (1700000000000 + start_ms)::text || '000000',
                            'end_ns', (1700000000000 + end_ms)::text || '000000') || extra
$$;

-- Alice exports two spans of trace a: a model call (a dated snapshot of a priced model) and a tool call, the root
-- not yet there.
select tests.authenticate_as('alice');
select is(
  public.ingest_spans(jsonb_build_array(
    pg_temp.span('a', '2', '1', 'chat gpt-4o-mini', 10, 60, '{"kind": "client", "model": "gpt-4o-mini-2024-07-18", "input_tokens": 1000, "output_tokens": 200}'),
    pg_temp.span('a', '3', '1', 'tool.lookup', 61, 70, '{"status": "error", "status_message": "not found", "events": [{"name": "exception", "time_ns": "1700000000065000000", "attributes": {"exception.message": "not found"}}]}'))),
  '{"traces": 1, "spans": 2, "events": 1, "duplicates": 0}'::jsonb, 'ingest_spans stores two spans and an event of one trace');
select results_eq(
  $$ select owner_id, source, name, span_count, error_count, input_tokens, output_tokens, cost_usd, status::text, duration_ms, models
       from public.traces where trace_id = repeat('a', 32) $$,
  $$ values (tests.get_supabase_uid('alice'), 'otlp', 'chat gpt-4o-mini', 2, 1, 1000::bigint, 200::bigint, 0.00027000::numeric(16, 8),
             'error', 60::double precision, array['gpt-4o-mini-2024-07-18']) $$,
  'the trace is Alice''s, named after its earliest span until the root arrives, with totals and cost');
select is((select cost_usd from public.spans where name = 'chat gpt-4o-mini'), 0.00027000::numeric(16, 8),
  'a span''s cost comes from the prices of the model it names: 1000 × 0.15 + 200 × 0.60 USD per million');
select is((select cost_usd from public.spans where name = 'tool.lookup'), null, 'a span without a model has no cost');
select results_eq($$ select e.name, e.attributes ->> 'exception.message', s.name from public.events e join public.spans s on s.id = e.span $$,
  $$ values ('exception', 'not found', 'tool.lookup') $$, 'the event belongs to its span');

-- The root arrives in a second batch, with a re-sent span.
select is(
  public.ingest_spans(jsonb_build_array(
    pg_temp.span('a', '1', null, 'agent.run', 0, 100, '{"kind": "server", "service": "agent", "status": "ok"}'),
    pg_temp.span('a', '2', '1', 'chat gpt-4o-mini', 10, 60, '{"kind": "client", "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 200}'))),
  '{"traces": 1, "spans": 1, "events": 0, "duplicates": 1}'::jsonb, 'a re-sent span is a duplicate, the root is new');
select results_eq(
  $$ select name, service, root_span_id, span_count, input_tokens, status::text, duration_ms from public.traces where trace_id = repeat('a', 32) $$,
  $$ values ('agent.run', 'agent', repeat('1', 16), 3, 1000::bigint, 'error', 100::double precision) $$,
  'the root names the trace and stretches it; the duplicate is not counted twice; an error span keeps it failed');
select is((select input_tokens + output_tokens from public.usage_counters where owner_id = tests.get_supabase_uid('alice')), 1200::bigint,
  'the tokens count once towards Alice''s quota window');

-- Row level security.
select tests.authenticate_as('bob');
select is_empty($$ select 1 from public.traces $$, 'Bob cannot read Alice''s traces');
select is_empty($$ select 1 from public.spans $$, 'Bob cannot read Alice''s spans');
select is_empty($$ select 1 from public.events $$, 'Bob cannot read Alice''s span events');
-- The same trace id from Bob is another trace: he cannot add spans to Alice's.
select is((public.ingest_spans(jsonb_build_array(pg_temp.span('a', '9', '1', 'bob span', 0, 5))) ->> 'spans')::int, 1,
  'Bob may send a span with Alice''s trace id');
select is((select count(*)::int from public.traces where trace_id = repeat('a', 32)), 1, 'Bob sees one trace with that id: his own');
select tests.authenticate_as('alice');
select is((select span_count from public.traces where trace_id = repeat('a', 32)), 3, 'Alice''s trace did not get Bob''s span');
select is((select count(*)::int from public.spans), 3, 'Alice reads her three spans');
select throws_ok($$ insert into public.traces (trace_id, name, started_at, ended_at) values (repeat('b', 32), 'x', now(), now()) $$,
  '42501', null, 'signed-in users cannot write traces directly');
select throws_ok($$ update public.spans set cost_usd = 0 $$, '42501', null, 'signed-in users cannot change spans');
select throws_ok($$ delete from public.events $$, '42501', null, 'signed-in users cannot delete span events');
select throws_ok($$ select public.ingest_spans('[]', tests.get_supabase_uid('bob')) $$, '42501',
  'owner_id must be the caller''s own id (or omitted)', 'a user cannot store spans for someone else');
select throws_ok($$ select public.ingest_spans(jsonb_build_array(pg_temp.span('c', '1', null, 'x', 0, 1, jsonb_build_object('owner_id', tests.get_supabase_uid('bob'))))) $$,
  '22023', 'spans[0]: owner_id may only be given with the service role', 'nor name an owner per span');
select tests.clear_authentication();
select throws_ok($$ select public.ingest_spans('[]') $$, '42501', null, 'anon cannot store spans');

-- Bad input: the message names the span and field, and nothing of the batch is written.
select tests.authenticate_as('alice');
select throws_ok($$ select public.ingest_spans(jsonb_build_array(pg_temp.span('d', '1', null, 'fine', 0, 1), '{"trace_id": "xyz"}'::jsonb)) $$,
  '22023', 'spans[1]: trace_id must be 32 lower-case hex digits, not all zeros', 'a bad trace id is refused by index');
select throws_ok($$ select public.ingest_spans(jsonb_build_array(pg_temp.span('d', '1', null, 'x', 5, 1))) $$,
  '22023', 'spans[0]: end_ns is before start_ns', 'a span that ends before it starts is refused');
select throws_ok($$ select public.ingest_spans(jsonb_build_array(pg_temp.span('d', '1', null, 'x', 0, 1, '{"input_tokens": -3}'))) $$,
  '22023', 'spans[0]: input_tokens must be null or a whole number from 0 to 2147483647', 'negative tokens are refused');
select throws_ok($$ select public.ingest_spans(jsonb_build_array(pg_temp.span('d', '1', null, 'x', 0, 1, '{"kind": "sideways"}'))) $$,
  '22023', 'spans[0]: kind must be internal, server, client, producer or consumer', 'an unknown kind is refused');
select throws_ok($$ select public.ingest_spans(jsonb_build_array(pg_temp.span('d', '1', null, 'x', 0, 1,
    '{"events": [{"name": "ok", "time_ns": "1700000000000000000"}, {"name": "no time"}]}'))) $$,
  '22023', 'spans[0]: each event needs a name (1 to 1000 characters), time_ns (Unix nanoseconds) and optional attributes object',
  'an event without its time is refused');
select throws_ok($$ select public.ingest_spans('{"spans": []}') $$, '22023', 'spans must be a JSON array of spans', 'spans must be an array');
select throws_ok($$ select public.ingest_spans((select jsonb_agg(pg_temp.span('e', '1', null, 'x', 0, 1)) from generate_series(1, 10001))) $$,
  '22023', 'spans: at most 10000 spans per call, got 10001', 'a batch is at most 10,000 spans');
select is((select count(*)::int from public.traces where trace_id = repeat('d', 32)), 0, 'nothing of a refused batch was written');

-- service_role names the owner (or none) and may record function traces.
select tests.authenticate_as_service_role();
select is((public.ingest_spans(jsonb_build_array(pg_temp.span('f', '1', null, 'POST /search', 0, 40)), tests.get_supabase_uid('bob'), 'function') ->> 'spans')::int, 1,
  'service_role stores a function trace for Bob');
select is((public.ingest_spans(jsonb_build_array(pg_temp.span('f', '2', null, 'POST /embed', 0, 40)), null, 'function') ->> 'spans')::int, 1,
  'and one without an owner');
select results_eq($$ select owner_id, source from public.traces where trace_id = repeat('f', 32) order by owner_id nulls last $$,
  $$ values (tests.get_supabase_uid('bob'), 'function'), (null::uuid, 'function') $$, 'two traces: Bob''s and the project''s');
select tests.authenticate_as('bob');
select is((select count(*)::int from public.traces where source = 'function'), 1, 'Bob reads his function trace, not the ownerless one');
select tests.authenticate_as_service_role();
select is((select count(*)::int from public.traces), 4, 'service_role reads every trace');

select * from finish();
rollback;
