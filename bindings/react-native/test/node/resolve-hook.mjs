// Node's ESM loader wants file extensions; the TypeScript that ubrn generates imports
// './monitor_sdk-ffi' without one (bundlers such as Metro add it). This hook retries a
// relative specifier with '.js', then '/index.js', so the compiled tests run as they are.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (!relative || /\.[cm]?js$/.test(specifier)) throw error;
    try {
      return await next(`${specifier}.js`, context);
    } catch {
      return next(`${specifier}/index.js`, context);
    }
  }
}
