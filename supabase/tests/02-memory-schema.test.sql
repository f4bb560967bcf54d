-- The memory core's schema: tables and their key columns, the types the API returns, the indexes behind
-- every query, the triggers that keep messages ordered and owned, who may execute the API, the realtime
-- publication and the TTL cron job.
begin;
\ir helpers/test_helpers.psql
select plan(61);

-- tables
select has_table('public', 'memory_threads', 'table memory_threads exists');
select has_table('public', 'messages', 'table messages exists');
select has_table('public', 'agent_states', 'table agent_states exists');
select has_table('public', 'models', 'table models exists');
select has_table('public', 'agents', 'table agents exists');
select has_table('public', 'tools', 'table tools exists');
select has_table('public', 'agent_tools', 'table agent_tools exists');
select has_table('public', 'settings', 'table settings exists');

-- key columns
select col_type_is('public', 'memory_threads', 'owner_id', 'uuid', 'memory_threads.owner_id is a uuid');
select col_default_is('public', 'memory_threads', 'owner_id', 'auth.uid()', 'memory_threads.owner_id defaults to the caller');
select col_type_is('public', 'memory_threads', 'expires_at', 'timestamp with time zone', 'memory_threads.expires_at is a timestamptz');
select col_type_is('public', 'memory_threads', 'summary_through', 'text', 'memory_threads.summary_through holds a message cursor');
select col_type_is('public', 'messages', 'role', 'message_role', 'messages.role is the message_role enum');
select enum_has_labels('public', 'message_role', array['system', 'user', 'assistant', 'tool'], 'message_role has the four chat roles');
select col_type_is('public', 'messages', 'token_count', 'integer', 'messages.token_count is an integer');
select col_type_is('public', 'messages', 'token_count_exact', 'boolean', 'messages.token_count_exact flags exact counts');
select col_not_null('public', 'messages', 'token_count', 'messages.token_count is never null');
select col_type_is('public', 'messages', 'fts', 'tsvector', 'messages.fts is a tsvector');
select is((select attgenerated from pg_attribute where attrelid = 'public.messages'::regclass and attname = 'fts'), 's',
  'messages.fts is a stored generated column');
select col_type_is('public', 'messages', 'tool_call_id', 'text', 'messages.tool_call_id is text');
select col_type_is('public', 'messages', 'tool_name', 'text', 'messages.tool_name is text');
select col_type_is('public', 'agent_states', 'version', 'integer', 'agent_states.version is an integer');
select col_is_pk('public', 'agent_states', array['thread_id', 'agent_id'], 'one agent state per thread and agent');
select col_is_pk('public', 'settings', array['category', 'key'], 'settings are keyed by category and key');
select col_type_is('public', 'models', 'input_price_per_mtok', 'numeric(12,6)', 'models carry input prices');
select col_type_is('public', 'models', 'output_price_per_mtok', 'numeric(12,6)', 'models carry output prices');
select fk_ok('public', 'messages', 'thread_id', 'public', 'memory_threads', 'id', 'messages reference their thread');
select fk_ok('public', 'agent_states', 'thread_id', 'public', 'memory_threads', 'id', 'agent states reference their thread');
select is((select confdeltype from pg_constraint where conrelid = 'public.messages'::regclass and contype = 'f'), 'c',
  'deleting a thread deletes its messages');
select is((select confdeltype from pg_constraint where conrelid = 'public.agent_states'::regclass and contype = 'f'), 'c',
  'deleting a thread deletes its agent states');

-- API return types
select has_type('public', 'memory_message', 'type memory_message exists');
select has_type('public', 'message_page', 'type message_page exists');
select has_type('public', 'thread_page', 'type thread_page exists');
select has_type('public', 'memory_context', 'type memory_context exists');
select has_type('public', 'agent_config', 'type agent_config exists');
select ok(not exists (select from pg_attribute where attrelid = 'public.memory_message'::regtype::oid::regclass and attname = 'fts')
          and exists (select from pg_attribute a join pg_type t on t.typrelid = a.attrelid
                       where t.typname = 'memory_message' and a.attname = 'cursor'),
  'memory_message leaves out fts and carries the message cursor');

-- indexes behind the queries
select has_index('public', 'messages', 'messages_thread_created_idx', array['thread_id', 'created_at', 'id'],
  'messages are indexed on (thread_id, created_at, id) for keyset pages and build_context');
select has_index('public', 'messages', 'messages_thread_system_idx', 'system messages have a partial index for build_context');
select is((select pg_get_expr(indpred, indrelid) from pg_index where indexrelid = 'public.messages_thread_system_idx'::regclass),
  '(role = ''system''::message_role)', 'the system-message index covers only system messages');
select has_index('public', 'messages', 'messages_fts_idx', 'messages.fts has a GIN index');
select has_index('public', 'memory_threads', 'memory_threads_owner_created_idx', 'threads are indexed per owner, newest first');
select has_index('public', 'memory_threads', 'memory_threads_owner_agent_created_idx', 'threads are indexed per owner and agent');
select has_index('public', 'memory_threads', 'memory_threads_metadata_idx', 'thread metadata has a GIN index');
select has_index('public', 'memory_threads', 'memory_threads_expires_at_idx', 'expiring threads are indexed for pruning');
select has_index('public', 'agent_tools', 'agent_tools_tool_id_idx', 'agent_tools.tool_id (a foreign key) is indexed');

-- triggers
select has_trigger('public', 'messages', 'messages_before_write', 'messages have the ordering/ownership trigger');
select has_trigger('public', 'messages', 'messages_after_insert', 'messages bump their thread once per statement');
select has_trigger('public', 'agent_states', 'agent_states_before_write', 'agent states have the versioning trigger');
select has_trigger('public', 'memory_threads', 'memory_threads_before_write', 'threads have the summary/updated_at trigger');

-- the API
select has_function('public', 'create_thread', array['text', 'text', 'jsonb', 'timestamp with time zone', 'uuid', 'uuid'], 'create_thread exists');
select has_function('public', 'list_threads', array['text', 'jsonb', 'integer', 'text'], 'list_threads exists');
select has_function('public', 'save_messages', array['uuid', 'json'], 'save_messages takes a json array');
select has_function('public', 'load_messages', array['uuid', 'integer', 'text', 'text'], 'load_messages exists');
select has_function('public', 'save_agent_state', array['uuid', 'text', 'jsonb', 'integer'], 'save_agent_state exists');
select has_function('public', 'build_context', array['uuid', 'integer', 'jsonb'], 'build_context exists');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
    where p.pronamespace = 'public'::regnamespace and p.prosecdef),
  null, 'no function in public is security definer: row level security applies to every API call');
select is(
  (select array_agg(p.oid::regprocedure::text order by 1) from pg_proc p
    where p.pronamespace = 'private'::regnamespace and has_function_privilege('anon', p.oid, 'execute')),
  null, 'anon cannot execute any private helper');
select ok(has_function_privilege('service_role', 'util.prune_expired(integer)', 'execute')
          and not has_function_privilege('authenticated', 'util.prune_expired(integer)', 'execute'),
  'util.prune_expired is for service_role and the cron job, not for users');

-- realtime and cron
-- Contains, not equals: other features add their own tables to the publication (and test them there).
select ok(
  (select array_agg(tablename::text order by tablename) from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public')
    @> array['agent_states', 'memory_threads', 'messages'], 'threads, messages and agent states stream through supabase_realtime');
select results_eq($$ select schedule, command from cron.job where jobname = 'prune-expired' $$,
  $$ values ('* * * * *', 'select * from util.prune_expired()') $$, 'a cron job prunes expired threads every minute');
-- Scheduled twice by the same user (pg_cron keys a job on name and user): the same job, not a second one.
select set_config('test.prune_job', util.schedule_prune_expired()::text, true);
select is(util.schedule_prune_expired(), current_setting('test.prune_job')::bigint,
  'rescheduling the prune job replaces it rather than adding another');

select * from finish();
rollback;
