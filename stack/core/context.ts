// What every service behind the API gateway is handed: the database, the settings, request authentication,
// the Edge Functions runtime (null when the project has no supabase/functions) and the log. Its own module so
// the services (postgrest/, realtime/) and the gateway that routes to them never import each other.
import type { EdgeRuntime } from '../edge-runtime/runtime.ts'
import type { Authenticator } from './api-auth.ts'
import type { StackConfig } from './config.ts'
import type { Database } from './database.ts'

export interface GatewayContext {
  db: Database
  config: StackConfig
  auth: Authenticator
  functions: EdgeRuntime | null
  log: (line: string) => void
}
