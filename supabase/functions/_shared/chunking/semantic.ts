// Strategy `semantic`: boundaries where the meaning changes (Greg Kamradt's method, as LangChain's
// SemanticChunker implements it with breakpoint_threshold_type "percentile"):
//   1. split into sentences (Markdown: within each section, code blocks whole; text: within paragraphs);
//   2. embed every sentence with the default embedding model's provider — as few calls as its batch
//      limits allow (max_batch_inputs, max_batch_tokens), each input cut to max_input_tokens;
//   3. cosine distance between each pair of adjacent sentences;
//   4. a boundary after every sentence whose distance to the next is above the `threshold` percentile of
//      all distances (linear interpolation, numpy's default);
//   5. each run of sentences between boundaries (and Markdown section breaks) is a passage, packed so no leaf exceeds chunk_tokens
//      (with overlap and parents as in ./pack.ts).
// Each sentence is embedded alone (LangChain's buffer_size 0): the brief is to compare adjacent sentences,
// and a lexical embedder such as hash-384 blurs topic shifts when neighbours are mixed in.
// Provider failures propagate (EmbeddingError): nothing is chunked, so nothing is written.
import { emitPassage, type HierarchyOptions } from './pack.ts'
import type { Piece } from './text.ts'
import type { Tokenizer } from './tokens.ts'
import type { ChunkSink } from './types.ts'

/** What the semantic chunker needs of the embedding model. */
export interface SentenceEmbedder {
  embed(texts: string[]): Promise<number[][]>
  maxInputTokens: number
  maxBatchInputs: number
  maxBatchTokens: number
}

export interface Passage {
  headingPath: string[]
  pieces: Piece[]
}

/** The p-th percentile (0–100) of `values`, interpolating linearly between closest ranks (numpy's default). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

export function cosineDistance(a: number[], b: number[]): number {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return na && nb ? 1 - dot / Math.sqrt(na * nb) : 1
}

/** Embeds `pieces` in order, in consecutive batches within the model's limits. */
export async function embedPieces(
  source: string,
  pieces: Piece[],
  embedder: SentenceEmbedder,
  tk: Tokenizer,
): Promise<number[][]> {
  const inputs = pieces.map((p) => {
    const text = source.slice(p.start, p.end)
    if (p.tokens <= embedder.maxInputTokens) return { text, tokens: p.tokens }
    const { ends } = tk.encodeWithOffsets(text)
    let k = embedder.maxInputTokens - 1
    while (k > 0 && ends[k] === -1) k--
    return { text: text.slice(0, Math.max(1, ends[k])), tokens: k + 1 }
  })
  const vectors: number[][] = []
  for (let i = 0; i < inputs.length;) {
    let j = i
    let tokens = 0
    while (
      j < inputs.length && j - i < embedder.maxBatchInputs &&
      (j === i || tokens + inputs[j].tokens <= embedder.maxBatchTokens)
    ) {
      tokens += inputs[j].tokens
      j++
    }
    vectors.push(...await embedder.embed(inputs.slice(i, j).map((x) => x.text)))
    i = j
  }
  return vectors
}

/** Splits each passage at the semantic boundaries and appends the resulting chunks to `sink`. */
export async function chunkSemantic(
  source: string,
  passages: Passage[],
  threshold: number,
  opts: HierarchyOptions,
  tk: Tokenizer,
  embedder: SentenceEmbedder,
  sink: ChunkSink,
): Promise<void> {
  const all = passages.flatMap((p) => p.pieces)
  if (!all.length) return
  const vectors = await embedPieces(source, all, embedder, tk)
  // Distances between all adjacent sentences, across section boundaries too: a section break is a boundary
  // anyway, and counting its (usually large) distance keeps the percentile from forcing extra breaks
  // inside sections.
  const distances = all.slice(1).map((_, k) => cosineDistance(vectors[k], vectors[k + 1]))
  const cutoff = distances.length ? percentile(distances, threshold) : Infinity
  let at = 0
  for (const p of passages) {
    let from = 0
    for (let k = 0; k < p.pieces.length; k++) {
      if (k === p.pieces.length - 1 || distances[at + k] > cutoff) {
        emitPassage(source, p.pieces.slice(from, k + 1), p.headingPath, opts, tk, sink)
        from = k + 1
      }
    }
    at += p.pieces.length
  }
}
