// Splits a SQL file into statements the way the Supabase CLI does before recording them in
// `supabase_migrations.schema_migrations.statements`: on `;` outside strings, quoted identifiers,
// dollar-quoted bodies and comments; each statement trimmed, without its trailing `;`, keeping the
// comments that precede it. Written here (not a library) because the point is to match the CLI's
// recording byte for byte, and to know each statement's offset for error messages.

export interface SqlStatement {
  text: string
  /** Offset of `text` in the source, for turning Postgres error positions into line numbers. */
  offset: number
}

export function splitSql(source: string): SqlStatement[] {
  const out: SqlStatement[] = []
  let start = 0
  let i = 0
  const n = source.length
  const push = (end: number) => {
    const raw = source.slice(start, end)
    const text = raw.trim()
    if (text) out.push({ text, offset: start + (raw.length - raw.trimStart().length) })
  }
  while (i < n) {
    const c = source[i]
    const next = source[i + 1]
    if (c === '-' && next === '-') {
      const eol = source.indexOf('\n', i)
      i = eol === -1 ? n : eol + 1
    } else if (c === '/' && next === '*') {
      // Block comments nest in Postgres.
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (source[i] === '/' && source[i + 1] === '*') (depth++, (i += 2))
        else if (source[i] === '*' && source[i + 1] === '/') (depth--, (i += 2))
        else i++
      }
    } else if (c === "'") {
      // E'...' strings allow backslash escapes; standard strings only ''.
      const escapes = i > 0 && /[eE]/.test(source[i - 1]) && !/[\w$]/.test(source[i - 2] ?? '')
      i++
      while (i < n) {
        if (escapes && source[i] === '\\') i += 2
        else if (source[i] === "'" && source[i + 1] === "'") i += 2
        else if (source[i] === "'") break
        else i++
      }
      i++
    } else if (c === '"') {
      i++
      while (i < n) {
        if (source[i] === '"' && source[i + 1] === '"') i += 2
        else if (source[i] === '"') break
        else i++
      }
      i++
    } else if (c === '$' && !/[\w$]/.test(source[i - 1] ?? '')) {
      const m = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(source.slice(i, i + 64))
      if (m) {
        const close = source.indexOf(m[0], i + m[0].length)
        i = close === -1 ? n : close + m[0].length
      } else i++
    } else if (c === ';') {
      push(i)
      start = i + 1
      i++
    } else i++
  }
  push(n)
  return out
}

/** 1-based line number of `offset` in `source`. */
export function lineAt(source: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < source.length; i++) if (source[i] === '\n') line++
  return line
}
