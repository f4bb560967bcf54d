// The benchmarks `npm run bench` runs, in order.
import type { Bench } from './lib.ts'

export const BENCHES: Bench[] = []
