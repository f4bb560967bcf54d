// The search function's configuration from the rows of public.settings (category 'search', see
// 20261201000900_search_settings.sql, whose trigger refuses bad values). A step that is not fully
// configured gets the reason instead of a config, so the response can say which setting to set.
import type { ChatConfig } from '../_shared/chat.ts'
import { RERANK_PROVIDERS, type RerankConfig, type RerankProviderName } from '../_shared/rerank.ts'

export interface SearchSettings {
  timeoutMs: number
  rerank: RerankConfig | { unavailable: string }
  chat: ChatConfig | { unavailable: string }
}

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_CHAT_MAX_TOKENS = 256

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)
const int = (v: unknown, lo: number, hi: number, fallback: number): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : fallback

/** `rows` as {key: value} of category 'search'. */
export function searchSettings(rows: Record<string, unknown>): SearchSettings {
  const timeoutMs = int(rows.provider_timeout_milliseconds, 100, 120_000, DEFAULT_TIMEOUT_MS)
  const provider = str(rows.rerank_provider)
  let rerank: SearchSettings['rerank']
  if (provider === null) {
    rerank = { unavailable: 'not configured: set the setting search.rerank_provider (cohere, jina, voyage or tei)' }
  } else if (!RERANK_PROVIDERS.includes(provider as RerankProviderName)) {
    rerank = { unavailable: `setting search.rerank_provider names an unknown provider ${JSON.stringify(provider)}` }
  } else if (provider !== 'tei' && str(rows.rerank_model) === null) {
    rerank = { unavailable: `not configured: ${provider} needs the setting search.rerank_model` }
  } else if (provider === 'tei' && str(rows.rerank_base_url) === null) {
    rerank = { unavailable: 'not configured: tei needs the setting search.rerank_base_url' }
  } else {
    rerank = {
      provider: provider as RerankProviderName,
      model: str(rows.rerank_model),
      baseUrl: str(rows.rerank_base_url),
      apiKeyEnv: str(rows.rerank_api_key_env),
      timeoutMs,
    }
  }
  const model = str(rows.chat_model)
  const chat: SearchSettings['chat'] = model === null
    ? { unavailable: 'not configured: set the setting search.chat_model (an OpenAI-compatible chat model)' }
    : {
      model,
      baseUrl: str(rows.chat_base_url),
      apiKeyEnv: str(rows.chat_api_key_env),
      maxTokens: int(rows.chat_max_tokens, 16, 4096, DEFAULT_CHAT_MAX_TOKENS),
      timeoutMs,
    }
  return { timeoutMs, rerank, chat }
}
