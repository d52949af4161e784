/// <reference lib="dom" />
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumFound, launchChromium, screenshot } from './browser.ts'
import { startWebStack, type WebStack } from './web-stack.ts'

// A 1x1 PNG: what a tile server answers, as far as the page can tell.
const TILE = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
)

const suite = chromiumFound ? describe : describe.skip
const title = chromiumFound
  ? 'the web app with a tile server configured (WEB_TILE_URL)'
  : 'the web app with a tile server (skipped: Chromium not found at /usr/bin/chromium; apt-get install chromium)'

suite(title, () => {
  let tiles: Server
  const tileRequests: string[] = []
  let web: WebStack
  let browser: Browser

  beforeAll(async () => {
    tiles = createServer((request, response) => {
      tileRequests.push(request.url ?? '')
      response.writeHead(200, { 'content-type': 'image/png' }).end(TILE)
    })
    await new Promise<void>((resolve) => tiles.listen(0, '127.0.0.1', resolve))
    const port = (tiles.address() as AddressInfo).port
    web = await startWebStack({
      WEB_TILE_URL: `http://127.0.0.1:${port}/{z}/{x}/{y}.png`,
      WEB_TILE_ATTRIBUTION: '© Local tile server',
    })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await web?.close()
    tiles?.close()
  })

  it('draws tiles from the configured host only, with its attribution, inside the CSP', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const hosts = new Set<string>()
    const violations: string[] = []
    page.on('request', (request) => {
      if (!request.url().startsWith('data:')) hosts.add(new URL(request.url()).host)
    })
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text())
    })
    await page.goto(await web.stack.newSignInLink())
    await page.locator('#map[data-state="drawn"]').waitFor()
    await expect
      .poll(() => tileRequests.filter((url) => /^\/\d+\/\d+\/\d+\.png$/.test(url)).length)
      .toBeGreaterThan(0)
    await expect.poll(() => page.locator('.leaflet-tile-loaded').count()).toBeGreaterThan(0)
    expect(await page.locator('.leaflet-control-attribution').textContent()).toContain('© Local tile server')
    expect(await page.locator('.leaflet-control-attribution').textContent()).not.toContain('Natural Earth')
    const tileHost = new URL(
      tileRequests.length ? `http://127.0.0.1:${(tiles.address() as AddressInfo).port}` : '',
    ).host
    expect([...hosts].sort()).toEqual([new URL(web.origin).host, tileHost].sort())
    expect(violations).toEqual([])
    await screenshot(page, 'tiles-desktop')
  })
})
