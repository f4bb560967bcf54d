// Packing pieces (paragraphs, sentences, blocks — each already at most chunk_tokens) into chunks, and the
// two-level hierarchy every strategy but `token` shares:
//   passage (a Markdown section, the text's paragraphs, a semantic group)
//     → parents: consecutive pieces packed up to parent_tokens (no overlap), cut at piece boundaries;
//     → leaves: each parent's pieces packed up to chunk_tokens, consecutive leaves overlapping by about
//       chunk_overlap tokens (the overlap starts at a sentence start when one keeps at least half of it,
//       else at a word start; never inside a code block).
// A leaf always lies inside its parent, so the parent returned for a hit contains the hit. A parent with
// a single leaf would repeat it, so it is left out (the leaf has no parent) — in particular a passage
// that fits in one leaf has none. Overlap does not cross a parent boundary: parents end where a piece
// ends, so the next leaf starts a new paragraph/sentence anyway.
// Sizes are estimated from the pieces' counts and then verified on the exact slice (BPE is not additive
// over concatenation); a leaf over the limit gives back its last piece, or its overlap.
import { type Piece, sentenceSpans, type Span, trimSpan, wordStarts } from './text.ts'
import type { Tokenizer } from './tokens.ts'
import type { Chunk, ChunkSink } from './types.ts'

export interface Packed extends Span {
  tokens: number
  /** The pieces [from, to) it is made of (the first may be preceded by the previous chunk's overlap). */
  from: number
  to: number
}

/** Estimated tokens the white space before piece `k` adds (a line break is a token of its own; a space joins the next word). */
function gapTokens(source: string, pieces: Piece[], k: number): number {
  return k > 0 && source.slice(pieces[k - 1].end, pieces[k].start).includes('\n') ? 1 : 0
}

/**
 * Greedily packs `pieces` (each ≤ max tokens, in order, non-overlapping) into chunks of at most `max`
 * tokens; with `overlap` > 0 each chunk after the first starts with about that many tokens from the end
 * of the previous one.
 */
export function pack(source: string, pieces: Piece[], max: number, overlap: number, tk: Tokenizer): Packed[] {
  const out: Packed[] = []
  let i = 0
  let carry: { start: number; tokens: number } | null = null
  while (i < pieces.length) {
    let start: number = carry?.start ?? pieces[i].start
    let estimate = carry ? carry.tokens + gapTokens(source, pieces, i) : 0
    let j = i
    while (j < pieces.length) {
      const cost = pieces[j].tokens + (j > i || carry ? gapTokens(source, pieces, j) : 0)
      if (j > i && estimate + cost > max) break
      estimate += cost
      j++
    }
    let tokens = tk.count(source.slice(start, pieces[j - 1].end))
    while (tokens > max) {
      if (j - 1 > i) j--
      else if (carry) {
        // The next piece fills a chunk by itself: no room for the overlap.
        carry = null
        start = pieces[i].start
      } else throw new Error(`piece ${i} has ${tokens} tokens, more than ${max}`)
      tokens = tk.count(source.slice(start, pieces[j - 1].end))
    }
    const chunk: Packed = { start, end: pieces[j - 1].end, tokens, from: i, to: j }
    out.push(chunk)
    i = j
    carry = i < pieces.length && overlap > 0 ? overlapStart(source, chunk, pieces, overlap, tk) : null
  }
  return out
}

/**
 * Where the next chunk starts so that it repeats about `overlap` tokens of `chunk`: the earliest word start
 * whose suffix of the chunk has at most `overlap` tokens, moved to the next sentence start when that still
 * keeps half of them; never inside a solid piece, never at the chunk's own start. Null: no overlap fits.
 */
function overlapStart(
  source: string,
  chunk: Packed,
  pieces: Piece[],
  overlap: number,
  tk: Tokenizer,
): { start: number; tokens: number } | null {
  const { ends } = tk.encodeWithOffsets(source.slice(chunk.start, chunk.end))
  // At least one token of the chunk is not repeated, so the next chunk always moves forward.
  let k = Math.max(1, ends.length - overlap)
  while (k < ends.length && ends[k - 1] === -1) k++
  if (k >= ends.length) return null
  const from = chunk.start + ends[k - 1]
  const inSolid = (p: number) => {
    for (let x = chunk.from; x < chunk.to; x++) {
      if (pieces[x].solid && pieces[x].start < p && p < pieces[x].end) return true
    }
    return false
  }
  const suffix = (p: number) => tk.count(source.slice(p, chunk.end))
  let best: { start: number; tokens: number } | null = null
  // Segmenting from a little earlier: a segmenter started mid-word would report `from` as a word start.
  for (const p of wordStarts(source, Math.max(chunk.start, from - 32), chunk.end)) {
    if (p < from || p <= chunk.start || inSolid(p)) continue
    const tokens = suffix(p)
    if (tokens <= overlap) {
      best = { start: p, tokens }
      break
    }
  }
  if (!best) return null
  // Sentence starts after `best` (the first segment begins at best itself, usually mid-sentence).
  for (const s of sentenceSpans(source, best.start, chunk.end).slice(1)) {
    if (inSolid(s.start)) continue
    const tokens = suffix(s.start)
    if (tokens * 2 >= overlap) best = { start: s.start, tokens }
    break
  }
  return best
}

export interface HierarchyOptions {
  chunkTokens: number
  chunkOverlap: number
  parentTokens: number
}

/**
 * Appends a passage's chunks to `sink`: parents (level 1) before their leaves, leaves referencing their
 * parent's index; a parent only where it has at least two leaves.
 */
export function emitPassage(
  source: string,
  pieces: Piece[],
  headingPath: string[],
  opts: HierarchyOptions,
  tk: Tokenizer,
  sink: ChunkSink,
): void {
  if (!pieces.length) return
  for (const parent of pack(source, pieces, opts.parentTokens, 0, tk)) {
    const leaves = pack(source, pieces.slice(parent.from, parent.to), opts.chunkTokens, opts.chunkOverlap, tk)
    let parentIndex: number | null = null
    if (leaves.length > 1) {
      parentIndex = sink.add(chunkOf(source, parent, 1, null, headingPath))
    }
    for (const leaf of leaves) sink.add(chunkOf(source, leaf, 0, parentIndex, headingPath))
  }
}

export function chunkOf(
  source: string,
  span: Span & { tokens: number },
  level: 0 | 1,
  parent: number | null,
  headingPath: string[],
): Chunk {
  const t = trimSpan(source, span.start, span.end)!
  if (t.start !== span.start || t.end !== span.end) throw new Error('chunk spans are trimmed by construction')
  return {
    content: source.slice(span.start, span.end),
    level,
    parent,
    heading_path: [...headingPath],
    token_count: span.tokens,
    char_start: span.start,
    char_end: span.end,
  }
}
