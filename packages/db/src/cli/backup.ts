import { backupDataDir } from '../backup/data-dir-backup.ts'
import { readCliEnv } from './env.ts'
import { runCli } from './run-cli.ts'

// `npm run db:backup -- FILE`: a consistent backup of the embedded data directory (DATA_DIR).
await runCli(async () => {
  const args = process.argv.slice(2)
  const file = args[0]
  if (!file || args.length > 1 || file.startsWith('-')) {
    throw new Error('usage: npm run db:backup -- FILE   (e.g. npm run db:backup -- backups/tracker.tar.gz)')
  }
  const { connect } = readCliEnv()
  if (connect.mode !== 'embedded' || !connect.dataDir) {
    throw new Error(
      'db:backup backs up the embedded database in DATA_DIR; DATABASE_URL points at a server: back it ' +
        'up with pg_dump (README, Operations: "Backup and restore")',
    )
  }
  const started = performance.now()
  const { file: written, bytes, manifest } = await backupDataDir(connect.dataDir, file)
  console.log(
    `backed up ${manifest.dataDir} to ${written} (${(bytes / 1e6).toFixed(1)} MB, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s): ${manifest.counts.trackers} trackers, ` +
      `${manifest.counts.locationReports} raw reports, ${manifest.counts.locationHistory} location_history rows; ` +
      `migration ${manifest.migration ?? '(none)'}, PostgreSQL ${manifest.postgres}, TimescaleDB ${manifest.timescaledb ?? '-'}`,
  )
  console.log(
    'It holds the key pair of a local stack (local-stack.json) if the directory has one: keep it as safe as the data.',
  )
})
