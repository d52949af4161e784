export {
  chooseP224Backend,
  DEFAULT_LIBCRYPTO,
  P224_LIBRARY_ENV,
  type P224BackendChoice,
  p224Backend,
} from './choose-backend.ts'
export { loadLibcryptoBackend } from './libcrypto-backend.ts'
export { nodeP224Backend } from './node-backend.ts'
export type { P224Backend, P224BackendName, P224Key } from './p224-backend.ts'
