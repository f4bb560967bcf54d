// POST /functions/v1/ingest — turns Markdown or plain text into chunks and stores them with
// ingest_document, as the caller (their JWT; row level security applies). verify_jwt = true.
//
//   curl -X POST "$SUPABASE_URL/functions/v1/ingest" -H "Authorization: Bearer $USER_JWT" \
//     -H 'content-type: application/json' \
//     -d '{"content": "# Billing\n\n## Refunds\n\nWithin 30 days.", "title": "Handbook", "source_uri": "kb://handbook"}'
//   curl -X POST "$SUPABASE_URL/functions/v1/ingest?title=Notes&strategy=paragraph&chunk_tokens=200" \
//     -H "Authorization: Bearer $USER_JWT" -H 'content-type: text/plain' --data-binary @notes.txt
//
// JSON body: { content (required), title?, format? markdown|text (markdown), strategy? markdown|paragraph|
//   token|semantic (markdown for Markdown, paragraph for text), chunk_tokens? 32–8192 (400), chunk_overlap?
//   0–chunk_tokens/2 (40), parent_tokens? chunk_tokens–32768 (1600), source_uri?, metadata? {}, document_id?,
//   semantic_threshold? 50–99 (95) } — or a text/plain | text/markdown body with the fields as query
//   parameters (see ./request.ts).
// 200 { document, replaced, chunk_count, chunks_kept, strategy, tokenizer }: ingest_document's result plus
//   the strategy used and the tokenizer chunks were measured with (the default embedding model's).
// Errors { error: { code, message } }: 400 invalid_input (message names the field) · 401 unauthorized ·
//   403 forbidden · 404 not_found (document_id unknown or another user's) · 405 method_not_allowed ·
//   429 rate_limited (rate limit 'ingest' or 'ingest_rpc', or a quota; Retry-After) ·
//   413 payload_too_large (> 5 MiB) | too_many_chunks (> setting documents.max_chunks) ·
//   415 unsupported_media_type (not UTF-8 text) · 502 provider_error (semantic: the embedding provider
//   failed) · 500 internal_error. Chunking finishes before the one RPC call, and the RPC is one
//   transaction, so a failed request writes nothing.
// Re-ingesting the same text with the same settings is a no-op (replaced: false): content_hash covers
// the text, the chunking settings, the title (every chunk's heading_path starts with it) and the
// chunker version.
import { createClient } from 'npm:@supabase/supabase-js@2.109.0'
import {
  chunkDocument,
  CHUNKER_VERSION,
  ChunkLimitError,
  contentHash,
  loadTokenizer,
  type SentenceEmbedder,
} from '../_shared/chunking/mod.ts'
import { createProvider, EmbeddingError, type EmbeddingModelConfig } from '../_shared/embeddings.ts'
import { HttpError, json, preflight } from '../_shared/http.ts'
import { checkLimits, rateLimited } from '../_shared/limits.ts'
import { traced, tracedFetch, withSpan } from '../_shared/tracing.ts'
import { type IngestRequest, readIngestRequest } from './request.ts'

/** The default embedding model's row, as far as chunking needs it. */
export interface DefaultModel extends EmbeddingModelConfig {
  tokenizer: string
  max_input_tokens: number
  max_batch_inputs: number
  max_batch_tokens: number
}

export interface IngestArgs {
  chunks: unknown[]
  title: string | null
  source_uri: string | null
  metadata: Record<string, unknown>
  format: string
  content_hash: string
  chunking: Record<string, unknown>
  document_id: string | null
}

/** What the handler needs from the database, as the caller. */
export interface IngestStore {
  /** The default embedding model, settings documents.max_chunks and embeddings.provider_timeout_milliseconds. */
  config(): Promise<{ model: DefaultModel | null; maxChunks: number; providerTimeoutMs: number }>
  /** ingest_document's result (document_ingest as JSON). */
  ingest(args: IngestArgs): Promise<Record<string, unknown>>
}

export interface HandlerDeps {
  env?: (name: string) => string | undefined
  /** The store for a request's Authorization header; by default supabase-js as the caller. */
  store?: (authorization: string) => IngestStore
  /** The semantic strategy's embedder for a model; by default the model's provider (_shared/embeddings.ts). */
  embedderFor?: (model: DefaultModel, timeoutMs: number) => SentenceEmbedder
  /**
   * Rate limit and quota check for the caller (throws HttpError 429); by default public.check_limits('ingest')
   * through PostgREST — or none when `store` is injected (handler tests) and this is not.
   */
  limits?: (authorization: string) => Promise<void>
}

const MODEL_COLUMNS =
  'name, provider, provider_model, dims, base_url, api_key_env, request_dimensions, tokenizer, max_input_tokens, max_batch_inputs, max_batch_tokens'

/** A PostgREST error as supabase-js reports it (`code` is the SQLSTATE or a PGRST code). */
interface PostgrestLikeError {
  code?: string
  message: string
  details?: string | null
  hint?: string | null
}

/** An HttpError for a PostgREST error, by SQLSTATE (PostgREST's own table, plus ingest_document's codes). */
export function fromPostgrest(err: PostgrestLikeError, status?: number): HttpError {
  const code = err.code ?? ''
  const message = err.message + (err.hint ? ` (${err.hint})` : '')
  if (code === 'PT429' || status === 429) {
    return rateLimited(new Headers(), { message: err.message, details: err.details })
  }
  if (code === 'PT404' || status === 404) return new HttpError(404, 'not_found', message)
  if (code.startsWith('22') || code === '23514' || code === '23502') return new HttpError(400, 'invalid_input', message)
  if (code === '42501' || status === 403) return new HttpError(403, 'forbidden', message)
  if (code.startsWith('PGRST30') || status === 401) return new HttpError(401, 'unauthorized', message)
  return new HttpError(500, 'internal_error', `database error ${code}: ${message}`)
}

function supabaseStore(env: (name: string) => string | undefined, authorization: string): IngestStore {
  const url = env('SUPABASE_URL')
  const anonKey = env('SUPABASE_ANON_KEY')
  if (!url || !anonKey) throw new HttpError(500, 'internal_error', 'SUPABASE_URL and SUPABASE_ANON_KEY must be set')
  const client = createClient(url, anonKey, {
    // tracedFetch: each read and the RPC are client spans of the request's trace.
    global: { headers: { Authorization: authorization }, fetch: tracedFetch() },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  })
  return {
    async config() {
      const [model, settings] = await Promise.all([
        client.from('embedding_models').select(MODEL_COLUMNS).eq('is_default', true).maybeSingle(),
        client.from('settings').select('category, key, value').in('category', ['documents', 'embeddings']),
      ])
      if (model.error) throw fromPostgrest(model.error, model.status)
      if (settings.error) throw fromPostgrest(settings.error, settings.status)
      const setting = (category: string, key: string, fallback: number) => {
        const row = (settings.data ?? []).find((s) => s.category === category && s.key === key)
        return typeof row?.value === 'number' ? row.value : fallback
      }
      return {
        model: model.data as DefaultModel | null,
        maxChunks: setting('documents', 'max_chunks', 10000),
        providerTimeoutMs: setting('embeddings', 'provider_timeout_milliseconds', 30000),
      }
    },
    async ingest(args) {
      const { data, error, status } = await client.rpc('ingest_document', args)
      if (error) throw fromPostgrest(error, status)
      return data as Record<string, unknown>
    },
  }
}

export function createHandler(deps: HandlerDeps = {}): (req: Request) => Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name))
  const storeFor = deps.store ?? ((authorization: string) => supabaseStore(env, authorization))
  const limits = deps.limits ??
    (deps.store ? () => Promise.resolve() : (authorization: string) => checkLimits('ingest', authorization, env))
  const embedderFor = deps.embedderFor ?? ((model: DefaultModel, timeoutMs: number): SentenceEmbedder => {
    const provider = createProvider(model, { env, timeoutMs })
    return {
      embed: (texts) => provider.embed(texts),
      maxInputTokens: model.max_input_tokens,
      maxBatchInputs: model.max_batch_inputs,
      maxBatchTokens: model.max_batch_tokens,
    }
  })

  return async (req) => {
    const pre = preflight(req)
    if (pre) return pre
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST')
      const authorization = req.headers.get('authorization')
      if (!authorization || !/^Bearer\s+\S+$/i.test(authorization)) {
        throw new HttpError(401, 'unauthorized', 'missing Authorization: Bearer <access token>')
      }
      // Started before the body is read, awaited before anything is spent.
      const gate = limits(authorization)
      gate.catch(() => {})
      const input = await readIngestRequest(req)
      await gate
      const store = storeFor(authorization)
      const { model, maxChunks, providerTimeoutMs } = await store.config()
      if (!model) throw new HttpError(500, 'internal_error', 'no default embedding model (embedding_models.is_default)')
      const result = await ingest(input, model, maxChunks, providerTimeoutMs, store, embedderFor)
      return json(200, result)
    } catch (err) {
      if (err instanceof HttpError) return err.toResponse()
      console.error('[ingest] failed:', err)
      return new HttpError(500, 'internal_error', (err as Error).message ?? String(err)).toResponse()
    }
  }
}

async function ingest(
  input: IngestRequest,
  model: DefaultModel,
  maxChunks: number,
  providerTimeoutMs: number,
  store: IngestStore,
  embedderFor: NonNullable<HandlerDeps['embedderFor']>,
): Promise<Record<string, unknown>> {
  const tokenizer = await loadTokenizer(model.tokenizer)
  const semantic = input.strategy === 'semantic'
  // What the chunks are a function of. Stored as documents.chunking (without the title, which the
  // document row has anyway) and hashed, with the title and the text, into content_hash.
  const chunking: Record<string, unknown> = {
    chunker: CHUNKER_VERSION,
    strategy: input.strategy,
    format: input.format,
    chunk_tokens: input.chunk_tokens,
    chunk_overlap: input.chunk_overlap,
    parent_tokens: input.parent_tokens,
    tokenizer: model.tokenizer,
    ...(semantic ? { semantic_threshold: input.semantic_threshold, embedding_model: model.name } : {}),
  }
  let chunks
  try {
    chunks = await withSpan('chunk', {
      attributes: { 'chunk.strategy': input.strategy, 'chunk.tokens': input.chunk_tokens },
    }, async (span) => {
      const out = await chunkDocument(input.content, input.title, input, {
        tokenizer,
        maxChunks,
        embedder: semantic ? embedderFor(model, providerTimeoutMs) : undefined,
      })
      span?.setAttributes({ 'chunk.count': out.length })
      return out
    })
  } catch (err) {
    if (err instanceof ChunkLimitError) {
      throw new HttpError(
        413,
        'too_many_chunks',
        `${err.message}; use a larger chunk_tokens (now ${input.chunk_tokens}) or split the document`,
      )
    }
    if (err instanceof EmbeddingError) {
      throw new HttpError(
        502,
        'provider_error',
        `semantic chunking needs embeddings and the provider failed: ${err.message}`,
      )
    }
    throw err
  }
  if (!chunks.length) {
    throw new HttpError(400, 'invalid_input', 'content has no text to chunk (it is only Markdown headings)')
  }
  const result = await store.ingest({
    chunks,
    title: input.title,
    source_uri: input.source_uri,
    metadata: input.metadata,
    format: input.format,
    content_hash: await contentHash(input.content, { ...chunking, title: input.title }),
    chunking,
    document_id: input.document_id,
  })
  return { ...result, strategy: input.strategy, tokenizer: model.tokenizer }
}

export const handler = traced('ingest', createHandler())
