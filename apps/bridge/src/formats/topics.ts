import type { BridgeConfig } from '../env.ts'

/** Every topic the bridge writes, derived from the configuration and the tracker's id only. */
export interface BridgeTopics {
  /** Availability: `online` (retained) while connected, `offline` by the Last Will or on stop. */
  status: string
  /** Home Assistant's birth topic (`<discovery prefix>/status`), listened to for `online`. */
  homeAssistantStatus: string
  /** What the bridge last published of a tracker (its last_seen), retained: survives restarts. */
  published(id: string): string
  /** Subscription matching every `published` topic. */
  publishedWildcard: string
  /** The discovery config of a tracker's device_tracker entity. */
  homeAssistantConfig(id: string): string
  /** The JSON attributes (latitude, longitude, gps_accuracy, ...) that place the entity. */
  homeAssistantAttributes(id: string): string
  /** OwnTracks `location` messages: `<prefix>/<user>/<device>`. */
  ownTracksLocation(id: string): string
  /** OwnTracks card (the name shown for the device): `<prefix>/<user>/<device>/info`. */
  ownTracksCard(id: string): string
}

/**
 * Home Assistant's node_id allows [a-zA-Z0-9_-] only; the bridge's topic prefix becomes it, so two
 * bridges with different prefixes on one broker never overwrite each other's entities.
 */
export function homeAssistantNodeId(topicPrefix: string): string {
  return topicPrefix.replace(/[^a-zA-Z0-9_-]/g, '_')
}

export function bridgeTopics(
  config: Pick<BridgeConfig, 'topicPrefix' | 'homeAssistant' | 'ownTracks'>,
): BridgeTopics {
  const p = config.topicPrefix
  const ha = config.homeAssistant.discoveryPrefix
  const node = homeAssistantNodeId(p)
  const ot = `${config.ownTracks.prefix}/${config.ownTracks.user}`
  return {
    status: `${p}/status`,
    homeAssistantStatus: `${ha}/status`,
    published: (id) => `${p}/${id}/published`,
    publishedWildcard: `${p}/+/published`,
    homeAssistantConfig: (id) => `${ha}/device_tracker/${node}/${id}/config`,
    homeAssistantAttributes: (id) => `${p}/${id}/attributes`,
    // The tracker's id, not its name: a rename must not split its history in OwnTracks Recorder
    // (which files points by user/device); the name travels in the card.
    ownTracksLocation: (id) => `${ot}/${id}`,
    ownTracksCard: (id) => `${ot}/${id}/info`,
  }
}
