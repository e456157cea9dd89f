//! The standard uniffi bindings generator, built from this workspace so its uniffi version
//! always matches the one monitor-sdk is compiled with.

fn main() {
    uniffi::uniffi_bindgen_main()
}
