import './styles.css'
import { ApiUnreachableError } from './api/client.ts'
import { currentSession, loadWebConfig, type Session, type WebConfig } from './api/session.ts'
import { App } from './ui/app.ts'
import { h } from './ui/dom.ts'
import { renderSignIn } from './ui/sign-in.ts'

const root = document.getElementById('app')!

/** A one-time sign-in link that was used or expired comes back here with ?sign-in=link-invalid. */
function linkNotice(): string | null {
  const url = new URL(location.href)
  const reason = url.searchParams.get('sign-in')
  if (!reason) return null
  url.searchParams.delete('sign-in')
  history.replaceState(null, '', url)
  return reason === 'link-invalid'
    ? 'This sign-in link was already used or has expired. Sign in with an API token, or print a new link.'
    : null
}

function showSignIn(config: WebConfig, notice: string | null): void {
  renderSignIn(root, notice, (session) => void showApp(config, session))
}

async function showApp(config: WebConfig, session: Session): Promise<void> {
  const app = new App(root, config, session, (notice) => showSignIn(config, notice))
  await app.start()
}

async function boot(): Promise<void> {
  const notice = linkNotice()
  for (;;) {
    try {
      const config = await loadWebConfig()
      const session = await currentSession()
      if (session) await showApp(config, session)
      else showSignIn(config, notice)
      return
    } catch (error) {
      const message = error instanceof ApiUnreachableError ? error.message : (error as Error).message
      root.replaceChildren(
        h(
          'main',
          { className: 'sign-in-page' },
          h('p', { className: 'error', attrs: { role: 'alert' } }, `${message} Retrying…`),
        ),
      )
      await new Promise((resolve) => setTimeout(resolve, 5_000))
    }
  }
}

void boot()
