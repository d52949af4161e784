/// <reference lib="dom" />
// The page's own code runs in the browser (page.evaluate): its DOM types, for this file only.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@tracker/findmy'
import pg from 'pg'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumFound, launchChromium, recordForeignRequests, screenshot } from './browser.ts'
import { gql, startWebStack, type WebStack } from './web-stack.ts'

interface ApiPoint {
  id: string
  timestamp: string
  resolution: 'HOUR' | 'DAY'
  nearestCity: string | null
  reportCount: number
  accuracy: number | null
}

const suite = chromiumFound ? describe : describe.skip
const title = chromiumFound
  ? 'the web app in headless Chromium against the demo stack'
  : 'the web app in headless Chromium (skipped: Chromium not found at /usr/bin/chromium; apt-get install chromium)'

suite(title, () => {
  let web: WebStack
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let foreign: string[]
  const consoleErrors: string[] = []
  /** The page's history requests, as sent: replayed from Node to learn what it should draw. */
  let historyRequests: Record<string, unknown>[] = []

  beforeAll(async () => {
    web = await startWebStack()
    browser = await launchChromium()
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    page = await context.newPage()
    foreign = recordForeignRequests(page, web.origin)
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    page.on('request', (request) => {
      const body = request.postData()
      if (request.url().endsWith('/graphql') && body?.includes('locationHistoryPage')) {
        historyRequests.push(JSON.parse(body).variables)
      }
    })
  })
  afterAll(async () => {
    await browser?.close()
    await web?.close()
  })

  /** What the API answers for the page's own history requests (pages followed), in order. */
  async function expectedPoints(): Promise<ApiPoint[]> {
    const points: ApiPoint[] = []
    for (const variables of historyRequests) {
      let after: string | null = null
      do {
        const data: {
          locationHistoryPage: {
            points: ApiPoint[]
            truncated: boolean
            pageInfo: { endCursor: string | null }
          }
        } = await gql(
          web,
          `query ($trackerId: ID!, $startTime: DateTime!, $endTime: DateTime!, $bucketSize: String!, $after: String) {
            locationHistoryPage(trackerId: $trackerId, startTime: $startTime, endTime: $endTime, bucketSize: $bucketSize, after: $after) {
              points { id timestamp resolution nearestCity reportCount accuracy } truncated pageInfo { endCursor } } }`,
          { ...variables, after },
        )
        points.push(...data.locationHistoryPage.points)
        after = data.locationHistoryPage.truncated ? data.locationHistoryPage.pageInfo.endCursor : null
      } while (after)
    }
    return points
  }

  async function drawnHistory() {
    await page.locator('#map[data-state="drawn"]').waitFor()
    const drawn = Number(await page.locator('#map').getAttribute('data-points'))
    await page.locator('.point-list summary').click()
    await page.locator('.point-list table').waitFor()
    const rows = await page.locator('.point-list tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        id: (tr as HTMLElement).dataset.pointId!,
        timestamp: (tr as HTMLElement).dataset.timestamp!,
      })),
    )
    return { drawn, rows }
  }

  it('refuses a wrong token, says so, and keeps what was typed', async () => {
    await page.goto(web.origin)
    const input = page.getByLabel('API token')
    await input.fill('not-a-real-token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.locator('#sign-in-error').textContent()).toContain('refused')
    expect(await input.inputValue()).toBe('not-a-real-token')
    await screenshot(page, 'sign-in-refused-desktop')
  })

  it('signs in with a token, which the page does not keep', async () => {
    await page.getByLabel('API token').fill(web.token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    const cookies = await context.cookies()
    const session = cookies.find((c) => c.name === 'tracker_session')
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    expect(session!.value).not.toContain(web.token)
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    )
    expect(stored).not.toContain(web.token)
    expect(page.url()).not.toContain(web.token)
  })

  it('lists the trackers with status, last seen and city', async () => {
    const { trackers } = await gql<{
      trackers: {
        nodes: { id: string; name: string; currentStatus: string; lastNearestCity: string | null }[]
      }
    }>(web, '{ trackers(first: 100) { nodes { id name currentStatus lastNearestCity } } }')
    const items = page.locator('li.tracker')
    await expect.poll(() => items.count()).toBe(trackers.nodes.length)
    for (const tracker of trackers.nodes) {
      const item = page.locator(`li.tracker[data-tracker-id="${tracker.id}"]`)
      expect(await item.locator('.tracker-name').textContent()).toBe(tracker.name)
      const status = item.locator('.status')
      expect(await status.getAttribute('data-status')).toBe(tracker.currentStatus)
      expect(await status.getAttribute('title')).toMatch(/\w+/)
      expect(await item.locator('.city').textContent()).toBe(tracker.lastNearestCity ?? 'no city yet')
      expect(await item.locator('time').textContent()).toMatch(/ago|now|minute|hour/)
    }
    await page.getByLabel('Filter by name').fill(trackers.nodes[0]!.name)
    await expect.poll(() => items.count()).toBe(1)
    await page.getByLabel('Filter by name').fill('')
    await screenshot(page, 'overview-desktop')
  })

  it('draws the last 24 hours hourly, in order, as the API returns them', async () => {
    // A fleet this small opens with every tracker's last 24 hours drawn.
    await page.locator('#map[data-state="drawn"]').waitFor()
    expect(await page.locator('li.tracker input[type=checkbox]:checked').count()).toBe(3)
    await page.getByRole('button', { name: 'Clear' }).click()
    historyRequests = []
    const first = page.locator('li.tracker input[type=checkbox]').first()
    await first.check()
    const { drawn, rows } = await drawnHistory()
    const expected = await expectedPoints()
    expect(expected.length).toBeGreaterThan(0)
    expect(drawn).toBe(expected.length)
    expect(rows.map((r) => r.id)).toEqual(expected.map((p) => p.id))
    expect(expected.every((p) => p.resolution === 'HOUR')).toBe(true)
    expect(await page.locator('#history-summary').textContent()).toContain(
      `${expected.length} points: ${expected.length} hourly`,
    )
    await screenshot(page, 'history-24h-desktop')
  })

  it('draws 7 days with daily points before the hourly ones, labelled as such', async () => {
    historyRequests = []
    await page.getByLabel('Range', { exact: true }).selectOption('7d')
    const { drawn, rows } = await drawnHistory()
    const expected = await expectedPoints()
    const daily = expected.filter((p) => p.resolution === 'DAY')
    expect(daily.length).toBeGreaterThan(0)
    expect(drawn).toBe(expected.length)
    expect(rows.map((r) => r.id)).toEqual(expected.map((p) => p.id))
    // Oldest first, daily before hourly.
    const times = rows.map((r) => Date.parse(r.timestamp))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    const firstHourly = expected.findIndex((p) => p.resolution === 'HOUR')
    expect(expected.slice(0, firstHourly).every((p) => p.resolution === 'DAY')).toBe(true)
    expect(await page.locator('#history-summary').textContent()).toContain(`${daily.length} daily`)
  })

  it("opens a point's popup with its time, city, reports, accuracy and resolution", async () => {
    const expected = await expectedPoints()
    const point = expected.findLast((p) => p.resolution === 'HOUR')!
    await page.locator(`.point-list tr[data-point-id="${point.id}"] button`).click()
    const popup = page.locator(`.leaflet-popup .popup[data-point-id="${point.id}"]`)
    await popup.waitFor()
    expect(await popup.locator('[data-field=city]').textContent()).toBe(point.nearestCity ?? 'unknown')
    expect(await popup.locator('[data-field=reports]').textContent()).toBe(String(point.reportCount))
    expect(await popup.locator('[data-field=resolution]').textContent()).toBe('Hourly point')
    expect(await popup.locator('[data-field=accuracy]').textContent()).toMatch(/^\d+(\.\d)? k?m$/)
    const shownTime = await popup.locator('[data-field=time]').textContent()
    const inBrowser = await page.evaluate(
      (iso) =>
        new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso)),
      point.timestamp,
    )
    expect(shownTime).toBe(inBrowser)
    await screenshot(page, 'history-popup-desktop')
    await page.keyboard.press('Escape')
  })

  it('adds a tracker from an uploaded accessories file; statuses follow the API', async () => {
    const key = generateKeyPair()
    const dir = mkdtempSync(join(tmpdir(), 'tracker-upload-'))
    const file = join(dir, 'accessories.json')
    writeFileSync(
      file,
      JSON.stringify([{ name: 'Uploaded <bike> & "co"', privateKey: key.privateKey.toString('base64') }]),
    )
    await page.getByRole('button', { name: 'Manage' }).click()
    await page.getByLabel('Key file').setInputFiles(file)
    await page.getByRole('button', { name: 'Add tracker' }).click()
    await expect
      .poll(() => page.locator('#upload-status').textContent())
      .toContain('Added Uploaded <bike> & "co"')
    await page.getByRole('button', { name: 'Map' }).click()
    const created = page.locator('li.tracker', { hasText: 'Uploaded <bike> & "co"' })
    await created.waitFor()
    expect(await created.locator('.status').getAttribute('data-status')).toBe('LOST')
    expect(await created.locator('.status').getAttribute('title')).toContain('never seen')
    const { trackers } = await gql<{ trackers: { nodes: { name: string }[] } }>(
      web,
      '{ trackers(first: 100) { nodes { name } } }',
    )
    expect(trackers.nodes.map((t) => t.name)).toContain('Uploaded <bike> & "co"')
  })

  it('shows STALE and INACTIVE as the API defines them', async () => {
    const items = page.locator('li.tracker')
    const [second, third] = [
      await items.nth(1).getAttribute('data-tracker-id'),
      await items.nth(2).getAttribute('data-tracker-id'),
    ]
    // Last seen two days ago: STALE (seen, but not within 24 hours), as the API computes it.
    const client = new pg.Client({
      host: '127.0.0.1',
      port: web.stack.pgPort!,
      user: 'postgres',
      database: 'postgres',
    })
    await client.connect()
    await client.query("UPDATE trackers SET last_seen_at = now() - interval '2 days' WHERE id = $1", [second])
    await client.end()
    await page.getByRole('button', { name: 'Manage' }).click()
    await page
      .locator(`.manage-trackers tr[data-tracker-id="${third}"]`)
      .getByRole('button', { name: 'Deactivate' })
      .click()
    await page.getByRole('button', { name: 'Map' }).click()
    const status = (id: string | null) => page.locator(`li.tracker[data-tracker-id="${id}"] .status`)
    await expect.poll(() => status(third).getAttribute('data-status')).toBe('INACTIVE')
    expect(await status(second).getAttribute('data-status')).toBe('STALE')
    expect(await status(second).getAttribute('title')).toContain('not within the last 24 hours')
    await page.getByLabel('Status').selectOption('STALE')
    await expect.poll(() => items.count()).toBe(1)
    await page.getByLabel('Status').selectOption('')
  })

  it('is usable from the keyboard', async () => {
    await page.getByRole('button', { name: 'Clear' }).click()
    expect(await page.locator('#map').getAttribute('data-state')).toBe('overview')
    // One tracker by its id: live updates (the deactivation above) may re-render and reorder the list.
    const id = await page.locator('li.tracker').first().getAttribute('data-tracker-id')
    const checkbox = page.locator(`li.tracker[data-tracker-id="${id}"] input[type=checkbox]`)
    await checkbox.focus()
    await page.keyboard.press('Space')
    await expect.poll(() => checkbox.isChecked()).toBe(true)
    await page.locator('#map[data-state="drawn"]').waitFor()
    const range = page.getByLabel('Range', { exact: true })
    await range.focus()
    await page.keyboard.press('ArrowUp')
    expect(await range.inputValue()).toBe('24h')
    await page.locator('#map[data-state="drawn"]').waitFor()
  })

  it('signs in once from a one-time link, which then no longer works', async () => {
    const link = await web.stack.newSignInLink()
    const first = await browser.newContext()
    const firstPage = await first.newPage()
    await firstPage.goto(link)
    await firstPage.getByRole('button', { name: 'Sign out' }).waitFor()
    expect(firstPage.url()).toBe(`${web.origin}/`)
    const second = await browser.newContext()
    const secondPage = await second.newPage()
    await secondPage.goto(link)
    await expect.poll(() => secondPage.locator('#sign-in-error').textContent()).toContain('already used')
    await first.close()
    await second.close()
  })

  it('makes no request that leaves the machine, and breaks no Content-Security-Policy rule', () => {
    expect(foreign).toEqual([])
    expect(consoleErrors.filter((text) => /Content.Security.Policy/i.test(text))).toEqual([])
  })

  it('works at a phone width, in dark mode', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      colorScheme: 'dark',
    })
    const phonePage = await phone.newPage()
    await phonePage.goto(web.origin)
    await phonePage.getByLabel('API token').fill(web.token)
    await phonePage.getByRole('button', { name: 'Sign in' }).click()
    await phonePage.locator('li.tracker').first().waitFor()
    await phonePage.locator('li.tracker input[type=checkbox]').first().check()
    await phonePage.locator('#map[data-state="drawn"]').waitFor()
    const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    // The system's dark mode, followed.
    expect(await phonePage.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      'rgb(13, 17, 23)',
    )
    await phonePage.locator('.map-tab').evaluate((tab) => tab.scrollTo(0, 0))
    await screenshot(phonePage, 'history-phone')
    await phone.close()
  })

  it('signs out: the session is revoked on the server', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API token').waitFor()
    const status = await page.evaluate(
      async () =>
        (
          await fetch('/graphql', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"query":"{ trackers { nodes { id } } }"}',
          })
        ).status,
    )
    expect(status).toBe(401)
  })

  it('says the API is unreachable when it goes away, and keeps what the user typed', async () => {
    await page.getByLabel('API token').fill(web.token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Manage' }).click()
    const nameInput = page.locator('.manage-trackers input[type=text]').first()
    await nameInput.fill('A name typed before the outage')
    await web.stop()
    await page.locator('.manage-trackers form.rename').first().getByRole('button', { name: 'Rename' }).click()
    await expect
      .poll(() => page.locator('#connection').textContent())
      .toContain('Cannot reach the Tracker API')
    expect(await nameInput.inputValue()).toBe('A name typed before the outage')
    await screenshot(page, 'api-unreachable-desktop')
  })
})
