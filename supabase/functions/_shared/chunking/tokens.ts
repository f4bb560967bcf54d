// Token counts and token-exact text positions for the chunkers, in the embedding model's real tokenizer.
//
// Same BPE as js-tiktoken — its rank tables and its pre-tokenizer regex, merges applied lowest rank
// first, leftmost on ties — so ids and counts are identical to `js-tiktoken`'s encode() (the unit tests
// check that), but with two things js-tiktoken cannot give us:
//   * speed on long pieces: js-tiktoken re-joins every adjacent byte pair on every merge (quadratic in a
//     pre-tokenizer piece with string allocation per step), which makes CJK text ~10 KB/s and a long run
//     of letters without spaces effectively never finish; here pairs sit in a heap and only the two
//     neighbours of a merge are looked up again (n log n);
//   * where each token ends in the text (UTF-16 offset, or -1 when a token ends inside a multi-byte
//     character), which the token strategy needs to turn token windows back into exact source spans.
// Text is encoded as plain text: special-token strings are ordinary characters, as in ../tokenizer.ts.
import { type EncodingName, isEncodingName, loadRanks } from '../tokenizer.ts'

export interface Tokenizer {
  /** The js-tiktoken encoding name (cl100k_base, o200k_base, …). */
  readonly name: string
  encode(text: string): number[]
  count(text: string): number
  /**
   * Token ids, and for each token the UTF-16 offset in `text` just after it — or -1 when the token ends
   * inside a character (BPE can split one character's UTF-8 bytes over two tokens).
   */
  encodeWithOffsets(text: string): { ids: number[]; ends: number[] }
}

const loaded = new Map<string, Promise<Tokenizer>>()

/** The tokenizer for an encoding name; rejects with a RangeError for one js-tiktoken does not ship. */
export function loadTokenizer(name: string): Promise<Tokenizer> {
  if (!isEncodingName(name)) return Promise.reject(new RangeError(`unknown tokenizer "${name}"`))
  let p = loaded.get(name)
  if (!p) {
    p = loadRanks(name as EncodingName).then((ranks) => new BpeTokenizer(name, ranks.pat_str, ranks.bpe_ranks))
    loaded.set(name, p)
    p.catch(() => loaded.delete(name))
  }
  return p
}

const encoder = new TextEncoder()

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** UTF-8 bytes of `s` as a "binary string" (one char per byte) — the key type of the rank map. */
function utf8Binary(s: string): string {
  if (isAscii(s)) return s
  const bytes = encoder.encode(s)
  let out = ''
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192))
  }
  return out
}

// Heap keys pack (rank, byte position) into one float: rank × 2^26 + position. Ranks are < 2^27 and a
// piece is far below 2^26 bytes (requests are a few MB), so keys are exact integers below 2^53.
const POS = 2 ** 26

class BpeTokenizer implements Tokenizer {
  private ranks = new Map<string, number>()

  constructor(readonly name: string, private patStr: string, bpeRanks: string) {
    // Lines of "<prefix> <first rank> <base64 token> <base64 token> …", as js-tiktoken's constructor reads them.
    for (const line of bpeRanks.split('\n')) {
      if (!line) continue
      const [, offsetStr, ...tokens] = line.split(' ')
      const offset = Number.parseInt(offsetStr, 10)
      tokens.forEach((token, i) => this.ranks.set(atob(token), offset + i))
    }
  }

  encode(text: string): number[] {
    const ids: number[] = []
    for (const m of text.matchAll(new RegExp(this.patStr, 'ug'))) this.encodePiece(utf8Binary(m[0]), ids, null)
    return ids
  }

  count(text: string): number {
    return this.encode(text).length
  }

  encodeWithOffsets(text: string): { ids: number[]; ends: number[] } {
    const ids: number[] = []
    const ends: number[] = []
    const lens: number[] = []
    for (const m of text.matchAll(new RegExp(this.patStr, 'ug'))) {
      const piece = m[0]
      const bytes = utf8Binary(piece)
      lens.length = 0
      this.encodePiece(bytes, ids, lens)
      if (bytes.length === piece.length) {
        // ASCII: one byte per UTF-16 unit.
        let at = m.index
        for (const len of lens) ends.push(at += len)
        continue
      }
      // Byte offset within the piece → UTF-16 offset, at character starts only.
      const charAt = new Map<number, number>()
      let b = 0
      for (let u = 0; u < piece.length;) {
        charAt.set(b, m.index + u)
        const cp = piece.codePointAt(u)!
        b += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
        u += cp > 0xffff ? 2 : 1
      }
      charAt.set(b, m.index + piece.length)
      let at = 0
      for (const len of lens) ends.push(charAt.get(at += len) ?? -1)
    }
    return { ids, ends }
  }

  /** Appends the ids of one pre-tokenizer piece (and, when `lens` is given, each token's byte length). */
  private encodePiece(bytes: string, ids: number[], lens: number[] | null): void {
    const whole = this.ranks.get(bytes)
    if (whole !== undefined) {
      ids.push(whole)
      lens?.push(bytes.length)
      return
    }
    const n = bytes.length
    // Parts are a linked list of byte ranges [start, next[start]); pairRank[a] is the rank of the part
    // starting at a merged with its right neighbour (undefined: no such token).
    const next = new Int32Array(n + 1)
    const prev = new Int32Array(n + 1)
    for (let i = 0; i <= n; i++) {
      next[i] = i + 1
      prev[i] = i - 1
    }
    const pairRank = new Array<number | undefined>(n)
    const heap: number[] = []
    const rankOf = (a: number): number | undefined => {
      const b = next[a]
      return b < n ? this.ranks.get(bytes.slice(a, next[b])) : undefined
    }
    for (let a = 0; a + 1 < n; a++) {
      const r = (pairRank[a] = rankOf(a))
      if (r !== undefined) heapPush(heap, r * POS + a)
    }
    while (heap.length) {
      const key = heapPop(heap)
      const rank = Math.floor(key / POS)
      const a = key - rank * POS
      // Stale: `a` was merged into its left neighbour, or its pair changed (a different span has a
      // different rank, since ranks are unique per byte string).
      if (pairRank[a] !== rank) continue
      const b = next[a]
      next[a] = next[b]
      prev[next[b]] = a
      pairRank[b] = undefined
      const r = (pairRank[a] = rankOf(a))
      if (r !== undefined) heapPush(heap, r * POS + a)
      const p = prev[a]
      if (p >= 0) {
        const rp = (pairRank[p] = rankOf(p))
        if (rp !== undefined) heapPush(heap, rp * POS + p)
      }
    }
    for (let a = 0; a < n; a = next[a]) {
      ids.push(this.ranks.get(bytes.slice(a, next[a]))!)
      lens?.push(next[a] - a)
    }
  }
}

function heapPush(h: number[], v: number): void {
  let i = h.length
  h.push(v)
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (h[parent] <= v) break
    h[i] = h[parent]
    i = parent
  }
  h[i] = v
}

function heapPop(h: number[]): number {
  const top = h[0]
  const last = h.pop()!
  if (h.length) {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const c = l + 1 < h.length && h[l + 1] < h[l] ? l + 1 : l
      if (h[c] >= last) break
      h[i] = h[c]
      i = c
    }
    h[i] = last
  }
  return top
}
