export { type BridgeDependencies, type BridgeHealth, type RunningBridge, startBridge } from './bridge.ts'
export {
  type BridgeConfig,
  BridgeConfigError,
  bridgeEnvSchema,
  describeConfig,
  type MqttSettings,
  parseBridgeEnv,
} from './env.ts'
export { BATTERY_PERCENT, batteryPercent } from './formats/battery.ts'
export { homeAssistantAttributes, homeAssistantConfig } from './formats/home-assistant.ts'
export { ownTracksCard, ownTracksLocation, ownTracksTid } from './formats/owntracks.ts'
export { type BridgeTopics, bridgeTopics } from './formats/topics.ts'
export { BridgeMetrics } from './http/bridge-metrics.ts'
export type { HealthReport } from './http/health-server.ts'
