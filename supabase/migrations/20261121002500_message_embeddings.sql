-- Messages are embedded automatically: public.messages becomes an embedding source. Saving or editing a
-- message queues a job per target model (one pgmq.send_batch per statement); the worker writes the
-- embedding and replaces an estimated token_count with the exact one (token_count_exact = true), counted
-- with the tokenizer of the thread's chat model (thread → agent → model; o200k_base when the thread has
-- no agent or model). A count the writer supplied as exact is left as it is.
-- Adds messages.content_hash (sha256 hex of content, stored generated column).

-- private.message_tokenizers(ids uuid[]) → table (id uuid, tokenizer text)
--   The js-tiktoken encoding each message's token_count is measured with: its thread's agent's model's
--   tokenizer, else 'o200k_base' (the models.tokenizer default). Caller: the embed worker (through
--   util.embedding_sources.tokenizer_function).
create or replace function private.message_tokenizers(ids uuid[])
returns table (id uuid, tokenizer text)
language sql
stable
security invoker
as $$
  select m.id, coalesce(mo.tokenizer, 'o200k_base')
    from public.messages m
    join public.memory_threads t on t.id = m.thread_id
    left join public.agents a on a.id = t.agent_id
    left join public.models mo on mo.id = a.model_id
   where m.id = any(ids)
$$;
revoke all on function private.message_tokenizers(uuid[]) from public, anon, authenticated;
grant execute on function private.message_tokenizers(uuid[]) to service_role;

select util.register_embedding_source(
  source => 'public.messages',
  content_column => 'content',
  owner_column => 'owner_id',
  token_count_column => 'token_count',
  token_count_exact_column => 'token_count_exact',
  tokenizer_function => 'private.message_tokenizers(uuid[])'
);

comment on column public.messages.content_hash is 'sha256 (hex) of content; embedding jobs and embeddings refer to it.';
