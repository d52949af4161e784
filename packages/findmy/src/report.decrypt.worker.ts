import { parentPort } from 'node:worker_threads'
import { type DecryptReportsResult, decryptReports, type EndpointReport } from './report.decrypt.ts'

/** Message from ReportDecryptionPool: the keys a chunk needs and the chunk itself. */
export interface DecryptTask {
  task: number
  keys: Array<[string, Uint8Array]>
  reports: EndpointReport[]
}

export type DecryptTaskResult =
  | { task: number; result: DecryptReportsResult }
  | { task: number; error: string }

parentPort?.on('message', (message: DecryptTask) => {
  try {
    const keys = new Map(message.keys.map(([id, key]) => [id, Buffer.from(key)]))
    parentPort?.postMessage({ task: message.task, result: decryptReports(keys, message.reports) })
  } catch (error) {
    parentPort?.postMessage({ task: message.task, error: (error as Error).message })
  }
})
