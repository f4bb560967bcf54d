-- Realtime: clients subscribe to changes of their threads, messages and agent states
-- (supabase.channel(...).on('postgres_changes', { table: 'messages', filter: 'thread_id=eq.<id>' }, ...)).
-- Realtime checks row level security per subscriber, so each user receives only their own rows.

alter publication supabase_realtime add table public.memory_threads, public.messages, public.agent_states;
