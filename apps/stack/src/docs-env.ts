import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withEnvTable } from './env-docs.ts'

// `npm run docs:env`: rewrites the configuration table of the top README from the code.
const path = join(import.meta.dirname, '../../../README.md')
writeFileSync(path, withEnvTable(readFileSync(path, 'utf8')))
// The formatter aligns the table's columns, as `pnpm lint` expects.
execFileSync('biome', ['format', '--write', path], { stdio: 'inherit' })
console.log(`updated the configuration table in ${path}`)
