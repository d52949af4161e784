import { customRange, PRESETS, presetRange, type RangePreset, type TimeRange } from '../history/ranges.ts'
import { h } from './dom.ts'

/** Last 24 h, 7 days, 30 days, a year, or custom dates in the browser's time zone. */
export class RangePicker {
  readonly element: HTMLElement
  private readonly select = h('select', { id: 'range' }, [
    ...PRESETS.map((p) => h('option', { value: p.value }, p.label)),
    h('option', { value: 'custom' }, 'Custom dates'),
  ])
  private readonly start = h('input', { type: 'date', id: 'range-start' })
  private readonly end = h('input', { type: 'date', id: 'range-end' })
  private readonly apply = h('button', { type: 'submit' }, 'Show')
  private readonly error = h('p', { className: 'error', attrs: { role: 'alert' } })
  private readonly custom = h('div', { className: 'custom-range' }, [
    h('label', { htmlFor: 'range-start' }, 'From'),
    this.start,
    h('label', { htmlFor: 'range-end' }, 'To'),
    this.end,
    this.apply,
  ])

  private readonly onChange: (range: TimeRange, preset: RangePreset) => void

  constructor(onChange: (range: TimeRange, preset: RangePreset) => void) {
    this.onChange = onChange
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
    this.element = h('form', { className: 'range-picker', attrs: { 'aria-label': 'History range' } }, [
      h('label', { htmlFor: 'range' }, 'Range'),
      this.select,
      this.custom,
      h('p', { className: 'help' }, `Dates in your time zone (${zone}).`),
      this.error,
    ])
    this.custom.hidden = true
    this.error.hidden = true
    this.select.value = '24h'
    this.select.addEventListener('change', () => {
      const value = this.select.value as RangePreset
      this.custom.hidden = value !== 'custom'
      if (value !== 'custom') this.onChange(presetRange(value), value)
    })
    this.element.addEventListener('submit', (event) => {
      event.preventDefault()
      const range = customRange(this.start.value, this.end.value)
      this.error.hidden = typeof range !== 'string'
      if (typeof range === 'string') {
        this.error.textContent = range
        return
      }
      this.onChange(range, 'custom')
    })
  }

  get preset(): RangePreset {
    return this.select.value as RangePreset
  }

  /** The range now: a preset moves with the clock, custom dates do not. */
  current(): TimeRange | null {
    const value = this.preset
    if (value !== 'custom') return presetRange(value)
    const range = customRange(this.start.value, this.end.value)
    return typeof range === 'string' ? null : range
  }
}
