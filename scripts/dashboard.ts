// `npm run dashboard`: builds the ops dashboard into dashboard/dist (for any static host) and prints where to
// open it — the local stack serves it at <API URL>/dashboard/. It opens nothing by itself.
import { existsSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { buildDashboard, DASHBOARD_DIR } from '../dashboard/build.ts'
import { loadConfig, ROOT } from '../stack/core/config.ts'

const config = loadConfig([], process.env)
const { outDir, bytes } = await buildDashboard(join(DASHBOARD_DIR, 'dist'))
const info = join(config.dataDir, 'stack.json')
let apiUrl = `http://${config.host}:${config.apiPort}`
let running = false
if (existsSync(info)) {
  const stack = JSON.parse(readFileSync(info, 'utf8')) as { apiUrl?: string; pid?: number }
  try {
    if (stack.pid) process.kill(stack.pid, 0)
    running = true
    apiUrl = stack.apiUrl ?? apiUrl
  } catch {
    running = false
  }
}
console.log(`Dashboard: ${apiUrl}/dashboard/${running ? '' : '   (served by the local stack: start it with `npm start`)'}`)
console.log(`  Sign in with the service_role key from the stack's status block (or pass it as ${apiUrl}/dashboard/#key=<key>).`)
console.log(`Static build: ${relative(ROOT, outDir)}/ (${Math.round(bytes / 1024)} KiB) — host it anywhere and enter a hosted project's URL and key.`)
