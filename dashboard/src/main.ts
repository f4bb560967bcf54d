// Agent Memory's ops dashboard: a static page over supabase-js. Point it at a project — the local stack serves
// it at /dashboard/ and fills in its own URL; on any static host, enter the project URL and a key, or pass
// them as #url=…&key=…[&token=…] (the fragment never reaches a server; it is removed from the address bar at
// once and kept in sessionStorage for the tab). The service_role key sees every panel; the anon key with a
// user's access token sees that user's traces, costs and limits (row level security), not the operators'
// views. New traces arrive through Realtime (postgres_changes on traces); every panel is also re-read every
// 5 seconds, so the page follows live data even where Realtime is not enabled.
import './styles.css'
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js'
import { connect, type Connection, queries, type Result, roleOf, type TraceRow } from './api.ts'
import { costChart, failuresChart, latencyChart } from './charts.ts'
import { ago, clock, count, esc, ms, usd } from './format.ts'
import { timelineHtml } from './timeline.ts'
import type { Database } from '../../types/supabase.ts'

const POLL_MS = 5000
const STORE = 'agent-memory-dashboard'
const app = document.getElementById('app')!

let db: SupabaseClient<Database> | null = null
let conn: Connection | null = null
let selected: string | null = null
let poll: ReturnType<typeof setInterval> | null = null
let channel: RealtimeChannel | null = null
let live: 'connecting' | 'realtime' | 'polling' = 'connecting'
let refreshing = false
let lastRefresh: Date | null = null

function readConnection(): Connection | null {
  const fromUrl = new URLSearchParams(location.hash.replace(/^#/, '') || location.search)
  if (fromUrl.get('key')) {
    const c: Connection = { url: fromUrl.get('url') || defaultUrl(), key: fromUrl.get('key')!, token: fromUrl.get('token') }
    sessionStorage.setItem(STORE, JSON.stringify(c))
    history.replaceState(null, '', location.pathname)
    return c
  }
  const saved = sessionStorage.getItem(STORE)
  return saved ? (JSON.parse(saved) as Connection) : null
}

/** Served by a project's own API (the local stack's /dashboard/): that origin; else nothing to guess. */
function defaultUrl(): string {
  return location.pathname.startsWith('/dashboard') && location.protocol.startsWith('http') ? location.origin : ''
}

function signIn(error?: string): void {
  const saved = conn ?? { url: defaultUrl(), key: '', token: null }
  app.innerHTML = `
    <main class="signin">
      <form class="card" id="signin">
        <div class="brand"><span class="logo">◆</span> Agent Memory <span class="muted">Operations</span></div>
        <p class="muted">Sign in with the project's <b>service_role</b> key for every panel, or with the anon key and a user's access
          token to see that user's traces.</p>
        ${error ? `<p class="alert">${esc(error)}</p>` : ''}
        <label>Project URL<input name="url" required placeholder="https://<project-ref>.supabase.co" value="${esc(saved.url)}"></label>
        <label>API key<input name="key" required placeholder="service_role or anon key" value="${esc(saved.key)}" autocomplete="off"></label>
        <label>User access token <span class="muted">(optional)</span><input name="token" placeholder="eyJ…" value="${esc(saved.token ?? '')}" autocomplete="off"></label>
        <button type="submit">Open dashboard</button>
      </form>
    </main>`
  document.getElementById('signin')!.addEventListener('submit', (e) => {
    e.preventDefault()
    const f = new FormData(e.target as HTMLFormElement)
    const c: Connection = { url: String(f.get('url')).trim().replace(/\/+$/, ''), key: String(f.get('key')).trim(), token: String(f.get('token') ?? '').trim() || null }
    sessionStorage.setItem(STORE, JSON.stringify(c))
    start(c)
  })
}

function shell(c: Connection): void {
  const who = roleOf(c)
  const host = (() => {
    try {
      return new URL(c.url).host
    } catch {
      return c.url
    }
  })()
  app.innerHTML = `
    <header class="top">
      <div class="brand"><span class="logo">◆</span> Agent Memory <span class="muted">Operations</span></div>
      <div class="top-right">
        <span class="project" title="${esc(c.url)}">${esc(host)}</span>
        <span class="badge role-${esc(who.role)}">${esc(who.role === 'authenticated' ? `user ${who.subject?.slice(0, 8) ?? ''}` : who.role)}</span>
        <span class="live" id="live"><span class="dot"></span><span id="live-text">connecting…</span></span>
        <button class="ghost" id="signout">Sign out</button>
      </div>
    </header>
    <main class="grid">
      <section class="kpis" id="kpis" data-panel="kpis"></section>
      ${panel('pipelines', 'Pipeline health', 'Queue depth, lag and failures of the background pipelines', 'span-7')}
      ${panel('failures', 'Failures per day', 'Failed spans and dead-lettered jobs, last 14 days', 'span-5')}
      ${panel('traces', 'Recent traces', 'Newest first; select one for its span timeline', 'span-5')}
      ${panel('timeline', 'Span timeline', '', 'span-7')}
      ${panel('costs', 'Cost per model per day', 'USD, last 14 days', 'span-6')}
      ${panel('latency', 'Latency percentiles', 'Edge Functions (their traces) and guarded RPCs (measured in the database)', 'span-6')}
      ${panel('jobs', 'Scheduled jobs', 'pg_cron jobs with their last run', 'span-7')}
      ${panel('limits', 'Rate limits and quotas', 'Counters in their current window', 'span-5')}
    </main>
    <footer class="foot muted" id="foot"></footer>`
  document.getElementById('signout')!.addEventListener('click', () => {
    sessionStorage.removeItem(STORE)
    stop()
    conn = null
    signIn()
  })
}

function panel(id: string, title: string, subtitle: string, span: string): string {
  return `<section class="panel ${span}" data-panel="${id}" data-state="loading" data-count="0">
    <div class="panel-head"><h2>${esc(title)}</h2><span class="muted" data-subtitle>${esc(subtitle)}</span></div>
    <div class="panel-body" id="p-${id}"><div class="placeholder">Loading…</div></div>
  </section>`
}

function setPanel(id: string, state: 'ready' | 'empty' | 'error' | 'forbidden', rows: number, html: string): HTMLElement {
  const section = document.querySelector<HTMLElement>(`[data-panel="${id}"]`)!
  section.dataset.state = state
  section.dataset.count = String(rows)
  const body = document.getElementById(`p-${id}`)!
  body.innerHTML = html
  return body
}

function unavailable<T>(id: string, r: Result<T>, empty: string): boolean {
  if (r.error !== null) {
    const forbidden = (r as { forbidden: boolean }).forbidden
    setPanel(id, forbidden ? 'forbidden' : 'error', 0,
      `<div class="placeholder">${forbidden ? 'This panel needs the <b>service_role</b> key.' : `Could not load: ${esc(r.error)}`}</div>`)
    return true
  }
  if (!r.rows.length) {
    setPanel(id, 'empty', 0, `<div class="placeholder">${esc(empty)}</div>`)
    return true
  }
  return false
}

async function refresh(): Promise<void> {
  if (!db || refreshing) return
  refreshing = true
  try {
    const [pipelines, failures, traces, costs, latency, jobs, limits] = await Promise.all([
      queries.pipelines(db), queries.failures(db), queries.traces(db), queries.costs(db), queries.latency(db), queries.jobs(db), queries.limits(db),
    ])
    kpis(latency.rows, costs.rows, traces.rows)
    if (!unavailable('pipelines', pipelines, 'No pipelines are registered (util.pipelines).')) {
      setPanel('pipelines', 'ready', pipelines.rows.length, `<div class="pipes">${pipelines.rows.map((p) => `
        <div class="pipe${p.error ? ' is-error' : (p.failures_last_24_hours ?? 0) > 0 ? ' is-warn' : ''}">
          <div class="pipe-head"><b>${esc(p.pipeline)}</b><span class="muted">${esc(p.queue_name ?? 'no queue')}</span></div>
          <div class="pipe-desc muted">${esc(p.error ?? p.description)}</div>
          <div class="stats">
            ${stat('queued', count(p.queue_depth))}${stat('lag', p.lag_seconds == null ? '—' : `${count(p.lag_seconds)} s`)}
            ${stat('done · 5 min', count(p.processed_last_5_minutes))}${stat('failed · 24 h', count(p.failures_last_24_hours), (p.failures_last_24_hours ?? 0) > 0)}
            ${stat('dead-lettered', count(p.dead_lettered_total))}
          </div>
        </div>`).join('')}</div>${recentErrors(failures.rows)}`)
    }
    if (!unavailable('failures', failures, 'No failures in the last 14 days.')) {
      await failuresChart(setPanel('failures', 'ready', failures.rows.length, ''), failures.rows)
    }
    renderTraces(traces)
    if (!unavailable('costs', costs, 'No model calls with a cost in the last 14 days.')) {
      await costChart(setPanel('costs', 'ready', costs.rows.length, ''), costs.rows)
    }
    if (!unavailable('latency', latency, 'No function or RPC calls in the last 24 hours.')) {
      await latencyChart(setPanel('latency', 'ready', latency.rows.length, ''), latency.rows)
    }
    if (!unavailable('jobs', jobs, 'No cron jobs are scheduled.')) {
      setPanel('jobs', 'ready', jobs.rows.length, table(['Job', 'Schedule', 'Last run', 'Status', 'Runs · 24 h'], jobs.rows.map((j) => [
        `<b>${esc(j.jobname ?? `job ${j.jobid}`)}</b><div class="muted mono clip" title="${esc(j.command)}">${esc(j.command)}</div>`,
        `<span class="mono">${esc(j.schedule)}</span>${j.active ? '' : ' <span class="chip">paused</span>'}`,
        j.last_run_at ? `${ago(j.last_run_at)}<div class="muted">${ms(j.last_duration_ms)}</div>` : '<span class="muted">not in 24 h</span>',
        j.last_status ? `<span class="status status-${esc(j.last_status)}">${esc(j.last_status)}</span>` : '—',
        `${count(j.runs_last_24_hours)}${(j.failures_last_24_hours ?? 0) > 0 ? ` <span class="status status-failed">${count(j.failures_last_24_hours)} failed</span>` : ''}`,
      ])))
    }
    if (!unavailable('limits', limits, 'No rate limit has been hit in its current window.')) {
      setPanel('limits', 'ready', limits.rows.length, table(['Key', 'Used', 'Limit', 'Resets'], limits.rows.map((l) => {
        const used = Number(l.used ?? 0)
        const limit = Number(l.limit ?? 0)
        const pct = limit ? Math.min(100, (used / limit) * 100) : 0
        return [
          `<span class="mono">${esc(l.key)}</span><div class="muted">${esc(l.kind)}${l.owner_id ? ` · user ${esc(l.owner_id.slice(0, 8))}` : ' · project'}</div>`,
          `${count(used)}<div class="meter"><div style="width:${pct}%" class="${pct >= 100 ? 'full' : ''}"></div></div>`,
          count(limit),
          l.resets_at ? clock(l.resets_at) : '—',
        ]
      })))
    }
    lastRefresh = new Date()
    document.getElementById('foot')!.textContent = `Updated ${lastRefresh.toLocaleTimeString('en-US', { hour12: false })} · re-read every ${POLL_MS / 1000} s`
  } finally {
    refreshing = false
  }
}

/** The latest failures with their error text, under the pipeline cards. */
function recentErrors(rows: { day: string | null; kind: string | null; service: string | null; name: string | null; failures: number | null; last_error: string | null; last_failed_at: string | null }[]): string {
  const latest = rows.filter((r) => r.last_error).sort((a, b) => Date.parse(b.last_failed_at ?? '') - Date.parse(a.last_failed_at ?? '')).slice(0, 4)
  if (!latest.length) return ''
  return `<h3 class="sub">Latest errors</h3><ul class="errors">${latest.map((r) => `
    <li><span class="status status-failed">${count(r.failures)}×</span> <b>${esc(r.service || r.kind)}</b> · ${esc(r.name)}
      <div class="muted mono clip" title="${esc(r.last_error)}">${esc(r.last_error)}</div><span class="muted when">${ago(r.last_failed_at)}</span></li>`).join('')}</ul>`
}

function stat(label: string, value: string, alert = false): string {
  return `<div class="stat${alert ? ' is-alert' : ''}"><div class="stat-v">${value}</div><div class="stat-l">${esc(label)}</div></div>`
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`
}

function kpis(latency: { kind: string | null; calls: number | null; errors: number | null }[], costs: { day: string | null; cost_usd: number | null; input_tokens: number | null; output_tokens: number | null }[], traces: TraceRow[]): void {
  const fn = latency.filter((l) => l.kind === 'function')
  const calls = fn.reduce((n, l) => n + Number(l.calls ?? 0), 0)
  const errors = fn.reduce((n, l) => n + Number(l.errors ?? 0), 0)
  const today = new Date().toISOString().slice(0, 10)
  const todays = costs.filter((c) => c.day === today)
  const cost = todays.reduce((n, c) => n + Number(c.cost_usd ?? 0), 0)
  const tokens = todays.reduce((n, c) => n + Number(c.input_tokens ?? 0) + Number(c.output_tokens ?? 0), 0)
  const kpi = (label: string, value: string, note: string) =>
    `<div class="kpi"><div class="kpi-l">${esc(label)}</div><div class="kpi-v">${value}</div><div class="kpi-n muted">${esc(note)}</div></div>`
  document.getElementById('kpis')!.innerHTML = [
    kpi('Function calls', count(calls), 'last 24 hours'),
    kpi('Error rate', calls ? `${((errors / calls) * 100).toFixed(errors && errors / calls < 0.01 ? 2 : 1)}%` : '—', `${count(errors)} server errors`),
    kpi('Tokens today', count(tokens), 'input + output, UTC day'),
    kpi('Cost today', usd(cost), 'at the prices in models'),
    kpi('Latest trace', traces[0] ? ago(traces[0].started_at) : '—', traces[0] ? `${traces[0].service ?? traces[0].source} · ${traces[0].name}` : 'none yet'),
  ].join('')
}

function renderTraces(traces: Result<TraceRow>): void {
  if (unavailable('traces', traces, 'No traces yet: call a function, or export spans to /functions/v1/otlp/v1/traces.')) {
    setPanel('timeline', 'empty', 0, '<div class="placeholder">No trace selected.</div>')
    return
  }
  if (!selected || !traces.rows.some((t) => t.id === selected)) selected = traces.rows[0].id
  const body = setPanel('traces', 'ready', traces.rows.length, `<div class="traces">${traces.rows.map((t) => `
    <button class="trace${t.id === selected ? ' is-selected' : ''}${t.status === 'error' ? ' is-error' : ''}" data-trace="${esc(t.id)}">
      <span class="trace-status status-${esc(t.status)}"></span>
      <span class="trace-main"><span class="trace-name">${esc(t.name)}</span>
        <span class="muted">${esc(t.service ?? '—')} · ${esc(t.source)} · ${count(t.span_count)} spans${t.input_tokens || t.output_tokens ? ` · ${count(Number(t.input_tokens) + Number(t.output_tokens))} tok` : ''}</span></span>
      <span class="trace-side"><span>${ms(t.duration_ms)}</span><span class="muted">${Number(t.cost_usd) ? usd(t.cost_usd) : ''} ${ago(t.started_at)}</span></span>
    </button>`).join('')}</div>`)
  body.querySelectorAll<HTMLButtonElement>('[data-trace]').forEach((b) => b.addEventListener('click', () => {
    selected = b.dataset.trace!
    body.querySelectorAll('.trace').forEach((x) => x.classList.toggle('is-selected', x === b))
    void renderTimeline(traces.rows.find((t) => t.id === selected)!)
  }))
  void renderTimeline(traces.rows.find((t) => t.id === selected)!)
}

async function renderTimeline(t: TraceRow): Promise<void> {
  if (!db) return
  const spans = await queries.spans(db, t.id)
  if (selected !== t.id) return
  const section = document.querySelector<HTMLElement>('[data-panel="timeline"] [data-subtitle]')!
  section.textContent = `${t.name} · ${t.service ?? t.source} · ${ms(t.duration_ms)} · ${count(t.span_count)} spans${Number(t.cost_usd) ? ` · ${usd(t.cost_usd)}` : ''} · trace ${t.trace_id.slice(0, 12)}…`
  if (unavailable('timeline', spans, 'This trace has no spans.')) return
  setPanel('timeline', 'ready', spans.rows.length, `<div class="timeline">${timelineHtml(spans.rows)}</div>`)
}

function setLive(state: typeof live): void {
  live = state
  const el = document.getElementById('live')
  if (!el) return
  el.dataset.state = state
  document.getElementById('live-text')!.textContent = state === 'realtime' ? 'Live · Realtime' : state === 'polling' ? `Polling · ${POLL_MS / 1000} s` : 'connecting…'
}

function stop(): void {
  if (poll) clearInterval(poll)
  poll = null
  if (channel) void db?.removeChannel(channel)
  channel = null
}

function start(c: Connection): void {
  stop()
  conn = c
  if (!/^https?:\/\//.test(c.url)) return signIn('The project URL must start with http:// or https://.')
  db = connect(c)
  shell(c)
  setLive('connecting')
  void refresh()
  poll = setInterval(() => void refresh(), POLL_MS)
  let pending: ReturnType<typeof setTimeout> | null = null
  channel = db.channel('dashboard-traces')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'traces' }, () => {
      // A burst of spans updates its trace many times: one refresh per burst.
      if (!pending) pending = setTimeout(() => {
        pending = null
        void refresh()
      }, 300)
    })
    .subscribe((status) => setLive(status === 'SUBSCRIBED' ? 'realtime' : 'polling'))
}

const initial = readConnection()
if (initial) start(initial)
else signIn()
