// Exact token counts with js-tiktoken (OpenAI's BPE encodings in pure JS): measuring embedding inputs
// against a model's limits, truncating or splitting inputs that are too long, and the exact token_count
// written back to the source row. Encodings load lazily (each rank table is several MB) and are cached.
// Text is encoded as plain text: strings such as "<|endoftext|>" inside user content are ordinary
// characters, never special tokens (js-tiktoken would otherwise throw on them).
// The SDK has its own loader (client/tokens.ts) over the same js-tiktoken version: a deployed function can
// only import `npm:` specifiers, which Node cannot resolve, and the SDK must not depend on Edge Function
// files — so one module both runtimes import is not possible without an import map shipped per function.
import { Tiktoken } from 'npm:js-tiktoken@1.0.21/lite'

export const ENCODINGS = ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base'] as const
export type EncodingName = (typeof ENCODINGS)[number]

const loaded = new Map<EncodingName, Promise<Tiktoken>>()

/** The BPE rank table of `name` as js-tiktoken ships it (the chunkers build their own encoder from it). */
export async function loadRanks(name: EncodingName) {
  switch (name) {
    case 'o200k_base':
      return (await import('npm:js-tiktoken@1.0.21/ranks/o200k_base')).default
    case 'cl100k_base':
      return (await import('npm:js-tiktoken@1.0.21/ranks/cl100k_base')).default
    case 'p50k_base':
      return (await import('npm:js-tiktoken@1.0.21/ranks/p50k_base')).default
    case 'r50k_base':
      return (await import('npm:js-tiktoken@1.0.21/ranks/r50k_base')).default
  }
}

export function isEncodingName(name: string): name is EncodingName {
  return (ENCODINGS as readonly string[]).includes(name)
}

/** The encoder for `name`; rejects with a RangeError for an encoding js-tiktoken does not ship. */
export function encoding(name: string): Promise<Tiktoken> {
  if (!isEncodingName(name)) {
    return Promise.reject(new RangeError(`unknown tokenizer "${name}" (known: ${ENCODINGS.join(', ')})`))
  }
  let p = loaded.get(name)
  if (!p) {
    p = loadRanks(name).then((ranks) => new Tiktoken(ranks))
    loaded.set(name, p)
    p.catch(() => loaded.delete(name))
  }
  return p
}

/** Token ids of `text`, treating special-token strings as text. */
export function encode(enc: Tiktoken, text: string): number[] {
  return enc.encode(text, [], [])
}

/**
 * Cuts `tokens` into consecutive pieces of at most `max` tokens and decodes each back to text. A piece
 * boundary can fall inside a multi-byte character; the decoder then yields U+FFFD there, which is
 * harmless for embedding.
 */
export function splitTokens(enc: Tiktoken, tokens: number[], max: number): { text: string; tokens: number }[] {
  const pieces: { text: string; tokens: number }[] = []
  for (let i = 0; i < tokens.length; i += max) {
    const slice = tokens.slice(i, i + max)
    pieces.push({ text: enc.decode(slice), tokens: slice.length })
  }
  return pieces
}
