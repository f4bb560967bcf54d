// pg_net stand-in: requests queued from SQL are sent after commit; the response — or a timeout, a refused
// connection, a server error, a URL curl cannot use — lands in net._http_response as pg_net 0.19 records
// it (error_msg is curl's message), and one bad request never stops the worker.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { freePort, makeWorkdir, startTestStack, waitFor, type TestStack } from './helpers/stack.ts'

const ECHO = `
export async function handler(req: Request): Promise<Response> {
  return Response.json({
    method: req.method,
    body: await req.json(),
    authorization: req.headers.get('authorization'),
    custom: req.headers.get('x-custom'),
  })
}
`

interface Response {
  id: string
  status_code: number | null
  content: string | null
  timed_out: boolean
  error_msg: string | null
  headers: Record<string, string> | null
}

describe('pg_net stand-in', () => {
  let stack: TestStack
  let upstream: Server
  let upstreamPort: number
  before(async () => {
    stack = await startTestStack({ workdir: makeWorkdir({ functions: { echo: ECHO } }) })
    upstream = createServer((req, res) => {
      if (req.url === '/fail') {
        res.writeHead(500, { 'content-type': 'text/plain' })
        res.end('upstream exploded')
      } else if (req.url === '/hang') {
        // never answers: the request must time out
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('fine')
      }
    })
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
    upstreamPort = (upstream.address() as { port: number }).port
  })
  after(async () => {
    upstream?.closeAllConnections()
    upstream?.close()
    await stack?.close()
  })

  const response = (id: string) =>
    waitFor(async () => (await stack.db.query<Response>('select id::text, status_code, content, timed_out, error_msg, headers from net._http_response where id = $1', [id])).rows[0], 10_000)

  const queue = async (sql: string, params: unknown[] = []) => (await stack.db.query<{ id: string }>(`select (${sql})::text as id`, params)).rows[0].id

  it('net.http_post reaches an Edge Function with its body and headers', async () => {
    const id = await queue(
      `net.http_post($1, '{"hello": "world"}'::jsonb,
         headers => jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || $2, 'X-Custom', '42'))`,
      [`${stack.apiUrl}/functions/v1/echo`, stack.config.anonKey],
    )
    const r = await response(id)
    assert.equal(r.status_code, 200)
    assert.equal(r.timed_out, false)
    assert.deepEqual(JSON.parse(r.content!), { method: 'POST', body: { hello: 'world' }, authorization: `Bearer ${stack.config.anonKey}`, custom: '42' })
    assert.match(r.headers!['content-type'], /application\/json/)
  })

  it('util.invoke_edge_function authenticates with the service key from Vault', async () => {
    const id = await queue(`util.invoke_edge_function('echo', '{"n": 1}'::jsonb, 5000)`)
    const r = await response(id)
    assert.equal(r.status_code, 200)
    assert.deepEqual(JSON.parse(r.content!), { method: 'POST', body: { n: 1 }, authorization: `Bearer ${stack.config.serviceRoleKey}`, custom: null })
  })

  it('a 500 is recorded with its status and body', async () => {
    const r = await response(await queue(`net.http_get($1)`, [`http://127.0.0.1:${upstreamPort}/fail`]))
    assert.equal(r.status_code, 500)
    assert.equal(r.content, 'upstream exploded')
    assert.equal(r.error_msg, null)
  })

  it('a refused connection is recorded as an error', async () => {
    const closed = await freePort()
    const r = await response(await queue(`net.http_post($1, '{}'::jsonb)`, [`http://127.0.0.1:${closed}/x`]))
    assert.equal(r.status_code, null)
    assert.equal(r.timed_out, false)
    assert.equal(r.error_msg, "Couldn't connect to server")
  })

  it('accepts any URL string, as pg_net does, and records what curl says of one it cannot use', async () => {
    const ftp = await response(await queue(`net.http_post('ftp://nowhere.invalid/x', '{}'::jsonb)`))
    assert.deepEqual([ftp.status_code, ftp.timed_out, ftp.error_msg], [null, false, 'Unsupported protocol'])
    const junk = await response(await queue(`net.http_get('not a url')`))
    assert.deepEqual([junk.status_code, junk.error_msg], [null, 'URL using bad/illegal format or missing URL'])
  })

  it('net.check_worker_is_up() passes while the worker listens', async () => {
    await stack.db.query('select net.check_worker_is_up()')
  })

  it('a request past timeout_milliseconds is recorded as timed out', async () => {
    const started = Date.now()
    const r = await response(await queue(`net.http_get($1, timeout_milliseconds => 300)`, [`http://127.0.0.1:${upstreamPort}/hang`]))
    assert.equal(r.timed_out, true)
    assert.equal(r.status_code, null)
    assert.match(r.error_msg!, /Timeout of 300 ms/)
    assert.ok(Date.now() - started < 5000)
  })

  it('the worker keeps going after failures, and a rolled-back request is never sent', async () => {
    await stack.db.transaction(async (tx) => {
      await tx.query(`select net.http_get($1)`, [`http://127.0.0.1:${upstreamPort}/rolled-back`])
      await tx.rollback()
    })
    const r = await response(await queue(`net.http_get($1)`, [`http://127.0.0.1:${upstreamPort}/ok`]))
    assert.equal(r.status_code, 200)
    assert.equal(r.content, 'fine')
    const queued = (await stack.db.query<{ n: number }>('select count(*)::int as n from net.http_request_queue')).rows[0].n
    assert.equal(queued, 0)
  })
})
