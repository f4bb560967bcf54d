-- Realtime stand-in: the `supabase_realtime` publication that decides which tables stream changes, as on
-- hosted Supabase (`alter publication supabase_realtime add table ...` in migrations works unchanged).

do $$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
