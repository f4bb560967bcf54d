// Finds import circles among TypeScript files with dpdm (which parses with its own TypeScript 5 compiler,
// so type-only imports count too: a circle of `import type` still ties two modules together). Used by
// `npm test` (typecheck stage) for stack/, client/, scripts/ and tests/.
import { parseCircular, parseDependencyTree } from 'dpdm'

/** Every import circle among the files matched by `globs` (relative to `cwd`), each as a list of paths relative to `cwd`. */
export async function findImportCircles(cwd: string, globs: string[]): Promise<string[][]> {
  const tree = await parseDependencyTree(globs, {
    cwd,
    context: cwd,
    extensions: ['.ts', '.mts', '.js', '.mjs'],
    include: /\.(ts|mts|js|mjs)$/,
    exclude: /node_modules/,
    transform: false,
    skipDynamicImports: false,
  })
  return parseCircular(tree)
}
