// Strategy `markdown` (the default): headings define sections and the heading path, then each section's
// blocks are packed into leaves (see ./pack.ts for parents and overlap).
//
// Parsed with mdast-util-from-markdown (micromark, CommonMark-compliant) rather than regexes because it
// gives every node its exact start/end offset in the source — which char_start/char_end must be — and
// gets the cases regexes get wrong: setext headings (`Title` over `=====`), `#` lines inside fenced or
// indented code (not headings), `#hashtag` (not a heading), headings inside lists or block quotes (not
// section breaks), CRLF line endings.
//   * Only top-level headings (ATX `#`…`######` and setext) start sections; a heading of depth d closes
//     the open headings of depth ≥ d. The heading line itself is not chunk content: the heading path
//     carries it (the SQL prepends it to what is embedded and indexed).
//   * A block that fits in chunk_tokens is one piece, so a fenced code block that fits is never split,
//     and no overlap starts inside it. A longer code block is cut at line starts; a longer list or block
//     quote splits into its items / children; a longer paragraph into sentences, then at word starts.
import { fromMarkdown } from 'npm:mdast-util-from-markdown@2.1.0'
import { toString } from 'npm:mdast-util-to-string@4.0.0'
import { cutByTokens, fitSpan, type Piece, trimSpan } from './text.ts'
import type { Tokenizer } from './tokens.ts'

/** The parts of an mdast node this module reads. */
interface MdNode {
  type: string
  depth?: number
  children?: MdNode[]
  position?: { start: { offset?: number }; end: { offset?: number } }
}

export interface Section {
  headingPath: string[]
  blocks: MdNode[]
}

const CONTAINERS = new Set(['list', 'listItem', 'blockquote', 'footnoteDefinition'])

/** The text's sections in reading order (those without any block under their heading are left out). */
export function markdownSections(source: string, base: string[]): Section[] {
  const root = fromMarkdown(source) as unknown as MdNode
  const open: { depth: number; text: string }[] = []
  const sections: Section[] = []
  let current: Section = { headingPath: [...base], blocks: [] }
  for (const node of root.children ?? []) {
    if (node.type !== 'heading') {
      current.blocks.push(node)
      continue
    }
    if (current.blocks.length) sections.push(current)
    while (open.length && open[open.length - 1].depth >= node.depth!) open.pop()
    open.push({ depth: node.depth!, text: toString(node as never).replace(/\s+/g, ' ').trim() })
    // An empty heading (`#` alone) still closes deeper ones but adds nothing to the path.
    current = { headingPath: [...base, ...open.filter((h) => h.text).map((h) => h.text)], blocks: [] }
  }
  if (current.blocks.length) sections.push(current)
  return sections
}

/**
 * Pieces (each ≤ max tokens) of one block. With `sentences`, paragraphs are always split into sentences
 * and containers into their children (the semantic strategy embeds sentence-sized units).
 */
export function blockPieces(source: string, node: MdNode, max: number, tk: Tokenizer, sentences = false): Piece[] {
  const span = trimSpan(source, node.position?.start.offset ?? 0, node.position?.end.offset ?? 0)
  if (!span) return []
  const text = source.slice(span.start, span.end)
  if (node.type === 'code') {
    const tokens = tk.count(text)
    if (tokens <= max) return [{ ...span, tokens, solid: true }]
    return cutByTokens(source, span, max, tk, 'line')
  }
  if (CONTAINERS.has(node.type) && node.children?.length) {
    if (!sentences) {
      const tokens = tk.count(text)
      if (tokens <= max) return [{ ...span, tokens }]
    }
    const pieces = node.children.flatMap((c) => blockPieces(source, c, max, tk, sentences))
    // Keep the container's marker ("- ", "1. ", "> ") with its first piece when it still fits.
    if (pieces.length && pieces[0].start > span.start) {
      const tokens = tk.count(source.slice(span.start, pieces[0].end))
      if (tokens <= max) pieces[0] = { ...pieces[0], start: span.start, tokens }
    }
    return pieces
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
