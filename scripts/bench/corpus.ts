// Seeded synthetic text for the benchmarks: documents and chat messages whose words follow a Zipf law,
// as natural language does (the r-th most frequent word has frequency ∝ 1 / r^s, s ≈ 1.07). The most
// frequent ranks are real English stop words (so the tokenizer drops them, as it does in real text); the
// rest are pronounceable pseudo-words made of syllables, distinct from each other. The same seed always
// gives the same text (mulberry32 PRNG), so runs are comparable.
//
// Hand-written: no maintained npm package generates Zipf-distributed corpora, and the whole generator is
// a few lines of arithmetic.

const STOP_WORDS = [
  'the', 'of', 'and', 'to', 'a', 'in', 'is', 'that', 'for', 'it', 'as', 'was', 'with', 'be', 'by', 'on', 'not',
  'he', 'this', 'are', 'or', 'his', 'from', 'at', 'which', 'but', 'have', 'an', 'had', 'they', 'you', 'were',
  'their', 'one', 'all', 'we', 'can', 'her', 'has', 'there', 'been', 'if', 'more', 'when', 'will', 'would', 'who',
]
const ONSETS = ['b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'br', 'ch', 'cl', 'dr', 'fl', 'gr', 'pl', 'pr', 'sh', 'st', 'th', 'tr']
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'io', 'ou']
const CODAS = ['', '', '', 'n', 'r', 's', 'l', 'm', 'x', 'nd', 'rt', 'st']

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface CorpusOptions {
  seed?: number
  /** Distinct words (default 50,000). */
  vocabulary?: number
  /** Zipf exponent (default 1.07). */
  exponent?: number
  /** Seed of the vocabulary (default `seed`): streams that share it draw words from the same language. */
  vocabularySeed?: number
}

export class ZipfText {
  readonly words: string[]
  private readonly cumulative: Float64Array
  readonly random: () => number

  constructor(opts: CorpusOptions = {}) {
    const size = opts.vocabulary ?? 50_000
    const s = opts.exponent ?? 1.07
    this.random = rng(opts.seed ?? 42)
    const vocabRandom = rng((opts.vocabularySeed ?? opts.seed ?? 42) ^ 0x5bd1e995)
    const seen = new Set<string>(STOP_WORDS)
    this.words = [...STOP_WORDS]
    const pick = <T>(xs: T[]) => xs[Math.floor(vocabRandom() * xs.length)]
    while (this.words.length < size) {
      const syllables = 2 + Math.floor(vocabRandom() * 3)
      let w = ''
      for (let i = 0; i < syllables; i++) w += pick(ONSETS) + pick(VOWELS) + (i === syllables - 1 ? pick(CODAS) : '')
      if (!seen.has(w)) {
        seen.add(w)
        this.words.push(w)
      }
    }
    this.cumulative = new Float64Array(size)
    let total = 0
    for (let r = 0; r < size; r++) {
      total += 1 / Math.pow(r + 1, s)
      this.cumulative[r] = total
    }
    for (let r = 0; r < size; r++) this.cumulative[r] /= total
  }

  /** A word drawn from the Zipf distribution. */
  word(): string {
    const x = this.random()
    let lo = 0
    let hi = this.cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.cumulative[mid] < x) lo = mid + 1
      else hi = mid
    }
    return this.words[lo]
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1))
  }

  /** A sentence of 6–24 words, capitalised, with a full stop. */
  sentence(): string {
    const n = this.int(6, 24)
    const ws = Array.from({ length: n }, () => this.word())
    ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1)
    return ws.join(' ') + '.'
  }

  /** Text of about `words` words, in sentences. */
  text(words: number): string {
    const out: string[] = []
    let count = 0
    while (count < words) {
      const s = this.sentence()
      out.push(s)
      count += s.split(' ').length
    }
    return out.join(' ')
  }

  /** A search query: 2–4 content words taken from `text` (so it matches something), as a user would type. */
  queryFrom(text: string): string {
    const content = [...new Set(text.toLowerCase().match(/[a-z]+/g) ?? [])].filter((w) => !STOP_WORDS.includes(w))
    const n = Math.min(content.length, this.int(2, 4))
    const picked: string[] = []
    while (picked.length < n) {
      const w = content[Math.floor(this.random() * content.length)]
      if (!picked.includes(w)) picked.push(w)
    }
    return picked.join(' ')
  }
}

// ── Conversations and documents ─────────────────────────────────────────────────────────────────────
// The bench corpus: chat threads and documents drawn from one seed, as infinite streams, so a corpus of
// 10,000 messages starts with exactly the 1,000 messages of the 1k corpus (a run grows 1k → 10k → 100k by
// inserting the difference). Lengths follow log-normal laws, the usual fit for chat transcripts (most turns
// short, a long tail): user turns median ~14 words, assistant turns ~60, tool results ~35; threads median
// ~16 messages (2–600); documents median ~8 chunks of 60–220 words. About one assistant turn in seven calls
// a tool: the call (assistant, tool_call_id + tool_name), its result (role tool, same id), then the answer.

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'

export interface ChatMessage {
  /** Index of the thread in its stream (0, 1, …); one long thread is thread 0 throughout. */
  thread: number
  role: ChatRole
  content: string
  tool_call_id?: string
  tool_name?: string
}

export interface DocumentChunk {
  /** Index of the document in its stream. */
  document: number
  ordinal: number
  content: string
  heading_path: string[]
}

const TOOLS = ['search_web', 'read_file', 'run_sql', 'get_weather', 'calendar_lookup', 'send_email']

/** Standard normal deviate (Box–Muller) from a uniform source. */
function gaussian(random: () => number): number {
  const u = 1 - random()
  const v = random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** A log-normal integer with the given median and shape, clamped to [min, max]. */
export function logNormalInt(random: () => number, median: number, sigma: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * gaussian(random)))))
}

export interface ConversationOptions extends CorpusOptions {
  /**
   * One long-running thread (a single agent's history of many sessions, one system prompt) instead of
   * threads of realistic lengths: every message has thread 0.
   */
  single?: boolean
}

/** Chat messages thread after thread, forever; the same seed yields the same stream. */
export function* conversations(opts: ConversationOptions = {}): Generator<ChatMessage> {
  const text = new ZipfText(opts)
  const r = text.random
  let calls = 0
  for (let thread = 0, session = 0; ; session++) {
    if (!opts.single || session === 0) {
      yield { thread, role: 'system', content: `You are a helpful assistant with a long memory. ${text.sentence()}` }
    }
    const length = logNormalInt(r, 16, 1.0, 2, 600)
    for (let i = 0; i < length; ) {
      yield { thread, role: 'user', content: text.text(logNormalInt(r, 14, 0.9, 1, 400)) }
      i++
      if (r() < 1 / 7) {
        const id = `call_${(++calls).toString(36)}`
        const name = TOOLS[Math.floor(r() * TOOLS.length)]
        yield { thread, role: 'assistant', content: `Calling ${name}: ${text.text(logNormalInt(r, 8, 0.5, 2, 40))}`, tool_call_id: id, tool_name: name }
        yield { thread, role: 'tool', content: JSON.stringify({ result: text.text(logNormalInt(r, 35, 0.8, 3, 600)) }), tool_call_id: id, tool_name: name }
        i += 2
      }
      yield { thread, role: 'assistant', content: text.text(logNormalInt(r, 60, 0.8, 3, 1200)) }
      i++
    }
    if (!opts.single) thread++
  }
}

/** Document chunks document after document, forever; the same seed yields the same stream. */
export function* documents(opts: CorpusOptions = {}): Generator<DocumentChunk> {
  const text = new ZipfText(opts)
  const r = text.random
  for (let document = 0; ; document++) {
    const chunks = logNormalInt(r, 8, 0.9, 1, 80)
    for (let ordinal = 0; ordinal < chunks; ordinal++) {
      yield { document, ordinal, content: text.text(text.int(60, 220)), heading_path: [`Document ${document}`, `Section ${ordinal + 1}`] }
    }
  }
}

/** The next `n` items of a stream. */
export function take<T>(stream: Iterator<T>, n: number): T[] {
  const out: T[] = []
  for (let i = 0; i < n; i++) out.push(stream.next().value as T)
  return out
}
