// Summarizers for incremental thread summaries: given the current summary (or none) and the messages after
// it, a summary that EXTENDS the current one. Two providers behind one interface:
//   chat        any OpenAI-compatible chat API (the model from public.models, the prompt from setting
//               summaries.prompt): one call per step, with the current summary and the new messages
//   extractive  the offline extractive summarizer (./extractive.ts), when no model is configured
// Either way the result is cut to max_summary_tokens with the thread's tokenizer, so the stored token
// count is exact and never over the limit.
import type { Tiktoken } from 'npm:js-tiktoken@1.0.21/lite'
import type { ChatClient } from './chat.ts'
import { extractiveSummary, type SummaryMessage } from './extractive.ts'
import { ProviderError } from './provider-http.ts'
import { encode } from './tokenizer.ts'

export interface SummaryRequest {
  previous: string | null
  messages: SummaryMessage[]
  /** Longest summary, in tokens of `enc`. */
  maxTokens: number
  /** Most tokens of `enc` any one message contributes to a prompt. */
  maxMessageTokens: number
  enc: Tiktoken
}

export interface Summarizer {
  readonly provider: 'chat' | 'extractive'
  readonly model: string | null
  summarize(req: SummaryRequest, signal?: AbortSignal): Promise<string>
}

export function extractiveSummarizer(): Summarizer {
  return {
    provider: 'extractive',
    model: null,
    summarize: (req) => Promise.resolve(extractiveSummary(req.enc, req.previous, req.messages, req.maxTokens)),
  }
}

/** How a message appears in the prompt: "[user] …", "[assistant] …", "[tool search] …". */
export function promptLine(m: SummaryMessage, enc: Tiktoken, maxTokens: number): string {
  const who = m.role === 'tool' ? `tool${m.tool_name ? ' ' + m.tool_name : ''}` : m.role
  return `[${who}] ${cutTokens(enc, m.content.trim() || (m.tool_name ? `(calls ${m.tool_name})` : '(empty)'), maxTokens)}`
}

/** The user message of a summarization call: the current summary, then the new messages. */
export function summaryPrompt(req: SummaryRequest): string {
  return `Current summary:\n${req.previous?.trim() || '(none yet)'}\n\nNew messages:\n` +
    req.messages.map((m) => promptLine(m, req.enc, req.maxMessageTokens)).join('\n') +
    `\n\nWrite the new summary (at most ${Math.floor(req.maxTokens * 0.7)} words).`
}

export function chatSummarizer(chat: ChatClient, prompt: string): Summarizer {
  return {
    provider: 'chat',
    model: chat.model,
    async summarize(req, signal) {
      const text = (await chat.complete([{ role: 'system', content: prompt }, { role: 'user', content: summaryPrompt(req) }], signal))
        .trim()
      if (!/[\p{L}\p{N}]/u.test(text)) throw new ProviderError('bad_reply', 'the model returned no summary text')
      return text
    },
  }
}

/** `text` cut to at most `max` tokens (at a word boundary when one is near). */
export function cutTokens(enc: Tiktoken, text: string, max: number): string {
  const ids = encode(enc, text)
  if (ids.length <= max) return text
  let head = enc.decode(ids.slice(0, max)).replace(/\uFFFD+$/, '')
  const space = head.lastIndexOf(' ')
  if (space > head.length / 2) head = head.slice(0, space)
  return head.trimEnd()
}

/**
 * A summary within `max` tokens: unchanged when it fits, else cut after the last whole sentence that fits
 * (or at a word boundary when even the first sentence is too long). Returns the text and its exact count.
 */
export function fitSummary(enc: Tiktoken, text: string, max: number): { summary: string; tokens: number } {
  const clean = text.trim()
  const ids = encode(enc, clean)
  if (ids.length <= max) return { summary: clean, tokens: ids.length }
  const head = enc.decode(ids.slice(0, max)).replace(/\uFFFD+$/, '')
  const end = Math.max(head.lastIndexOf('. '), head.lastIndexOf('! '), head.lastIndexOf('? '), head.lastIndexOf('.\n'))
  let summary = end > head.length / 3 ? head.slice(0, end + 1) : cutTokens(enc, clean, max)
  // Decoding and re-encoding a prefix can differ by a token at the cut; shrink until it fits.
  while (encode(enc, summary).length > max && summary.length > 0) summary = summary.slice(0, -1).trimEnd()
  return { summary, tokens: encode(enc, summary).length }
}
