// XML 1.0 allows tab, LF, CR and U+0020 upwards except the surrogates (unpaired ones) and U+FFFE/FFFF.
const INVALID_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding the control characters XML cannot carry is the point
const SPECIAL = /[&<>"'\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
}

/**
 * Text for XML content or a quoted attribute: the five special characters escaped, characters XML 1.0
 * cannot carry at all (control characters, unpaired surrogates) left out.
 */
export function escapeXml(text: string): string {
  if (!SPECIAL.test(text)) return text
  return text.replace(INVALID_XML, '').replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}
