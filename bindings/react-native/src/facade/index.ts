// The facade, flavour-independent: src/index.ts wires it to the JSI bindings and React
// Native; the Node tests wire it to the N-API bindings or a fake.
export * from './errors';
export * from './monitor';
export * from './upload';
export * from './platform';
export { fromGenerated } from './native';
export type { NativeSdk, NativeReporter, UploadStageName, UploadSourceName, LogLevelName, UploadStatusName } from './native';
