// The benchmarks `npm run bench` runs, in order.
import { apiConcurrency } from './api-concurrency.ts'
import { embeddings } from './embeddings.ts'
import type { Bench } from './lib.ts'
import { longTermMemory } from './long-term-memory.ts'
import { memoryCore } from './memory-core.ts'
import { mirror } from './mirror.ts'
import { observability } from './observability.ts'
import { retrieval } from './retrieval.ts'
import { workflows } from './workflows.ts'

export const BENCHES: Bench[] = [memoryCore, retrieval, apiConcurrency, embeddings, workflows, observability, mirror, longTermMemory]
