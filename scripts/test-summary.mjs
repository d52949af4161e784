// Sums vitest's per-package "Tests  N passed | M failed | K skipped" lines from a turbo log into one
// closing line CI can read: "tests: N passed, M failed, K skipped", and names every failed test and
// every package whose test task failed without a count (a crash, a timeout). Plain Node, no dependencies.
import { readFileSync } from 'node:fs'

const ansiColour = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')
const log = readFileSync(process.argv[2], 'utf8').replace(ansiColour, '')
let passed = 0
let failed = 0
let skipped = 0
const counted = new Set()
const failures = new Set()
const failedTasks = new Set()
for (const raw of log.split('\n')) {
  // turbo prefixes each line with "<package>:<task>: ".
  const prefix = /^(@?[\w./-]+):(\w+):\s?/.exec(raw)
  const pkg = prefix?.[1] ?? ''
  const line = prefix ? raw.slice(prefix[0].length) : raw
  const tests = /\bTests\s+(.*\(\d+\))\s*$/.exec(line)
  if (tests) {
    counted.add(pkg)
    passed += Number(/(\d+) passed/.exec(tests[1])?.[1] ?? 0)
    failed += Number(/(\d+) failed/.exec(tests[1])?.[1] ?? 0)
    skipped += Number(/(\d+) skipped/.exec(tests[1])?.[1] ?? 0)
    continue
  }
  const fail = /^\s*FAIL\s+(.+?)\s*$/.exec(line)
  if (fail && prefix?.[2] === 'test') failures.add(`${pkg} ${fail[1]}`)
  // turbo's own summary: "Failed:    @tracker/api#test"
  for (const task of line.matchAll(/(@?[\w./-]+)#(test|typecheck|lint)\b/g)) {
    if (/Failed:|ERROR|failed/.test(line)) failedTasks.add(`${task[1]}#${task[2]}`)
  }
}
for (const failure of failures) console.log(`failed: ${failure}`)
for (const task of failedTasks) console.log(`failed task: ${task}`)
console.log(`(${counted.size} packages with tests)`)
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(counted.size === 0 ? 1 : 0)
