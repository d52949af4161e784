import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { splitStatements } from '../cli/split-statements.ts'

const README = join(import.meta.dirname, '../../../../README.md')

/**
 * The statements of the top README's manual test ("The seed's manual test": its first SQL block),
 * as `npm run db:sql` splits them, so tests run exactly what a person following it would.
 */
export function readmeManualTestStatements(): string[] {
  const readme = readFileSync(README, 'utf8')
  const section = readme.indexOf("### The seed's manual test")
  if (section === -1) throw new Error(`${README} has no "The seed's manual test" section`)
  const block = /```sql\n([\s\S]*?)```/.exec(readme.slice(section))
  if (!block) throw new Error(`the manual test in ${README} has no SQL block`)
  const { statements, rest } = splitStatements(block[1]!)
  return rest.trim() ? [...statements, rest.trim()] : statements
}
