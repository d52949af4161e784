import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { signWebhook, webhookSecretKey } from './webhook.channel.ts'

describe('signWebhook', () => {
  it('signs as the Standard Webhooks reference library does (v1, HMAC-SHA256 of id.timestamp.body)', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`
    const body = JSON.stringify({ type: 'alert.fired', event: { id: 'e1' }, note: 'Zürich → 東京' })
    const at = new Date('2026-12-17T10:31:00Z')
    expect(signWebhook(secret, 'msg_1', at.getTime() / 1000, body)).toBe(
      new Webhook(secret).sign('msg_1', at, body),
    )
  })

  it('takes a secret with or without the whsec_ prefix, and refuses one that is not base64', () => {
    const raw = randomBytes(24).toString('base64')
    expect(webhookSecretKey(`whsec_${raw}`)).toEqual(Buffer.from(raw, 'base64'))
    expect(webhookSecretKey(raw)).toEqual(Buffer.from(raw, 'base64'))
    expect(() => webhookSecretKey('whsec_not base64!')).toThrow(/base64/)
    expect(() => webhookSecretKey('whsec_')).toThrow()
  })
})
