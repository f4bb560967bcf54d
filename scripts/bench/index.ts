// The benchmarks `npm run bench` runs, in order.
import { apiConcurrency } from './api-concurrency.ts'
import type { Bench } from './lib.ts'

export const BENCHES: Bench[] = [apiConcurrency]
