// CORS headers for Edge Functions called from browsers (supabase-js sends these request headers), as in
// Supabase's function examples.
export const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type',
}
