// The dashboard's data: a supabase-js client for the project it is pointed at, and one query per panel, each
// through the project's API as the signed-in key — row level security decides what a user key sees; the
// operators' views (pipeline_health, scheduled_jobs) answer only to the service_role key.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import type { Database } from '../../types/supabase.ts'

type Views = Database['public']['Views']
export type TraceRow = Pick<Database['public']['Tables']['traces']['Row'],
  'id' | 'trace_id' | 'name' | 'service' | 'source' | 'status' | 'started_at' | 'duration_ms' | 'span_count' | 'error_count' |
  'input_tokens' | 'output_tokens' | 'cost_usd' | 'models'>
export type SpanRow = Pick<Database['public']['Tables']['spans']['Row'],
  'id' | 'span_id' | 'parent_span_id' | 'name' | 'kind' | 'status' | 'status_message' | 'started_at' | 'duration_ms' | 'model' |
  'input_tokens' | 'output_tokens' | 'cost_usd' | 'service'>
export type PipelineRow = Views['pipeline_health']['Row']
export type FailureRow = Views['failures_per_day']['Row']
export type CostRow = Views['cost_per_model_per_day']['Row']
export type LatencyRow = Views['latency_percentiles']['Row']
export type JobRow = Views['scheduled_jobs']['Row']
export type LimitRow = Views['rate_limits']['Row']

export interface Connection {
  url: string
  key: string
  /** A user's access token, sent as the Bearer instead of the key (then the key is the anon key). */
  token: string | null
}

/** Who the key (or token) signs in as, from its JWT claims; 'key' for the non-JWT API keys. */
export function roleOf(c: Connection): { role: string; subject: string | null } {
  const jwt = c.token ?? c.key
  const part = jwt.split('.')[1]
  if (!part) return { role: c.key.startsWith('sb_secret_') ? 'service_role' : 'key', subject: null }
  try {
    const claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')))
    return { role: String(claims.role ?? 'key'), subject: typeof claims.sub === 'string' ? claims.sub : null }
  } catch {
    return { role: 'key', subject: null }
  }
}

export function connect(c: Connection): SupabaseClient<Database> {
  const client = createClient<Database>(c.url, c.key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    ...(c.token ? { global: { headers: { Authorization: `Bearer ${c.token}` } } } : {}),
  })
  if (c.token) void client.realtime.setAuth(c.token)
  return client
}

/** A panel's rows, or the reason it has none to show (an error message, or a key without the right). */
export type Result<T> = { rows: T[]; error: null } | { rows: []; error: string; forbidden: boolean }

async function run<T>(q: PromiseLike<{ data: unknown; error: { message: string; code?: string } | null; status: number }>): Promise<Result<T>> {
  const { data, error, status } = await q
  if (error) return { rows: [], error: error.message, forbidden: status === 401 || status === 403 || error.code === '42501' }
  return { rows: (data ?? []) as T[], error: null }
}

const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10)

export const queries = {
  pipelines: (db: SupabaseClient<Database>) => run<PipelineRow>(db.from('pipeline_health').select('*')),
  failures: (db: SupabaseClient<Database>) =>
    run<FailureRow>(db.from('failures_per_day').select('*').gte('day', daysAgo(13)).order('day')),
  traces: (db: SupabaseClient<Database>, limit = 50) =>
    run<TraceRow>(
      db.from('traces')
        .select('id, trace_id, name, service, source, status, started_at, duration_ms, span_count, error_count, input_tokens, output_tokens, cost_usd, models')
        .order('started_at', { ascending: false })
        .limit(limit),
    ),
  spans: (db: SupabaseClient<Database>, trace: string) =>
    run<SpanRow>(
      db.from('spans')
        .select('id, span_id, parent_span_id, name, kind, status, status_message, started_at, duration_ms, model, input_tokens, output_tokens, cost_usd, service')
        .eq('trace', trace)
        .order('started_at')
        .limit(1000),
    ),
  costs: (db: SupabaseClient<Database>) =>
    run<CostRow>(db.from('cost_per_model_per_day').select('*').gte('day', daysAgo(13)).order('day')),
  latency: (db: SupabaseClient<Database>) => run<LatencyRow>(db.from('latency_percentiles').select('*').order('kind').order('name')),
  jobs: (db: SupabaseClient<Database>) => run<JobRow>(db.from('scheduled_jobs').select('*').order('jobname')),
  limits: (db: SupabaseClient<Database>) => run<LimitRow>(db.from('rate_limits').select('*').order('kind').order('key').limit(50)),
}
