// The shape of @ubjs/node 0.31.0-3's `lib.js`, which its published `index.d.ts` lacks
// (`FfiType` and `resolveLibPath` are added by lib.js, not declared): the generated N-API
// bindings use both. Mapped in tsconfig.test.json's `paths`; the runtime is the real package.
type FfiTypeValue = { tag: string; name?: string; inner?: FfiTypeValue };

declare const lib: {
  UniffiNativeModule: {
    open(path: string): {
      register(definitions: object): object;
      unload(options?: { force?: boolean }): void;
    };
  };
  FfiType: Record<
    | 'UInt8' | 'Int8' | 'UInt16' | 'Int16' | 'UInt32' | 'Int32' | 'UInt64' | 'Int64'
    | 'Float32' | 'Float64' | 'Handle' | 'RustBuffer' | 'ForeignBytes' | 'RustCallStatus'
    | 'VoidPointer' | 'Void',
    FfiTypeValue
  > & {
    Callback(name: string): FfiTypeValue;
    Struct(name: string): FfiTypeValue;
    Reference(inner: FfiTypeValue): FfiTypeValue;
    MutReference(inner: FfiTypeValue): FfiTypeValue;
  };
  resolveLibPath(options: {
    crateName: string;
    callerUrl: string;
    override?: string;
    npmPackageBase?: string;
    tripleStyle?: 'cargo' | 'node';
  }): string;
};
export default lib;
