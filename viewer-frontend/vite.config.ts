import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// The DICOM image loader decodes in module workers and locates its codecs' .wasm files with
// `new URL('@cornerstonejs/codec-…/decodewasm', import.meta.url)`: Vite resolves those specifiers and
// emits the wasm under assets/, so the build needs no copy step (checked: dist/assets/*.wasm).
const backend = process.env.CIRRUS_DEV_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [vue()],
  resolve: {
    // vtk.js pulls in xmlbuilder2, which extends Node's EventEmitter: give the browser the `events` shim
    // (the trailing slash makes Vite resolve the npm package instead of externalising the built-in).
    alias: { events: 'events/' },
  },
  worker: {
    format: 'es',
    // The decode worker's codecs in the worker's own file, not in chunks it imports on the first frame of
    // their transfer syntax: no module fetch at decode time (a failed one is remembered by the worker, so
    // every later JPEG Lossless frame failed with "Failed to fetch dynamically imported module").
    rolldownOptions: { output: { codeSplitting: false } },
  },
  optimizeDeps: {
    // Pre-bundling would move the loader away from its worker and wasm files.
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
  },
  server: {
    proxy: { '/dicom-web': backend, '/api': backend },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
