// The offline summarizer: an extractive summary — sentences chosen from the previous summary and the new
// messages, never written anew — under a token budget counted with the real tokenizer (js-tiktoken). Used
// when no chat model is configured (setting summaries.model null), so summaries work without a provider.
//
// Method (in the spirit of Luhn's and SumBasic's frequency-based selection):
//   1. candidates: the previous summary's sentences, then the new messages' sentences (user and assistant
//      messages; tool calls and tool results are skipped), each new one labelled with its speaker
//      ("User: …"); sentences longer than MAX_SENTENCE_TOKENS are cut; repeats are dropped;
//   2. score: the content words (not stop words, at least 3 letters) are weighted by how often they occur
//      across all candidates; a sentence scores the mean weight of its distinct content words, times 1.2
//      for what the user said (facts about the user), plus a little for numbers and names;
//   3. select: highest score per token first while the summary stays within the budget (its exact token
//      count, separators included), then restore the original order, so the summary reads as it happened.
// Deterministic: the same input always gives the same summary.
import type { Tiktoken } from 'npm:js-tiktoken@1.0.21/lite'
import { encode } from './tokenizer.ts'

export interface SummaryMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string
  tool_name?: string | null
}

/** Longest sentence kept whole; a longer one is cut to this many tokens and ends with "…". */
export const MAX_SENTENCE_TOKENS = 80

const STOP_WORDS = new Set(
  ('a about above after again against all am an and any are as at be because been before being below between both but by ' +
    'can could did do does doing down during each few for from further had has have having he her here hers herself him ' +
    'himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or ' +
    'other our ours ourselves out over own same she should so some such than that the their theirs them themselves then ' +
    'there these they this those through to too under until up very was we were what when where which while who whom why ' +
    'will with would you your yours yourself yourselves also yes okay ok thanks thank please sure hello hi hey let lets ' +
    'get got like well really one two want need know think going would could')
    .split(/\s+/),
)

interface Candidate {
  text: string
  order: number
  tokens: number
  score: number
}

/** Sentences of a text: split after . ! ? (followed by space) and at line breaks; blank pieces dropped. */
export function sentences(text: string): string[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n+|(?<=[.!?…])\s+(?=[\p{Lu}\p{N}"'“(\[])/u)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => /[\p{L}\p{N}]/u.test(s))
}

function words(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []).map((w) => w.replace(/'s$/, '').replace(/'/g, ''))
}

const contentWords = (text: string) => words(text).filter((w) => w.length >= 3 && !STOP_WORDS.has(w))

function label(role: SummaryMessage['role']): string {
  return role === 'user' ? 'User' : 'Assistant'
}

/** `text` cut to at most `max` tokens of `enc`, at a word boundary when one is near, with an ellipsis. */
function cutToTokens(enc: Tiktoken, text: string, max: number): string {
  const ids = encode(enc, text)
  if (ids.length <= max) return text
  let head = enc.decode(ids.slice(0, Math.max(1, max - 1))).replace(/\uFFFD+$/, '')
  const space = head.lastIndexOf(' ')
  if (space > head.length / 2) head = head.slice(0, space)
  return head.replace(/[\s,;:]+$/, '') + '…'
}

/**
 * The extractive summary of `previous` (null: none yet) extended with `messages`, at most `maxTokens`
 * tokens of `enc`. Returns '' only when there is nothing to summarize (no sentence at all).
 */
export function extractiveSummary(
  enc: Tiktoken,
  previous: string | null,
  messages: SummaryMessage[],
  maxTokens: number,
): string {
  const raw: { text: string; user: boolean }[] = []
  for (const s of sentences(previous ?? '')) raw.push({ text: s, user: /^User:/.test(s) })
  for (const m of messages) {
    if (m.role !== 'user' && m.role !== 'assistant') continue
    if (m.tool_name && !m.content.trim()) continue
    for (const s of sentences(m.content)) raw.push({ text: `${label(m.role)}: ${s}`, user: m.role === 'user' })
  }
  const seen = new Set<string>()
  const frequency = new Map<string, number>()
  const prepared: { text: string; user: boolean; order: number; words: string[] }[] = []
  raw.forEach((r, order) => {
    const text = cutToTokens(enc, r.text, MAX_SENTENCE_TOKENS)
    const key = words(text.replace(/^(User|Assistant):\s*/, '')).join(' ')
    if (!key || seen.has(key)) return
    seen.add(key)
    const ws = [...new Set(contentWords(text.replace(/^(User|Assistant):\s*/, '')))]
    for (const w of ws) frequency.set(w, (frequency.get(w) ?? 0) + 1)
    prepared.push({ text, user: r.user, order, words: ws })
  })
  if (!prepared.length) return ''

  const candidates: Candidate[] = prepared.map((p) => {
    const weight = p.words.length ? p.words.reduce((s, w) => s + Math.log2(1 + (frequency.get(w) ?? 0)), 0) / p.words.length : 0
    const specifics = (p.text.match(/\p{N}/gu) ? 0.1 : 0) +
      (p.text.replace(/^(User|Assistant):\s*\S+/, '').match(/\s\p{Lu}\p{Ll}+/gu) ? 0.1 : 0)
    return {
      text: p.text,
      order: p.order,
      tokens: encode(enc, p.text).length,
      score: (weight + specifics + (p.words.length ? 0.05 : 0)) * (p.user ? 1.2 : 1),
    }
  })

  // Best value per token first; ties: earlier first.
  const ranked = [...candidates].sort((a, b) => b.score / Math.sqrt(b.tokens) - a.score / Math.sqrt(a.tokens) || a.order - b.order)
  const chosen: Candidate[] = []
  let budget = 0
  const separator = encode(enc, ' ').length
  for (const c of ranked) {
    const cost = c.tokens + (chosen.length ? separator : 0)
    if (budget + cost > maxTokens) continue
    chosen.push(c)
    budget += cost
  }
  chosen.sort((a, b) => a.order - b.order)
  let summary = chosen.map((c) => c.text).join(' ')
  // Joining can merge tokens at the seams; drop the last-chosen sentence until the exact count fits.
  while (summary && encode(enc, summary).length > maxTokens && chosen.length) {
    const worst = chosen.reduce((w, c) => (c.score < w.score ? c : w), chosen[0])
    chosen.splice(chosen.indexOf(worst), 1)
    summary = chosen.map((c) => c.text).join(' ')
  }
  if (!summary) {
    // Not even one sentence fits: the best one, cut to the budget.
    summary = cutToTokens(enc, ranked[0].text, maxTokens)
  }
  return summary
}
