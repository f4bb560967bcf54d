// One typed RPC call over supabase-js for the SDK modules that live outside memory.ts (workflows,
// scheduled tasks): the function name and arguments are checked against the generated database types,
// and a failed call is thrown as MemoryError (network failures included).
import type { SupabaseClient } from '@supabase/supabase-js'
import { fromPostgrestError, MemoryError } from './errors.ts'
import type { Database, Functions } from './types.ts'

export type Args<F extends keyof Functions> = Functions[F]['Args']
export type Returns<F extends keyof Functions> = Functions[F]['Returns']
export type Rpc = <F extends keyof Functions>(fn: F, args: Args<F>) => Promise<Returns<F>>

export function rpcCaller(client: SupabaseClient<any, any, any>): Rpc {
  const supabase = client as SupabaseClient<Database>
  return async (fn, args) => {
    let result: { data: unknown; error: Parameters<typeof fromPostgrestError>[0] | null; status: number }
    try {
      result = await supabase.rpc(fn, args as never)
    } catch (err) {
      throw new MemoryError('network', `${fn}: the request failed (${(err as Error).message})`, { cause: err, status: 0 })
    }
    if (result.error) throw fromPostgrestError(result.error, result.status, fn)
    return result.data as Returns<typeof fn>
  }
}

/** Checks that `client` looks like a supabase-js client (the factories' one requirement). */
export function requireClient(client: unknown, factory: string): SupabaseClient<any, any, any> {
  if (!client || typeof (client as SupabaseClient).rpc !== 'function') {
    throw new MemoryError('invalid_input', `${factory} needs { supabase }: a client from @supabase/supabase-js createClient()`)
  }
  return client as SupabaseClient<any, any, any>
}
