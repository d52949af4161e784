// `npm run verify` after the install: lint, typecheck and every package's tests. Each step runs even
// when an earlier one failed (turbo --continue inside each), so one failure never hides another;
// the last lines say which steps failed. Plain Node, no dependencies.
import { spawnSync } from 'node:child_process'

const steps = [
  ['lint', 'biome', ['check', '.']],
  ['typecheck', 'turbo', ['run', 'typecheck', '--continue']],
  // Two packages at a time: more starve the embedded engines' cold starts on a 2-core machine.
  ['test', 'turbo', ['run', 'test', '--concurrency=2', '--continue']],
]
const failed = []
for (const [name, command, args] of steps) {
  const run = spawnSync(command, args, { stdio: 'inherit' })
  if (run.status !== 0) failed.push(`${name} (exit ${run.status ?? run.signal})`)
}
console.log(
  failed.length === 0 ? 'check: lint, typecheck and tests passed' : `check failed: ${failed.join(', ')}`,
)
process.exit(failed.length === 0 ? 0 : 1)
