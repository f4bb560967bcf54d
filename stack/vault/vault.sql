-- Supabase Vault stand-in: `vault.create_secret`, `vault.update_secret`, `vault.secrets` (stored
-- encrypted) and `vault.decrypted_secrets`, with Vault's privileges (postgres and service_role only).
-- Hosted Vault encrypts with libsodium AEAD under a root key kept outside the database; this stand-in
-- uses pgcrypto's pgp_sym_encrypt under a random per-database key that only the superuser can read.

create schema if not exists vault;
revoke all on schema vault from public;

create table if not exists vault._root_key (
  singleton boolean primary key default true check (singleton),
  key text not null
);
insert into vault._root_key (key)
values (encode(extensions.gen_random_bytes(32), 'hex'))
on conflict do nothing;
revoke all on vault._root_key from public;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea default extensions.gen_random_bytes(16),
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;
comment on table vault.secrets is 'Table with encrypted `secret` column for storing sensitive information on disk.';

create or replace function vault._encrypt(plain text) returns text
language sql volatile security definer set search_path = ''
as $$
  select encode(extensions.pgp_sym_encrypt(plain, (select key from vault._root_key)), 'base64')
$$;

create or replace function vault._decrypt(cipher text) returns text
language sql stable security definer set search_path = ''
as $$
  select extensions.pgp_sym_decrypt(decode(cipher, 'base64'), (select key from vault._root_key))
$$;

create or replace view vault.decrypted_secrets as
select s.id, s.name, s.description, s.secret, vault._decrypt(s.secret) as decrypted_secret,
       s.key_id, s.nonce, s.created_at, s.updated_at
from vault.secrets s;

create or replace function vault.create_secret(
  new_secret text,
  new_name text default null,
  new_description text default '',
  new_key_id uuid default null
) returns uuid
language plpgsql volatile security definer set search_path = ''
as $$
declare
  rec record;
begin
  insert into vault.secrets (secret, name, description, key_id)
  values (vault._encrypt(new_secret), new_name, coalesce(new_description, ''), new_key_id)
  returning * into rec;
  return rec.id;
end
$$;

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text default null,
  new_name text default null,
  new_description text default null,
  new_key_id uuid default null
) returns void
language plpgsql volatile security definer set search_path = ''
as $$
begin
  update vault.secrets s
     set secret = case when new_secret is null then s.secret else vault._encrypt(new_secret) end,
         name = coalesce(new_name, s.name),
         description = coalesce(new_description, s.description),
         key_id = coalesce(new_key_id, s.key_id),
         updated_at = now()
   where s.id = secret_id;
end
$$;

revoke all on all functions in schema vault from public;
grant usage on schema vault to postgres with grant option;
grant usage on schema vault to service_role;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres with grant option;
grant select, delete on vault.secrets, vault.decrypted_secrets to service_role;
grant execute on function vault.create_secret(text, text, text, uuid), vault.update_secret(uuid, text, text, text, uuid)
  to postgres, service_role;
-- Functions called by a view are checked against the querying role, so readers of the view need this.
grant execute on function vault._decrypt(text) to postgres, service_role;
