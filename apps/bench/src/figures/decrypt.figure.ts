import { execFileSync } from 'node:child_process'
import { createDecipheriv, createECDH, createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import {
  type EndpointReport,
  nodeP224Backend,
  type P224Backend,
  type P224Key,
  PAYLOAD_BYTES,
  PAYLOAD_BYTES_EXTENDED,
  p224Backend,
  ReportDecryptionPool,
  ReportDecryptor,
  SimulatedNetwork,
  simulatedTrackers,
} from '@tracker/findmy'
// The package's own benchmark, reused as it is (its bench/ folder is not part of the package's exports).
import {
  type DecryptBenchmarkResult,
  runDecryptBenchmark,
} from '../../../../packages/findmy/bench/decrypt.bench.ts'
import type { BenchContext } from '../context.ts'
import { formatNumber, rate } from '../format.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { median, ratio, round } from '../stats.ts'

// The payload layout (packages/findmy report.payload.ts): timestamp(4) confidence(1)
// ephemeralKey(57) ciphertext(10) tag(16); an 89-byte payload has one extra byte at index 4.
const EPHEMERAL = [5, 62] as const
const CIPHERTEXT = [62, 72] as const
const TAG = [72, 88] as const
const KDF_COUNTER = Buffer.from([0, 0, 0, 1])
const APPLE_EPOCH_SECONDS = 978_307_200

/** The same simulator parameters as runDecryptBenchmark: 20 trackers, seed 42, 7 days, no gaps. */
function benchmarkReports(count: number): { reports: EndpointReport[]; keys: Map<string, Buffer> } {
  const trackers = simulatedTrackers({ seed: 42, trackers: 20 })
  const keys = new Map(trackers.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))
  const network = new SimulatedNetwork({
    trackers,
    seed: 42,
    reportsPerDay: Math.min(86_400, Math.ceil(count / (20 * 7)) + 1),
    days: 7,
    gaps: false,
    lateArrivalShare: 0,
  })
  const reports = network
    .visibleReports({ now: new Date(), days: 7 })
    .slice(0, count)
    .map((r) => ({ id: r.hashedAdvKey, datePublished: r.datePublished, payload: r.payload }))
  return { reports, keys }
}

const normalize = (raw: Buffer) =>
  raw.length === PAYLOAD_BYTES_EXTENDED ? Buffer.concat([raw.subarray(0, 4), raw.subarray(5)]) : raw

/**
 * The shared secret of each report, computed before the baseline is timed: the baseline is
 * everything decryption does except the P-224 ECDH (and the ephemeral key's import).
 */
function sharedSecrets(reports: readonly EndpointReport[], keys: Map<string, Buffer>): Buffer[] {
  const ecdh = new Map<string, ReturnType<typeof createECDH>>()
  return reports.map((report) => {
    let e = ecdh.get(report.id)
    if (!e) {
      e = createECDH('secp224r1')
      e.setPrivateKey(keys.get(report.id)!)
      ecdh.set(report.id, e)
    }
    const payload = normalize(Buffer.from(report.payload, 'base64'))
    return e.computeSecret(payload.subarray(...EPHEMERAL))
  })
}

/**
 * The bare baseline: base64 decode, layout, the X9.63 KDF (SHA-256), AES-128-GCM with its tag
 * check, decoding and range-checking the fix: the symmetric part of a report's decryption.
 */
export function bareAesDecrypt(reports: readonly EndpointReport[], secrets: readonly Buffer[]): number {
  let ok = 0
  for (let i = 0; i < reports.length; i++) {
    const raw = Buffer.from(reports[i]!.payload, 'base64')
    if (raw.length !== PAYLOAD_BYTES && raw.length !== PAYLOAD_BYTES_EXTENDED) continue
    const payload = normalize(raw)
    const ephemeral = payload.subarray(...EPHEMERAL)
    const digest = createHash('sha256').update(secrets[i]!).update(KDF_COUNTER).update(ephemeral).digest()
    const decipher = createDecipheriv('aes-128-gcm', digest.subarray(0, 16), digest.subarray(16, 32), {
      authTagLength: 16,
    })
    decipher.setAuthTag(payload.subarray(...TAG))
    let plaintext: Buffer
    try {
      plaintext = Buffer.concat([decipher.update(payload.subarray(...CIPHERTEXT)), decipher.final()])
    } catch {
      continue
    }
    const latitude = plaintext.readInt32BE(0) / 1e7
    const longitude = plaintext.readInt32BE(4) / 1e7
    const fix = {
      timestamp: new Date((payload.readUInt32BE(0) + APPLE_EPOCH_SECONDS) * 1000),
      confidence: payload[4]!,
      latitude,
      longitude,
      horizontalAccuracy: plaintext.readUInt8(8),
      status: plaintext.readUInt8(9),
    }
    if (Math.abs(fix.latitude) <= 90 && Math.abs(fix.longitude) <= 180) ok++
  }
  return ok
}

interface Timed {
  count: number
  seconds: number
  reportsPerSecond: number
}

export interface DecryptRepeat {
  /** runDecryptBenchmark: one thread, then a pool started for the call (its start-up included). */
  bench: DecryptBenchmarkResult
  /** A pool started beforehand, as the importer keeps one: the same payloads as the baseline. */
  warmPool: Timed & { threads: number }
  bare: Timed
}

const timed = (count: number, ms: number): Timed => ({
  count,
  seconds: round(ms / 1000),
  reportsPerSecond: Math.round((count / ms) * 1000),
})

/**
 * Figure 2. Decryption throughput on one thread and on the worker pool (runDecryptBenchmark from
 * packages/findmy), against the same work without the ECDH, alternated repeat by repeat.
 */
export async function decryptFigure(
  ctx: BenchContext,
  settings: ScaleSettings['decrypt'],
): Promise<FigureResult> {
  const started = performance.now()
  const { reports, keys } = benchmarkReports(settings.count)
  const secrets = sharedSecrets(reports, keys)
  const repeats: DecryptRepeat[] = []
  const threads = availableParallelism()
  const pool = new ReportDecryptionPool({ threads })
  try {
    await pool.decrypt(keys, reports.slice(0, 256 * threads))
    for (let i = 1; i <= settings.repeats; i++) {
      ctx.progress(`decrypt: repeat ${i}/${settings.repeats}, ${formatNumber(settings.count)} reports`)
      const bench = await runDecryptBenchmark({
        count: settings.count,
        parallelBelow: Number.POSITIVE_INFINITY,
      })
      let t0 = performance.now()
      const pooled = await pool.decrypt(keys, reports)
      const warmPool = { threads, ...timed(pooled.reports.length, performance.now() - t0) }
      if (pooled.reports.length !== reports.length) throw new Error('the worker pool lost reports')
      t0 = performance.now()
      const ok = bareAesDecrypt(reports, secrets)
      const bare = timed(ok, performance.now() - t0)
      if (ok !== reports.length)
        throw new Error(`the bare decrypt opened ${ok} of ${reports.length} payloads`)
      repeats.push({ bench, warmPool, bare })
    }
  } finally {
    await pool.close()
  }
  const single = median(repeats.map((r) => r.bench.singleThread.reportsPerSecond))
  const bare = median(repeats.map((r) => r.bare.reportsPerSecond))
  const pooled = median(repeats.map((r) => r.warmPool.reportsPerSecond))
  const coldPool = median(repeats.map((r) => r.bench.parallel?.reportsPerSecond ?? Number.NaN))
  const singleRatio = ratio(single, bare)
  const speedUp = ratio(pooled, single)
  ctx.progress('decrypt: P-224 backends and openssl speed ecdhp224')
  const backends = measureBackends(reports, keys)
  const opensslSpeed = opensslEcdhP224()
  const rows: FigureRow[] = [
    {
      id: 'decrypt.ecdh',
      label: `P-224 ECDH per core, backend in use (${backends.inUse}: ${backends.reason})`,
      measured: {
        value: backends.ecdhPerSecond,
        unit: 'ECDH/s',
        text: `${rate(backends.ecdhPerSecond, 'ECDH/s')} (${formatNumber(1e6 / backends.ecdhPerSecond)} µs each)`,
      },
      baseline: opensslSpeed
        ? {
            label: 'openssl speed -seconds 3 ecdhp224 (the system OpenSSL, same machine, same run)',
            value: opensslSpeed,
            unit: 'ECDH/s',
            text: rate(opensslSpeed, 'ECDH/s'),
          }
        : null,
      ratio: opensslSpeed ? ratio(backends.ecdhPerSecond, opensslSpeed) : null,
      target: '>= 0.8 of openssl speed',
      verdict: opensslSpeed
        ? backends.ecdhPerSecond / opensslSpeed >= 0.8
          ? 'met'
          : 'not met'
        : 'not measured',
      note: `Node's crypto (the fallback) on the same points: ${rate(backends.nodeEcdhPerSecond, 'ECDH/s')}`,
    },
    {
      id: 'decrypt.node-backend',
      label: "decrypt, one thread, Node's crypto as the P-224 backend (the fallback)",
      measured: {
        value: backends.nodeDecryptPerSecond,
        unit: 'reports/s',
        text: rate(backends.nodeDecryptPerSecond, 'reports/s'),
      },
      baseline: {
        label: 'the same reports with the backend in use, one thread',
        value: backends.inUseDecryptPerSecond,
        unit: 'reports/s',
        text: rate(backends.inUseDecryptPerSecond, 'reports/s'),
      },
      ratio: ratio(backends.nodeDecryptPerSecond, backends.inUseDecryptPerSecond),
      target: null,
      verdict: 'info',
    },
    {
      id: 'decrypt.single',
      label: 'decrypt, one thread (= per core)',
      measured: {
        value: single,
        unit: 'reports/s',
        text: `${rate(single, 'reports/s')} (${formatNumber(1e6 / single)} µs each)`,
      },
      baseline: {
        label: 'bare AES-128-GCM + KDF of the same payloads, no ECDH',
        value: bare,
        unit: 'reports/s',
        text: rate(bare, 'reports/s'),
      },
      ratio: singleRatio,
      target: null,
      verdict: 'info',
      note:
        singleRatio !== null
          ? `the P-224 ECDH is ${formatNumber((1 - singleRatio) * 100)}% of a report's decryption`
          : undefined,
    },
    {
      id: 'decrypt.pool',
      label: `decrypt, worker pool (${threads} threads, started beforehand as in the importer)`,
      measured: {
        value: pooled,
        unit: 'reports/s',
        text: `${rate(pooled, 'reports/s')} (${rate(pooled / threads, '/s per core')})`,
      },
      baseline: {
        label: 'one thread, same run',
        value: single,
        unit: 'reports/s',
        text: rate(single, 'reports/s'),
      },
      ratio: speedUp,
      target: null,
      verdict: 'info',
      note: `speed-up over one thread; ideal ${threads} on ${threads} otherwise idle cores`,
    },
  ]
  return {
    name: 'decrypt',
    title: 'Decrypt',
    status: 'measured',
    durationS: (performance.now() - started) / 1000,
    rows,
    raw: { settings, threads, coldPoolReportsPerS: coldPool, repeats },
    notes: [
      `${formatNumber(settings.count)} genuinely encrypted reports (simulator: 20 trackers, seed 42, no gaps); one thread as runDecryptBenchmark (packages/findmy/bench) measures it, the pool on the baseline's own payloads; the baseline's shared secrets are computed before it is timed. runDecryptBenchmark's own pool figure (its start-up included) is in the JSON: ${rate(coldPool, 'reports/s')}.`,
    ],
  }
}

/**
 * ECDH alone and whole decryptions on one thread, with the backend in use (the system's libcrypto
 * when it checked out) and with Node's crypto, on the same reports (at most 20,000).
 */
function measureBackends(reports: EndpointReport[], keys: Map<string, Buffer>) {
  const sample = reports.slice(0, 20_000)
  const choice = p224Backend()
  const points = sample.map((r) => {
    const raw = Buffer.from(r.payload, 'base64')
    const offset = raw.length === 89 ? 1 : 0
    return Buffer.from(raw.subarray(EPHEMERAL[0] + offset, EPHEMERAL[1] + offset))
  })
  const ecdh = (backend: P224Backend) => {
    const byKey = new Map<string, P224Key>()
    const t0 = performance.now()
    for (let i = 0; i < sample.length; i++) {
      const id = sample[i]!.id
      const key = byKey.get(id) ?? backend.key(keys.get(id)!)
      byKey.set(id, key)
      if (!key.sharedSecret(points[i]!)) throw new Error("a report's ephemeral key is not on the curve")
    }
    return Math.round(sample.length / ((performance.now() - t0) / 1000))
  }
  const decrypt = (backend: P224Backend) => {
    const byKey = new Map<string, ReportDecryptor>()
    const t0 = performance.now()
    for (const report of sample) {
      const decryptor = byKey.get(report.id) ?? new ReportDecryptor(keys.get(report.id)!, backend)
      byKey.set(report.id, decryptor)
      decryptor.decrypt(report)
    }
    return Math.round(sample.length / ((performance.now() - t0) / 1000))
  }
  return {
    inUse: choice.backend.name,
    reason: choice.reason,
    ecdhPerSecond: ecdh(choice.backend),
    nodeEcdhPerSecond: ecdh(nodeP224Backend),
    inUseDecryptPerSecond: decrypt(choice.backend),
    nodeDecryptPerSecond: decrypt(nodeP224Backend),
  }
}

/** `openssl speed -seconds 3 ecdhp224`: ECDH per second on one core (null when openssl is missing). */
function opensslEcdhP224(): number | null {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', '3', 'ecdhp224'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const line = out.split('\n').find((l) => /224 bits ecdh/.test(l))
    const value = Number(line?.trim().split(/\s+/).at(-1))
    return Number.isFinite(value) && value > 0 ? Math.round(value) : null
  } catch {
    return null
  }
}
