import { Readable } from 'node:stream'
import rateLimit from '@fastify/rate-limit'
import { EXPORT_FORMATS } from '@tracker/export'
import { REDIS_NAMESPACES, redisKey } from '@tracker/locks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { ApiConfig } from '../env.ts'
import { ApiError, RateLimitedError } from '../errors.ts'
import type { ExportKind, ExportRequest, ExportService } from '../services/export.service.ts'

export interface ExportRoutesOptions {
  exports: ExportService
  config: ApiConfig
  /** The GraphQL routes' onRequest hook: a bearer token or the web app's session, else 401. */
  auth: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** Shared rate-limit counters across replicas; per process when left out. */
  rateLimitRedis?: Redis | undefined
  /** Exports streaming at once in this process (each holds a database connection); more: 429. */
  maxConcurrent: number
}

const FILE = /^(history|reports)\.([A-Za-z0-9]{1,20})$/

/** `name` as a file-name part: ASCII letters, digits, dot, dash and underscore (anything else "_"). */
export function asciiFileName(text: string): string {
  const ascii = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|[._]+$/g, '')
  return ascii.slice(0, 80) || 'tracker'
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
const UNSAFE_IN_FILE_NAMES = /[\u0000-\u001f\u007f/\\:*?"<>|]+/g

/** The same in UTF-8 (RFC 5987 / 6266 `filename*`): only what no file system accepts is replaced. */
function utf8FileName(text: string): string {
  const clean = text.replace(UNSAFE_IN_FILE_NAMES, '_').trim().slice(0, 80) || 'tracker'
  return encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

const compactTime = (date: Date) =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')

/** `attachment; filename="<names>_<from>_<to>.<ext>"; filename*=UTF-8''…`, names joined by "+". */
export function contentDisposition(request: ExportRequest): string {
  const range = `_${compactTime(request.from)}_${compactTime(request.to)}.${request.format}`
  const names = request.trackers.map((t) => t.name)
  const ascii = names.map(asciiFileName).join('+').slice(0, 160) + range
  const utf8 = names.map(utf8FileName).join('+') + range
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`
}

/**
 * GET /export/history.{gpx,geojson,kml,csv} and /export/reports.{…}: the same authentication (the
 * GraphQL routes' hook), per-token rate limit and bounds as the GraphQL API; the document is
 * streamed from database cursors, the next page read only when the client has taken the last
 * (Readable.from pulls as the socket drains), and a client that goes away cancels the query.
 * Errors: `{ error, code, parameter?, requestId }`.
 */
export async function exportRoutes(scope: FastifyInstance, options: ExportRoutesOptions): Promise<void> {
  const { config } = options
  if (!scope.hasRequestDecorator('apiToken')) scope.decorateRequest('apiToken', undefined)
  scope.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (error instanceof ApiError) {
      const status =
        error.statusCode ?? (error.code === 'NOT_FOUND' ? 404 : error.code === 'FORBIDDEN' ? 403 : 400)
      return reply
        .code(status)
        .send({ error: error.message, code: error.code, ...error.extensions, requestId: request.id })
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'export failed')
      return reply
        .code(500)
        .send({ error: 'Internal server error', code: 'INTERNAL_SERVER_ERROR', requestId: request.id })
    }
    return reply.code(status).send({ error: error.message, code: 'BAD_REQUEST', requestId: request.id })
  })
  scope.addHook('onRequest', options.auth)
  await scope.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    keyGenerator: (request: FastifyRequest) =>
      request.apiToken ? `export:token:${request.apiToken.id}` : `export:ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => new RateLimitedError(Math.ceil(context.ttl / 1000)),
    ...(options.rateLimitRedis
      ? {
          redis: options.rateLimitRedis,
          nameSpace: redisKey(config.redisKeyPrefix, REDIS_NAMESPACES.apiRateLimit),
          skipOnError: true,
        }
      : {}),
  })

  let streaming = 0
  scope.get<{ Params: { file: string }; Querystring: Record<string, string | string[] | undefined> }>(
    '/export/:file',
    async (request, reply) => {
      const match = FILE.exec(request.params.file)
      if (!match) {
        return reply.code(404).send({
          error: `No export ${request.params.file.slice(0, 40)}: /export/history.<format> or /export/reports.<format>, format one of ${Object.keys(EXPORT_FORMATS).join(', ')}`,
          code: 'NOT_FOUND',
          requestId: request.id,
        })
      }
      const kind = match[1] as ExportKind
      const now = new Date()
      const prepared = await options.exports.prepare(
        kind,
        match[2]!.toLowerCase(),
        request.query,
        request.apiToken,
        now,
      )
      if (streaming >= options.maxConcurrent) {
        reply.header('retry-after', '5')
        throw new ApiError(
          'TOO_MANY_EXPORTS',
          `${streaming} exports are being streamed already: try again shortly`,
          {
            statusCode: 429,
          },
        )
      }
      streaming++
      const abort = new AbortController()
      reply.raw.once('close', () => {
        streaming--
        // Closed before the last byte went out: the client went away (or the stream failed).
        if (!reply.raw.writableFinished) abort.abort(new Error('the client went away'))
      })
      request.log.info(
        {
          export: kind,
          format: prepared.format,
          trackers: prepared.trackers.length,
          from: prepared.from,
          to: prepared.to,
        },
        'export started',
      )
      const body = Readable.from(options.exports.write(prepared, abort.signal, now), {
        objectMode: false,
        highWaterMark: 64 * 1024,
      })
      return reply
        .header('content-type', EXPORT_FORMATS[prepared.format].contentType)
        .header('content-disposition', contentDisposition(prepared))
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(body)
    },
  )
}
