// hash-384: a deterministic feature-hashing embedder for offline development and tests.
//
// It is LEXICAL, not semantic: two texts are close when they share words and word pairs, not when they
// mean the same thing ("car" and "automobile" are unrelated to it). Use it to run the whole pipeline
// without a provider or network; use a real model (openai, supabase-ai) for semantic search.
//
// Method (Weinberger et al., "Feature Hashing for Large Scale Multitask Learning", 2009):
//   1. normalise: Unicode NFKC, lower case;
//   2. features: word tokens (runs of letters/digits, inner apostrophes kept) and adjacent word pairs
//      (weight 0.5); a text without words falls back to character trigrams of its non-space characters;
//   3. each feature is hashed (FNV-1a 32-bit over its UTF-8 bytes, then murmur3's fmix32) into one of
//      `dims` buckets, with a sign taken from another bit of the hash so collisions cancel out on average;
//      a feature seen n times contributes (1 + ln n) × weight (sublinear term frequency);
//   4. the vector is L2-normalised, so cosine similarity is a dot product.
// Pure and dependency-free (no Deno or Node globals): the embed function, the fake provider in tests and
// Node scripts (bench, eval) all import it and get bit-identical vectors. Hand-written because the
// function itself is the specification — a library would add nothing but a dependency.

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu
const encoder = new TextEncoder()

function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (const byte of encoder.encode(text)) {
    h ^= byte
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** murmur3's finaliser: spreads the bits of a 32-bit hash. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The weighted features of a text (feature → summed weight before term-frequency damping). */
export function hashFeatures(text: string): Map<string, { count: number; weight: number }> {
  const normalised = text.normalize('NFKC').toLowerCase()
  const words = normalised.match(WORD) ?? []
  const features = new Map<string, { count: number; weight: number }>()
  const add = (key: string, weight: number) => {
    const f = features.get(key)
    if (f) f.count++
    else features.set(key, { count: 1, weight })
  }
  if (words.length) {
    for (let i = 0; i < words.length; i++) {
      add('w:' + words[i], 1)
      if (i + 1 < words.length) add('b:' + words[i] + ' ' + words[i + 1], 0.5)
    }
  } else {
    const chars = [...normalised.replace(/\s+/gu, '')]
    if (chars.length < 3) {
      if (chars.length) add('c:' + chars.join(''), 1)
    } else for (let i = 0; i + 3 <= chars.length; i++) add('c:' + chars.slice(i, i + 3).join(''), 1)
  }
  return features
}

/**
 * Embeds `text` into an L2-normalised vector of `dims` numbers. Throws a RangeError for text with no
 * characters to hash (empty or only white space) and for a non-positive `dims`.
 */
export function hashEmbedding(text: string, dims = 384): number[] {
  if (!Number.isInteger(dims) || dims <= 0) throw new RangeError(`dims must be a positive integer, got ${dims}`)
  const features = hashFeatures(text)
  if (features.size === 0) throw new RangeError('cannot embed empty text')
  const v = new Float64Array(dims)
  for (const [key, { count, weight }] of features) {
    const h = fmix32(fnv1a(key))
    const bucket = h % dims
    const sign = fmix32(h ^ 0x9e3779b9) & 1 ? 1 : -1
    v[bucket] += sign * weight * (1 + Math.log(count))
  }
  let norm = 0
  for (const x of v) norm += x * x
  norm = Math.sqrt(norm)
  // Every feature landing in buckets that cancel exactly is possible in theory only; keep the vector finite.
  if (norm === 0) {
    v[0] = 1
    norm = 1
  }
  return Array.from(v, (x) => x / norm)
}
