/// <reference lib="dom" />
// The web app's Alerts view against the whole demo stack: places made through the API are drawn on
// its map, labelled; alerts written into the database (as the evaluator and the deliverer would)
// are listed with when they happened in the browser's zone, how late they were learnt, cancelled
// ones marked, and each delivery's state; a place added from the page shows up on its map.
import pg from 'pg'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumFound, launchChromium, recordForeignRequests, screenshot } from './browser.ts'
import { gql, startWebStack, type WebStack } from './web-stack.ts'

const suite = chromiumFound ? describe : describe.skip
const title = chromiumFound
  ? "the web app's alerts view in headless Chromium against the demo stack"
  : 'the alerts view (skipped: Chromium not found at /usr/bin/chromium; apt-get install chromium)'

interface Ids {
  tracker: { id: string; name: string }
  depot: string
  park: string
  left: string
  cancelled: string
}

suite(title, () => {
  let web: WebStack
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  const consoleErrors: string[] = []
  let ids: Ids

  beforeAll(async () => {
    web = await startWebStack()
    browser = await launchChromium()
    // A zone of its own, so "when it happened" is checked as the browser's zone shows it.
    context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      timezoneId: 'Asia/Tokyo',
      locale: 'en-GB',
    })
    page = await context.newPage()
    foreign = recordForeignRequests(page, web.origin)
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    ids = await setUpAlerts()
  })
  afterAll(async () => {
    await browser?.close()
    await web?.close()
  })

  /** Two places and a rule through the API; two alerts with their deliveries written as rows. */
  async function setUpAlerts(): Promise<Ids> {
    const { trackers } = await gql<{ trackers: { nodes: { id: string; name: string }[] } }>(
      web,
      '{ trackers(first: 1) { nodes { id name } } }',
    )
    const tracker = trackers.nodes[0]!
    const { depot } = await gql<{ depot: { id: string } }>(
      web,
      'mutation { depot: createPlace(input: { name: "Depot", circle: { latitude: 48.8566, longitude: 2.3522, radiusM: 5000 } }) { id } }',
    )
    const { park } = await gql<{ park: { id: string } }>(
      web,
      `mutation ($polygon: [[[Float!]!]!]) { park: createPlace(input: { name: "Park", polygon: $polygon }) { id } }`,
      {
        polygon: [
          [
            [2.25, 48.9],
            [2.45, 48.9],
            [2.45, 48.95],
            [2.25, 48.95],
            [2.25, 48.9],
          ],
        ],
      },
    )
    // Disabled: the rows below are its only alerts, whatever the demo's trackers do meanwhile.
    const { createAlertRule: rule } = await gql<{ createAlertRule: { id: string } }>(
      web,
      'mutation ($placeId: ID!) { createAlertRule(input: { name: "Left the depot", kind: LEAVE, placeId: $placeId, enabled: false }) { id } }',
      { placeId: depot.id },
    )
    const { createAlertChannel: hook } = await gql<{ createAlertChannel: { channel: { id: string } } }>(
      web,
      'mutation { createAlertChannel(input: { name: "Hook", kind: WEBHOOK, url: "http://127.0.0.1:9/hook" }) { channel { id } } }',
    )
    const client = new pg.Client({
      host: '127.0.0.1',
      port: web.stack.pgPort!,
      user: 'postgres',
      database: 'postgres',
    })
    await client.connect()
    try {
      const insertEvent = async (values: unknown[]) =>
        (
          await client.query<{ id: string }>(
            `INSERT INTO alert_events (rule_id, tracker_id, kind, occurred_after, occurred_before, confirmed_at,
               detected_at, latitude, longitude, cancelled_at, cancel_reason)
             VALUES ($1, $2, 'leave', $3, $4, $4, $5, 48.9, 2.4, $6, $7) RETURNING id`,
            [rule.id, tracker.id, ...values],
          )
        ).rows[0]!.id
      // 08:00-08:20 UTC is 17:00-17:20 in Tokyo; learnt 3 hours later.
      const left = await insertEvent([
        '2026-03-01T08:00:00Z',
        '2026-03-01T08:20:00Z',
        '2026-03-01T11:20:00Z',
        null,
        null,
      ])
      const cancelled = await insertEvent([
        '2026-03-02T08:00:00Z',
        '2026-03-02T09:00:00Z',
        '2026-03-02T09:05:00Z',
        '2026-03-02T15:00:00Z',
        'a late report placed it inside the whole time',
      ])
      // Settled rows (delivered, given up): a deliverer running in the stack leaves them be.
      await client.query(
        `INSERT INTO alert_outbox (event_id, channel_id, action, payload, status, attempts, last_error, delivered_at)
         VALUES ($1, $3, 'fired', '{}', 'delivered', 2, 'HTTP 503', '2026-03-01T11:21:00Z'),
                ($2, $3, 'fired', '{}', 'failed', 8, 'connect ECONNREFUSED', NULL)`,
        [left, cancelled, hook.channel.id],
      )
      return { tracker, depot: depot.id, park: park.id, left, cancelled }
    } finally {
      await client.end()
    }
  }

  it('opens the Alerts view from the header', async () => {
    await page.goto(await web.stack.newSignInLink())
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    await page.getByRole('button', { name: 'Alerts' }).click()
    expect(await page.getByRole('button', { name: 'Alerts' }).getAttribute('aria-pressed')).toBe('true')
    await page.getByRole('list', { name: 'Alerts' }).waitFor()
  })

  it('draws the places on its map, circle and polygon, each labelled with its name', async () => {
    await page.locator('#alerts-map[data-places="2"]').waitFor()
    for (const [id, name] of [
      [ids.depot, 'Depot'],
      [ids.park, 'Park'],
    ] as const) {
      const shape = page.locator(`#alerts-map path[data-place-id="${id}"]`)
      await shape.waitFor()
      expect(await shape.getAttribute('aria-label')).toBe(`Place ${name}`)
      // A real outline on the map, not an empty path.
      const box = await shape.boundingBox()
      expect(box!.width).toBeGreaterThan(5)
      expect(box!.height).toBeGreaterThan(5)
      await page.locator('#alerts-map .leaflet-tooltip.place-label', { hasText: name }).waitFor()
    }
    const places = page.getByRole('list', { name: 'Places' })
    expect(await places.getByRole('listitem').count()).toBe(2)
    expect(await places.textContent()).toContain('5.0 km radius')
  })

  it('lists an alert: what happened, when (an interval in the browser’s zone), how late, its delivery', async () => {
    const item = page.locator(`li.alert[data-alert-id="${ids.left}"]`)
    await item.waitFor()
    expect(await item.locator('.alert-headline').textContent()).toBe(`${ids.tracker.name} left Depot`)
    const when = await item.locator('.alert-when').textContent()
    expect(when).toMatch(/^between 1 Mar 2026, 17:00\s*[–-]\s*17:20 (GMT\+9|JST)/)
    expect(when).toContain('learnt 3 h later')
    expect(await item.locator('time').getAttribute('datetime')).toBe('2026-03-01T08:20:00.000Z')
    expect(await item.getByRole('list', { name: 'Deliveries' }).textContent()).toBe(
      'Hook (webhook): delivered after 2 attempts',
    )
    expect(await item.getAttribute('data-cancelled')).toBe('false')
  })

  it('marks a cancelled alert, with the reason and a delivery that gave up', async () => {
    const item = page.locator(`li.alert[data-alert-id="${ids.cancelled}"]`)
    expect(await item.getAttribute('data-cancelled')).toBe('true')
    expect(await item.locator('.badge').first().textContent()).toBe('Cancelled')
    expect(await item.locator('.cancel-reason').textContent()).toBe(
      'Cancelled: a late report placed it inside the whole time',
    )
    expect(await item.locator('.delivery').textContent()).toBe(
      'Hook (webhook): gave up after 8 attempts: connect ECONNREFUSED',
    )
    // Newest first, by when it happened.
    const order = await page
      .locator('li.alert')
      .evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.alertId))
    expect(order.indexOf(ids.cancelled)).toBeLessThan(order.indexOf(ids.left))
    // Hidden when asked.
    await page.getByLabel('Show cancelled').uncheck()
    await item.waitFor({ state: 'detached' })
    await page.getByLabel('Show cancelled').check()
    await item.waitFor()
    await page
      .locator(`li.alert[data-alert-id="${ids.left}"]`)
      .getByRole('button', { name: 'Show on map' })
      .click()
    await screenshot(page, 'alerts-desktop')
  })

  it('adds a circle place from the page: a name, a radius and a click on the map', async () => {
    await page.getByLabel('Name', { exact: true }).fill('Bakery')
    await page.getByLabel(/^Radius/).fill('300')
    const map = page.locator('#alerts-map')
    const box = (await map.boundingBox())!
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
    await expect.poll(() => page.locator('#place-status').textContent()).toMatch(/^Centre: /)
    await page.getByRole('button', { name: 'Add place' }).click()
    await page.locator('#alerts-map[data-places="3"]').waitFor()
    await page.locator('#alerts-map .leaflet-tooltip.place-label', { hasText: 'Bakery' }).waitFor()
    const { places } = await gql<{ places: { nodes: { name: string; radiusM: number | null }[] } }>(
      web,
      '{ places { nodes { name radiusM } } }',
    )
    expect(places.nodes).toContainEqual({ name: 'Bakery', radiusM: 300 })
  })

  it('fits a phone, in dark mode: the map of places above the list', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      colorScheme: 'dark',
    })
    const phonePage = await phone.newPage()
    await phonePage.goto(await web.stack.newSignInLink())
    await phonePage.getByRole('button', { name: 'Alerts' }).click()
    await phonePage.locator(`li.alert[data-alert-id="${ids.left}"]`).waitFor()
    await phonePage.locator('#alerts-map[data-places="3"]').waitFor()
    const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    const map = (await phonePage.locator('#alerts-map').boundingBox())!
    const list = (await phonePage.getByRole('list', { name: 'Alerts' }).boundingBox())!
    expect(map.y).toBeLessThan(list.y)
    await screenshot(phonePage, 'alerts-phone')
    await phone.close()
  })

  it('makes no request that leaves the machine, and breaks no Content-Security-Policy rule', () => {
    expect(foreign).toEqual([])
    expect(consoleErrors.filter((text) => /Content.Security.Policy/i.test(text))).toEqual([])
  })
})
