// Realtime helpers for tests: a supabase-js client whose websocket carries a user's token, and a
// postgres_changes subscription that resolves once the server confirmed the join.
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js'
import type { Stack } from '../../stack/stack.ts'
import { userClient } from './stack.ts'

/** A change as realtime-js delivers it to a postgres_changes callback. */
export interface Change {
  eventType: string
  table: string
  new: Record<string, unknown>
  old: Record<string, unknown>
}

/** A supabase-js client whose Realtime connection carries the user's token (supabase.realtime.setAuth). */
export async function realtimeAs(stack: Pick<Stack, 'apiUrl'>, token: string): Promise<SupabaseClient> {
  const client = userClient(stack, token)
  await client.realtime.setAuth(token)
  return client
}

/** Subscribes and resolves once the server confirmed the join; collects change payloads in `into`. */
export function listen(client: SupabaseClient, name: string, filter: Record<string, string>, into: Change[]): Promise<RealtimeChannel> {
  return new Promise((resolve, reject) => {
    const channel = client
      .channel(name)
      .on('postgres_changes', filter as never, (p: unknown) => into.push(p as Change))
      .subscribe((status, err) => {
        if (status === 'SUBSCRIBED') resolve(channel)
        else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(err ?? new Error(status))
      })
  })
}
