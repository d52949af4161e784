/** Domain errors of the data layer: plain classes with a code that the API edge maps to extensions.code. */
export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND'
  readonly entity: string
  readonly id: string
  constructor(entity: string, id: string) {
    super(`${entity} ${id} does not exist`)
    this.entity = entity
    this.id = id
  }
}

export class DuplicateKeyError extends Error {
  readonly code = 'DUPLICATE_KEY'
  readonly hashedAdvKey: string
  constructor(hashedAdvKey: string) {
    super(`A tracker already has the key with hashed advertisement key ${hashedAdvKey}`)
    this.hashedAdvKey = hashedAdvKey
  }
}

export const isUniqueViolation = (error: unknown) => (error as { code?: string })?.code === '23505'
