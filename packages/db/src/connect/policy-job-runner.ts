import { type Kysely, sql } from 'kysely'
import { notifyHistoryRefreshed } from '../refresh/history-channels.ts'
import type { Database } from '../schema/database.ts'
import type { Logger } from './logger.ts'

export interface PolicyJob {
  jobId: number
  procName: string
  objectName: string
  scheduleIntervalMs: number
}

export interface PolicyJobRun {
  job: PolicyJob
  ok: boolean
  durationMs: number
  error?: string
}

/**
 * Runs TimescaleDB's registered policy jobs with `CALL run_job(id)` on their schedules, standing in
 * for the background scheduler that the embedded engine does not have.
 */
export class PolicyJobRunner {
  readonly #lastRun = new Map<number, number>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> = Promise.resolve()

  readonly #db: Kysely<Database>
  readonly #logger: Logger
  readonly #checkIntervalMs: number

  constructor(db: Kysely<Database>, logger: Logger, checkIntervalMs: number) {
    this.#db = db
    this.#logger = logger
    this.#checkIntervalMs = checkIntervalMs
  }

  async listJobs(): Promise<PolicyJob[]> {
    const { rows } = await sql<{
      job_id: number
      proc_name: string
      object_name: string
      schedule_ms: number
    }>`
      SELECT job_id, proc_name, hypertable_name AS object_name,
             (extract(epoch FROM schedule_interval) * 1000)::bigint AS schedule_ms
        FROM timescaledb_information.jobs
       WHERE scheduled AND proc_schema = '_timescaledb_functions' AND proc_name LIKE 'policy_%'
       ORDER BY job_id`.execute(this.#db)
    return rows.map((row) => ({
      jobId: row.job_id,
      procName: row.proc_name,
      objectName: row.object_name,
      scheduleIntervalMs: Number(row.schedule_ms),
    }))
  }

  /** Runs every job whose schedule interval has passed since it last ran here (all of them at first). */
  async runDueJobs(now = Date.now()): Promise<PolicyJobRun[]> {
    const due = (await this.listJobs()).filter((job) => {
      const last = this.#lastRun.get(job.jobId)
      return last === undefined || now - last >= job.scheduleIntervalMs
    })
    return this.#runJobs(due, now)
  }

  /** Runs the given jobs (all when left out) now, in job order. */
  async runAll(filter: (job: PolicyJob) => boolean = () => true): Promise<PolicyJobRun[]> {
    return this.#runJobs((await this.listJobs()).filter(filter), Date.now())
  }

  async #runJobs(jobs: PolicyJob[], now: number): Promise<PolicyJobRun[]> {
    const runs: PolicyJobRun[] = []
    for (const job of jobs) {
      const started = performance.now()
      try {
        await sql`CALL run_job(${job.jobId})`.execute(this.#db)
        // A server's background worker says nothing when it materializes; here we can, so caches of
        // history answers do not wait for their time limit to see late reports.
        if (job.procName === 'policy_refresh_continuous_aggregate') {
          await notifyHistoryRefreshed(this.#db, { object: job.objectName })
        }
        runs.push({ job, ok: true, durationMs: performance.now() - started })
        this.#logger.debug({ job }, 'policy job ran')
      } catch (error) {
        const message = (error as Error).message
        runs.push({ job, ok: false, durationMs: performance.now() - started, error: message })
        this.#logger.warn({ job, err: error }, 'policy job failed')
      }
      this.#lastRun.set(job.jobId, now)
    }
    return runs
  }

  start(): void {
    if (this.#timer) return
    const tick = () => {
      this.#running = this.runDueJobs().catch((error) =>
        this.#logger.error({ err: error }, 'could not run policy jobs'),
      )
    }
    tick()
    this.#timer = setInterval(tick, this.#checkIntervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }
}
