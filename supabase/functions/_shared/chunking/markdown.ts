// Strategy `markdown` (the default): headings define sections and the heading path, then each section's
// blocks are packed into leaves (see ./pack.ts for parents and overlap).
//
// Parsed with marked's lexer (CommonMark + GFM block grammar) rather than regexes, because it gets the
// cases regexes get wrong: setext headings (`Title` over `=====`), `#` lines inside fenced or indented
// code (not headings), `#hashtag` (not a heading), headings inside lists or block quotes (not section
// breaks). Its top-level tokens' `raw` texts concatenate to the (CRLF-normalised) source, which gives
// every block its exact offsets; a list's items concatenate to the list the same way. marked rather
// than micromark/mdast (which report offsets themselves) because micromark parses lists at ~25 KB/s —
// a 5 MB document would take minutes — where marked does ~700 KB/s.
//   * Only top-level headings (ATX `#`…`######` and setext) start sections; a heading of depth d closes
//     the open headings of depth ≥ d. The heading line itself is not chunk content: the heading path
//     carries it (the SQL prepends it to what is embedded and indexed).
//   * A block that fits in chunk_tokens is one piece, so a fenced code block that fits is never split,
//     and no overlap starts inside it. A longer code block is cut at line starts; a longer list splits
//     into its items; a longer paragraph, item or quote into sentences, then at word starts.
import { Lexer, type Token, type Tokens } from 'npm:marked@18.2.1'
import { cutByTokens, fitSpan, type Piece, type Span, trimSpan } from './text.ts'
import type { Tokenizer } from './tokens.ts'

/** A top-level block: its token and where it is in the source. */
interface Block extends Span {
  token: Token
}

export interface Section {
  headingPath: string[]
  blocks: Block[]
}

/** Plain text of inline tokens (emphasis, links, code spans … without their markup; inline HTML dropped). */
function inlineText(tokens: Token[] | undefined): string {
  return (tokens ?? []).map((t) => {
    if (t.type === 'html') return ''
    if ('tokens' in t && Array.isArray(t.tokens) && t.tokens.length) return inlineText(t.tokens)
    return 'text' in t && typeof t.text === 'string' ? t.text : ''
  }).join('')
}

/**
 * marked lexes a copy with CRLF (and lone CR) turned into LF; this maps an offset in that copy back to
 * the source (each removed CR shifts later offsets by one).
 */
function offsetMapper(source: string): { text: string; toSource: (n: number) => number } {
  if (!source.includes('\r')) return { text: source, toSource: (n) => n }
  const removed: number[] = [] // positions, in the normalised text, of the LF that replaced a CRLF
  let text = ''
  let last = 0
  for (let i = source.indexOf('\r'); i !== -1; i = source.indexOf('\r', i + 1)) {
    text += source.slice(last, i)
    if (source[i + 1] === '\n') removed.push(text.length)
    else text += '\n'
    last = i + 1
  }
  text += source.slice(last)
  return {
    text,
    toSource(n) {
      // Removed CRs at positions < n lie before offset n (a CR at n belongs to the LF at n, after it).
      let lo = 0
      let hi = removed.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (removed[mid] < n) lo = mid + 1
        else hi = mid
      }
      return n + lo
    },
  }
}

/** The text's sections in reading order (those without any block under their heading are left out). */
export function markdownSections(source: string, base: string[]): Section[] {
  const { text, toSource } = offsetMapper(source)
  const tokens = Lexer.lex(text)
  if (tokens.map((t) => t.raw).join('') !== text) {
    // Should not happen (marked's block tokens cover the text); if it does, offsets cannot be trusted:
    // treat the whole text as one section of paragraphs rather than guess.
    return [{
      headingPath: [...base],
      blocks: [{ start: 0, end: source.length, token: { type: 'paragraph', raw: source } as Token }],
    }]
  }
  const open: { depth: number; text: string }[] = []
  const sections: Section[] = []
  let current: Section = { headingPath: [...base], blocks: [] }
  let at = 0
  for (const token of tokens) {
    const start = at
    at += token.raw.length
    if (token.type === 'space') continue
    if (token.type !== 'heading') {
      current.blocks.push({ start: toSource(start), end: toSource(at), token })
      continue
    }
    const heading = token as Tokens.Heading
    if (current.blocks.length) sections.push(current)
    while (open.length && open[open.length - 1].depth >= heading.depth) open.pop()
    open.push({ depth: heading.depth, text: inlineText(heading.tokens).replace(/\s+/g, ' ').trim() })
    // An empty heading (`#` alone) still closes deeper ones but adds nothing to the path.
    current = { headingPath: [...base, ...open.filter((h) => h.text).map((h) => h.text)], blocks: [] }
  }
  if (current.blocks.length) sections.push(current)
  return sections
}

/**
 * Pieces (each ≤ max tokens) of one block. With `sentences`, paragraphs are always split into sentences
 * and lists into items (the semantic strategy embeds sentence-sized units).
 */
export function blockPieces(source: string, block: Block, max: number, tk: Tokenizer, sentences = false): Piece[] {
  const span = trimSpan(source, block.start, block.end)
  if (!span) return []
  const text = source.slice(span.start, span.end)
  if (block.token.type === 'code') {
    const tokens = tk.count(text)
    if (tokens <= max) return [{ ...span, tokens, solid: true }]
    return cutByTokens(source, span, max, tk, 'line')
  }
  if (block.token.type === 'list') {
    if (!sentences) {
      const tokens = tk.count(text)
      if (tokens <= max) return [{ ...span, tokens }]
    }
    // Item raws concatenate to the list's raw, in the normalised text; measure them there and map back
    // by the CRs the list's own source slice contains.
    const items = (block.token as Tokens.List).items
    const listSource = source.slice(block.start, block.end)
    const mapper = offsetMapper(listSource)
    if (items.map((i) => i.raw).join('') === mapper.text) {
      const pieces: Piece[] = []
      let at = 0
      for (const item of items) {
        const start = at
        at += item.raw.length
        const itemSpan = { start: block.start + mapper.toSource(start), end: block.start + mapper.toSource(at) }
        pieces.push(...fitSpan(source, itemSpan, max, tk, sentences))
      }
      return pieces
    }
  }
  return fitSpan(source, span, max, tk, sentences)
}

/** Every section's pieces, for packing. */
export function markdownPassages(
  source: string,
  base: string[],
  max: number,
  tk: Tokenizer,
  sentences = false,
): { headingPath: string[]; pieces: Piece[] }[] {
  return markdownSections(source, base).map((s) => ({
    headingPath: s.headingPath,
    pieces: s.blocks.flatMap((b) => blockPieces(source, b, max, tk, sentences)),
  }))
}
