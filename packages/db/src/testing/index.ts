export * from './test-database.ts'
export * from './builders.ts'
