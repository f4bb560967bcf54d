// Strategy `paragraph` (the default for plain text): blank-line-separated paragraphs packed into leaves;
// a paragraph longer than chunk_tokens is split by sentences, then by tokens (at word starts). The whole
// text is one passage (see ./pack.ts): parents are runs of paragraphs up to parent_tokens.
import { emitPassage, type HierarchyOptions } from './pack.ts'
import { fitSpan, paragraphSpans, type Piece } from './text.ts'
import type { Tokenizer } from './tokens.ts'
import type { ChunkSink } from './types.ts'

/** Paragraph pieces of the text (each at most `max` tokens). */
export function paragraphPieces(source: string, max: number, tk: Tokenizer): Piece[] {
  return paragraphSpans(source, 0, source.length).flatMap((p) => fitSpan(source, p, max, tk))
}

export function chunkParagraphs(
  source: string,
  headingPath: string[],
  opts: HierarchyOptions,
  tk: Tokenizer,
  sink: ChunkSink,
): void {
  emitPassage(source, paragraphPieces(source, opts.chunkTokens, tk), headingPath, opts, tk, sink)
}
