/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// No React plugin: esbuild's automatic JSX runtime is all the console needs.
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: { outDir: 'dist', sourcemap: false, target: 'es2022' },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8080', ws: true, changeOrigin: false },
      '/healthz': { target: 'http://127.0.0.1:8080' },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
