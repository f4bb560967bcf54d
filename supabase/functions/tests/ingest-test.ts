// The ingest handler with a recording store in place of supabase-js (the whole path through PostgREST
// is tests/ingest.test.ts): request forms (JSON, raw text/markdown with query parameters), every bad
// input with its status and the field it names — after which nothing reached the store — PostgREST
// errors mapped to statuses, and a semantic request whose provider fails (502, nothing stored).
import assert from 'node:assert/strict'
import { type Chunk } from '../_shared/chunking/types.ts'
import { CHUNKER_VERSION } from '../_shared/chunking/mod.ts'
import {
  createHandler,
  type DefaultModel,
  fromPostgrest,
  type IngestArgs,
  type IngestStore,
} from '../ingest/handler.ts'
import { MAX_BODY_BYTES } from '../ingest/request.ts'
import { FakeOpenAI } from './fake-openai.ts'

const HASH_MODEL: DefaultModel = {
  name: 'hash-384',
  provider: 'hash',
  provider_model: 'hash-384',
  dims: 384,
  base_url: null,
  api_key_env: null,
  request_dimensions: false,
  tokenizer: 'cl100k_base',
  max_input_tokens: 8191,
  max_batch_inputs: 2048,
  max_batch_tokens: 1_000_000,
}

function recordingStore(model: DefaultModel = HASH_MODEL, fail?: Error) {
  const calls: IngestArgs[] = []
  const auth: string[] = []
  const store = (authorization: string): IngestStore => {
    auth.push(authorization)
    return {
      config: () => Promise.resolve({ model, maxChunks: 10_000, providerTimeoutMs: 2000 }),
      ingest(args) {
        calls.push(args)
        if (fail) return Promise.reject(fail)
        return Promise.resolve({
          document: { id: '00000000-0000-0000-0000-000000000001', content_hash: args.content_hash },
          replaced: true,
          chunk_count: args.chunks.length,
          chunks_kept: 0,
        })
      },
    }
  }
  return { store, calls, auth }
}

const AUTH = { authorization: 'Bearer user.jwt.token' }

function post(body: BodyInit | null, type: string | null, query = '', headers: Record<string, string> = AUTH) {
  return new Request(`http://localhost/ingest${query}`, {
    method: 'POST',
    headers: { ...headers, ...(type ? { 'content-type': type } : {}) },
    body,
  })
}

async function call(handler: (r: Request) => Promise<Response>, req: Request) {
  const res = await handler(req)
  return { status: res.status, body: await res.json() }
}

Deno.test('ingest handler: a JSON body is chunked and stored in one call, as the caller', async () => {
  const { store, calls, auth } = recordingStore()
  const handler = createHandler({ store })
  const content = '# Billing\n\n## Refunds\n\nRefunds are paid within 30 days.\n\n## Invoices\n\nInvoices are monthly.'
  const res = await call(
    handler,
    post(
      JSON.stringify({ content, title: 'Handbook', source_uri: 'kb://handbook', metadata: { team: 'ops' } }),
      'application/json',
    ),
  )
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(res.body.strategy, 'markdown')
  assert.equal(res.body.tokenizer, 'cl100k_base')
  assert.equal(res.body.replaced, true)
  assert.equal(res.body.chunk_count, 2)
  assert.deepEqual(auth, [AUTH.authorization], "the store acts with the caller's Authorization header")
  assert.equal(calls.length, 1)
  const args = calls[0]
  assert.deepEqual((args.chunks as Chunk[]).map((c) => [c.heading_path, c.content]), [
    [['Handbook', 'Billing', 'Refunds'], 'Refunds are paid within 30 days.'],
    [['Handbook', 'Billing', 'Invoices'], 'Invoices are monthly.'],
  ])
  assert.equal(args.title, 'Handbook')
  assert.equal(args.source_uri, 'kb://handbook')
  assert.deepEqual(args.metadata, { team: 'ops' })
  assert.equal(args.format, 'markdown')
  assert.equal(args.document_id, null)
  assert.match(args.content_hash, /^[0-9a-f]{64}$/)
  assert.deepEqual(args.chunking, {
    chunker: CHUNKER_VERSION,
    strategy: 'markdown',
    format: 'markdown',
    chunk_tokens: 400,
    chunk_overlap: 40,
    parent_tokens: 1600,
    tokenizer: 'cl100k_base',
  })

  // The same request hashes the same; other settings or another title hash differently.
  const again = async (extra: Record<string, unknown>) => {
    await call(handler, post(JSON.stringify({ content, title: 'Handbook', ...extra }), 'application/json'))
    return calls[calls.length - 1].content_hash
  }
  assert.equal(await again({}), args.content_hash)
  assert.notEqual(await again({ chunk_tokens: 200 }), args.content_hash)
  assert.notEqual(await again({ title: 'Other' }), args.content_hash)
  assert.notEqual(await again({ strategy: 'paragraph' }), args.content_hash)
})

Deno.test('ingest handler: a raw text/plain or text/markdown body with fields in the query string', async () => {
  const { store, calls } = recordingStore()
  const handler = createHandler({ store })
  const text = 'First paragraph.\n\nSecond paragraph.'
  const plain = await call(
    handler,
    post(text, 'text/plain; charset=utf-8', '?title=Notes&chunk_tokens=64&metadata=%7B%22a%22%3A1%7D'),
  )
  assert.equal(plain.status, 200, JSON.stringify(plain.body))
  assert.equal(plain.body.strategy, 'paragraph', 'text/plain defaults to format text, strategy paragraph')
  assert.equal(calls[0].format, 'text')
  assert.equal(calls[0].chunking.chunk_tokens, 64)
  assert.deepEqual(calls[0].metadata, { a: 1 })
  assert.deepEqual((calls[0].chunks as Chunk[]).map((c) => c.content), [text])

  const md = await call(handler, post('# Title\n\nBody text.', 'text/markdown', '?strategy=token&format=markdown'))
  assert.equal(md.status, 200, JSON.stringify(md.body))
  assert.equal(md.body.strategy, 'token')
  assert.equal(calls[1].format, 'markdown')
  const mdDefault = await call(handler, post('# Title\n\nBody text.', 'text/markdown'))
  assert.equal(mdDefault.body.strategy, 'markdown')
  assert.deepEqual((calls[2].chunks as Chunk[])[0].heading_path, ['Title'])
})

Deno.test('ingest handler: bad requests get their status and the field, and nothing is stored', async () => {
  const { store, calls } = recordingStore()
  const handler = createHandler({ store })
  const json = (body: unknown) => post(JSON.stringify(body), 'application/json')
  const cases: [string, Request, number, string, RegExp][] = [
    ['GET', new Request('http://localhost/ingest', { headers: AUTH }), 405, 'method_not_allowed', /POST/],
    ['no token', post('{}', 'application/json', '', {}), 401, 'unauthorized', /Authorization/],
    ['missing content', json({ title: 'x' }), 400, 'invalid_input', /^content is required/],
    ['blank content', json({ content: ' \n\t ' }), 400, 'invalid_input', /^content must not be blank/],
    ['content not a string', json({ content: 42 }), 400, 'invalid_input', /^content must be a string/],
    [
      'unknown strategy',
      json({ content: 'x', strategy: 'sentences' }),
      400,
      'invalid_input',
      /^strategy must be one of/,
    ],
    ['unknown format', json({ content: 'x', format: 'html' }), 400, 'invalid_input', /^format must be one of/],
    [
      'chunk_tokens too small',
      json({ content: 'x', chunk_tokens: 31 }),
      400,
      'invalid_input',
      /^chunk_tokens must be a whole number from 32 to 8192/,
    ],
    ['chunk_tokens too big', json({ content: 'x', chunk_tokens: 8193 }), 400, 'invalid_input', /^chunk_tokens/],
    ['chunk_tokens fractional', json({ content: 'x', chunk_tokens: 100.5 }), 400, 'invalid_input', /^chunk_tokens/],
    [
      'chunk_overlap over half',
      json({ content: 'x', chunk_tokens: 100, chunk_overlap: 51 }),
      400,
      'invalid_input',
      /^chunk_overlap must be a whole number from 0 to 50/,
    ],
    ['chunk_overlap negative', json({ content: 'x', chunk_overlap: -1 }), 400, 'invalid_input', /^chunk_overlap/],
    [
      'parent_tokens below chunk_tokens',
      json({ content: 'x', chunk_tokens: 500, parent_tokens: 499 }),
      400,
      'invalid_input',
      /^parent_tokens must be a whole number from 500 to 32768/,
    ],
    ['parent_tokens too big', json({ content: 'x', parent_tokens: 32769 }), 400, 'invalid_input', /^parent_tokens/],
    [
      'semantic_threshold out of range',
      json({ content: 'x', semantic_threshold: 100 }),
      400,
      'invalid_input',
      /^semantic_threshold must be a number from 50 to 99/,
    ],
    ['unknown field', json({ content: 'x', chunk_size: 100 }), 400, 'invalid_input', /^unknown field\(s\): chunk_size/],
    [
      'metadata not an object',
      json({ content: 'x', metadata: [1] }),
      400,
      'invalid_input',
      /^metadata must be a JSON object/,
    ],
    [
      'bad document_id',
      json({ content: 'x', document_id: 'doc-1' }),
      400,
      'invalid_input',
      /^document_id must be a UUID/,
    ],
    ['blank title', json({ content: 'x', title: '  ' }), 400, 'invalid_input', /^title must be a non-blank string/],
    ['malformed JSON', post('{"content": "x",', 'application/json'), 400, 'invalid_input', /^body is not valid JSON/],
    ['JSON array', json([{ content: 'x' }]), 400, 'invalid_input', /^body must be a JSON object/],
    [
      'query with JSON',
      post('{"content":"x"}', 'application/json', '?title=t'),
      400,
      'invalid_input',
      /^query parameter title/,
    ],
    [
      'query metadata not JSON',
      post('x', 'text/plain', '?metadata=%7Bnope'),
      400,
      'invalid_input',
      /^metadata must be a JSON object/,
    ],
    [
      'query number not a number',
      post('x', 'text/plain', '?chunk_tokens=lots'),
      400,
      'invalid_input',
      /^chunk_tokens must be a whole number/,
    ],
    ['query content', post('x', 'text/plain', '?content=y'), 400, 'invalid_input', /^content: with a text body/],
    ['only headings', json({ content: '# A\n\n## B' }), 400, 'invalid_input', /^content has no text to chunk/],
    [
      'octet-stream',
      post(new Uint8Array([1, 2, 3]), 'application/octet-stream'),
      415,
      'unsupported_media_type',
      /application\/octet-stream/,
    ],
    [
      'image/png',
      post(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), 'image/png'),
      415,
      'unsupported_media_type',
      /image\/png/,
    ],
    ['no content type', post(new TextEncoder().encode('hello'), null), 415, 'unsupported_media_type', /\(none\)/],
    [
      'not UTF-8',
      post(new Uint8Array([0x68, 0xff, 0xfe, 0x69]), 'text/plain'),
      415,
      'unsupported_media_type',
      /not valid UTF-8/,
    ],
    [
      'latin-1 charset',
      post('caf\u00e9', 'text/plain; charset=iso-8859-1'),
      415,
      'unsupported_media_type',
      /iso-8859-1/,
    ],
    ['NUL in text', post('binary\u0000data', 'text/plain'), 415, 'unsupported_media_type', /NUL/],
    ['NUL in JSON content', json({ content: 'a\u0000b' }), 415, 'unsupported_media_type', /NUL/],
    ['too large', post('x'.repeat(MAX_BODY_BYTES + 1), 'text/plain'), 413, 'payload_too_large', /5 MiB/],
  ]
  for (const [name, req, status, code, message] of cases) {
    const res = await call(handler, req)
    assert.equal(res.status, status, `${name}: status (${JSON.stringify(res.body)})`)
    assert.equal(res.body.error.code, code, `${name}: code`)
    assert.match(res.body.error.message, message, `${name}: message`)
  }
  assert.equal(calls.length, 0, 'no bad request reached ingest_document')
})

Deno.test('ingest handler: PostgREST errors map to statuses; a failing semantic provider is a 502 with nothing stored', async () => {
  const notFound = recordingStore(HASH_MODEL, fromPostgrest({ code: 'PT404', message: 'document 1 not found' }, 404))
  const res = await call(
    createHandler({ store: notFound.store }),
    post(JSON.stringify({ content: 'x', document_id: crypto.randomUUID() }), 'application/json'),
  )
  assert.equal(res.status, 404)
  assert.deepEqual(res.body, { error: { code: 'not_found', message: 'document 1 not found' } })
  assert.equal(fromPostgrest({ code: '22023', message: 'title must be 1 to 1000 characters' }).status, 400)
  assert.equal(fromPostgrest({ code: '42501', message: 'no' }).status, 403)
  assert.equal(fromPostgrest({ code: 'PGRST301', message: 'JWT expired' }, 401).status, 401)
  assert.equal(fromPostgrest({ code: 'XX000', message: 'boom' }).status, 500)

  const fake = await FakeOpenAI.start({ dims: 16, mode: '500' })
  try {
    const model: DefaultModel = { ...HASH_MODEL, name: 'fake', provider: 'openai', base_url: fake.baseUrl, dims: 16 }
    const failing = recordingStore(model)
    const handler = createHandler({ store: failing.store, env: () => undefined })
    const text = 'The oven bakes bread. The bread is warm. Satellites orbit planets. Orbits are elliptical.'
    const semantic = await call(
      handler,
      post(JSON.stringify({ content: text, strategy: 'semantic' }), 'application/json'),
    )
    assert.equal(semantic.status, 502)
    assert.equal(semantic.body.error.code, 'provider_error')
    assert.match(semantic.body.error.message, /HTTP 500/)
    assert.equal(failing.calls.length, 0, 'nothing stored')
    assert.equal(fake.requests.length, 1, 'all sentences in one provider call')
    assert.equal(fake.requests[0].input.length, 4)

    fake.setMode('ok')
    const ok = await call(
      handler,
      post(JSON.stringify({ content: text, strategy: 'semantic', format: 'text' }), 'application/json'),
    )
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(failing.calls[0].chunking.embedding_model, 'fake')
    assert.equal(failing.calls[0].chunking.semantic_threshold, 95)
  } finally {
    await fake.close()
  }
})

Deno.test('ingest handler: preflight and CORS', async () => {
  const handler = createHandler({ store: recordingStore().store })
  const res = await handler(new Request('http://localhost/ingest', { method: 'OPTIONS' }))
  assert.equal(res.status, 204)
  assert.equal(res.headers.get('access-control-allow-origin'), '*')
  await res.body?.cancel()
})
