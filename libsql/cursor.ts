// The keyset cursors of Supabase's load_messages / list_threads (private.encode_cursor): URL-safe base64
// without padding of "<kind>,<created_at in microseconds since 1970>,<id>", kind 'm' (messages) or 't'
// (threads). The mirror keeps created_us, so a cursor from Supabase continues a walk in LibSQL and back.
import { MemoryError } from '../client/errors.ts'

export function encodeCursor(kind: 'm' | 't', us: number, id: string): string {
  return Buffer.from(`${kind},${us},${id}`, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function decodeCursor(cursor: string, kind: 'm' | 't', field: string): { us: number; id: string } {
  const wanted = kind === 'm' ? 'message' : 'thread'
  const m = typeof cursor === 'string' && /^[A-Za-z0-9_-]{8,200}$/.test(cursor) && cursor.length % 4 !== 1
    ? /^([a-z]),(-?[0-9]{1,16}),([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(
      Buffer.from(cursor.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1'),
    )
    : null
  if (!m || m[1] !== kind) throw new MemoryError('invalid_input', `${field} is not a valid ${wanted} cursor`, { sqlstate: '22023' })
  return { us: Number(m[2]), id: m[3] }
}
