import { ApiUnreachableError } from '../api/client.ts'
import { type Session, signIn } from '../api/session.ts'
import { h } from './dom.ts'

/**
 * The sign-in form: an API token, exchanged once for a session cookie. A refused token or an
 * unreachable API is said plainly, and what was typed stays in the field.
 */
export function renderSignIn(
  root: HTMLElement,
  notice: string | null,
  onSignedIn: (session: Session) => void,
): void {
  const error = h('p', { className: 'error', id: 'sign-in-error', attrs: { role: 'alert' } }, notice ?? '')
  error.hidden = !notice
  const input = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'off',
    required: true,
    spellcheck: false,
    attrs: { 'aria-describedby': 'sign-in-help sign-in-error' },
  })
  const button = h('button', { type: 'submit' }, 'Sign in')
  const form = h('form', { className: 'sign-in', attrs: { 'aria-labelledby': 'sign-in-title' } }, [
    h('h1', { id: 'sign-in-title' }, 'Tracker'),
    h('label', { htmlFor: 'token' }, 'API token'),
    input,
    h(
      'p',
      { className: 'help', id: 'sign-in-help' },
      'Paste an API token (npm run api -- tokens create). It is exchanged for a session and not stored by this page.',
    ),
    error,
    button,
  ])
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    button.disabled = true
    error.hidden = true
    try {
      const session = await signIn(input.value.trim())
      onSignedIn(session)
    } catch (failure) {
      error.textContent =
        failure instanceof ApiUnreachableError
          ? failure.message
          : (failure as Error).message || 'Sign-in failed.'
      error.hidden = false
      input.focus()
    } finally {
      button.disabled = false
    }
  })
  root.replaceChildren(h('main', { className: 'sign-in-page' }, form))
  input.focus()
}
