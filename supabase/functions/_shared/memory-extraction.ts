// Memory extraction's conversation with the chat model: the prompts, and strict checks of its two JSON
// answers. An answer that is not exactly what the prompt asks for is a ProviderError 'bad_reply' naming
// what is wrong ("memories[1].kind must be fact, preference or event, got \"hobby\""); the job then fails
// without changing anything (retried, and dead-lettered with that reason after the last attempt).
//   extraction  the new messages, numbered → {"memories": [{"kind", "content", "sources": [numbers]}]}
//   decision    each candidate with its most similar existing memories → {"decisions": [{"candidate",
//               "action": add | update | none, "memory_id"}]}, one per candidate asked about
import { ProviderError } from './provider-http.ts'

export type MemoryKind = 'fact' | 'preference' | 'event'
export const KINDS: readonly MemoryKind[] = ['fact', 'preference', 'event']

export interface PromptMessage {
  n: number
  role: string
  content: string
}

export interface Candidate {
  kind: MemoryKind
  content: string
  /** Message numbers (1-based, as in the prompt) it comes from. */
  sources: number[]
}

export interface Match {
  id: string
  kind: MemoryKind
  content: string
  valid_from: string
  score: number
  bm25_rank: number | null
  vector_rank: number | null
  vector_score: number | null
}

export interface Decision {
  action: 'add' | 'update' | 'none'
  memory_id: string | null
}

/** Longest candidate kept (characters). */
export const MAX_CONTENT_CHARS = 1000

const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 80 ? s.slice(0, 80) + '…' : s
}

export function extractionUserPrompt(messages: PromptMessage[]): string {
  return 'Conversation (numbered messages):\n' + messages.map((m) => `[${m.n}] ${m.role}: ${m.content}`).join('\n')
}

export function decisionUserPrompt(asked: { candidate: Candidate; matches: Match[] }[]): string {
  return asked.map((a, i) =>
    `New memory [${i + 1}] (${a.candidate.kind}): ${a.candidate.content}\nExisting memories similar to [${i + 1}]:\n` +
    a.matches.map((m) => `- id ${m.id} (${m.kind}, since ${m.valid_from.slice(0, 10)}): ${m.content}`).join('\n')
  ).join('\n\n')
}

/** The JSON object in a model's answer: the whole text, or the body of a ```json fence around it. */
export function parseJsonAnswer(text: string): Record<string, unknown> {
  const trimmed = text.trim()
  const fenced = /^```(?:json)?\s*\n?([\s\S]*?)\n?```$/i.exec(trimmed)
  const body = fenced ? fenced[1] : trimmed
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch (err) {
    throw new ProviderError('bad_reply', `the answer is not valid JSON (${(err as Error).message}): ${show(trimmed)}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProviderError('bad_reply', `the answer must be a JSON object, got ${show(value)}`)
  }
  return value as Record<string, unknown>
}

/** Normalized text for comparing memories: lower case, letters and digits only, single spaces. */
export function normalize(text: string): string {
  return text.toLowerCase().normalize('NFKC').replace(/[^\p{L}\p{N}]+/gu, ' ').trim()
}

/**
 * The candidates of an extraction answer (at most `max`, repeats dropped), checked field by field;
 * `messageCount` bounds the source numbers.
 */
export function parseCandidates(text: string, messageCount: number, max: number): Candidate[] {
  const answer = parseJsonAnswer(text)
  const list = answer.memories
  if (!Array.isArray(list)) throw new ProviderError('bad_reply', `the answer has no "memories" array: ${show(answer)}`)
  const out: Candidate[] = []
  const seen = new Set<string>()
  list.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new ProviderError('bad_reply', `memories[${i}] must be an object, got ${show(item)}`)
    }
    const { kind, content, sources } = item as Record<string, unknown>
    if (typeof kind !== 'string' || !KINDS.includes(kind as MemoryKind)) {
      throw new ProviderError('bad_reply', `memories[${i}].kind must be fact, preference or event, got ${show(kind)}`)
    }
    if (typeof content !== 'string' || !/[\p{L}\p{N}]/u.test(content)) {
      throw new ProviderError('bad_reply', `memories[${i}].content must be a non-empty string, got ${show(content)}`)
    }
    if (content.length > MAX_CONTENT_CHARS) {
      throw new ProviderError('bad_reply', `memories[${i}].content is ${content.length} characters; at most ${MAX_CONTENT_CHARS}`)
    }
    let nums: number[] = []
    if (sources !== undefined && sources !== null) {
      if (!Array.isArray(sources) || sources.some((s) => !Number.isInteger(s) || s < 1 || s > messageCount)) {
        throw new ProviderError('bad_reply', `memories[${i}].sources must be message numbers from 1 to ${messageCount}, got ${show(sources)}`)
      }
      nums = [...new Set(sources as number[])].sort((a, b) => a - b)
    }
    const key = `${kind}\u0000${normalize(content)}`
    if (seen.has(key) || out.length >= max) return
    seen.add(key)
    out.push({ kind: kind as MemoryKind, content: content.replace(/\s+/g, ' ').trim(), sources: nums })
  })
  return out
}

/**
 * The decisions of a decision answer, in the order of `asked` (numbered from 1 in the prompt): one per
 * candidate, an update or none naming one of that candidate's matches.
 */
export function parseDecisions(text: string, asked: { matches: Match[] }[]): Decision[] {
  const answer = parseJsonAnswer(text)
  const list = answer.decisions
  if (!Array.isArray(list)) throw new ProviderError('bad_reply', `the answer has no "decisions" array: ${show(answer)}`)
  const out: (Decision | undefined)[] = asked.map(() => undefined)
  list.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new ProviderError('bad_reply', `decisions[${i}] must be an object, got ${show(item)}`)
    }
    const { candidate, action, memory_id } = item as Record<string, unknown>
    if (!Number.isInteger(candidate) || (candidate as number) < 1 || (candidate as number) > asked.length) {
      throw new ProviderError('bad_reply', `decisions[${i}].candidate must be a number from 1 to ${asked.length}, got ${show(candidate)}`)
    }
    const at = (candidate as number) - 1
    if (out[at]) throw new ProviderError('bad_reply', `decisions[${i}] decides candidate ${candidate} a second time`)
    if (action !== 'add' && action !== 'update' && action !== 'none') {
      throw new ProviderError('bad_reply', `decisions[${i}].action must be add, update or none, got ${show(action)}`)
    }
    if (action === 'add') {
      out[at] = { action, memory_id: null }
      return
    }
    if (typeof memory_id !== 'string' || !asked[at].matches.some((m) => m.id === memory_id)) {
      throw new ProviderError(
        'bad_reply',
        `decisions[${i}].memory_id must be the id of one of the memories listed for candidate ${candidate}, got ${show(memory_id)}`,
      )
    }
    out[at] = { action, memory_id }
  })
  const missing = out.findIndex((d) => !d)
  if (missing >= 0) throw new ProviderError('bad_reply', `the answer has no decision for candidate ${missing + 1}`)
  return out as Decision[]
}
