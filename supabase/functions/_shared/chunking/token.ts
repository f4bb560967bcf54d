// Strategy `token`: fixed windows over the text's tokens, ignoring its structure. The text is tokenized
// once; parents are consecutive windows of parent_tokens tokens, each cut into leaf windows of
// chunk_tokens tokens that start chunk_tokens − chunk_overlap tokens apart (the last one ends at the
// parent's end), so leaves never cross a parent. A window's token boundaries are turned back into
// offsets of the source (moved back to a grapheme boundary when a token ends inside a character, so
// no window splits a character, emoji or combining sequence) and the span is trimmed of white space;
// each is then re-counted on its exact text (a slice can tokenize differently from the same text in
// context) and given back a token until it fits. heading_path is just the title: windows ignore headings.
import { chunkOf, type HierarchyOptions } from './pack.ts'
import { graphemeFloor, trimSpan } from './text.ts'
import type { Tokenizer } from './tokens.ts'
import type { ChunkSink } from './types.ts'

export function chunkTokenWindows(
  source: string,
  headingPath: string[],
  opts: HierarchyOptions,
  tk: Tokenizer,
  sink: ChunkSink,
): void {
  const { ends } = tk.encodeWithOffsets(source)
  const n = ends.length
  // Source offset after the first `t` tokens, at a grapheme boundary.
  const offsetAfter = (t: number): number => {
    if (t <= 0) return 0
    if (t >= n) return source.length
    let k = t - 1
    while (k > 0 && ends[k] === -1) k--
    return graphemeFloor(source, ends[k] === -1 ? 0 : ends[k])
  }
  const fit = (a: number, e: number, max: number) => {
    for (; e > a; e--) {
      const span = trimSpan(source, offsetAfter(a), offsetAfter(e))
      if (!span) return { e, span: null }
      const tokens = tk.count(source.slice(span.start, span.end))
      if (tokens <= max) return { e, span: { ...span, tokens } }
    }
    return { e: a, span: null }
  }
  for (let p = 0; p < n;) {
    const parent = fit(p, Math.min(p + opts.parentTokens, n), opts.parentTokens)
    const pEnd = parent.e > p ? parent.e : Math.min(p + opts.parentTokens, n)
    const leaves = []
    for (let a = p; a < pEnd;) {
      const leaf = fit(a, Math.min(a + opts.chunkTokens, pEnd), opts.chunkTokens)
      const e = leaf.e > a ? leaf.e : Math.min(a + opts.chunkTokens, pEnd)
      if (leaf.span) leaves.push(leaf.span)
      if (e >= pEnd) break
      // The next window repeats the last chunk_overlap tokens of this one.
      a = Math.max(a + 1, e - opts.chunkOverlap)
    }
    let parentIndex: number | null = null
    if (leaves.length > 1 && parent.span) parentIndex = sink.add(chunkOf(source, parent.span, 1, null, headingPath))
    for (const leaf of leaves) sink.add(chunkOf(source, leaf, 0, parentIndex, headingPath))
    p = pEnd
  }
}
