// The benchmarks `npm run bench` runs, in order.
import type { Bench } from './lib.ts'
import { memoryCore } from './memory-core.ts'

export const BENCHES: Bench[] = [memoryCore]
