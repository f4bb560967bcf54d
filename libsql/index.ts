// The LibSQL/Turso mirror from Node: open it (getLibSQLClient), read one owner's memory from it (getMemory),
// and the cursor codec shared with Supabase. The mirror is written by the `mirror` Edge Function
// (supabase/functions/mirror) from Supabase's change queue; its schema is libsql/migrations.
export { DEFAULT_LIBSQL_URL, describeLibsqlUrl, getLibSQLClient, isDatabaseAvailable, type LibSQLOptions } from './client.ts'
export {
  ftsQuery,
  getMemory,
  type HybridHit,
  type HybridSearchOptions,
  type KeywordHit,
  type MirrorListThreadsOptions,
  type MirrorLoadMessagesOptions,
  type MirrorMemory,
  type SearchFilters,
  type SearchHit,
  type SearchMemoryOptions,
  vectorSearchSql,
} from './memory.ts'
export { decodeCursor, encodeCursor } from './cursor.ts'
