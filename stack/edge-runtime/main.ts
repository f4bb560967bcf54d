// Local stand-in for Supabase's edge runtime, run by Deno (started and restarted by stack/edge-runtime/runtime.ts).
// Serves `supabase/functions/<name>/handler.ts` at `/<name>/...`: each handler module exports
// `handler(req: Request): Promise<Response>` (the function's index.ts is only `Deno.serve(handler)`).
// Usage: deno run --allow-net --allow-env --allow-read --allow-sys main.ts <functions-dir> <port>
import { pathToFileURL } from 'node:url'

type Handler = (req: Request) => Response | Promise<Response>

const [functionsDir, portArg = '0'] = Deno.args
const loaded = new Map<string, Promise<Handler | null>>()

function notFound(name: string): Response {
  return Response.json({ code: 'NOT_FOUND', message: `Requested function was not found: ${name}` }, { status: 404 })
}

async function load(name: string): Promise<Handler | null> {
  const path = `${functionsDir}/${name}/handler.ts`
  try {
    await Deno.stat(path)
  } catch {
    return null
  }
  const mod = await import(pathToFileURL(path).href)
  const handler = mod.handler ?? mod.default
  if (typeof handler !== 'function') throw new Error(`${name}/handler.ts must export a function named handler`)
  return handler as Handler
}

Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(portArg),
    // The parent process waits for this line to know the port.
    onListen: ({ port }) => console.log(JSON.stringify({ ready: port })),
  },
  async (req) => {
    const name = decodeURIComponent(new URL(req.url).pathname.split('/')[1] ?? '')
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name) || name === 'tests') return notFound(name)
    let pending = loaded.get(name)
    if (!pending) {
      pending = load(name)
      loaded.set(name, pending)
    }
    try {
      const handler = await pending
      if (!handler) {
        loaded.delete(name)
        return notFound(name)
      }
      return await handler(req)
    } catch (err) {
      loaded.delete(name)
      console.error(`[${name}]`, err)
      return Response.json(
        { code: 'WORKER_ERROR', message: 'Function exited due to an error (please check logs)' },
        { status: 500 },
      )
    }
  },
)
