// What the search function reads from the database, always AS THE CALLER: supabase-js with the project's
// anon key and the request's Authorization header, so row level security decides what a search can
// see exactly as it does for the caller's own RPCs. Failures are StoreError values carrying PostgREST's
// HTTP status and SQLSTATE, which the handler passes on (PT404 → 404, 22xxx → 400 …).
import { createClient, type SupabaseClient } from 'npm:@supabase/supabase-js@2.109.0'
import type { EmbeddingModelConfig } from '../_shared/embeddings.ts'
import { tracedFetch } from '../_shared/tracing.ts'

/** The default embedding model's row, as far as embedding a query needs it. */
export interface QueryModel extends EmbeddingModelConfig {
  max_input_tokens: number
  tokenizer: string
}

export class StoreError extends Error {
  constructor(
    /** PostgREST's HTTP status; 0 when the API could not be reached. */
    readonly status: number,
    /** SQLSTATE or PGRSTnnn, '' when there is none. */
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
  ) {
    super(message)
    this.name = 'StoreError'
  }
}

export interface SearchStore {
  /** The settings of category 'search' as {key: value}. */
  settings(): Promise<Record<string, unknown>>
  /** The default embedding model, or null when none is marked default. */
  defaultModel(): Promise<QueryModel | null>
  /** Calls a set-returning RPC and returns its rows. */
  rpc(fn: string, args: Record<string, unknown>): Promise<Record<string, unknown>[]>
}

const MODEL_COLUMNS =
  'name, provider, provider_model, dims, base_url, api_key_env, request_dimensions, max_input_tokens, tokenizer'

type Result = {
  data: unknown
  error: { code?: string; message: string; details?: string; hint?: string } | null
  status: number
}

/** The data, or a StoreError; `what` prefixes the message (an RPC's own message already names the argument). */
function check(r: Result, what: string | null): unknown {
  if (r.error) {
    const message = what ? `${what}: ${r.error.message}` : r.error.message
    throw new StoreError(r.status, r.error.code ?? '', message, r.error.details || null, r.error.hint || null)
  }
  return r.data
}

export function supabaseStore(authorization: string, env: (name: string) => string | undefined): SearchStore {
  const url = env('SUPABASE_URL')
  const anonKey = env('SUPABASE_ANON_KEY')
  if (!url || !anonKey) {
    throw new StoreError(500, '', 'SUPABASE_URL and SUPABASE_ANON_KEY must be set for the search function')
  }
  const client: SupabaseClient = createClient(url, anonKey, {
    // tracedFetch: each read and RPC is a client span of the request's trace.
    global: { headers: { Authorization: authorization }, fetch: tracedFetch() },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  })
  return {
    async settings() {
      const rows = check(
        await client.from('settings').select('key, value').eq('category', 'search') as Result,
        'reading the search settings',
      ) as { key: string; value: unknown }[]
      return Object.fromEntries(rows.map((r) => [r.key, r.value]))
    },
    async defaultModel() {
      const rows = check(
        await client.from('embedding_models').select(MODEL_COLUMNS).eq('is_default', true).limit(1) as Result,
        'reading the default embedding model',
      ) as QueryModel[]
      return rows[0] ?? null
    },
    async rpc(fn, args) {
      const rows = check(await client.rpc(fn, args) as Result, null)
      if (!Array.isArray(rows)) throw new StoreError(502, '', `${fn} did not return a list of rows`)
      return rows
    },
  }
}
