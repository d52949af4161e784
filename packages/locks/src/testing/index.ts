export { TcpProxy } from './tcp-proxy.ts'
