// The benchmarks `npm run bench` runs, in order.
import { apiConcurrency } from './api-concurrency.ts'
import { embeddings } from './embeddings.ts'
import type { Bench } from './lib.ts'
import { longTermMemory } from './long-term-memory.ts'
import { memoryCore } from './memory-core.ts'
import { retrieval } from './retrieval.ts'

export const BENCHES: Bench[] = [memoryCore, retrieval, apiConcurrency, embeddings, longTermMemory]
