import { formatRatio } from './format.ts'
import type { BenchReport, FigureRow } from './results.ts'

const HEADER = ['figure', 'measured', 'baseline', 'ratio', 'target / verdict'] as const

function cells(row: FigureRow): string[] {
  const verdict = row.verdict === 'info' ? 'info' : row.target ? `${row.target}: ${row.verdict}` : row.verdict
  return [
    row.label,
    row.measured?.text ?? 'not measured',
    row.baseline ? `${row.baseline.text} [${row.baseline.label}]` : '—',
    formatRatio(row.ratio),
    verdict,
  ]
}

/** One line about where the numbers come from: a ratio means little without it. */
export function machineLine(report: BenchReport): string {
  const m = report.machine
  const engine = report.engine
    ? `${report.engine.mode === 'embedded' ? 'embedded engine' : 'TimescaleDB server'} (PostgreSQL ${report.engine.postgres}, TimescaleDB ${report.engine.timescaledb})`
    : 'engine unknown'
  const load = m.loadAverageAtStart.join('/')
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}, ${engine}; scale ${report.scale}; load average at start ${load}${m.loadAverageAtEnd ? `, at end ${m.loadAverageAtEnd.join('/')}` : ''}`
}

/** The table for stdout: aligned columns, one row per measurement. */
export function renderTable(report: BenchReport): string {
  const rows = report.figures.flatMap((figure) =>
    figure.rows.length > 0
      ? figure.rows.map(cells)
      : [[figure.title, 'not measured', '—', '—', `not measured: ${figure.reason ?? ''}`]],
  )
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  const out = [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
  const notes = notesOf(report)
  return [
    `Tracker benchmarks: ${machineLine(report)}`,
    '',
    ...out,
    ...(notes.length > 0 ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n')
}

function notesOf(report: BenchReport): string[] {
  return report.figures.flatMap((figure) => [
    ...(figure.status !== 'measured' && figure.reason
      ? [`${figure.title}: ${figure.status}: ${figure.reason}`]
      : []),
    ...figure.rows.filter((r) => r.note).map((r) => `${r.label}: ${r.note}`),
    ...figure.notes.map((n) => `${figure.title}: ${n}`),
  ])
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ')

/** The table for the README: the machine it ran on, the table, and what each number means. */
export function renderMarkdown(report: BenchReport): string {
  const rows = report.figures.flatMap((figure) =>
    figure.rows.length > 0
      ? figure.rows.map((row) => {
          const c = cells(row)
          if (row.verdict === 'met' || row.verdict === 'not met')
            c[4] = c[4]!.replace(row.verdict, `**${row.verdict}**`)
          return c
        })
      : [[figure.title, 'not measured', '—', '—', `not measured: ${figure.reason ?? ''}`]],
  )
  const md = (r: readonly string[]) => `| ${r.map(escapeCell).join(' | ')} |`
  return [
    `Measured ${report.finishedAt.slice(0, 10)} with \`pnpm bench --scale ${report.scale}\` on ${machineLine(report)}.`,
    '',
    md(HEADER),
    md(HEADER.map(() => '---')),
    ...rows.map(md),
    '',
    ...notesOf(report).map((n) => `- ${escapeCell(n)}`),
  ].join('\n')
}
