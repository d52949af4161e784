import { ApiError, requestJson } from '../api/client.ts'
import {
  importKeyFile,
  importRunsAndHealth,
  removeTrackerKey,
  renameTracker,
  setTrackerActive,
  type Tracker,
} from '../api/queries.ts'
import { formatTime, STATUS_LABEL, STATUS_MEANING } from '../format.ts'
import { h } from './dom.ts'

export interface ManageOptions {
  canWrite: boolean
  /** Reports any error the view does not explain in place (unreachable API, ended session). */
  onError(error: unknown): void
  /** After a change to trackers: the list and the map reload them. */
  onTrackersChanged(): Promise<void>
}

/** Add trackers from key files, rename, deactivate, remove keys; import runs and the apps' health. */
export class ManageView {
  readonly element: HTMLElement
  private readonly trackerRows = h('tbody')
  private readonly runs = h('tbody')
  private readonly health = h('dl', { className: 'health' })
  private readonly uploadStatus = h('p', { id: 'upload-status', attrs: { role: 'status' } })

  private readonly options: ManageOptions

  constructor(options: ManageOptions) {
    this.options = options
    this.element = h('div', { className: 'manage' }, [
      options.canWrite
        ? this.uploadForm()
        : h('p', {}, 'This token may only read: adding and changing trackers needs a write token.'),
      h('section', { attrs: { 'aria-labelledby': 'manage-trackers-title' } }, [
        h('h2', { id: 'manage-trackers-title' }, 'Trackers'),
        h('table', { className: 'manage-trackers' }, [
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Name', 'Status', 'Keys', ''].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          this.trackerRows,
        ]),
      ]),
      h('section', { attrs: { 'aria-labelledby': 'runs-title' } }, [
        h('h2', { id: 'runs-title' }, 'Import runs'),
        h('table', { className: 'runs' }, [
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              [
                'Started',
                'Trigger',
                'Status',
                'Fetched',
                'Inserted',
                'Duplicates',
                'Rejected',
                'Endpoint errors',
              ].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          this.runs,
        ]),
      ]),
      h('section', { attrs: { 'aria-labelledby': 'health-title' } }, [
        h('h2', { id: 'health-title' }, 'Health'),
        this.health,
      ]),
    ])
  }

  private uploadForm(): HTMLElement {
    const file = h('input', { type: 'file', id: 'key-file', accept: '.json,.keys,.key,.txt', required: true })
    const name = h('input', { type: 'text', id: 'key-file-name', maxLength: 200 })
    const button = h('button', { type: 'submit' }, 'Add tracker')
    const form = h('form', { className: 'upload', attrs: { 'aria-labelledby': 'upload-title' } }, [
      h('h2', { id: 'upload-title' }, 'Add a tracker'),
      h('label', { htmlFor: 'key-file' }, 'Key file'),
      file,
      h(
        'p',
        { className: 'help' },
        'macless-haystack / OpenHaystack accessories JSON, FindMy.py keypair JSON, a .keys file, or base64 private keys, one per line. Read by the server; keys are sealed at rest.',
      ),
      h('label', { htmlFor: 'key-file-name' }, 'Name (optional, for a file with one tracker)'),
      name,
      button,
      this.uploadStatus,
    ])
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      const chosen = file.files?.[0]
      if (!chosen) return
      button.disabled = true
      this.uploadStatus.className = ''
      this.uploadStatus.textContent = `Reading ${chosen.name}…`
      try {
        const created = await importKeyFile(chosen.name, await chosen.text(), name.value.trim() || null)
        this.uploadStatus.textContent = `Added ${created.map((t) => t.name).join(', ')}.`
        form.reset()
        await this.options.onTrackersChanged()
      } catch (error) {
        this.showError(this.uploadStatus, error)
      } finally {
        button.disabled = false
      }
    })
    return form
  }

  private showError(target: HTMLElement, error: unknown): void {
    if (error instanceof ApiError) {
      target.className = 'error'
      target.textContent = error.message
    } else {
      target.textContent = ''
      this.options.onError(error)
    }
  }

  /** Rows whose name is being edited stay as they are: a refresh never loses what the user typed. */
  showTrackers(trackers: Tracker[]): void {
    const editing = new Map<string, HTMLElement>()
    for (const row of this.trackerRows.querySelectorAll<HTMLElement>('tr[data-tracker-id]')) {
      const input = row.querySelector('input')
      if (input && input.value !== input.defaultValue) editing.set(row.dataset.trackerId!, row)
    }
    this.trackerRows.replaceChildren(
      ...trackers.map((tracker) => editing.get(tracker.id) ?? this.trackerRow(tracker)),
    )
    if (trackers.length === 0) {
      this.trackerRows.replaceChildren(
        h('tr', {}, h('td', { colSpan: 4 }, 'No trackers yet: add one above.')),
      )
    }
  }

  private trackerRow(tracker: Tracker): HTMLElement {
    const status = h('p', { className: 'row-status', attrs: { role: 'status' } })
    const nameInput = h('input', {
      type: 'text',
      defaultValue: tracker.name,
      maxLength: 200,
      disabled: !this.options.canWrite,
      attrs: { 'aria-label': `Name of ${tracker.name}` },
    })
    const act = async (action: () => Promise<unknown>, done: string) => {
      try {
        await action()
        status.className = ''
        status.textContent = done
        await this.options.onTrackersChanged()
      } catch (error) {
        this.showError(status, error)
      }
    }
    const nameCell = h('form', { className: 'rename' }, [
      nameInput,
      this.options.canWrite ? h('button', { type: 'submit' }, 'Rename') : null,
      status,
    ])
    nameCell.addEventListener('submit', (event) => {
      event.preventDefault()
      void act(() => renameTracker(tracker.id, nameInput.value), 'Renamed.')
    })
    const keys = h(
      'ul',
      { className: 'keys' },
      tracker.keys.map((key) =>
        h('li', {}, [
          h('code', { title: `Key status: ${key.status}` }, `${key.hashedAdvKey.slice(0, 12)}…`),
          this.options.canWrite && tracker.keys.length > 1
            ? h(
                'button',
                {
                  type: 'button',
                  attrs: { 'aria-label': `Remove key ${key.hashedAdvKey.slice(0, 12)} of ${tracker.name}` },
                  on: {
                    click: () => {
                      if (confirm(`Remove this key from ${tracker.name}? Reports it delivered stay.`)) {
                        void act(() => removeTrackerKey(tracker.id, key.hashedAdvKey), 'Key removed.')
                      }
                    },
                  },
                },
                'Remove',
              )
            : null,
        ]),
      ),
    )
    const toggle = this.options.canWrite
      ? h(
          'button',
          {
            type: 'button',
            on: {
              click: () =>
                void act(
                  () => setTrackerActive(tracker.id, !tracker.isActive),
                  tracker.isActive ? 'Deactivated.' : 'Reactivated.',
                ),
            },
          },
          tracker.isActive ? 'Deactivate' : 'Reactivate',
        )
      : null
    return h('tr', { dataset: { trackerId: tracker.id } }, [
      h('td', {}, nameCell),
      h(
        'td',
        {},
        h(
          'span',
          {
            className: `status status-${tracker.currentStatus.toLowerCase()}`,
            title: STATUS_MEANING[tracker.currentStatus],
          },
          STATUS_LABEL[tracker.currentStatus],
        ),
      ),
      h('td', {}, keys),
      h('td', {}, toggle),
    ])
  }

  /** Import runs and health; errors reach `onError` (the list stays as it was). */
  async refreshRuns(): Promise<void> {
    try {
      const [{ runs, health }, api] = await Promise.all([
        importRunsAndHealth(),
        requestJson<{ status: string; reason?: string }>('GET', '/health/ready').catch((error: unknown) =>
          error instanceof ApiError
            ? { status: 'unavailable', reason: error.message }
            : Promise.reject(error),
        ),
      ])
      this.runs.replaceChildren(
        ...runs.map((run) =>
          h('tr', { dataset: { runId: run.id, status: run.status } }, [
            h('td', {}, formatTime(run.startedAt)),
            h('td', {}, run.trigger.toLowerCase()),
            h('td', {}, run.status.toLowerCase().replace('_', ' ')),
            h('td', {}, String(run.reportsFetched)),
            h('td', {}, String(run.reportsInserted)),
            h('td', {}, String(run.reportsDuplicate)),
            h('td', {}, run.rejected.map((r) => `${r.reason}: ${r.count}`).join(', ') || '0'),
            h(
              'td',
              {},
              run.sourceErrors.map((e) => `${e.status ?? ''} ${e.message}`.trim()).join('; ') ||
                run.error ||
                'none',
            ),
          ]),
        ),
      )
      if (runs.length === 0)
        this.runs.replaceChildren(
          h(
            'tr',
            {},
            h('td', { colSpan: 8 }, 'No import run yet: the importer records one each time it runs.'),
          ),
        )
      const streak = health.streak
      this.health.replaceChildren(
        h('dt', {}, 'API'),
        h('dd', { dataset: { health: 'api' } }, api.reason ? `${api.status}: ${api.reason}` : api.status),
        h('dt', {}, 'Report endpoint (last 24 h)'),
        h(
          'dd',
          { dataset: { health: 'endpoint' } },
          health.totals.length === 0
            ? 'no requests'
            : health.totals.map((t) => `${t.outcome.toLowerCase()}: ${t.count}`).join(', '),
        ),
        h('dt', {}, 'Failing streak'),
        h(
          'dd',
          {},
          streak.failingRequests === 0
            ? 'none'
            : `${streak.failingRequests} failing requests (${streak.outcome?.toLowerCase()}) since ${streak.since ? formatTime(streak.since) : '?'}`,
        ),
      )
    } catch (error) {
      this.options.onError(error)
    }
  }
}
