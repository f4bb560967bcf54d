// Serves a fresh migrated database on a free loopback port for test code that is not Node (the Deno tests
// of Edge Functions, which talk to it with postgres.js as the functions do): prints one JSON line
// {"dbUrl": "..."} once ready, and stops when stdin closes or on SIGTERM/SIGINT.
//   node --import tsx scripts/lib/serve-fresh-db.ts
import { freshDatabase } from './fresh-db.ts'

const fresh = await freshDatabase()
process.stdout.write(JSON.stringify({ dbUrl: fresh.dbUrl }) + '\n')
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await fresh.close()
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
