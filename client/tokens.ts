// countTokens: exact token counts with js-tiktoken (a port of OpenAI's tiktoken; no reason to hand-write
// a BPE). The encoding follows the model: js-tiktoken's own model table (o200k_base for GPT-4o/4.1/o-series,
// cl100k_base for GPT-4/3.5 and text-embedding-3), otherwise o200k_base — an approximation for models
// whose tokenizers are not public (Claude, Llama, …). Rank tables are loaded on first use and cached.
import { getEncodingNameForModel, Tiktoken, type TiktokenEncoding, type TiktokenModel } from 'js-tiktoken/lite'

export type Encoding = 'o200k_base' | 'cl100k_base' | 'p50k_base' | 'r50k_base'

export const DEFAULT_ENCODING: Encoding = 'o200k_base'

export interface CountTokensOptions {
  /** Count with this model's encoding (e.g. "gpt-4o-mini"); unknown models use o200k_base. */
  model?: string
  /** Count with this encoding; wins over `model`. */
  encoding?: Encoding
}

const loaders: Record<Encoding, () => Promise<{ default: ConstructorParameters<typeof Tiktoken>[0] }>> = {
  o200k_base: () => import('js-tiktoken/ranks/o200k_base'),
  cl100k_base: () => import('js-tiktoken/ranks/cl100k_base'),
  p50k_base: () => import('js-tiktoken/ranks/p50k_base'),
  r50k_base: () => import('js-tiktoken/ranks/r50k_base'),
}
const encoders = new Map<Encoding, Promise<Tiktoken>>()

/** The encoding `countTokens` uses for these options. */
export function encodingFor(opts: CountTokensOptions = {}): Encoding {
  if (opts.encoding) {
    if (!(opts.encoding in loaders)) throw new RangeError(`unknown encoding "${opts.encoding}"`)
    return opts.encoding
  }
  if (!opts.model) return DEFAULT_ENCODING
  let name: TiktokenEncoding
  try {
    name = getEncodingNameForModel(opts.model as TiktokenModel)
  } catch {
    return DEFAULT_ENCODING
  }
  return name in loaders ? (name as Encoding) : DEFAULT_ENCODING
}

async function encoder(encoding: Encoding): Promise<Tiktoken> {
  let e = encoders.get(encoding)
  if (!e) {
    e = loaders[encoding]().then((ranks) => new Tiktoken(ranks.default))
    encoders.set(encoding, e)
    e.catch(() => encoders.delete(encoding))
  }
  return e
}

/** Number of tokens `text` encodes to (special tokens counted as plain text). */
export async function countTokens(text: string, opts: CountTokensOptions = {}): Promise<number> {
  const enc = await encoder(encodingFor(opts))
  return enc.encode(text, [], []).length
}
