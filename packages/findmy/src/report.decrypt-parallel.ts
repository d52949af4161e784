import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { DecryptReportsResult, EndpointReport } from './report.decrypt.ts'
import type { DecryptTask, DecryptTaskResult } from './report.decrypt.worker.ts'

export interface ReportDecryptionPoolOptions {
  /** Worker threads; default: one per available core (the caller mostly waits on I/O). */
  threads?: number
  /** Reports per message to a worker. */
  chunkSize?: number
}

export class DecryptionPoolClosedError extends Error {
  readonly code = 'DECRYPTION_POOL_CLOSED'
}

interface PendingTask {
  message: DecryptTask
  resolve: (result: DecryptReportsResult) => void
  reject: (error: Error) => void
}

// The worker is a .ts file when this runs from source (Node strips the types) and .js once built.
const WORKER_URL = new URL(
  `./report.decrypt.worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
)

/**
 * Decrypts on worker threads. One P-224 ECDH costs about 0.3 ms in OpenSSL (no optimised code for
 * this curve), so one core decrypts only a few thousand reports a second: see bench/decrypt.bench.ts.
 */
export class ReportDecryptionPool {
  readonly threads: number
  readonly #chunkSize: number
  readonly #workers: Worker[] = []
  readonly #idle: Worker[] = []
  readonly #queue: PendingTask[] = []
  readonly #running = new Map<Worker, PendingTask>()
  #nextTask = 0
  #closed = false

  constructor(options: ReportDecryptionPoolOptions = {}) {
    this.threads = Math.max(1, options.threads ?? availableParallelism())
    this.#chunkSize = Math.max(1, options.chunkSize ?? 1000)
    for (let i = 0; i < this.threads; i++) this.#startWorker()
  }

  async decrypt(
    privateKeysByHashedAdvKey: ReadonlyMap<string, Buffer>,
    reports: readonly EndpointReport[],
  ): Promise<DecryptReportsResult> {
    if (this.#closed) throw new DecryptionPoolClosedError('the decryption pool is closed')
    const chunks: Promise<DecryptReportsResult>[] = []
    for (let start = 0; start < reports.length; start += this.#chunkSize) {
      const chunk = reports.slice(start, start + this.#chunkSize)
      const ids = new Set(chunk.map((report) => report.id))
      const keys: Array<[string, Uint8Array]> = []
      for (const id of ids) {
        const key = privateKeysByHashedAdvKey.get(id)
        if (key) keys.push([id, key])
      }
      chunks.push(this.#submit({ task: this.#nextTask++, keys, reports: chunk }))
    }
    const results = await Promise.all(chunks)
    return {
      reports: results.flatMap((result) => result.reports),
      rejected: results.flatMap((result) => result.rejected),
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const error = new DecryptionPoolClosedError('the decryption pool was closed before this chunk ran')
    for (const pending of this.#queue.splice(0)) pending.reject(error)
    await Promise.all(this.#workers.map((worker) => worker.terminate()))
  }

  #submit(message: DecryptTask): Promise<DecryptReportsResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ message, resolve, reject })
      this.#dispatch()
    })
  }

  #dispatch(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!
      const pending = this.#queue.shift()!
      this.#running.set(worker, pending)
      worker.postMessage(pending.message)
    }
  }

  #startWorker(): void {
    const worker = new Worker(WORKER_URL)
    worker.on('message', (message: DecryptTaskResult) => {
      const pending = this.#running.get(worker)
      this.#running.delete(worker)
      this.#idle.push(worker)
      if (pending) {
        if ('error' in message) pending.reject(new Error(`a decryption worker failed: ${message.error}`))
        else pending.resolve(message.result)
      }
      this.#dispatch()
    })
    // A worker that dies takes its chunk with it; a fresh one replaces it so the pool keeps its size.
    worker.on('error', (error) => {
      this.#running.get(worker)?.reject(error)
      this.#running.delete(worker)
    })
    worker.on('exit', () => {
      this.#running.get(worker)?.reject(new Error('a decryption worker exited'))
      this.#running.delete(worker)
      this.#workers.splice(this.#workers.indexOf(worker), 1)
      const idleIndex = this.#idle.indexOf(worker)
      if (idleIndex >= 0) this.#idle.splice(idleIndex, 1)
      if (!this.#closed) this.#startWorker()
    })
    this.#workers.push(worker)
    this.#idle.push(worker)
  }
}

/** Decrypts a batch on a short-lived pool; keep a ReportDecryptionPool for repeated batches. */
export async function decryptReportsParallel(
  privateKeysByHashedAdvKey: ReadonlyMap<string, Buffer>,
  reports: readonly EndpointReport[],
  options: ReportDecryptionPoolOptions = {},
): Promise<DecryptReportsResult> {
  const pool = new ReportDecryptionPool(options)
  try {
    return await pool.decrypt(privateKeysByHashedAdvKey, reports)
  } finally {
    await pool.close()
  }
}
