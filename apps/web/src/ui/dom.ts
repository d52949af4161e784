/** A tiny element builder: text is always set as text, so user-given names cannot become markup. */
type Child = Node | string | null | undefined | false
type Props = Partial<Omit<HTMLElement, 'dataset' | 'style'>> & {
  dataset?: Record<string, string>
  attrs?: Record<string, string>
  on?: Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>
  [key: string]: unknown
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  children: Child | Child[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  const { dataset, attrs, on, ...rest } = props
  Object.assign(element, rest)
  if (dataset) Object.assign(element.dataset, dataset)
  if (attrs) for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value)
  if (on)
    for (const [name, handler] of Object.entries(on)) element.addEventListener(name, handler as EventListener)
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child === null || child === undefined || child === false) continue
    element.append(child)
  }
  return element
}
