// The well-known local credentials that `supabase start` prints. They are public, identical on every
// developer machine, and only ever valid against a local stack — so tools and tests that expect them work
// unchanged. Hosted projects have their own secrets and never see these values.

export const LOCAL_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long'

/** `{ iss: 'supabase-demo', role: 'anon', exp: 1983812996 }` signed with LOCAL_JWT_SECRET (HS256). */
export const LOCAL_ANON_KEY =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'

/** `{ iss: 'supabase-demo', role: 'service_role', exp: 1983812996 }` signed with LOCAL_JWT_SECRET (HS256). */
export const LOCAL_SERVICE_ROLE_KEY =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU'

/** The local database password (`postgres`), as `supabase start` uses. */
export const LOCAL_DB_PASSWORD = 'postgres'
