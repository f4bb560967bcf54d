-- Helpers shared by the memory tables' triggers and the memory API: the SQL token estimator, the opaque
-- keyset cursor codec and settings lookup.
--
-- The API functions in `public` are `security invoker` so that row level security decides what a caller
-- sees; an invoker function can only call a helper whose schema the caller may use. Signed-in users and
-- service_role therefore get USAGE on `private` (the pattern basejump uses for its helper schema).
-- USAGE alone grants nothing: `private` is not exposed by the Data API, holds no tables for these roles,
-- and every function in it has EXECUTE revoked from PUBLIC explicitly (a per-schema
-- `alter default privileges ... revoke ... from public` does not remove the global default grant), so
-- only the helpers granted below are callable.
grant usage on schema private to authenticated, service_role;

-- private.estimate_tokens(content text) → integer
--   A tokenizer-free estimate of how many tokens `content` takes in the OpenAI BPE encodings
--   (cl100k_base / o200k_base), used for messages saved without an exact count (token_count_exact =
--   false). It follows how those tokenizers pre-split text, with one regular expression pass:
--     pieces      letter runs, 1–2 digit groups and single ASCII punctuation marks count one token each;
--     long words  but never fewer than (ASCII non-whitespace characters) / 4, so long or rare words count
--                 for more than one;
--     non-ASCII   0.6 token per extra UTF-8 byte (a CJK character, 3 bytes, counts 1.2).
--   Against cl100k_base it measures about 1.0–1.1× for English prose, code, SQL, JSON, numbers and UUIDs,
--   1.1–1.4× for Chinese, Japanese and Russian, 0.8× for German, and under-counts emoji and base64 blobs
--   (~0.5×). Cheap enough for every insert (~70 µs for 300 characters in PGlite). Exact counts come from a
--   real tokenizer (the SDK's countTokens, or the embedding job). Returns 0 for '', NULL for NULL.
--   Immutable; callable by authenticated and service_role.
create or replace function private.estimate_tokens(content text)
returns integer
language sql
immutable
strict
parallel safe
security invoker
as $$
  select ceil(
      greatest(
        regexp_count(content, '[A-Za-z]+|[0-9]{1,2}|[!-/:-@[-`{-~]')::numeric,
        (length(replace(replace(replace(replace(content, ' ', ''), E'\n', ''), E'\t', ''), E'\r', ''))
          - (octet_length(content) - length(content)) / 1.5) / 4.0)
    + (octet_length(content) - length(content)) * 0.6
  )::integer
$$;
revoke all on function private.estimate_tokens(text) from public, anon;
grant execute on function private.estimate_tokens(text) to authenticated, service_role;

-- private.encode_cursor(kind text, created_at timestamptz, id uuid) → text
--   The opaque keyset cursor for a row at (created_at, id): URL-safe base64 (no padding) of
--   "<kind>,<created_at in microseconds since 1970>,<id>", kind 'm' for messages, 't' for threads and 'd' for
--   documents.
--   Clients treat it as opaque; it is stable (the same row always gives the same cursor).
create or replace function private.encode_cursor(kind text, created_at timestamptz, id uuid)
returns text
language sql
immutable
strict
parallel safe
security invoker
as $$
  select rtrim(translate(encode(convert_to(
      kind || ',' || (extract(epoch from created_at) * 1000000)::bigint || ',' || id, 'UTF8'), 'base64'),
    E'+/\n', '-_'), '=')
$$;
revoke all on function private.encode_cursor(text, timestamptz, uuid) from public, anon;
grant execute on function private.encode_cursor(text, timestamptz, uuid) to authenticated, service_role;

-- private.decode_cursor(cursor text, kind text, field text) → (created_at timestamptz, id uuid)
--   Reverses encode_cursor. `kind` is the cursor kind the caller expects ('m' or 't'); `field` names the
--   argument in error messages. Raises 22023 "<field> is not a valid <message|thread> cursor" for
--   anything encode_cursor did not produce (including a cursor of the other kind). NULL in, NULLs out.
--   Every step is checked before it could fail (no exception block, so no subtransaction per call):
--   the base64 alphabet and length, then the decoded bytes read with the 'escape' encoding (never fails;
--   a non-ASCII byte shows up as \nnn and fails the format check), then at most 16 digits of
--   microseconds (years 1653–2286, inside the timestamptz range).
create or replace function private.decode_cursor(cursor text, kind text, field text,
  out created_at timestamptz, out id uuid)
language plpgsql
immutable
parallel safe
security invoker
as $$
declare
  parts text[];
  wanted text := case kind when 'm' then 'message' when 't' then 'thread' when 'd' then 'document' else kind end;
begin
  if cursor is null then
    return;
  end if;
  if cursor ~ '^[A-Za-z0-9_-]{8,200}$' and length(cursor) % 4 <> 1 then
    parts := regexp_match(
      encode(decode(translate(cursor, '-_', '+/') || repeat('=', (4 - length(cursor) % 4) % 4), 'base64'), 'escape'),
      '^([a-z]),(-?[0-9]{1,16}),([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$');
  end if;
  if parts is null or parts[1] <> kind then
    raise exception '% is not a valid % cursor', field, wanted
      using errcode = '22023',
            hint = format('Pass the %s cursor returned by a previous call unchanged, or null to start over.', wanted);
  end if;
  created_at := 'epoch'::timestamptz + (parts[2] || ' microseconds')::interval;
  id := parts[3]::uuid;
end
$$;
revoke all on function private.decode_cursor(text, text, text) from public, anon;
grant execute on function private.decode_cursor(text, text, text) to authenticated, service_role;

-- private.setting(category text, key text, fallback jsonb) → jsonb
--   The value of a setting, or `fallback` when it is not set. Security definer so that triggers and
--   jobs read settings whatever role they run as; it reveals nothing get_setting does not.
create or replace function private.setting(category text, key text, fallback jsonb)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((select s.value from public.settings s where s.category = setting.category and s.key = setting.key),
                  fallback)
$$;
revoke all on function private.setting(text, text, jsonb) from public, anon;
grant execute on function private.setting(text, text, jsonb) to authenticated, service_role;

-- private.require_object(value jsonb, field text) → jsonb
--   Returns `value` when it is a JSON object; raises 22023 "<field> must be a JSON object (got <type>)"
--   otherwise, and 22004 when it is SQL NULL.
create or replace function private.require_object(value jsonb, field text)
returns jsonb
language plpgsql
immutable
parallel safe
security invoker
as $$
begin
  if value is null then
    raise exception '% must be a JSON object, not null', field using errcode = '22004';
  end if;
  if jsonb_typeof(value) <> 'object' then
    raise exception '% must be a JSON object (got %)', field, jsonb_typeof(value) using errcode = '22023';
  end if;
  return value;
end
$$;
revoke all on function private.require_object(jsonb, text) from public, anon;
grant execute on function private.require_object(jsonb, text) to authenticated, service_role;

-- private.require_limit(value integer, field text) → integer
--   Returns `value` when it is within 1..1000 (the page size range of every list RPC); raises 22023
--   "<field> must be between 1 and 1000 (got <n>)" otherwise.
create or replace function private.require_limit(value integer, field text)
returns integer
language plpgsql
immutable
parallel safe
security invoker
as $$
begin
  if value is null or value < 1 or value > 1000 then
    raise exception '% must be between 1 and 1000 (got %)', field, coalesce(value::text, 'null') using errcode = '22023';
  end if;
  return value;
end
$$;
revoke all on function private.require_limit(integer, text) from public, anon;
grant execute on function private.require_limit(integer, text) to authenticated, service_role;
