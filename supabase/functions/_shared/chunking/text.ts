// Text helpers shared by the chunkers: spans of a source text (offsets are UTF-16 indices into it, as
// String.prototype.slice takes them), paragraph / sentence / word / grapheme boundaries, and cutting a
// span that is too long into pieces of at most N tokens at the best boundary available.
// Sentences, words and graphemes come from Intl.Segmenter (ICU's Unicode segmentation, so CJK text
// without spaces still has word boundaries, and an emoji sequence is one grapheme).
import type { Tokenizer } from './tokens.ts'

/** [start, end) in the source text. */
export interface Span {
  start: number
  end: number
}

/** A span the packer treats as a unit, with its token count. */
export interface Piece extends Span {
  tokens: number
  /** Never start an overlap inside it (a code block: a leaf must not begin in the middle of a fence). */
  solid?: boolean
}

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' })
const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' })
const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

const isSpace = (c: string) => /\s/u.test(c)

/** The span without leading and trailing white space, or null when it is blank. */
export function trimSpan(source: string, start: number, end: number): Span | null {
  while (start < end && isSpace(source[start])) start++
  while (end > start && isSpace(source[end - 1])) end--
  return start < end ? { start, end } : null
}

/** Blank-line-separated paragraphs of [start, end), trimmed, blank ones left out. */
export function paragraphSpans(source: string, start: number, end: number): Span[] {
  const out: Span[] = []
  // A blank line: a line break, then only white space (\r included) up to the next line break.
  const blank = /\n[^\S\n]*\n/g
  blank.lastIndex = start
  let from = start
  for (let m = blank.exec(source); m && m.index < end; m = blank.exec(source)) {
    const s = trimSpan(source, from, Math.min(m.index, end))
    if (s) out.push(s)
    from = m.index + m[0].length
    // The match consumed the second line break; the next blank line may begin with it.
    blank.lastIndex = from - 1
  }
  const last = trimSpan(source, from, end)
  if (last) out.push(last)
  return out
}

/** Sentences of [start, end) (Unicode sentence boundaries; a line break ends one too), trimmed. */
export function sentenceSpans(source: string, start: number, end: number): Span[] {
  const out: Span[] = []
  for (const seg of sentenceSegmenter.segment(source.slice(start, end))) {
    const s = trimSpan(source, start + seg.index, start + seg.index + seg.segment.length)
    if (s) out.push(s)
  }
  return out
}

/** Offsets in [start, end) where a word (or any other non-space segment: punctuation, a CJK word) starts. */
export function wordStarts(source: string, start: number, end: number): number[] {
  const out: number[] = []
  for (const seg of wordSegmenter.segment(source.slice(start, end))) {
    if (!isSpace(seg.segment[0])) out.push(start + seg.index)
  }
  return out
}

/** Offsets in [start, end) where a line starts after a line break. */
export function lineStarts(source: string, start: number, end: number): number[] {
  const out: number[] = []
  for (let i = source.indexOf('\n', start); i !== -1 && i + 1 < end; i = source.indexOf('\n', i + 1)) out.push(i + 1)
  return out
}

/**
 * The largest grapheme boundary ≤ `offset` (never inside a surrogate pair, a combining sequence or an
 * emoji ZWJ sequence). Segments a small window around the offset; a cluster longer than that window
 * (pathological combining marks) falls back to the nearest code point boundary.
 */
export function graphemeFloor(source: string, offset: number): number {
  if (offset <= 0 || offset >= source.length) return Math.max(0, Math.min(offset, source.length))
  const from = Math.max(0, offset - 64)
  let best = -1
  for (const seg of graphemeSegmenter.segment(source.slice(from, Math.min(source.length, offset + 64)))) {
    const at = from + seg.index
    if (at > offset) break
    // The window's first segment may start mid-cluster; only trust it when the window starts the text.
    if (at > from || from === 0) best = at
  }
  if (best > 0 || (best === 0 && from === 0)) return best
  return codePointFloor(source, offset)
}

function codePointFloor(source: string, offset: number): number {
  const c = source.charCodeAt(offset)
  return c >= 0xdc00 && c <= 0xdfff && offset > 0 ? offset - 1 : offset
}

export type CutAt = 'word' | 'line'

/**
 * Cuts [span.start, span.end) into consecutive pieces of at most `max` tokens each, ending each piece at
 * the last word start (or line start, for code) that keeps it within `max`, or at a grapheme boundary
 * when one word (line) alone is longer than that. Pieces are trimmed; every one is verified with the
 * tokenizer (a slice can tokenize differently from the same text in context).
 */
export function cutByTokens(source: string, span: Span, max: number, tk: Tokenizer, at: CutAt = 'word'): Piece[] {
  const text = source.slice(span.start, span.end)
  const { ends } = tk.encodeWithOffsets(text)
  const candidates = at === 'line' ? lineStarts(source, span.start, span.end) : wordStarts(source, span.start, span.end)
  const out: Piece[] = []
  let start = span.start
  let tok = 0 // index of the first token at or after `start` (tokens of the whole span)
  let cand = 0
  while (start < span.end) {
    const trimmed = trimSpan(source, start, span.end)
    if (!trimmed) break
    start = trimmed.start
    // Past every token that ends at or before `start` (tokens ending inside a character have no offset).
    for (let t = tok; t < ends.length; t++) {
      if (ends[t] === -1) continue
      if (span.start + ends[t] > start) break
      tok = t + 1
    }
    // Where `max` tokens from here end (in the span's own tokenization).
    let limit = tok + max - 1
    let cut: number
    if (limit >= ends.length - 1) cut = span.end
    else {
      while (limit > tok && ends[limit] === -1) limit--
      cut = span.start + ends[limit]
    }
    let piece = cut >= span.end ? trimSpan(source, start, span.end) : null
    let tokens = piece ? tk.count(source.slice(piece.start, piece.end)) : Infinity
    while (!piece || tokens > max) {
      // The last boundary candidate in (start, cut], else a grapheme boundary before cut.
      while (cand < candidates.length && candidates[cand] <= start) cand++
      let k = cand
      while (k < candidates.length && candidates[k] <= cut) k++
      const boundary = k > cand ? candidates[k - 1] : graphemeFloor(source, cut)
      const end = boundary > start ? boundary : Math.max(codePointFloor(source, cut), nextCodePoint(source, start))
      piece = trimSpan(source, start, end) ?? { start, end }
      tokens = tk.count(source.slice(piece.start, piece.end))
      if (tokens > max) cut = end - 1
    }
    out.push({ ...piece, tokens })
    start = piece.end
  }
  return out
}

function nextCodePoint(source: string, offset: number): number {
  const c = source.codePointAt(offset)!
  return offset + (c > 0xffff ? 2 : 1)
}

/**
 * `span` as pieces of at most `max` tokens, as coarse as possible: the span itself when it fits (unless
 * `sentences` asks for sentence pieces anyway), else its sentences, and a sentence that is still too long
 * is cut at word starts (or, inside one over-long word, at grapheme boundaries).
 */
export function fitSpan(source: string, span: Span, max: number, tk: Tokenizer, sentences = false): Piece[] {
  const t = trimSpan(source, span.start, span.end)
  if (!t) return []
  if (!sentences) {
    const tokens = tk.count(source.slice(t.start, t.end))
    if (tokens <= max) return [{ ...t, tokens }]
  }
  const out: Piece[] = []
  for (const s of sentenceSpans(source, t.start, t.end)) {
    const tokens = tk.count(source.slice(s.start, s.end))
    if (tokens <= max) out.push({ ...s, tokens })
    else out.push(...cutByTokens(source, s, max, tk))
  }
  return out
}
