import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

// Every command a README shows must work as written on a fresh machine after `npm run demo` or
// `npm run verify`: there, npm and Node 20 are on the PATH, pnpm is not, and bare `node` cannot run
// TypeScript. So commands go through `npm run` (which runs Node 24 from node_modules), and every
// script they name must exist.
const ROOT = join(import.meta.dirname, '../../..')

function readmes(dir: string, found: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) readmes(path, found)
    else if (name === 'README.md') found.push(path)
  }
  return found
}

interface Command {
  file: string
  line: number
  text: string
}

/** Shell lines of ```sh blocks and inline code spans that look like commands. */
function commandsOf(file: string): Command[] {
  const commands: Command[] = []
  let inShell = false
  let inOther = false
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, index) => {
      const line = index + 1
      const fence = /^```(\w*)/.exec(raw.trim())
      if (fence) {
        if (inShell || inOther) {
          inShell = inOther = false
        } else if (['sh', 'bash', 'shell', 'console'].includes(fence[1]!)) {
          inShell = true
        } else {
          inOther = true
        }
        return
      }
      if (inShell) {
        const text = raw.replace(/\s+#.*$/, '').trim()
        if (text && !text.startsWith('#')) commands.push({ file, line, text })
        return
      }
      if (inOther) return
      for (const span of raw.matchAll(/`([^`]+)`/g)) {
        if (/^(npm|pnpm|node|npx)\s/.test(span[1]!)) commands.push({ file, line, text: span[1]! })
      }
    })
  return commands
}

const scriptsOf = (dir: string): Record<string, string> =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts ?? {}

const all = readmes(ROOT).flatMap(commandsOf)
const where = (c: Command) => `${relative(ROOT, c.file)}:${c.line}: ${c.text}`

describe("the READMEs' commands", () => {
  it('were found (the check reads something)', () => {
    expect(all.filter((c) => /\bnpm run\b/.test(c.text)).length).toBeGreaterThan(20)
  })

  it('never need pnpm, which a fresh machine does not have (image build steps are only described)', () => {
    const imageStep = /pnpm (deploy|fetch|install --offline)/
    const offending = all.filter(
      (c) =>
        /(^|&&\s*|\s)pnpm\s/.test(c.text) &&
        !imageStep.test(c.text) &&
        !relative(ROOT, c.file).startsWith('infra/'),
    )
    expect(offending.map(where)).toEqual([])
  })

  it('never run TypeScript with a bare node, which Node 20 refuses (npm run uses Node 24)', () => {
    const offending = all.filter((c) => /(^|&&\s*|\s|=\S*\s)node\s[^|;]*\.ts\b/.test(c.text))
    expect(offending.map(where)).toEqual([])
  })

  it('name npm scripts that exist, in the package they run in', () => {
    const missing: string[] = []
    for (const c of all) {
      for (const match of c.text.matchAll(/(?:cd\s+(\S+)\s*&&\s*)?npm run ([\w:-]+)/g)) {
        const dir = match[1] ? join(ROOT, match[1]) : ROOT
        if (!(match[2]! in scriptsOf(dir))) missing.push(where(c))
      }
    }
    expect(missing).toEqual([])
  })
})
