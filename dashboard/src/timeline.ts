// The span timeline of one trace: spans as a tree (children under their parent, by start time), each a bar
// placed and sized by its start and duration relative to the whole trace — a waterfall, as trace viewers show.
import type { SpanRow } from './api.ts'
import { count, esc, ms, usd } from './format.ts'

interface Placed {
  span: SpanRow
  depth: number
}

/** Depth-first order of the spans; a span whose parent is not in the trace is a root. */
export function order(spans: SpanRow[]): Placed[] {
  const ids = new Set(spans.map((s) => s.span_id))
  const children = new Map<string | null, SpanRow[]>()
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : null
    children.set(parent, [...(children.get(parent) ?? []), s])
  }
  for (const list of children.values()) list.sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at))
  const out: Placed[] = []
  const visit = (parent: string | null, depth: number) => {
    for (const s of children.get(parent) ?? []) {
      out.push({ span: s, depth })
      visit(s.span_id, depth + 1)
    }
  }
  visit(null, 0)
  return out
}

function durationStyle(place: 'after' | 'before' | 'inside', left: number, width: number): string {
  if (place === 'after') return `left:${left + width}%`
  if (place === 'before') return `right:${100 - left}%;margin-right:6px`
  return `left:${left}%`
}

export function timelineHtml(spans: SpanRow[]): string {
  if (!spans.length) return ''
  const start = Math.min(...spans.map((s) => Date.parse(s.started_at)))
  const end = Math.max(...spans.map((s) => Date.parse(s.started_at) + (s.duration_ms ?? 0)))
  const total = Math.max(end - start, 0.001)
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<span style="left:${f * 100}%">${ms(total * f)}</span>`).join('')
  const rows = order(spans).map(({ span, depth }) => {
    const left = ((Date.parse(span.started_at) - start) / total) * 100
    const width = Math.max(((span.duration_ms ?? 0) / total) * 100, 0.4)
    // The duration label goes after the bar, else before it, else (a bar across the track) inside it.
    const place = left + width <= 82 ? 'after' : left >= 18 ? 'before' : 'inside'
    const usage = span.model
      ? `<span class="chip">${esc(span.model)}</span>${span.input_tokens != null || span.output_tokens != null ? `<span class="muted">${count(span.input_tokens)} → ${count(span.output_tokens)} tok</span>` : ''}${span.cost_usd != null ? `<span class="muted">${usd(span.cost_usd)}</span>` : ''}`
      : ''
    return `<div class="tl-row${span.status === 'error' ? ' is-error' : ''}" data-span="${esc(span.span_id)}" title="${esc(span.status_message ?? '')}">
      <div class="tl-label" style="padding-left:${8 + depth * 14}px">
        <span class="kind kind-${esc(span.kind)}">${esc(span.kind)}</span><span class="tl-name">${esc(span.name)}</span>${usage}
      </div>
      <div class="tl-track"><div class="tl-bar kind-${esc(span.kind)}" style="left:${left}%;width:${width}%"></div>
        <span class="tl-dur${place === 'inside' ? ' inside' : ''}" style="${durationStyle(place, left, width)}">${ms(span.duration_ms)}</span></div>
    </div>`
  })
  return `<div class="tl-axis"><div></div><div class="tl-ticks">${ticks}</div></div>${rows.join('')}`
}
