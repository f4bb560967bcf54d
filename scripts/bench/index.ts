// The sections `npm run bench` runs, in order: per corpus size the ones with `runAt` (after the shared
// corpus grows), then once per run the ones with `run`.
import { apiConcurrency } from './api-concurrency.ts'
import { embeddings } from './embeddings.ts'
import { longTermMemory } from './long-term-memory.ts'
import { memoryCore } from './memory-core.ts'
import { mirror } from './mirror.ts'
import { observability } from './observability.ts'
import { retrieval } from './retrieval.ts'
import { scifact } from './scifact.ts'
import type { Bench } from './section.ts'
import { workflows } from './workflows.ts'

export const BENCHES: Bench[] = [memoryCore, retrieval, longTermMemory, mirror, scifact, apiConcurrency, embeddings, workflows, observability]
