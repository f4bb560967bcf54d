-- The platform the app stands on: extensions in their Supabase schemas, the private/util schemas closed to
-- clients, the pg_cron and pg_net SQL contracts, Vault, and util.invoke_edge_function authenticating with
-- the service key from Vault rather than the caller's (possibly absent) request headers.
begin;
\ir helpers/test_helpers.psql
select plan(35);

-- extensions and schemas
select has_extension('vector', 'pgvector is installed');
select is((select extnamespace::regnamespace::text from pg_extension where extname = 'vector'), 'extensions',
  'pgvector lives in the extensions schema');
select has_extension('pgmq', 'pgmq is installed');
select has_schema('private', 'schema private exists');
select has_schema('util', 'schema util exists');
select ok(not has_schema_privilege('anon', 'private', 'usage'), 'anon cannot use schema private');
select ok(not has_schema_privilege('authenticated', 'util', 'usage'), 'authenticated cannot use schema util');
select ok(not has_function_privilege('authenticated', 'util.invoke_edge_function(text, jsonb, integer)', 'execute'),
  'authenticated cannot call util.invoke_edge_function');
select ok(exists (select from pg_publication where pubname = 'supabase_realtime'), 'the supabase_realtime publication exists');

-- Vault
select lives_ok($$ select vault.create_secret('https://project.example', 'project_url') $$,
  'a Vault secret can be created');
select isnt((select secret from vault.secrets where name = 'project_url'), 'https://project.example',
  'the secret is stored encrypted');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'project_url'), 'https://project.example',
  'vault.decrypted_secrets returns the plain value');
select ok(not has_table_privilege('authenticated', 'vault.decrypted_secrets', 'select'),
  'authenticated cannot read decrypted secrets');

-- util.invoke_edge_function
select is(util.project_url(), 'https://project.example', 'util.project_url() reads the project URL from Vault');
select throws_ok($$ select util.invoke_edge_function('embed', '{}') $$, 'P0002', 'Vault secret "service_role_key" is not set',
  'invoking a function without the service key in Vault is refused');
select lives_ok($$ select vault.create_secret('service-key-from-vault', 'service_role_key') $$,
  'the service key can be stored in Vault');
select is(nullif(current_setting('request.headers', true), ''), null, 'no request headers are set, as in a cron job');
select ok(util.invoke_edge_function('embed', '{"batch": 1}', 1234) > 0, 'util.invoke_edge_function returns a pg_net request id');
select results_eq(
  $$ select url, method::text, headers ->> 'Authorization', convert_from(body, 'UTF8')::jsonb, timeout_milliseconds
       from net.http_request_queue order by id desc limit 1 $$,
  $$ values ('https://project.example/functions/v1/embed', 'POST', 'Bearer service-key-from-vault', '{"batch": 1}'::jsonb, 1234) $$,
  'the queued request targets /functions/v1/<name> with the Vault service key, the body and the timeout');
select throws_ok($$ select util.invoke_edge_function('../etc', '{}') $$, '22023', null,
  'a function name with path characters is refused');

-- pg_net contract
select ok(net.http_get('http://127.0.0.1:9/x', params => '{"q": "a b"}') > 0, 'net.http_get queues a request');
select is((select url from net.http_request_queue order by id desc limit 1), 'http://127.0.0.1:9/x?q=a%20b',
  'query parameters are URL-encoded onto the URL');
-- As pg_net 0.19 (supabase/pg_net sql/pg_net.sql): any URL string is queued; curl's refusal lands in
-- net._http_response.error_msg later (tests/net.test.ts).
select ok(net.http_post('ftp://nowhere', '{}') > 0, 'a non-HTTP URL is queued like any other');
select throws_ok($$ select net.http_post('http://127.0.0.1:9/x', '{}', headers => '{"Content-Type": "text/plain"}') $$, 'P0001',
  'Content-Type header must be "application/json"', 'http_post refuses a Content-Type other than application/json');
select ok(net.http_post('http://127.0.0.1:9/x', null) > 0, 'a null body is queued (and sent without a body)');
select throws_ok($$ insert into net.http_request_queue (method, url, timeout_milliseconds) values ('PUT', 'http://x', 1) $$, '23514', null,
  'net.http_method is a domain that allows GET, POST and DELETE only');
select results_eq($$ select format_type(atttypid, atttypmod), attnotnull from pg_attribute
                     where attrelid = 'net.http_request_queue'::regclass and attnum > 0 order by attnum $$,
  $$ values ('bigint', true), ('net.http_method', true), ('text', true), ('jsonb', false), ('bytea', false), ('integer', true) $$,
  'net.http_request_queue has pg_net''s columns: id, method, url, headers, body, timeout_milliseconds');
select ok(net.http_delete('http://127.0.0.1:9/items/1', timeout_milliseconds => 250) > 0, 'net.http_delete queues a request');
select results_eq($$ select method::text, url, timeout_milliseconds from net.http_request_queue order by id desc limit 1 $$,
  $$ values ('DELETE', 'http://127.0.0.1:9/items/1', 250) $$, 'the DELETE request keeps its URL and timeout');

-- pg_cron contract
select ok(cron.schedule('test-job', '*/5 * * * *', 'select 1') > 0, 'cron.schedule returns a job id');
select is(cron.schedule('test-job', '10 seconds', 'select 2'), (select jobid from cron.job where jobname = 'test-job'),
  'scheduling the same name again replaces the job');
select results_eq($$ select schedule, command from cron.job where jobname = 'test-job' $$,
  $$ values ('10 seconds', 'select 2') $$, 'the replaced job has the new schedule and command');
select throws_ok($$ select cron.schedule('bad', '61 seconds', 'select 1') $$, '22023', 'invalid schedule: 61 seconds',
  'an invalid schedule is refused');
select ok(cron.unschedule('test-job'), 'cron.unschedule removes a job by name');
select results_eq($$ select schedule, command like 'delete from cron.job_run_details where end_time < now() - interval%' from cron.job
                      where jobname = 'purge-cron-history' $$,
  $$ values ('17 3 * * *', true) $$, 'a nightly job keeps pg_cron''s run history bounded');

select * from finish();
rollback;
