-- Extensions Agent Memory uses, created the way Supabase's docs create them, so that on a hosted project
-- (where `postgres` is not a superuser) each extension and its schema end up usable by `postgres`:
--   vector  (pgvector)  embeddings and HNSW indexes            → schema extensions
--   pgmq                the embedding and mirror job queues     → schema pgmq, created first by us: without it
--                       `create extension pgmq` can leave the schema owned by supabase_admin, postgres denied
--   pg_net              HTTP calls from SQL to Edge Functions   → installed in extensions, its API in schema net
--   pg_cron             schedules the queue workers             → installed in pg_catalog, its API in schema cron
-- pg_net and pg_cron are created only where the server offers them (hosted Supabase). The local embedded
-- stack has no such binaries and provides the same SQL API through its stand-ins (stack/pg_net/, stack/pg_cron/).

create extension if not exists vector with schema extensions;

create schema if not exists pgmq;
create extension if not exists pgmq with schema pgmq;

do $$
begin
  if exists (select from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net with schema extensions;
  end if;
  if exists (select from pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron with schema pg_catalog;
    grant usage on schema cron to postgres;
    grant all privileges on all tables in schema cron to postgres;
  end if;
end
$$;
