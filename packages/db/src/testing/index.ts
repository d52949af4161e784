export * from './app-roles.ts'
export * from './builders.ts'
export * from './readme-manual-test.ts'
export * from './test-database.ts'
