// The chunkers' shared types: a chunk exactly as ingest_document takes it, the settings, and the sink
// chunks are appended to (which enforces the chunk limit as soon as it is crossed, not after the work).

/** One element of ingest_document's `chunks` argument. */
export interface Chunk {
  /** source.slice(char_start, char_end), never blank; the heading path is NOT in it (the SQL prepends it). */
  content: string
  /** 0 leaf (searched, embedded), 1 parent (the passage around its leaves). */
  level: 0 | 1
  /** Index in the chunk array of this leaf's parent (listed before it), or null. */
  parent: number | null
  /** [title, ...Markdown headings above the chunk], outermost first. */
  heading_path: string[]
  /** Tokens of content in the default embedding model's tokenizer. */
  token_count: number
  char_start: number
  char_end: number
}

export type Strategy = 'markdown' | 'paragraph' | 'token' | 'semantic'
export const STRATEGIES: readonly Strategy[] = ['markdown', 'paragraph', 'token', 'semantic']
export type Format = 'markdown' | 'text'
export const FORMATS: readonly Format[] = ['markdown', 'text']

export interface ChunkSettings {
  strategy: Strategy
  format: Format
  chunk_tokens: number
  chunk_overlap: number
  parent_tokens: number
  /** Percentile (50–99) of adjacent-sentence distances above which a semantic boundary is placed. */
  semantic_threshold: number
}

/** Thrown when a document would have more chunks than ingest_document accepts. */
export class ChunkLimitError extends Error {
  constructor(readonly limit: number) {
    super(`the document would have more than ${limit} chunks (the documents.max_chunks setting)`)
    this.name = 'ChunkLimitError'
  }
}

/** Collects chunks in order; add() returns the chunk's index (what a leaf's `parent` refers to). */
export class ChunkSink {
  readonly chunks: Chunk[] = []
  constructor(private readonly limit = Infinity) {}

  add(chunk: Chunk): number {
    if (this.chunks.length >= this.limit) throw new ChunkLimitError(this.limit)
    return this.chunks.push(chunk) - 1
  }
}
