// `npm run demo`: installs what is missing, then runs the whole system in one process. Plain Node
// (any version npm runs it with: before the install there is no Node 24 yet), no dependencies.
//
// Why a script and not `pnpm install && pnpm run start`: npm runs a script through `sh -c`, and a
// SIGTERM sent to npm reaches that shell, which dies and leaves the stack running as an orphan that
// holds its ports; a SIGINT reached nobody who acted on it. The package.json line `exec`s this
// script with the Node that runs npm (npm_node_execpath: a binary, not a shim), so it is npm's own
// child: the signals npm forwards land here, and are passed on to the stack exactly once.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const PNPM = 'pnpm@10.34.9'

const install = spawnSync('npx', ['--yes', PNPM, 'install', '--frozen-lockfile'], {
  cwd: root,
  stdio: 'inherit',
})
if (install.status !== 0) process.exit(install.status ?? 1)

// The web app the API serves at /: built when it is missing or older than any of its sources.
const web = join(root, 'apps', 'web')
const builtAt = (file) => (existsSync(file) ? statSync(file).mtimeMs : -1)
const newestUnder = (path) => {
  if (!existsSync(path)) return -1
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestUnder(join(path, entry)))
  return newest
}
const built = builtAt(join(web, 'dist', 'index.html'))
const sources = Math.max(newestUnder(join(web, 'src')), builtAt(join(web, 'index.html')))
if (built < 0 || built < sources) {
  process.stdout.write(built < 0 ? 'Building the web app…\n' : 'The web app changed: building it again…\n')
  const build = spawnSync('npx', ['--yes', PNPM, '--filter', '@tracker/web', 'build'], {
    cwd: root,
    stdio: 'inherit',
  })
  // The API still runs without it: the banner then says how to build it.
  if (build.status !== 0) process.stderr.write('warning: building the web app failed; starting without it\n')
}

// Node 24 from the `node` npm package, installed just now: its binary itself, not the
// node_modules/.bin/node shim, a shell script that would stand between us and the stack (it does not
// exec, so a signal to it would orphan the stack).
const node = join(root, 'node_modules', 'node', 'bin', 'node')
if (!existsSync(node)) {
  process.stderr.write(`error: ${node} is missing after the install\n`)
  process.exit(1)
}
// Its own process group: a Ctrl-C in the terminal reaches npm and this script, and only this script
// passes it on, once.
const stack = spawn(
  node,
  ['--conditions=tracker-source', 'apps/stack/src/main.ts', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  },
)

let firstSignalAt = 0
const forward = (signal) => {
  const now = Date.now()
  // The terminal's Ctrl-C and npm's forwarded copy of it arrive together: one stop. A signal sent
  // again later is passed on (the stack forces its exit at the third).
  if (firstSignalAt && now - firstSignalAt < 1_000) return
  firstSignalAt ||= now
  stack.kill(signal)
}
process.on('SIGINT', () => forward('SIGINT'))
process.on('SIGTERM', () => forward('SIGTERM'))
process.on('SIGHUP', () => forward('SIGTERM'))

// The stack is not in the terminal's foreground group, so it cannot read it: an Enter here asks it
// to show its banner again.
if (process.stdin.isTTY) process.stdin.on('data', () => stack.kill('SIGUSR2'))

stack.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
