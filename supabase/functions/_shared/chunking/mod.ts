// Chunking a document for ingest_document: one entry point over the four strategies, and the content
// hash that makes re-ingesting the same text with the same settings a no-op.
// Pure functions of (text, title, settings, tokenizer[, embedder]) — no database, no environment — so the
// unit tests call them directly and the ingest function only adds HTTP and the RPC around them.
import { markdownPassages } from './markdown.ts'
import { emitPassage, type HierarchyOptions } from './pack.ts'
import { chunkParagraphs } from './paragraph.ts'
import { chunkSemantic, type SentenceEmbedder } from './semantic.ts'
import { fitSpan, paragraphSpans } from './text.ts'
import { chunkTokenWindows } from './token.ts'
import type { Tokenizer } from './tokens.ts'
import { type Chunk, type ChunkSettings, ChunkSink } from './types.ts'

export * from './types.ts'
export { loadTokenizer, type Tokenizer } from './tokens.ts'
export type { SentenceEmbedder } from './semantic.ts'

/**
 * Bumped whenever a change to the chunkers changes their output for the same input, so documents
 * ingested before re-chunk on their next ingest instead of keeping chunks the new code would not make.
 */
export const CHUNKER_VERSION = 1

export interface ChunkDeps {
  tokenizer: Tokenizer
  /** Required by the semantic strategy. */
  embedder?: SentenceEmbedder
  /** Most chunks allowed (ChunkLimitError beyond it, thrown as soon as it is crossed). */
  maxChunks?: number
}

/** The chunks of `source` in reading order, parents before their leaves. */
export async function chunkDocument(
  source: string,
  title: string | null,
  settings: ChunkSettings,
  deps: ChunkDeps,
): Promise<Chunk[]> {
  const tk = deps.tokenizer
  const sink = new ChunkSink(deps.maxChunks)
  const base = title ? [title] : []
  const opts: HierarchyOptions = {
    chunkTokens: settings.chunk_tokens,
    chunkOverlap: settings.chunk_overlap,
    parentTokens: settings.parent_tokens,
  }
  switch (settings.strategy) {
    case 'markdown':
      for (const p of markdownPassages(source, base, opts.chunkTokens, tk)) {
        emitPassage(source, p.pieces, p.headingPath, opts, tk, sink)
      }
      break
    case 'paragraph':
      chunkParagraphs(source, base, opts, tk, sink)
      break
    case 'token':
      chunkTokenWindows(source, base, opts, tk, sink)
      break
    case 'semantic': {
      if (!deps.embedder) throw new Error('the semantic strategy needs an embedder')
      const passages = settings.format === 'markdown' ? markdownPassages(source, base, opts.chunkTokens, tk, true) : [{
        headingPath: base,
        pieces: paragraphSpans(source, 0, source.length).flatMap((p) => fitSpan(source, p, opts.chunkTokens, tk, true)),
      }]
      await chunkSemantic(source, passages, settings.semantic_threshold, opts, tk, deps.embedder, sink)
      break
    }
  }
  return sink.chunks
}

/** JSON with object keys sorted at every level: the same settings always serialise the same way. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']'
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}'
  }
  return JSON.stringify(value)
}

/**
 * sha256 (hex) of everything the chunks are a function of: the chunker version, the settings that shape
 * them (canonical JSON; includes the title, which is the first heading_path entry of every chunk, and the
 * tokenizer / embedding model) and the source text.
 */
export async function contentHash(source: string, shape: Record<string, unknown>): Promise<string> {
  const input = `agent-memory chunker v${CHUNKER_VERSION}\n${canonicalJson(shape)}\n${source}`
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(input))
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}
