import { parseArgs } from 'node:util'
import { BenchConfigError, parseBenchEnv } from './env.ts'
import { renderMarkdown, renderTable } from './report.ts'
import { FIGURE_NAMES, type FigureName, SCALES, type Scale } from './results.ts'
import { defaultOutFile, runBench } from './run-bench.ts'
import { SCALE_SETTINGS, type ScaleSettings } from './scales.ts'

const USAGE = `Tracker benchmarks: every figure a ratio against its bare baseline, measured in the same run.

Usage:
  node --conditions=tracker-source apps/bench/src/main.ts [--scale small|medium|large] [--only NAME[,NAME]] [--out FILE]

  --scale   small (default; about 3 minutes, a smoke test), medium (about 15 minutes),
            large (the issue's sizes: a 1M-report import, 10 000 trackers; takes long)
  --only    some of: ${FIGURE_NAMES.join(', ')}
  --out     the JSON report (default apps/bench/results/latest-<scale>.json)
  --sizes   the scaling figure's tracker counts, e.g. 100,1000 (default: the scale's; sizes
            the scale does not list take its largest size's samples)

Environment: DATABASE_URL (a TimescaleDB server: a fresh database per figure, dropped afterwards;
unset: the embedded engine), LOG_LEVEL (the apps' logs on stderr, default warn).
Prints the table, then the same table in Markdown for the README.`

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: 'small' },
      only: { type: 'string' },
      out: { type: 'string' },
      sizes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const scale = values.scale as Scale
  if (!SCALES.includes(scale)) throw new BenchConfigError(`--scale must be one of ${SCALES.join(', ')}`)
  const only = values.only ? values.only.split(',').map((name) => name.trim()) : null
  const unknown = only?.filter((name) => !(FIGURE_NAMES as readonly string[]).includes(name)) ?? []
  if (unknown.length > 0)
    throw new BenchConfigError(
      `--only: unknown figure(s) ${unknown.join(', ')}; known: ${FIGURE_NAMES.join(', ')}`,
    )
  const out = values.out ?? defaultOutFile(scale, only as FigureName[] | null)
  const settings = values.sizes ? withSizes(SCALE_SETTINGS[scale], values.sizes) : undefined
  const report = await runBench({
    scale,
    only: only as FigureName[] | null,
    out,
    env: parseBenchEnv(env),
    ...(settings ? { settings } : {}),
  })
  console.log(renderTable(report))
  console.log(`\nJSON: ${out}\n\nMarkdown for the README:\n`)
  console.log(renderMarkdown(report))
  return 0
}

/** The scale's settings with the scaling figure at other sizes (re-measuring one step of it). */
function withSizes(settings: ScaleSettings, text: string): ScaleSettings {
  const sizes = text.split(',').map((s) => Number(s.trim()))
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw new BenchConfigError(
      `--sizes must be tracker counts separated by commas, e.g. 100,1000 (got "${text}")`,
    )
  const { scaling } = settings
  const largest = Math.max(...scaling.sizes)
  const pick = (table: Record<number, number>, n: number) => table[n] ?? table[largest] ?? 1
  return {
    ...settings,
    scaling: {
      ...scaling,
      sizes,
      samples: Object.fromEntries(sizes.map((n) => [n, pick(scaling.samples, n)])),
      changes: Object.fromEntries(sizes.map((n) => [n, pick(scaling.changes, n)])),
      fullRefreshes: Object.fromEntries(sizes.map((n) => [n, pick(scaling.fullRefreshes, n)])),
    },
  }
}

if (import.meta.main) {
  // An exit runs the clean-up of temp databases (temp-files.ts); child processes follow their parent.
  process.once('SIGINT', () => process.exit(130))
  process.once('SIGTERM', () => process.exit(143))
  try {
    process.exitCode = await main(process.argv.slice(2), process.env)
  } catch (error) {
    if (
      error instanceof BenchConfigError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`error: ${(error as Error).message}\n\n${USAGE}\n`)
      process.exitCode = 2
    } else {
      throw error
    }
  }
}
