-- Rate limits and quotas: rate_limit_hit (fixed windows, per-user keys, project keys for service_role, range
-- errors, reserved prefixes), check_limits (configured rules, PostgREST's 429 error with Retry-After, quotas
-- from the caller's traces), the settings' validation and the rate_limits view.
begin;
\ir helpers/test_helpers.psql
select plan(27);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

select is(private.window_start('2026-12-01 10:00:59.9+00', 60), '2026-12-01 10:00:00+00'::timestamptz,
  'a 60 s window starts at the full minute');
select is(private.window_start('2026-12-01 10:00:59.9+00', 86400), '2026-12-01 00:00:00+00'::timestamptz,
  'a day window starts at midnight UTC');

select tests.authenticate_as('alice');
select results_eq(
  $$ select (r).allowed, (r).hits, (r).remaining, (r)."limit", (r).window_seconds from (
       select public.rate_limit_hit('app:chat', 3, 3600) as r from generate_series(1, 5)) x order by (r).hits $$,
  $$ values (true, 1, 2, 3, 3600), (true, 2, 1, 3, 3600), (true, 3, 0, 3, 3600), (false, 4, 0, 3, 3600), (false, 5, 0, 3, 3600) $$,
  'five hits on a limit of 3: three allowed, the others refused, every hit counted');
select ok((select (public.rate_limit_hit('app:chat', 3, 3600)).retry_after_seconds between 1 and 3600),
  'a refused hit says how many seconds until its window ends');
select is((public.rate_limit_hit('app:chat', 3, 86400)).hits, 1, 'calling a key with another window restarts its count');
select is((select "limit" from public.rate_limit_counters where key = 'app:chat'), 3, 'the counter keeps the limit it was called with');
select tests.authenticate_as('bob');
-- Day windows here (and below): a window that ended between two statements would make the counts flaky.
select is((public.rate_limit_hit('app:chat', 3, 86400)).hits, 1, 'Bob''s app:chat is his own counter');
select is_empty($$ select 1 from public.rate_limit_counters where owner_id <> (select auth.uid()) $$, 'Bob cannot read Alice''s counters');
select throws_ok($$ update public.rate_limit_counters set hits = 0 $$, '42501', null, 'users cannot reset a counter directly');
select tests.authenticate_as_service_role();
select is((public.rate_limit_hit('app:chat', 3, 86400)).hits, 1, 'service_role''s keys are project-wide, apart from the users''');
select is((select owner_id from public.rate_limit_counters where key = 'app:chat' and owner_id is null), null, 'a project-wide counter has no owner');

select tests.authenticate_as('alice');
select throws_ok($$ select public.rate_limit_hit('', 1, 60) $$, '22023',
  'key must be 1 to 200 characters of letters, digits and : . _ / @ -, starting with a letter or digit, got ''''', 'an empty key is refused');
select throws_ok($$ select public.rate_limit_hit('app:x', 1, 0) $$, '22023', 'window_seconds must be a whole number from 1 to 2592000 (30 days), got 0',
  'a window of 0 s is refused');
select throws_ok($$ select public.rate_limit_hit('app:x', 1, 2592001) $$, '22023', 'window_seconds must be a whole number from 1 to 2592000 (30 days), got 2592001',
  'a window over 30 days is refused');
select throws_ok($$ select public.rate_limit_hit('app:x', null, 60) $$, '22023', 'limit must be a whole number from 1 to 1000000000, got null',
  'a null limit is refused');
select throws_ok($$ select public.rate_limit_hit('rule:search', 1000, 60) $$, '22023', 'key ''rule:search'': keys starting with rule: or quota: belong to the configured limits',
  'nobody can reset a configured limit''s counter through rate_limit_hit');
select tests.clear_authentication();
select throws_ok($$ select public.rate_limit_hit('app:x', 1, 60) $$, '42501', null, 'anon has no counters');

-- Configured rules, through check_limits: PostgREST's custom error, HTTP 429 with Retry-After.
select tests.authenticate_as_owner();
update public.settings set value = '{"limit": 2, "window_seconds": 86400}' where category = 'rate_limits' and key = 'search';
update public.settings set value = '{"limit": 120, "window_seconds": 86400}' where category = 'rate_limits' and key = 'ingest';
update public.settings set value = '{"limit": 600, "window_seconds": 86400}' where category = 'rate_limits' and key = 'otlp';
select tests.authenticate_as('alice');
select is((public.check_limits('search')).hits, 1, 'check_limits counts a hit on the rule');
select is((public.check_limits('search')).remaining, 0, 'the second of two is the last');
select throws_ok($$ select public.check_limits('search') $$, 'PGRST', null, 'the third is refused with SQLSTATE PGRST');
create function pg_temp.error_of(sql text) returns jsonb language plpgsql as $$
begin
  execute sql;
  return null;
exception when sqlstate 'PGRST' then
  declare m text; d text;
  begin
    get stacked diagnostics m = message_text, d = pg_exception_detail;
    return jsonb_build_object('message', m::jsonb, 'detail', d::jsonb);
  end;
end
$$;
select results_eq(
  $$ select e #>> '{message,code}', e #>> '{message,message}', (e #>> '{detail,status}')::int,
            (e #>> '{detail,headers,Retry-After}')::int = ((e #>> '{message,details}')::jsonb ->> 'retry_after_seconds')::int
       from pg_temp.error_of('select public.check_limits(''search'')') e $$,
  $$ values ('PT429', 'rate limit search exceeded: 2 calls per 86400 s', 429, true) $$,
  'the error is PostgREST''s: code PT429, status 429, a Retry-After header and the same wait in details');
select throws_ok($$ select public.check_limits('no_such_rule') $$, '22023', 'unknown rate limit rule ''no_such_rule''', 'an unknown rule is refused');
select tests.authenticate_as_service_role();
select is(public.check_limits('search'), null, 'service_role is not limited');

-- Quotas count the tokens of the caller's traces in the current window.
select tests.authenticate_as_owner();
update public.settings set value = '1000' where category = 'quotas' and key = 'tokens_per_day';
select tests.authenticate_as('bob');
select lives_ok($$ select public.check_limits('ingest') $$, 'under the quota, calls go through');
select public.ingest_spans(jsonb_build_array(jsonb_build_object('trace_id', repeat('b', 32), 'span_id', repeat('1', 16), 'name', 'chat',
  'start_ns', '1700000000000000000', 'end_ns', '1700000000000000000', 'model', 'gpt-4o', 'input_tokens', 900, 'output_tokens', 150)));
select results_eq(
  $$ select e #>> '{message,code}', e #>> '{message,message}' from pg_temp.error_of('select public.check_limits(''ingest'')') e $$,
  $$ values ('PT429', 'token quota used up: 1050 of 1000 tokens in this 86400 s window') $$,
  'once the traces used the quota, check_limits answers 429');
select results_eq(
  $$ select kind, key, "limit", used, remaining from public.rate_limits order by kind, key $$,
  $$ values ('quota', 'quota:tokens_per_day', 1000::numeric, 1050::numeric, 0::numeric),
            ('rate', 'app:chat', 3::numeric, 1::numeric, 2::numeric), ('rate', 'rule:ingest', 120::numeric, 1::numeric, 119::numeric),
            ('rate', 'rule:otlp', 600::numeric, 1::numeric, 599::numeric) $$,
  'rate_limits shows Bob his counters (ingest_spans counts towards otlp) and his quota, with what is used and what remains');

select tests.authenticate_as_owner();
select throws_ok($$ update public.settings set value = '{"limit": 0, "window_seconds": 60}' where category = 'rate_limits' and key = 'search' $$,
  '22023', null, 'a limit of 0 is refused when it is set, not when it is used');

select * from finish();
rollback;
