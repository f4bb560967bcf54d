// esbuild bundles the stylesheet a module imports into app.css; for TypeScript the import has no value.
declare module '*.css'
