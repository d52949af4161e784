export { distanceMeters } from './distance.ts'
export {
  type BatchResult,
  ENDPOINT_REQUEST_OUTCOMES,
  type EndpointRequestCounts,
  type EndpointRequestEvent,
  type EndpointRequestOutcome,
  isFailingOutcome,
  ReportEndpointClient,
  type ReportEndpointClientOptions,
  ReportEndpointError,
  type ReportEndpointErrorCode,
} from './endpoint-client.ts'
export {
  detectAndParseKeyFile,
  KeyFileError,
  type KeyFileFormat,
  type ParsedTracker,
  parseKeyFile,
} from './key-files.ts'
export {
  type FindMyKeyPair,
  generateKeyPair,
  hashAdvertisementKey,
  InvalidKeyError,
  keyPairFromPrivateKey,
} from './keys.ts'
export { type Logger, silentLogger } from './logger.ts'
export * from './p224/index.ts'
export {
  type DecryptedReport,
  type DecryptReportsResult,
  decryptReport,
  decryptReports,
  type EndpointReport,
  type RejectionReason,
  ReportDecryptionError,
  ReportDecryptor,
  type ReportRejection,
} from './report.decrypt.ts'
export {
  DecryptionPoolClosedError,
  decryptReportsParallel,
  ReportDecryptionPool,
  type ReportDecryptionPoolOptions,
} from './report.decrypt-parallel.ts'
export { type EncryptReportOptions, encryptReport, type ReportFix } from './report.encrypt.ts'
export {
  APPLE_EPOCH_SECONDS,
  type BatteryLevel,
  batteryLevelFromStatus,
  PAYLOAD_BYTES,
  PAYLOAD_BYTES_EXTENDED,
  peekPayload,
  statusWithBattery,
} from './report.payload.ts'
export * from './simulator/index.ts'
