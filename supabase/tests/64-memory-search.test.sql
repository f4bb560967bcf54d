-- Long-term memories as the retrieval source 'memories': BM25 (statistics per owner), vector search through
-- the embeddings of the pipeline, hybrid fusion; only valid memories unless include_invalid; valid_at
-- (what held then); kinds and agent filters; the memory's fields in every hit; the filters that do not
-- apply refused; row level security (another user's memories never found, service_role sees all).
begin;
\ir helpers/test_helpers.psql
select plan(22);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
select tests.authenticate_as('bob');
select remember_fact('Lives in Paris and likes jazz.');
select tests.authenticate_as('alice');
select set_config('test.paris', (remember_fact('Lives in Paris.', valid_from => '2026-01-01')).id::text, true);
select set_config('test.berlin', (update_memory(current_setting('test.paris')::uuid, 'Lives in Berlin.')).id::text, true);
select remember_fact('Likes jazz and long walks.', kind => 'preference', agent_id => 'assistant');
select remember_fact('Runs a marathon in Berlin in September.', kind => 'event', agent_id => 'researcher');

create function pg_temp.hits(q text, opts jsonb default '{}') returns text[] language sql as $$
  select coalesce(array_agg(h.content order by h.rank), '{}')
    from public.bm25_search(q, 10, 'memories', agent_id => opts ->> 'agent_id',
                            kinds => (select array_agg(x) from jsonb_array_elements_text(opts -> 'kinds') x),
                            include_invalid => coalesce((opts ->> 'include_invalid')::boolean, false),
                            valid_at => (opts ->> 'valid_at')::timestamptz) h
$$;

select is(pg_temp.hits('lives'), array['Lives in Berlin.'], 'BM25 over memories: only the valid version');
select is((select array_agg(x order by x) from unnest(pg_temp.hits('lives', '{"include_invalid": true}')) x),
  array['Lives in Berlin.', 'Lives in Paris.'], 'include_invalid: the superseded one too');
select is(pg_temp.hits('lives', '{"valid_at": "2026-02-01"}'), array['Lives in Paris.'], 'valid_at: what held at that time');
select is(pg_temp.hits('jazz'), array['Likes jazz and long walks.'], 'Bob''s memory with the same words is not found');
select is(pg_temp.hits('berlin', '{"agent_id": "assistant"}'), array['Lives in Berlin.'],
  'agent_id: that agent''s memories and the shared ones, not another agent''s');
select is(pg_temp.hits('berlin', '{"kinds": ["event"]}'), array['Runs a marathon in Berlin in September.'], 'kinds');
select is((select (h.kind, h.agent_id, h.valid_from is not null, h.invalid_at, h.thread_id, h.document_id)
             from public.bm25_search('marathon', 1, 'memories') h),
  row('event'::public.memory_kind, 'researcher'::text, true, null::timestamptz, null::uuid, null::uuid),
  'a hit carries the memory''s kind, agent and validity');
select is((select h.kind from public.bm25_search('photosynthesis', 1, 'document_chunks') h), null,
  'chunk hits leave the memory fields empty');
select is((select count(*)::int from private.bm25_corpus c where c.source = 'memories'), 1,
  'Alice sees only her own BM25 statistics for memories');

-- Vector search: embed the memories as the worker would (hash-384 vectors stand in for a real model).
select tests.authenticate_as_owner();
insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
select m.owner_id, 'memories', m.id, 'hash-384', m.content_hash,
       (select ('[' || string_agg(case when i = 1 + (abs(hashtext(m.content)) % 384) then '1' else '0' end, ',' order by i) || ']')::extensions.vector
          from generate_series(1, 384) i)
  from public.memories m;
select tests.authenticate_as('alice');
select is((select h.content from public.hybrid_search('zzz',
             (select e.embedding from public.embeddings e join public.memories m on m.id = e.source_id where m.content = 'Lives in Berlin.'),
             3, 'memories') h where h.rank = 1),
  'Lives in Berlin.', 'hybrid search: the vector channel finds the memory with the same embedding');
select ok((select h.vector_rank = 1 and h.bm25_rank is null from public.hybrid_search('zzz',
             (select e.embedding from public.embeddings e join public.memories m on m.id = e.source_id where m.content = 'Lives in Berlin.'),
             3, 'memories') h where h.rank = 1), 'through the vector channel alone');
select is((select count(*)::int from public.hybrid_search('zzz',
             (select e.embedding from public.embeddings e join public.memories m on m.id = e.source_id where m.content = 'Lives in Paris.'),
             10, 'memories') h where h.content = 'Lives in Paris.'), 0, 'a superseded memory is not found by vector either');
select is((select count(*)::int from public.hybrid_search('jazz',
             (select e.embedding from public.embeddings e join public.memories m on m.id = e.source_id where m.content = 'Lives in Paris and likes jazz.'),
             10, 'memories') h where h.content like '%Paris and likes jazz%'), 0, 'Bob''s memory is not found through its vector');
select ok(exists (select from public.embedding_status s where s.source_table = 'memories'), 'memories appear in embedding_status');

-- Filters that do not apply, and bad values
select throws_ok($$ select * from public.bm25_search('x', source => 'memories', thread_id => gen_random_uuid()) $$, '22023',
  'thread_id and roles filter source messages, not memories (agent_id applies to both)', 'thread_id does not apply to memories');
select throws_ok($$ select * from public.bm25_search('x', source => 'messages', kinds => array['fact']) $$, '22023',
  'kinds, include_invalid, valid_at and owner_id filter source memories, not messages', 'kinds applies to memories only');
select throws_ok($$ select * from public.bm25_search('x', source => 'memories', kinds => array['hobby']) $$, '22023',
  'kinds must be a non-empty list of fact, preference, event (got ["hobby"])', 'an unknown kind');
select throws_ok($$ select * from public.hybrid_search('x', source => 'memories', document_ids => array[gen_random_uuid()]) $$, '22023',
  'document_ids filters source document_chunks, not memories', 'document_ids does not apply to memories');
select throws_ok($$ select * from public.bm25_search('x', source => 'facts') $$, '22023',
  'source must be messages, document_chunks or memories (got facts)', 'an unknown source');

-- service_role sees every owner's memories, and the owner_id filter narrows them (the extraction job uses it).
select tests.authenticate_as_service_role();
select is((select count(*)::int from public.bm25_search('jazz', 10, 'memories')), 2, 'service_role finds both users'' memories');
select is((select array_agg(h.id) from private.hybrid_rank('memories', 'jazz', null, 10, jsonb_build_object('owner_id', tests.get_supabase_uid('bob')),
                                                            1, 1, 60, 20) h),
  (select array_agg(m.id) from public.memories m where m.owner_id = tests.get_supabase_uid('bob')), 'owner_id keeps one owner''s');
select tests.clear_authentication();
select throws_ok($$ select * from public.bm25_search('jazz', 10, 'memories') $$, '42501', null, 'anon may not search');

select * from finish();
rollback;
