export { banner } from './banner.ts'
export { type RunningStack, startStack } from './stack.ts'
