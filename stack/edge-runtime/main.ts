// Local stand-in for Supabase's edge runtime, run by Deno (started and restarted by stack/edge-runtime/runtime.ts).
// Serves `supabase/functions/<name>/` at `/<name>/...` the way the deployed function starts: by importing its
// `index.ts`, which calls `Deno.serve(handler)`. While an index.ts is imported, Deno.serve is intercepted and
// hands its handler to this router instead of opening a port (one process, one port, every function).
// A function whose index.ts throws while loading, or never calls Deno.serve, answers 503 BOOT_ERROR (as
// the hosted runtime answers a worker that failed to boot) and the reason is logged.
// Usage: deno run --allow-net --allow-env --allow-read --allow-sys main.ts <functions-dir> <port>
import { pathToFileURL } from 'node:url'

type Handler = (req: Request, info?: unknown) => Response | Promise<Response>

const [functionsDir, portArg = '0'] = Deno.args
const loaded = new Map<string, Promise<Handler | null>>()

class BootError extends Error {}

function notFound(name: string): Response {
  return Response.json({ code: 'NOT_FOUND', message: `Requested function was not found: ${name}` }, { status: 404 })
}

// The handler the function being imported passed to Deno.serve, if it has.
const realServe = Deno.serve.bind(Deno)
let capture: ((handler: Handler) => void) | null = null

function handlerOf(args: unknown[]): Handler | undefined {
  for (const a of args) {
    if (typeof a === 'function') return a as Handler
    const h = (a as { handler?: unknown } | null)?.handler
    if (typeof h === 'function') return h as Handler
  }
  return undefined
}

;(Deno as unknown as { serve: (...args: unknown[]) => unknown }).serve = (...args: unknown[]) => {
  if (!capture) return (realServe as unknown as (...a: unknown[]) => unknown)(...args)
  const handler = handlerOf(args)
  if (!handler) throw new BootError('Deno.serve was called without a handler')
  capture(handler)
  // What Deno.serve returns, for code that awaits `finished` or calls shutdown(); nothing listens.
  return { finished: new Promise(() => {}), shutdown: async () => {}, ref() {}, unref() {}, addr: { transport: 'tcp', hostname: '127.0.0.1', port: 0 } }
}

// Imports run one at a time, so a Deno.serve call is always the importing function's.
let importing: Promise<unknown> = Promise.resolve()

async function load(name: string): Promise<Handler | null> {
  const path = `${functionsDir}/${name}/index.ts`
  try {
    await Deno.stat(path)
  } catch {
    return null
  }
  const run = importing.then(async () => {
    let handler: Handler | undefined
    capture = (h) => (handler ??= h)
    try {
      await import(pathToFileURL(path).href)
    } catch (err) {
      throw new BootError(`${name}/index.ts failed while loading: ${(err as Error)?.stack ?? err}`)
    } finally {
      capture = null
    }
    if (!handler) throw new BootError(`${name}/index.ts did not call Deno.serve(handler)`)
    return handler
  })
  importing = run.catch(() => undefined)
  return run
}

realServe(
  {
    hostname: '127.0.0.1',
    port: Number(portArg),
    // The parent process waits for this line to know the port.
    onListen: ({ port }) => console.log(JSON.stringify({ ready: port })),
  },
  async (req, info) => {
    let name: string
    try {
      name = decodeURIComponent(new URL(req.url).pathname.split('/')[1] ?? '')
    } catch {
      return Response.json({ code: 'BAD_REQUEST', message: 'Malformed percent-encoding in the function name' }, { status: 400 })
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name) || name === 'tests' || name === '_shared') return notFound(name)
    let pending = loaded.get(name)
    if (!pending) {
      pending = load(name)
      loaded.set(name, pending)
    }
    let handler: Handler | null
    try {
      handler = await pending
    } catch (err) {
      loaded.delete(name)
      console.error(`[${name}] boot error: ${(err as Error).message}`)
      const reason = (err as Error).message.includes('did not call') ? 'its index.ts did not call Deno.serve(handler)' : 'its index.ts threw while loading'
      return Response.json({ code: 'BOOT_ERROR', message: `Function ${name} failed to start: ${reason} (see the stack's log)` }, { status: 503 })
    }
    if (!handler) {
      loaded.delete(name)
      return notFound(name)
    }
    try {
      return await handler(req, info)
    } catch (err) {
      console.error(`[${name}]`, err)
      return Response.json(
        { code: 'WORKER_ERROR', message: 'Function exited due to an error (please check logs)' },
        { status: 500 },
      )
    }
  },
)
