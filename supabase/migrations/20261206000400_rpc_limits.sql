-- Rate limits, quotas and latency measurement for the heavy RPCs: hybrid_search, bm25_search (and
-- kw_match_documents, which calls it) and search_memories share the rule 'search_rpc'; ingest_document has
-- 'ingest_rpc' (settings of category rate_limits).
--
-- util.guard_rpc(fn, rule) puts a guard in front of a public function without changing what clients see:
-- the function moves to schema `private` under the same name (its body qualifies arguments with the
-- function's name, so it keeps it), and a wrapper with the same name, arguments, defaults, result, comment
-- and grants takes its place in `public`. The wrapper
--   1. turns away a caller whose counter is already full or whose quota is used up (no lock taken),
--   2. runs the function,
--   3. hits the counter — last, because the hit locks the counter row until the transaction ends and would
--      otherwise serialise all of one user's concurrent calls — and raises PT429 (HTTP 429, Retry-After)
--      when this call is over the limit (its result is discarded with the transaction, and so is its hit),
--   4. records the call's duration in private.rpc_calls for latency_percentiles.
-- A rate-limited call must write, so the guarded functions are volatile: PostgREST runs POST calls of
-- volatile functions read-write (it runs stable ones, and every GET, READ ONLY — where the hit would fail).
-- The duration is measured inside the database (clock_timestamp around the call), which works the same on
-- hosted Supabase; it does not include PostgREST and the network, and a call that fails records nothing
-- (its transaction rolls back).
-- To change a guarded function later, replace private.<name>; replacing public.<name> replaces
-- the guard. Other branches' heavy RPCs opt in with one line: select util.guard_rpc('public.f(args)', 'rule').

create table private.rpc_calls (
  id bigint generated always as identity primary key,
  rpc text not null,
  owner_id uuid,
  called_at timestamptz not null default now(),
  duration_ms double precision not null
);
comment on table private.rpc_calls is 'Durations of guarded RPC calls (inside the database), for latency_percentiles.';
create index rpc_calls_called_at_idx on private.rpc_calls (called_at);
revoke all on private.rpc_calls from public, anon, authenticated, service_role;

-- private.finish_guarded_call(rule, rpc, started_at) → void
--   Step 3 and 4 of a guarded call (see the header).
create or replace function private.finish_guarded_call(rule text, rpc text, started_at timestamptz)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.hit_limit(finish_guarded_call.rule);
  insert into private.rpc_calls (rpc, owner_id, duration_ms)
  values (finish_guarded_call.rpc, (select auth.uid()),
          extract(epoch from clock_timestamp() - finish_guarded_call.started_at)::double precision * 1000);
end
$$;
revoke all on function private.finish_guarded_call(text, text, timestamptz) from public, anon;
grant execute on function private.finish_guarded_call(text, text, timestamptz) to authenticated, service_role;

-- util.guard_rpc(fn regprocedure, rule text) → regprocedure
--   Guards the public function `fn` with the rate limit `rule` and the quotas (see the header) and returns
--   the wrapper. Raises 22023 when fn is not in schema public, is already guarded (a private function of
--   the same name and arguments exists), or rule is unknown.
--   Caller: migrations (postgres).
create or replace function util.guard_rpc(fn regprocedure, rule text)
returns regprocedure
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  p record;
  inner_name text;
  args text;
  identity_args text;
  arg_types text;
  result text;
  call_args text;
  body text;
  note text;
  wrapper regprocedure;
  grantee record;
begin
  select pr.oid, pr.proname, pr.pronamespace, pr.pronargs, pr.proretset, pr.provariadic, pr.proacl into p
    from pg_catalog.pg_proc pr where pr.oid = fn;
  if p.pronamespace <> 'public'::regnamespace then
    raise exception 'util.guard_rpc: % is not in schema public', fn using errcode = '22023';
  end if;
  inner_name := p.proname;
  if exists (select from pg_catalog.pg_proc x where x.pronamespace = 'private'::regnamespace and x.proname = inner_name
                and x.proargtypes = (select pr.proargtypes from pg_catalog.pg_proc pr where pr.oid = fn)) then
    raise exception 'util.guard_rpc: % is already guarded (private.% exists)', fn, inner_name using errcode = '22023';
  end if;
  perform private.limit_rule(rule);

  -- Read everything the wrapper needs while fn is still where clients know it.
  args := pg_catalog.pg_get_function_arguments(fn);
  identity_args := pg_catalog.pg_get_function_identity_arguments(fn);
  arg_types := (select pg_catalog.oidvectortypes(pr.proargtypes) from pg_catalog.pg_proc pr where pr.oid = fn);
  result := pg_catalog.pg_get_function_result(fn);
  note := pg_catalog.obj_description(fn, 'pg_proc');
  -- Positional arguments ($1, $2, …) so argument names can never clash with anything in the body.
  select string_agg(case when p.provariadic <> 0 and i = p.pronargs then 'variadic $' else '$' end || i, ', ' order by i)
    into call_args from generate_series(1, p.pronargs) as i;
  call_args := coalesce(call_args, '');

  execute format('alter function %s set schema private', fn);

  body := case when p.proretset then format($b$
declare
  _guard_started_at timestamptz := clock_timestamp();
begin
  perform private.precheck_limits(%1$L, true);
  return query select * from private.%2$I(%3$s);
  perform private.finish_guarded_call(%1$L, %4$L, _guard_started_at);
end
$b$, rule, inner_name, call_args, p.proname)
  else format($b$
declare
  _guard_started_at timestamptz := clock_timestamp();
  _guard_result %5$s;
begin
  perform private.precheck_limits(%1$L, true);
  _guard_result := private.%2$I(%3$s);
  perform private.finish_guarded_call(%1$L, %4$L, _guard_started_at);
  return _guard_result;
end
$b$, rule, inner_name, call_args, p.proname, result) end;

  execute format('create function public.%I(%s) returns %s language plpgsql volatile security invoker set search_path = %L as %L',
                 p.proname, args, result, '', body);
  wrapper := format('public.%I(%s)', p.proname, arg_types)::regprocedure;

  -- The wrapper gets exactly the grants the function had (a new one gets PUBLIC's and the default privileges').
  execute format('revoke all on function %s from public, anon, authenticated, service_role', wrapper);
  for grantee in
    select a.grantee from aclexplode(coalesce(p.proacl, acldefault('f', (select pr.proowner from pg_catalog.pg_proc pr where pr.oid = fn)))) a
     where a.privilege_type = 'EXECUTE'
  loop
    if grantee.grantee = 0 then
      execute format('grant execute on function %s to public', wrapper);
    else
      execute format('grant execute on function %s to %s', wrapper, grantee.grantee::regrole);
    end if;
  end loop;
  execute format('comment on function %s is %L', wrapper, coalesce(note, '') ||
                 format(' Rate limit %s and quotas apply (429 with Retry-After).', rule));
  return wrapper;
end
$$;
revoke all on function util.guard_rpc(regprocedure, text) from public, anon, authenticated, service_role;

-- By name: each is the only function of its name in public (PostgREST cannot choose among overloads), and
-- their argument lists grow with the features that add filters (long-term memory's kinds, valid_at, …).
select util.guard_rpc(p.oid::regprocedure, 'search_rpc')
  from pg_catalog.pg_proc p
 where p.pronamespace = 'public'::regnamespace and p.proname in ('hybrid_search', 'bm25_search', 'search_memories')
 order by p.proname;
select util.guard_rpc('public.ingest_document(jsonb, text, text, jsonb, text, text, jsonb, uuid, uuid)', 'ingest_rpc');

-- kw_match_documents calls bm25_search, which now writes (its counter): as a stable function PostgREST would
-- run it READ ONLY and the call would fail with 25006. Volatile, it runs read-write and is limited through
-- bm25_search (one hit per call).
alter function public.kw_match_documents(text, integer) volatile;
