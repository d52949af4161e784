import type { HeldLock, LockService } from './lock-service.ts'

/**
 * Locks for apps that share one process (the embedded one-command mode). There is no other
 * replica, so a lock never expires: it is held until released.
 */
export class InProcessLockService implements LockService {
  readonly kind = 'in-process'
  readonly #held = new Set<string>()

  async tryAcquire(name: string): Promise<HeldLock | null> {
    if (this.#held.has(name)) return null
    this.#held.add(name)
    const controller = new AbortController()
    let released = false
    return {
      name,
      signal: controller.signal,
      release: async () => {
        if (released) return
        released = true
        this.#held.delete(name)
      },
    }
  }

  /** Always reachable: it lives in this process. */
  async ping(): Promise<void> {}

  isHeld(name: string): boolean {
    return this.#held.has(name)
  }

  async close(): Promise<void> {
    this.#held.clear()
  }
}
