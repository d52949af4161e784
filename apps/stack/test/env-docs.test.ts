import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { envDocs, envTableIn, envTableMarkdown, tableCells } from '../src/env-docs.ts'

describe('the README configuration table', () => {
  it('is what the apps schemas generate (run `pnpm docs:env` after changing a variable)', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8')
    expect(tableCells(envTableIn(readme))).toEqual(tableCells(envTableMarkdown()))
  })

  it('explains every variable', () => {
    expect(
      envDocs()
        .filter((d) => !d.meaning)
        .map((d) => d.name),
    ).toEqual([])
  })
})
