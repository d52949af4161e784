import { defineConfig } from 'vite'

// Static files the API serves at `/` (WEB_ROOT). Everything the page loads comes from the same
// origin: no CDN, no web font, no inline script (the API's Content-Security-Policy allows none).
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The outlines of the world (world-atlas) stay a file of their own, fetched after the page shows.
    assetsInlineLimit: 4096,
    target: 'es2022',
    sourcemap: true,
  },
})
