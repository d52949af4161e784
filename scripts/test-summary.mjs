// Sums vitest's per-package "Tests  N passed | M failed | K skipped" lines from a turbo log into one
// closing line CI can read: "tests: N passed, M failed, K skipped". Plain Node, no dependencies.
import { readFileSync } from 'node:fs'

const ansiColour = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')
const log = readFileSync(process.argv[2], 'utf8').replace(ansiColour, '')
let passed = 0
let failed = 0
let skipped = 0
let packages = 0
for (const line of log.split('\n')) {
  const match = /\bTests\s+(.*\(\d+\))\s*$/.exec(line)
  if (!match) continue
  packages++
  passed += Number(/(\d+) passed/.exec(match[1])?.[1] ?? 0)
  failed += Number(/(\d+) failed/.exec(match[1])?.[1] ?? 0)
  skipped += Number(/(\d+) skipped/.exec(match[1])?.[1] ?? 0)
}
console.log(`(${packages} packages with tests)`)
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(packages === 0 ? 1 : 0)
