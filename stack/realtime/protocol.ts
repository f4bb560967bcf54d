// The Phoenix channel wire format as realtime-js speaks it: protocol 1.0.0 frames are JSON objects
// `{join_ref, ref, topic, event, payload}`, 2.0.0 frames are JSON arrays `[join_ref, ref, topic, event, payload]`
// plus two binary frames for user broadcasts (realtime-js lib/serializer.ts): kind 3 "user broadcast push"
// from a client, kind 4 "user broadcast" to a client. Hand-written: there is no maintained server-side
// JavaScript implementation of the Phoenix serializer, and this one is small.

export type Vsn = '1.0.0' | '2.0.0'

export interface PhoenixMessage {
  join_ref: string | null
  ref: string | null
  topic: string
  event: string
  payload: unknown
}

/** A broadcast whose payload stays as bytes: JSON text (encoding 1) or opaque binary (encoding 0). */
export interface BinaryBroadcast {
  join_ref: string | null
  ref: string | null
  topic: string
  event: string
  encoding: 0 | 1
  meta: string
  payload: Buffer
}

export class ProtocolError extends Error {
  constructor(
    message: string,
    /** What could be read of the frame, so the error reply can name its topic and ref. */
    readonly partial: Partial<PhoenixMessage> = {},
  ) {
    super(message)
    this.name = 'ProtocolError'
  }
}

const KIND_USER_BROADCAST_PUSH = 3
const KIND_USER_BROADCAST = 4

export function decodeText(text: string, vsn: Vsn): PhoenixMessage {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ProtocolError(`malformed message: not JSON (${(err as Error).message})`)
  }
  let m: Partial<PhoenixMessage>
  if (Array.isArray(value)) {
    if (vsn === '1.0.0') throw new ProtocolError('malformed message: protocol 1.0.0 expects a JSON object')
    const [join_ref, ref, topic, event, payload] = value
    m = { join_ref, ref, topic, event, payload }
    if (value.length !== 5) throw new ProtocolError('malformed message: expected [join_ref, ref, topic, event, payload]', safe(m))
  } else if (value !== null && typeof value === 'object') {
    if (vsn === '2.0.0') throw new ProtocolError('malformed message: protocol 2.0.0 expects [join_ref, ref, topic, event, payload]', safe(value as Partial<PhoenixMessage>))
    m = value as Partial<PhoenixMessage>
  } else {
    throw new ProtocolError('malformed message: expected a Phoenix message')
  }
  if (typeof m.topic !== 'string' || !m.topic) throw new ProtocolError('malformed message: "topic" must be a non-empty string', safe(m))
  if (typeof m.event !== 'string' || !m.event) throw new ProtocolError('malformed message: "event" must be a non-empty string', safe(m))
  if (m.ref != null && typeof m.ref !== 'string') throw new ProtocolError('malformed message: "ref" must be a string or null', safe(m))
  if (m.join_ref != null && typeof m.join_ref !== 'string') throw new ProtocolError('malformed message: "join_ref" must be a string or null', safe(m))
  if (m.payload === null || typeof m.payload !== 'object' || Array.isArray(m.payload)) {
    throw new ProtocolError('malformed message: "payload" must be a JSON object', safe(m))
  }
  return { join_ref: m.join_ref ?? null, ref: m.ref ?? null, topic: m.topic, event: m.event, payload: m.payload }
}

function safe(m: Partial<PhoenixMessage>): Partial<PhoenixMessage> {
  return {
    topic: typeof m.topic === 'string' ? m.topic : undefined,
    ref: typeof m.ref === 'string' ? m.ref : undefined,
    join_ref: typeof m.join_ref === 'string' ? m.join_ref : undefined,
  }
}

/** Decodes a binary frame: only the kind-3 user broadcast push exists from clients. */
export function decodeBinary(buf: Buffer): BinaryBroadcast {
  if (buf.length < 7 || buf[0] !== KIND_USER_BROADCAST_PUSH) throw new ProtocolError('malformed message: unknown binary frame')
  const [joinRefLen, refLen, topicLen, eventLen, metaLen, encoding] = [buf[1], buf[2], buf[3], buf[4], buf[5], buf[6]]
  let offset = 7
  const take = (n: number) => {
    if (offset + n > buf.length) throw new ProtocolError('malformed message: binary frame shorter than its header says')
    const s = buf.subarray(offset, offset + n).toString('utf8')
    offset += n
    return s
  }
  const join_ref = take(joinRefLen) || null
  const ref = take(refLen) || null
  const topic = take(topicLen)
  const event = take(eventLen)
  const meta = take(metaLen)
  if (encoding !== 0 && encoding !== 1) throw new ProtocolError('malformed message: unknown payload encoding', { topic, ref: ref ?? undefined })
  return { join_ref, ref, topic, event, encoding, meta, payload: buf.subarray(offset) }
}

export function encode(m: PhoenixMessage, vsn: Vsn): string {
  return vsn === '2.0.0' ? JSON.stringify([m.join_ref, m.ref, m.topic, m.event, m.payload]) : JSON.stringify(m)
}

/** The kind-4 frame realtime-js decodes into `{type: 'broadcast', event, payload, meta?}`. */
export function encodeUserBroadcast(topic: string, event: string, meta: string, encoding: 0 | 1, payload: Buffer): Buffer {
  const t = Buffer.from(topic, 'utf8')
  const e = Buffer.from(event, 'utf8')
  const m = Buffer.from(meta, 'utf8')
  if (t.length > 255 || e.length > 255 || m.length > 255) throw new ProtocolError('topic, event or metadata longer than 255 bytes')
  return Buffer.concat([Buffer.from([KIND_USER_BROADCAST, t.length, e.length, m.length, encoding]), t, e, m, payload])
}
