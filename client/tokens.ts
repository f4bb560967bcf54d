// countTokens: exact token counts with js-tiktoken (a port of OpenAI's tiktoken; no reason to hand-write
// a BPE). The encoding follows the model: js-tiktoken's own model table (o200k_base for GPT-4o/4.1/5 and the
// o-series, cl100k_base for GPT-4/3.5 and text-embedding-3, …), or — through memory.countTokens — the
// tokenizer the project's `models` table names for its other models (Claude, Llama, …: an approximation,
// their tokenizers are not public). A model neither knows is refused with the list of known ones rather
// than silently counted with some default; so is input that is not a string. Rank tables are loaded on
// first use and cached.
import { getEncodingNameForModel, Tiktoken, type TiktokenModel } from 'js-tiktoken/lite'
import { MemoryError } from './errors.ts'

export type Encoding = 'o200k_base' | 'cl100k_base' | 'p50k_base' | 'r50k_base'

export const DEFAULT_ENCODING: Encoding = 'o200k_base'

export interface CountTokensOptions {
  /** Count with this model's encoding (e.g. "gpt-4o-mini"); an unknown model is a MemoryError invalid_input. */
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
export const ENCODINGS = Object.keys(loaders) as Encoding[]
const encoders = new Map<Encoding, Promise<Tiktoken>>()

// Every model js-tiktoken knows, typed against its TiktokenModel union: the type check fails when a new
// js-tiktoken adds or drops one, so this list (used in error messages) cannot drift from the table.
const TIKTOKEN_MODEL_TABLE: Record<TiktokenModel, true> = {
  'davinci-002': true, 'babbage-002': true, 'text-davinci-003': true, 'text-davinci-002': true, 'text-davinci-001': true,
  'text-curie-001': true, 'text-babbage-001': true, 'text-ada-001': true, davinci: true, curie: true, babbage: true, ada: true,
  'code-davinci-002': true, 'code-davinci-001': true, 'code-cushman-002': true, 'code-cushman-001': true, 'davinci-codex': true,
  'cushman-codex': true, 'text-davinci-edit-001': true, 'code-davinci-edit-001': true, 'text-embedding-ada-002': true,
  'text-embedding-3-small': true, 'text-embedding-3-large': true, 'text-similarity-davinci-001': true,
  'text-similarity-curie-001': true, 'text-similarity-babbage-001': true, 'text-similarity-ada-001': true,
  'text-search-davinci-doc-001': true, 'text-search-curie-doc-001': true, 'text-search-babbage-doc-001': true,
  'text-search-ada-doc-001': true, 'code-search-babbage-code-001': true, 'code-search-ada-code-001': true, gpt2: true,
  'gpt-3.5-turbo': true, 'gpt-35-turbo': true, 'gpt-3.5-turbo-0301': true, 'gpt-3.5-turbo-0613': true,
  'gpt-3.5-turbo-1106': true, 'gpt-3.5-turbo-0125': true, 'gpt-3.5-turbo-16k': true, 'gpt-3.5-turbo-16k-0613': true,
  'gpt-3.5-turbo-instruct': true, 'gpt-3.5-turbo-instruct-0914': true, 'gpt-4': true, 'gpt-4-0314': true, 'gpt-4-0613': true,
  'gpt-4-32k': true, 'gpt-4-32k-0314': true, 'gpt-4-32k-0613': true, 'gpt-4-turbo': true, 'gpt-4-turbo-2024-04-09': true,
  'gpt-4-turbo-preview': true, 'gpt-4-1106-preview': true, 'gpt-4-0125-preview': true, 'gpt-4-vision-preview': true,
  'gpt-4o': true, 'gpt-4o-2024-05-13': true, 'gpt-4o-2024-08-06': true, 'gpt-4o-2024-11-20': true,
  'gpt-4o-mini-2024-07-18': true, 'gpt-4o-mini': true, 'gpt-4o-search-preview': true, 'gpt-4o-search-preview-2025-03-11': true,
  'gpt-4o-mini-search-preview': true, 'gpt-4o-mini-search-preview-2025-03-11': true, 'gpt-4o-audio-preview': true,
  'gpt-4o-audio-preview-2024-12-17': true, 'gpt-4o-audio-preview-2024-10-01': true, 'gpt-4o-mini-audio-preview': true,
  'gpt-4o-mini-audio-preview-2024-12-17': true, o1: true, 'o1-2024-12-17': true, 'o1-mini': true, 'o1-mini-2024-09-12': true,
  'o1-preview': true, 'o1-preview-2024-09-12': true, 'o1-pro': true, 'o1-pro-2025-03-19': true, o3: true, 'o3-2025-04-16': true,
  'o3-mini': true, 'o3-mini-2025-01-31': true, 'o4-mini': true, 'o4-mini-2025-04-16': true, 'chatgpt-4o-latest': true,
  'gpt-4o-realtime': true, 'gpt-4o-realtime-preview-2024-10-01': true, 'gpt-4o-realtime-preview-2024-12-17': true,
  'gpt-4o-mini-realtime-preview': true, 'gpt-4o-mini-realtime-preview-2024-12-17': true, 'gpt-4.1': true,
  'gpt-4.1-2025-04-14': true, 'gpt-4.1-mini': true, 'gpt-4.1-mini-2025-04-14': true, 'gpt-4.1-nano': true,
  'gpt-4.1-nano-2025-04-14': true, 'gpt-4.5-preview': true, 'gpt-4.5-preview-2025-02-27': true, 'gpt-5': true,
  'gpt-5-2025-08-07': true, 'gpt-5-nano': true, 'gpt-5-nano-2025-08-07': true, 'gpt-5-mini': true, 'gpt-5-mini-2025-08-07': true,
  'gpt-5-chat-latest': true,
}
/** The model names js-tiktoken's table maps to an encoding. */
export const TIKTOKEN_MODELS = Object.keys(TIKTOKEN_MODEL_TABLE).sort() as TiktokenModel[]

/** js-tiktoken's encoding for a model in its table, or null. gpt2 and p50k_edit share the ranks of r50k / p50k. */
export function tiktokenEncoding(model: string): Encoding | null {
  if (!Object.hasOwn(TIKTOKEN_MODEL_TABLE, model)) return null
  const name = getEncodingNameForModel(model as TiktokenModel) as string
  if (name === 'gpt2') return 'r50k_base'
  if (name === 'p50k_edit') return 'p50k_base'
  return name in loaders ? (name as Encoding) : null
}

export function checkEncoding(encoding: unknown): Encoding {
  if (typeof encoding !== 'string' || !(encoding in loaders)) {
    throw new MemoryError('invalid_input', `unknown encoding ${JSON.stringify(encoding)}; encodings: ${ENCODINGS.join(', ')}`)
  }
  return encoding as Encoding
}

/** The MemoryError for a model nobody knows, listing the models that are known. */
export function unknownModel(model: string, projectModels: string[] | null, projectNote = ''): MemoryError {
  const project = projectModels?.length ? `this project's models table: ${[...projectModels].sort().join(', ')}; ` : projectNote
  return new MemoryError(
    'invalid_input',
    `unknown model ${JSON.stringify(model)}: countTokens knows ${project}js-tiktoken's models: ${TIKTOKEN_MODELS.join(', ')}. ` +
      `Register the model in public.models with its tokenizer, or pass { encoding: ${ENCODINGS.map((e) => `"${e}"`).join(' | ')} }`,
  )
}

/** The encoding `countTokens` uses for these options (js-tiktoken's model table only). */
export function encodingFor(opts: CountTokensOptions = {}): Encoding {
  if (opts.encoding !== undefined) return checkEncoding(opts.encoding)
  if (opts.model === undefined) return DEFAULT_ENCODING
  if (typeof opts.model !== 'string') throw new MemoryError('invalid_input', `model must be a model name, got ${typeof opts.model}`)
  const e = tiktokenEncoding(opts.model)
  if (!e) throw unknownModel(opts.model, null, '(memory.countTokens also knows the project\'s models table) ')
  return e
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

export function checkText(text: unknown): string {
  if (typeof text !== 'string') {
    const what = text === null || text === undefined ? String(text) : Array.isArray(text) ? 'an array' : typeof text
    throw new MemoryError('invalid_input', `countTokens: text must be a string, got ${what}`)
  }
  return text
}

/** Number of tokens `text` encodes to with `encoding` (special tokens counted as plain text). */
export async function countWithEncoding(text: string, encoding: Encoding): Promise<number> {
  const enc = await encoder(encoding)
  return enc.encode(text, [], []).length
}

/** Number of tokens `text` encodes to (special tokens counted as plain text). */
export async function countTokens(text: string, opts: CountTokensOptions = {}): Promise<number> {
  return countWithEncoding(checkText(text), encodingFor(opts))
}
