// The shape of a `npm run bench` section (apart from lib.ts so that lib.ts, which the corpus loader uses,
// does not depend on the corpus loader).
import type { BenchCorpus } from './dataset.ts'
import type { BenchContext, BenchReport } from './lib.ts'

/**
 * A benchmark section. `run` is called once per run (fixed setups: stacks under load for a time, pipelines);
 * `runAt` once per corpus size, with the shared corpus grown to that size when `corpus` is true (else null).
 */
export interface Bench {
  name: string
  description: string
  /** Needs the shared corpus (scripts/bench/dataset.ts) grown to each size. */
  corpus?: boolean
  /** Time-based or a long fixed setup: its `run` is left out of --quick unless named with --only. */
  slow?: boolean
  run?(ctx: BenchContext): Promise<BenchReport>
  runAt?(ctx: BenchContext, size: number, corpus: BenchCorpus | null): Promise<BenchReport>
  /**
   * Called before the shared corpus grows to `size`: may start a fixed setup of its own for that size in the
   * background (another process, on the other core). The runner then grows the corpus and waits for every
   * such setup before it measures anything at that size, so no measurement shares the machine with one; a
   * failed setup is reported by the section's `runAt`.
   */
  prepareAt?(ctx: BenchContext, size: number): BackgroundSetup | undefined
}

/** A setup running in the background; `wait` resolves when it is done (showing progress for the rest). */
export interface BackgroundSetup {
  wait(ctx: BenchContext): Promise<void>
}
