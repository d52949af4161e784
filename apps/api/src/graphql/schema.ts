import { readFileSync } from 'node:fs'

/** The SDL: the schema's one source (schema.generated.ts is generated from it). */
export const typeDefs = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8')
