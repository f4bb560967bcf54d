-- Extensions Agent Memory uses, in the schemas Supabase puts them in:
--   vector  (pgvector)  embeddings and HNSW indexes            → schema extensions
--   pgmq                the embedding and mirror job queues     → schema pgmq (its own)
--   pg_net              HTTP calls from SQL to Edge Functions   → schema net (its own)
--   pg_cron             schedules the queue workers             → schema cron (its own)
-- pg_net and pg_cron are created only where the server offers them (hosted Supabase). The local embedded
-- stack has no such binaries and provides the same SQL API through its stand-ins (stack/pg_net/, stack/pg_cron/).

create extension if not exists vector with schema extensions;
create extension if not exists pgmq;

do $$
begin
  if exists (select from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net with schema extensions;
  end if;
  if exists (select from pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron;
  end if;
end
$$;
