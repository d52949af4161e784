// The api app: wired in its own issue. Kept as a real package so build, typecheck and test cover it.
export {}
