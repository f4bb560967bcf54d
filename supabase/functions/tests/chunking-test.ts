// The chunkers (supabase/functions/_shared/chunking/) as pure functions: the BPE is js-tiktoken's, every
// chunk is an exact slice of the source within its token limit (measured with js-tiktoken itself), leaves
// overlap by about chunk_overlap tokens, heading paths follow the Markdown structure, parents wrap their
// leaves, no boundary splits a character, and the semantic strategy cuts where the topic changes — with
// hash-384 and with the fake OpenAI-compatible server, whose failure fails the chunking.
import assert from 'node:assert/strict'
import {
  chunkDocument,
  ChunkLimitError,
  type ChunkSettings,
  contentHash,
  loadTokenizer,
  type SentenceEmbedder,
} from '../_shared/chunking/mod.ts'
import type { Chunk } from '../_shared/chunking/types.ts'
import { percentile } from '../_shared/chunking/semantic.ts'
import { createProvider, EmbeddingError } from '../_shared/embeddings.ts'
import { hashEmbedding } from '../_shared/hash-embedding.ts'
import { encode, encoding } from '../_shared/tokenizer.ts'
import { FakeOpenAI } from './fake-openai.ts'

const tk = await loadTokenizer('cl100k_base')
const tiktoken = await encoding('cl100k_base')
/** Tokens as js-tiktoken counts them: the reference every limit is checked against. */
const tokens = (text: string) => encode(tiktoken, text).length

const settings = (s: Partial<ChunkSettings> = {}): ChunkSettings => ({
  strategy: 'markdown',
  format: 'markdown',
  chunk_tokens: 400,
  chunk_overlap: 40,
  parent_tokens: 1600,
  semantic_threshold: 95,
  ...s,
})

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
function graphemeBoundaries(text: string): Set<number> {
  const out = new Set<number>([text.length])
  for (const g of graphemes.segment(text)) out.add(g.index)
  return out
}

/** Invariants every strategy's output has; returns the leaves. */
function checkChunks(source: string, chunks: Chunk[], s: ChunkSettings): Chunk[] {
  assert.ok(chunks.length > 0, 'at least one chunk')
  const boundaries = graphemeBoundaries(source)
  chunks.forEach((c, i) => {
    assert.equal(source.slice(c.char_start, c.char_end), c.content, `chunk ${i}: content is the source slice`)
    assert.match(c.content, /^\S[\s\S]*\S$|^\S$/u, `chunk ${i}: not blank, no surrounding white space`)
    assert.equal(c.token_count, tokens(c.content), `chunk ${i}: token_count is js-tiktoken's count`)
    assert.ok(
      boundaries.has(c.char_start) && boundaries.has(c.char_end),
      `chunk ${i}: starts and ends between graphemes`,
    )
    if (c.level === 0) {
      assert.ok(c.token_count <= s.chunk_tokens, `leaf ${i}: ${c.token_count} ≤ ${s.chunk_tokens} tokens`)
      if (c.parent !== null) {
        const p = chunks[c.parent]
        assert.ok(c.parent < i && p.level === 1, `leaf ${i}: its parent is an earlier level-1 chunk`)
        assert.ok(p.char_start <= c.char_start && c.char_end <= p.char_end, `leaf ${i} lies inside its parent`)
        assert.deepEqual(p.heading_path, c.heading_path, `leaf ${i} has its parent's heading path`)
      }
    } else {
      assert.equal(c.parent, null, `parent ${i} has no parent`)
      assert.ok(c.token_count <= s.parent_tokens, `parent ${i}: ${c.token_count} ≤ ${s.parent_tokens} tokens`)
      assert.ok(chunks.filter((x) => x.parent === i).length >= 2, `parent ${i} has at least two leaves`)
    }
  })
  const leaves = chunks.filter((c) => c.level === 0)
  for (let k = 1; k < leaves.length; k++) {
    assert.ok(leaves[k].char_start > leaves[k - 1].char_start, `leaf ${k} starts after leaf ${k - 1}`)
    assert.ok(leaves[k].char_end > leaves[k - 1].char_end, `leaf ${k} ends after leaf ${k - 1}`)
  }
  return leaves
}

/** Every non-space character of `source` outside `except` spans is in some leaf. */
function assertCovered(source: string, leaves: Chunk[], except: [number, number][] = []) {
  const covered = new Uint8Array(source.length)
  for (const l of leaves) covered.fill(1, l.char_start, l.char_end)
  for (const [a, b] of except) covered.fill(1, a, b)
  for (let i = 0; i < source.length; i++) {
    if (!covered[i] && /\S/.test(source[i])) {
      assert.fail(`character ${i} (${JSON.stringify(source.slice(i, i + 20))}) is in no leaf`)
    }
  }
}

/** Tokens shared by consecutive leaves of the same parent. */
function overlaps(source: string, leaves: Chunk[]): number[] {
  const out: number[] = []
  for (let k = 1; k < leaves.length; k++) {
    if (
      leaves[k].parent !== leaves[k - 1].parent ||
      leaves[k].heading_path.join('\u0000') !== leaves[k - 1].heading_path.join('\u0000')
    ) continue
    out.push(
      leaves[k].char_start < leaves[k - 1].char_end
        ? tokens(source.slice(leaves[k].char_start, leaves[k - 1].char_end))
        : 0,
    )
  }
  return out
}

// Prose with ordinary sentences: 26 paragraphs of 6 sentences, about 2,600 tokens.
const WORDS =
  'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon'.split(' ')
function prose(paragraphs: number, seed = 1): string {
  let x = seed
  const rand = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648
  const sentence = () => {
    const n = 6 + Math.floor(rand() * 10)
    const words = Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)])
    words[0] = words[0][0].toUpperCase() + words[0].slice(1)
    return words.join(' ') + (rand() < 0.8 ? '.' : '?')
  }
  return Array.from({ length: paragraphs }, () => Array.from({ length: 6 }, sentence).join(' ')).join('\n\n')
}

Deno.test("the BPE is js-tiktoken's, and token end offsets are exact", async () => {
  const samples = [
    'Hello world!  \n\n  trailing spaces   ',
    '日本語のテキストは空白なしで書かれます。中文也没有空格。',
    'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵 combining é',
    'x'.repeat(1500),
    '3.14159265358979 1234567890 $1,000.00',
    'function f(a) {\n\treturn a + 1;\n}\n\n\n',
    '<|endoftext|> is plain text here',
    'Ünïcödé Ωμέγα Привет мир עברית العربية',
    '\u{10FFFF}\u{1F600}a\u0301',
    prose(3),
  ]
  for (const name of ['cl100k_base', 'o200k_base']) {
    const ours = await loadTokenizer(name)
    const ref = await encoding(name)
    for (const s of samples) {
      assert.deepEqual(ours.encode(s), encode(ref, s), `${name}: same ids for ${JSON.stringify(s.slice(0, 30))}`)
      const { ids, ends } = ours.encodeWithOffsets(s)
      assert.equal(ids.length, ends.length)
      ends.forEach((e, i) => {
        if (e >= 0) assert.equal(ref.decode(ids.slice(0, i + 1)), s.slice(0, e), `${name}: token ${i} ends at ${e}`)
      })
      assert.equal(ends[ends.length - 1], s.length, 'the last token ends the text')
    }
  }
})

Deno.test('markdown: heading paths follow ATX and setext headings; # in code is not a heading', async () => {
  const source = [
    'Preamble before any heading.',
    '',
    '# Guide',
    '',
    'Guide intro text.',
    '',
    '## Install',
    '',
    '```sh',
    '# this is a shell comment, not a heading',
    'npm install',
    '```',
    '',
    '### Linux',
    '',
    'Use the package manager.',
    '',
    'Setext Usage',
    '------------',
    '',
    'Usage text under a setext heading (level 2).',
    '',
    '    # indented code, not a heading',
    '',
    'Top Level Again',
    '===============',
    '',
    'A #hashtag is not a heading either.',
  ].join('\n')
  const s = settings()
  const chunks = await chunkDocument(source, 'Handbook', s, { tokenizer: tk })
  checkChunks(source, chunks, s)
  assert.deepEqual(chunks.map((c) => [c.heading_path, c.content.split('\n')[0]]), [
    [['Handbook'], 'Preamble before any heading.'],
    [['Handbook', 'Guide'], 'Guide intro text.'],
    [['Handbook', 'Guide', 'Install'], '```sh'],
    [['Handbook', 'Guide', 'Install', 'Linux'], 'Use the package manager.'],
    [['Handbook', 'Guide', 'Setext Usage'], 'Usage text under a setext heading (level 2).'],
    [['Handbook', 'Top Level Again'], 'A #hashtag is not a heading either.'],
  ])
  assert.ok(chunks[2].content.includes('# this is a shell comment'), 'the code block is kept whole')
  assert.ok(
    chunks[4].content.endsWith('    # indented code, not a heading'.trim()),
    'indented code stays in its section',
  )
  // No title: the path is only the headings.
  const untitled = await chunkDocument(source, null, s, { tokenizer: tk })
  assert.deepEqual(untitled[0].heading_path, [])
  assert.deepEqual(untitled[3].heading_path, ['Guide', 'Install', 'Linux'])
  // CRLF line endings: the same sections, offsets exact in the CRLF text.
  const crlf = source.replace(/\n/g, '\r\n')
  const crlfChunks = await chunkDocument(crlf, 'Handbook', s, { tokenizer: tk })
  checkChunks(crlf, crlfChunks, s)
  assert.deepEqual(crlfChunks.map((c) => c.heading_path), chunks.map((c) => c.heading_path))
  assert.deepEqual(crlfChunks.map((c) => c.content.replace(/\r\n/g, '\n')), chunks.map((c) => c.content))
  // Heading lines are not content, everything else is covered.
  const headingLines: [number, number][] = []
  for (const m of source.matchAll(/^(#{1,3} .*|Setext Usage\n-+|Top Level Again\n=+)$/gm)) {
    if (!m[0].includes('shell comment')) headingLines.push([m.index, m.index + m[0].length])
  }
  assertCovered(source, chunks, headingLines)
})

Deno.test('markdown: a section over one leaf gets parents; leaves overlap; code fences that fit are never split', async () => {
  const code = '```ts\n' + Array.from({ length: 5 }, (_, i) => `const v${i} = f(${i}) # not a heading`).join('\n') +
    '\n```'
  const source = `# Big\n\n${prose(10)}\n\n${code}\n\n${prose(10, 7)}\n\n## Small\n\nJust one short paragraph.`
  const s = settings({ chunk_tokens: 128, chunk_overlap: 24, parent_tokens: 512 })
  const chunks = await chunkDocument(source, 'T', s, { tokenizer: tk })
  const leaves = checkChunks(source, chunks, s)
  const big = chunks.filter((c) => c.heading_path.at(-1) === 'Big')
  const parents = big.filter((c) => c.level === 1)
  assert.ok(parents.length >= 2, `the long section is split into several parents (${parents.length})`)
  assert.ok(big.filter((c) => c.level === 0).every((c) => c.parent !== null), 'every leaf of it has a parent')
  const small = chunks.filter((c) => c.heading_path.at(-1) === 'Small')
  assert.deepEqual(small.map((c) => [c.level, c.parent, c.content]), [[0, null, 'Just one short paragraph.']])
  // The fence is whole in some leaf, and no leaf starts or ends inside it.
  const fenceStart = source.indexOf('```ts')
  const fenceEnd = source.indexOf('```', fenceStart + 3) + 3
  assert.ok(leaves.some((l) => l.char_start <= fenceStart && l.char_end >= fenceEnd), 'one leaf holds the whole fence')
  for (const l of leaves) {
    assert.ok(!(l.char_start > fenceStart && l.char_start < fenceEnd), 'no leaf starts inside the fence')
    assert.ok(!(l.char_end > fenceStart && l.char_end < fenceEnd), 'no leaf ends inside the fence')
  }
  const o = overlaps(source, leaves)
  assert.ok(o.length >= 5)
  for (const t of o) assert.ok(t <= s.chunk_overlap, `overlap ${t} ≤ ${s.chunk_overlap}`)
  assert.ok(
    o.filter((t) => t >= s.chunk_overlap / 2).length >= o.length - 2,
    `most overlaps are at least half of it: ${o}`,
  )
  assertCovered(source, leaves, [[0, 5], [source.indexOf('## Small'), source.indexOf('## Small') + 8]])
})

Deno.test('markdown: a code block longer than a leaf is cut at line starts; an over-long list splits into items', async () => {
  const lines = Array.from({ length: 80 }, (_, i) => `line ${i}: call(${i}, "${'x'.repeat(i % 7)}")`)
  const list = Array.from({ length: 30 }, (_, i) => `- item ${i} says something about topic ${i % 5}.`).join('\n')
  const source = '```\n' + lines.join('\n') + '\n```\n\n' + list
  const s = settings({ chunk_tokens: 64, chunk_overlap: 0, parent_tokens: 4096 })
  const chunks = await chunkDocument(source, null, s, { tokenizer: tk })
  const leaves = checkChunks(source, chunks, s)
  for (const l of leaves) {
    assert.ok(l.char_start === 0 || source[l.char_start - 1] === '\n', `leaf at ${l.char_start} starts a line`)
  }
  assert.equal(overlaps(source, leaves).filter((t) => t > 0).length, 0, 'chunk_overlap 0: no overlap')
  assert.ok(leaves.filter((l) => l.content.startsWith('- item')).length >= 3, 'list items start leaves, markers kept')
  assertCovered(source, leaves)
})

Deno.test('paragraph: paragraphs are packed, long ones split by sentences, parents are runs of paragraphs', async () => {
  const long = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} of the long paragraph goes on a while.`).join(
    ' ',
  )
  const source = `${prose(8)}\n\n${long}\n\n\n   \n${prose(8, 3)}`
  const s = settings({
    strategy: 'paragraph',
    format: 'text',
    chunk_tokens: 100,
    chunk_overlap: 20,
    parent_tokens: 300,
  })
  const chunks = await chunkDocument(source, 'Notes', s, { tokenizer: tk })
  const leaves = checkChunks(source, chunks, s)
  assert.ok(chunks.every((c) => c.heading_path.length === 1 && c.heading_path[0] === 'Notes'))
  assert.ok(chunks.some((c) => c.level === 1))
  // Leaves inside the long paragraph start at a sentence (or in the overlap, at a word).
  for (const l of leaves) {
    assert.ok(l.char_start === 0 || /\s/.test(source[l.char_start - 1]), 'leaves start at a word start')
  }
  const o = overlaps(source, leaves)
  for (const t of o) assert.ok(t <= 20, `overlap ${t} ≤ 20`)
  assert.ok(o.filter((t) => t >= 10).length >= o.length / 2, `overlaps near 20: ${o}`)
  assertCovered(source, leaves)
  // A text that fits one leaf: one leaf, no parent.
  const one = await chunkDocument('Short text.\n\nTwo paragraphs.', null, s, { tokenizer: tk })
  assert.deepEqual(one.map((c) => [c.level, c.parent, c.content]), [[0, null, 'Short text.\n\nTwo paragraphs.']])
})

Deno.test('token: fixed windows with overlap, exact spans, parents of parent_tokens', async () => {
  const source = prose(20)
  const s = settings({ strategy: 'token', format: 'text', chunk_tokens: 64, chunk_overlap: 16, parent_tokens: 256 })
  const chunks = await chunkDocument(source, null, s, { tokenizer: tk })
  const leaves = checkChunks(source, chunks, s)
  const parents = chunks.filter((c) => c.level === 1)
  assert.ok(parents.length >= 3)
  for (const p of parents.slice(0, -1)) {
    assert.ok(p.token_count >= 250, `a full parent window has about 256 tokens (${p.token_count})`)
  }
  for (const [k, l] of leaves.entries()) {
    const lastOfParent = k === leaves.length - 1 || leaves[k + 1].parent !== l.parent
    if (!lastOfParent) assert.ok(l.token_count >= 60, `a full window has about 64 tokens (${l.token_count})`)
  }
  for (const t of overlaps(source, leaves)) assert.ok(t >= 13 && t <= 17, `overlap ${t} ≈ 16 tokens`)
  assertCovered(source, leaves)
})

Deno.test('unicode: CJK without spaces, emoji and ZWJ sequences are never split', async () => {
  const cjk = '日本語のテキストは空白なしで書かれますので、単語の境界は辞書で決まります。'.repeat(6)
  const emoji = '👨‍👩‍👧‍👦🏳️‍🌈👍🏽🇯🇵'.repeat(40)
  const source = `${cjk}\n\n${emoji}\n\n中文也没有空格，我们需要按字切分而不是按字节切分。${'漢字'.repeat(80)}`
  for (const strategy of ['markdown', 'paragraph', 'token'] as const) {
    for (const overlap of [0, 8]) {
      const s = settings({ strategy, format: 'text', chunk_tokens: 32, chunk_overlap: overlap, parent_tokens: 96 })
      const chunks = await chunkDocument(source, null, s, { tokenizer: tk })
      const leaves = checkChunks(source, chunks, s)
      assert.ok(leaves.length > 10, `${strategy}: many small leaves`)
      for (const c of chunks) assert.ok(!c.content.includes('\uFFFD'), 'no replacement characters')
      assertCovered(source, leaves)
    }
  }
})

Deno.test('a document over the chunk limit fails fast with ChunkLimitError', async () => {
  const s = settings({ strategy: 'paragraph', chunk_tokens: 32, chunk_overlap: 0, parent_tokens: 32 })
  await assert.rejects(chunkDocument(prose(40), null, s, { tokenizer: tk, maxChunks: 10 }), ChunkLimitError)
  assert.ok((await chunkDocument(prose(40), null, s, { tokenizer: tk, maxChunks: 10_000 })).length > 10)
})

// Two topics; sentences of a topic share words (hash-384 is lexical), the two share none.
const KITCHEN = [
  'The kitchen oven bakes fresh bread every morning.',
  'Fresh bread from the kitchen oven smells wonderful.',
  'The oven in the kitchen bakes bread and pastries.',
  'Bread and pastries come out of the kitchen oven warm.',
  'Every morning the kitchen smells of fresh bread.',
  'Warm pastries and bread fill the kitchen every morning.',
]
const ORBITS = [
  'Satellites orbit the planet in elliptical paths.',
  'An elliptical orbit brings satellites close to the planet.',
  'The planet pulls satellites along their orbit paths.',
  'Orbit paths of satellites around a planet are elliptical.',
  'Satellites in a low orbit circle the planet quickly.',
  'A quick orbit around the planet keeps satellites aloft.',
]
const topicText = [...KITCHEN, ...ORBITS].join(' ')

function hashEmbedder(maxBatchInputs = 2048): SentenceEmbedder & { calls: string[][] } {
  const calls: string[][] = []
  return {
    calls,
    embed: (texts) => {
      calls.push(texts)
      return Promise.resolve(texts.map((t) => hashEmbedding(t, 384)))
    },
    maxInputTokens: 8191,
    maxBatchInputs,
    maxBatchTokens: 1_000_000,
  }
}

function assertTopicSplit(chunks: Chunk[]) {
  const leaves = chunks.filter((c) => c.level === 0)
  for (const l of leaves) {
    const kitchen = KITCHEN.some((s) => l.content.includes(s))
    const orbits = ORBITS.some((s) => l.content.includes(s))
    assert.ok(kitchen !== orbits, `a leaf is about one topic: ${JSON.stringify(l.content.slice(0, 80))}`)
  }
  assert.deepEqual(leaves.map((l) => l.content), [KITCHEN.join(' '), ORBITS.join(' ')])
}

Deno.test('semantic (hash-384): a boundary where the topic changes, sentences embedded in one batch', async () => {
  const s = settings({ strategy: 'semantic', format: 'text', chunk_tokens: 400, chunk_overlap: 40 })
  const embedder = hashEmbedder()
  const chunks = await chunkDocument(topicText, 'Mixed', s, { tokenizer: tk, embedder })
  checkChunks(topicText, chunks, s)
  assertTopicSplit(chunks)
  assert.equal(embedder.calls.length, 1, 'one provider call')
  assert.deepEqual(embedder.calls[0], [...KITCHEN, ...ORBITS], 'every sentence, in order')
  // Small leaves still never mix the topics, and respect chunk_tokens.
  const small = settings({
    strategy: 'semantic',
    format: 'text',
    chunk_tokens: 32,
    chunk_overlap: 8,
    parent_tokens: 64,
  })
  const many = await chunkDocument(topicText, null, small, { tokenizer: tk, embedder: hashEmbedder() })
  checkChunks(topicText, many, small)
  for (const l of many.filter((c) => c.level === 0)) {
    assert.ok(!(KITCHEN.some((x) => l.content.includes(x)) && ORBITS.some((x) => l.content.includes(x))))
  }
  // Markdown: sections bound the groups too, and heading paths are kept.
  const md = `# Food\n\n${KITCHEN.join(' ')}\n\n# Space\n\n${ORBITS.join(' ')}`
  const mdChunks = await chunkDocument(md, null, settings({ strategy: 'semantic' }), {
    tokenizer: tk,
    embedder: hashEmbedder(),
  })
  assert.deepEqual(mdChunks.map((c) => c.heading_path), [['Food'], ['Space']])
})

Deno.test('semantic: percentile interpolates like numpy', () => {
  assert.equal(percentile([1, 2, 3, 4, 5], 50), 3)
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5)
  assert.ok(Math.abs(percentile([0, 10], 95) - 9.5) < 1e-12)
  assert.equal(percentile([7], 95), 7)
})

Deno.test('semantic against the fake OpenAI-compatible server: batches within the limits; a failing provider fails', async () => {
  const fake = await FakeOpenAI.start({ dims: 64 })
  try {
    const model = {
      name: 'fake-small',
      provider: 'openai' as const,
      provider_model: 'text-embedding-fake',
      dims: 64,
      base_url: fake.baseUrl,
      api_key_env: 'FAKE_KEY',
      request_dimensions: false,
    }
    const provider = createProvider(model, { env: () => 'sk-test', timeoutMs: 2000 })
    const embedder: SentenceEmbedder = {
      embed: (texts) => provider.embed(texts),
      maxInputTokens: 8191,
      maxBatchInputs: 5,
      maxBatchTokens: 100_000,
    }
    const s = settings({ strategy: 'semantic', format: 'text' })
    const chunks = await chunkDocument(topicText, null, s, { tokenizer: tk, embedder })
    assertTopicSplit(chunks)
    assert.deepEqual(fake.requests.map((r) => r.input.length), [5, 5, 2], 'max_batch_inputs 5: three calls')
    assert.deepEqual(fake.requests.flatMap((r) => r.input), [...KITCHEN, ...ORBITS])
    assert.equal(fake.requests[0].authorization, 'Bearer sk-test')

    fake.setMode('500')
    await assert.rejects(chunkDocument(topicText, null, s, { tokenizer: tk, embedder }), (err) => {
      assert.ok(err instanceof EmbeddingError)
      assert.match(err.message, /HTTP 500/)
      return true
    })
    fake.setMode('wrong-dims')
    await assert.rejects(chunkDocument(topicText, null, s, { tokenizer: tk, embedder }), EmbeddingError)
  } finally {
    await fake.close()
  }
})

Deno.test('content hash: same text and settings → same hash; any change → a different one', async () => {
  const shape = { strategy: 'markdown', chunk_tokens: 400, title: 'A' }
  const h = await contentHash('text', shape)
  assert.match(h, /^[0-9a-f]{64}$/)
  assert.equal(
    await contentHash('text', { title: 'A', chunk_tokens: 400, strategy: 'markdown' }),
    h,
    'key order does not matter',
  )
  assert.notEqual(await contentHash('text!', shape), h)
  assert.notEqual(await contentHash('text', { ...shape, chunk_tokens: 401 }), h)
  assert.notEqual(await contentHash('text', { ...shape, title: 'B' }), h)
})
