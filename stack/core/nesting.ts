// A guard against input nested too deeply for the embedded database. Postgres protects itself from deep
// recursion with max_stack_depth (error 54001 "stack depth limit exceeded"), but in PGlite the recursion
// of e.g. the JSON parser runs on WebAssembly's native stack, which check_stack_depth does not see: a
// JSON value ~7,000 levels deep silently ends the statement with neither a row nor an error, and can leave
// the one shared session stuck. So the stack refuses SQL or parameters that nest `[`/`{` more than
// MAX_NESTING levels, with the error Postgres itself would give, before PGlite sees them. (Brackets inside
// JSON strings do not count; brackets in plain SQL text literals do, so a text value of thousands of
// unmatched `[` is refused too — a deliberate, documented difference.)
import { PgError } from './pg-error.ts'

/** Deepest nesting PGlite is known to handle (5,000 levels work, 7,000 do not); with a margin. */
export const MAX_NESTING = 4000

const OPEN_SQUARE = 0x5b
const OPEN_CURLY = 0x7b
const CLOSE_SQUARE = 0x5d
const CLOSE_CURLY = 0x7d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** The deepest `[`/`{` nesting in `input` (text or UTF-8 bytes), not counting brackets inside "…" strings. */
export function nestingDepth(input: string | Uint8Array): number {
  const at = typeof input === 'string' ? (i: number) => input.charCodeAt(i) : (i: number) => input[i]
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < input.length; i++) {
    const c = at(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_SQUARE || c === OPEN_CURLY) {
      if (++depth > max) max = depth
    } else if ((c === CLOSE_SQUARE || c === CLOSE_CURLY) && depth > 0) depth--
  }
  return max
}

export const STACK_DEPTH_MESSAGE = 'stack depth limit exceeded'
export const STACK_DEPTH_DETAIL = `The local stack refuses input nested more than ${MAX_NESTING} levels deep: PGlite's WebAssembly stack is smaller than max_stack_depth assumes.`
export const STACK_DEPTH_HINT = 'Send less deeply nested JSON.'

/** Does anything in `parts` nest too deeply? */
export function tooDeep(...parts: unknown[]): boolean {
  for (const p of parts) {
    if (typeof p === 'string' && p.length > MAX_NESTING && nestingDepth(p) > MAX_NESTING) return true
    if (p instanceof Uint8Array && p.length > MAX_NESTING && nestingDepth(p) > MAX_NESTING) return true
    if (Array.isArray(p) && tooDeep(...p)) return true
    if (p !== null && typeof p === 'object' && !Array.isArray(p) && !(p instanceof Uint8Array) && !(p instanceof Date)) {
      const text = JSON.stringify(p)
      if (text && tooDeep(text)) return true
    }
  }
  return false
}

/** The error Postgres raises for too deep a recursion (54001), for input refused before PGlite sees it. */
export function stackDepthError(): PgError {
  return new PgError(STACK_DEPTH_MESSAGE, '54001', STACK_DEPTH_DETAIL, STACK_DEPTH_HINT)
}

/** A statement that makes Postgres itself raise that error (so a client's transaction aborts as it would). */
export const RAISE_STACK_DEPTH_SQL = `do $stack_depth$ begin raise exception using errcode = '54001', message = '${STACK_DEPTH_MESSAGE}', detail = '${STACK_DEPTH_DETAIL.replace(/'/g, "''")}', hint = '${STACK_DEPTH_HINT}'; end $stack_depth$`
