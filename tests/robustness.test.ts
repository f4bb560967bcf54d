// No request brings the stack down: requests that once killed the process, froze the shared session or got
// an empty or 500 "internals" answer. Each is sent as raw bytes (or through pg / supabase-js), must get an
// error answer with a JSON body — a 4xx, or what PostgREST and Postgres answer (deep JSON: 54001, a 500) —
// and the stack must answer a health request right after.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { ANON_KEY, createUser, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** Sends `request` as is and reads the response until the server closes or `ms` pass. */
function raw(port: number, request: string | Buffer, ms = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      finish()
    }, ms)
    const finish = () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('utf8')
      const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text)
      if (!m) return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 300))}`))
      const headers: Record<string, string> = {}
      for (const line of m[2].split('\r\n')) {
        const i = line.indexOf(':')
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
      }
      let body = m[3]
      const length = headers['content-length']
      if (length !== undefined) body = Buffer.from(body).subarray(0, Number(length)).toString('utf8')
      resolve({ status: Number(m[1]), headers, body })
    }
    socket.on('data', (d) => {
      chunks.push(d)
      const text = Buffer.concat(chunks).toString('utf8')
      const head = text.indexOf('\r\n\r\n')
      const len = /content-length: (\d+)/i.exec(text.slice(0, head))
      if (head !== -1 && len && Buffer.byteLength(text.slice(head + 4)) >= Number(len[1])) {
        socket.destroy()
        finish()
      }
    })
    socket.on('end', finish)
    socket.on('error', () => finish())
    socket.write(request)
  })
}

const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n)

describe('no request brings the stack down', () => {
  let stack: TestStack
  let port: number
  let alice: TestUser
  before(async () => {
    stack = await startTestStack()
    port = Number(new URL(stack.apiUrl).port)
    alice = await createUser(stack, 'alice')
  })
  after(() => stack?.close())

  const healthy = async () => {
    const res = await fetch(`${stack.apiUrl}/health`)
    assert.equal(res.status, 200, 'the stack still answers /health')
  }
  const get = (target: string, headers: Record<string, string> = { host: '127.0.0.1' }) =>
    raw(port, `GET ${target} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}connection: close\r\n\r\n`)
  const assertJsonError = (r: RawResponse, status: number) => {
    assert.equal(r.status, status, r.body)
    assert.match(r.headers['content-type'] ?? '', /application\/json/)
    assert.equal(typeof JSON.parse(r.body).message, 'string', 'a JSON body with a message')
  }

  for (const host of ['[bad', 'a b', '', 'a:99999']) {
    it(`Host ${JSON.stringify(host)} is a 400 JSON error`, async () => {
      assertJsonError(await get('/health', { host }), 400)
      await healthy()
    })
  }

  for (const target of ['//a:99999/health', '//[/x', '*']) {
    it(`request target ${target} is a 400 JSON error`, async () => {
      assertJsonError(await get(target), 400)
      await healthy()
    })
  }

  it('a websocket upgrade on //a:99999/… is a 400 JSON error', async () => {
    const r = await raw(port, `GET //a:99999/realtime/v1/websocket?apikey=${ANON_KEY}&vsn=1.0.0 HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)
    assertJsonError(r, 400)
    await healthy()
  })

  it('malformed percent-encoding is a 400 in PostgREST\'s JSON form, wherever it is', async () => {
    for (const path of ['/rest/v1/%ZZ', '/rest/v1/rpc/%E0%A4%A']) {
      const res = await fetch(`${stack.apiUrl}${path}`, { headers: { apikey: ANON_KEY } })
      assert.equal(res.status, 400, path)
      const body = await res.json()
      assert.deepEqual(Object.keys(body).sort(), ['code', 'details', 'hint', 'message'], path)
      assert.match(body.message, /Malformed percent-encoding/)
    }
    const fn = await fetch(`${stack.apiUrl}/functions/v1/%ZZ`, { headers: { authorization: `Bearer ${ANON_KEY}` } })
    assert.equal(fn.status, 400)
    assert.match((await fn.json()).message, /Malformed percent-encoding/)
    const bc = await fetch(`${stack.apiUrl}/realtime/v1/api/broadcast/%ZZ/events/x`, {
      method: 'POST', headers: { apikey: ANON_KEY, 'content-type': 'application/json' }, body: '{}',
    })
    assert.equal(bc.status, 400)
    assert.match((await bc.json()).message, /Malformed percent-encoding/)
    await healthy()
  })

  it('requests Node\'s HTTP parser refuses get a JSON error body', async () => {
    assertJsonError(await raw(port, 'FOO /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'), 400)
    assertJsonError(await raw(port, Buffer.from('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-bad: a\u0000b\r\n\r\n', 'latin1')), 400)
    assertJsonError(await raw(port, 'GET /he alth HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'), 400)
    await healthy()
  })

  it('JSON 10,000 levels deep on the database port ends in an ordinary error within a second', async () => {
    const client = new pg.Client({ connectionString: stack.dbUrl })
    await client.connect()
    try {
      const started = Date.now()
      await assert.rejects(client.query(`select json_typeof('${deepArray(10_000)}'::json)`), (err: Error & { code?: string }) => {
        assert.equal(err.code, '54001')
        assert.equal(err.message, 'stack depth limit exceeded')
        return true
      })
      assert.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`)
      // The same through the extended protocol (a bind parameter), and the session is usable after both.
      await assert.rejects(client.query('select json_typeof($1::json)', [deepArray(10_000)]), /stack depth limit exceeded/)
      assert.equal((await client.query('select 1 as one')).rows[0].one, 1)
      await client.query('begin')
      await assert.rejects(client.query(`select '${deepArray(10_000)}'::jsonb`), /stack depth limit exceeded/)
      await assert.rejects(client.query('select 1'), /current transaction is aborted/, 'the error aborted the transaction, as in Postgres')
      await client.query('rollback')
    } finally {
      await client.end()
    }
    await healthy()
  })

  it('deeply nested JSON over HTTP is Postgres\' 54001, answered as PostgREST does (500 JSON)', async () => {
    const thread = ((await alice.client.rpc('create_thread', {})).data as { id: string }).id
    // Bodies written as text: JSON.stringify itself cannot go that deep.
    const post = (path: string, body: string) =>
      fetch(`${stack.apiUrl}/rest/v1/${path}`, {
        method: 'POST',
        headers: { apikey: ANON_KEY, authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body,
      })
    const viaRpc = await post('rpc/save_messages', `{"thread_id": "${thread}", "messages": ${deepArray(10_000)}}`)
    const viaInsert = await post('messages', `{"thread_id": "${thread}", "role": "user", "content": "x", "metadata": ${deepArray(10_000)}}`)
    // Brackets stay unencoded in a query (as WHATWG URLs leave them), so the target fits Node's header limit.
    const viaFilter = await fetch(`${stack.apiUrl}/rest/v1/messages?metadata=cs.${deepArray(7_000)}`, {
      headers: { apikey: ANON_KEY, authorization: `Bearer ${alice.token}` },
    })
    for (const [what, status, body] of [
      ['rpc/save_messages', viaRpc.status, await viaRpc.json()],
      ['POST /messages', viaInsert.status, await viaInsert.json()],
      ['cs. filter', viaFilter.status, await viaFilter.json()],
    ] as const) {
      assert.equal(status, 500, what)
      assert.equal((body as { code: string }).code, '54001', what)
      assert.equal((body as { message: string }).message, 'stack depth limit exceeded', what)
    }
    assert.equal(((await alice.client.rpc('load_messages', { thread_id: thread })).data as { messages: unknown[] }).messages.length, 0, 'nothing was written')
    await healthy()
  })

  it('writes to the read-only embedding_status view are permission errors (401 anon, 403 signed in)', async () => {
    const call = (method: string, token: string | null, body?: string) =>
      fetch(`${stack.apiUrl}/rest/v1/embedding_status${method === 'POST' ? '' : '?source_id=eq.00000000-0000-0000-0000-000000000000'}`, {
        method,
        headers: { apikey: ANON_KEY, 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      })
    for (const [method, body] of [['POST', '{"model": "x"}'], ['PATCH', '{"model": "x"}'], ['DELETE', undefined]] as const) {
      const anon = await call(method, null, body)
      assert.equal(anon.status, 401, `${method} as anon: ${await anon.clone().text()}`)
      assert.equal((await anon.json()).code, '42501')
      const user = await call(method, alice.token, body)
      assert.equal(user.status, 403, `${method} as a user`)
      assert.equal((await user.json()).code, '42501')
    }
    const read = await call('GET', alice.token)
    assert.equal(read.status, 200, 'reading it still works')
    await healthy()
  })
})
