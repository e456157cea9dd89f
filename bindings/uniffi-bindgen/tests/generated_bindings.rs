//! The bindings uniffi generates for monitor-sdk, generated from the built library and, for
//! Python, executed: the FFI surface works from a foreign language and errors arrive typed.
//! Kotlin and Swift are generated here and checked for the API and for two shapes that broke
//! apps (no exported call takes an optional foreign object; no error field is named
//! `message`); `foreign_scenario.rs` compiles and runs the Kotlin (and the React Native
//! TypeScript under Node) against the dev stack. No Swift toolchain here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The monitor-sdk cdylib the dev-dependency build left beside this test's binary.
fn sdk_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a target profile directory");
    let name = format!(
        "{}monitor_sdk{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    [
        profile_dir.join(&name),
        profile_dir.join("deps").join(&name),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("{name} not found under {}", profile_dir.display()))
}

fn generate(language: &str, out: &Path) {
    // Output captured, not inherited: the generator prints "writing out <dir>" for each run,
    // which would land between the test harness's own lines. Shown only when it fails.
    let output = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--library"])
        .arg(sdk_library())
        .args(["--language", language, "--no-format", "--out-dir"])
        .arg(out)
        .output()
        .expect("uniffi-bindgen runs");
    assert!(
        output.status.success(),
        "uniffi-bindgen generate --language {language} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_generated_python_bindings_report_uploads_and_raise_typed_errors() {
    let out = tempfile::tempdir().expect("a temp dir");
    generate("python", out.path());
    let library = sdk_library();
    let file_name = library.file_name().expect("a file name");
    std::fs::copy(&library, out.path().join(file_name)).expect("the library beside the module");
    let scratch = tempfile::tempdir().expect("a temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/exercise_reporter.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(out.path())
        .arg(scratch.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("python bindings: ok"),
        "python failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn kotlin_and_swift_bindings_are_generated_with_the_reporter_api() {
    let out = tempfile::tempdir().expect("a temp dir");
    generate("kotlin", out.path());
    generate("swift", out.path());
    let mut kotlin = String::new();
    let mut swift = String::new();
    for entry in walk(out.path()) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        match entry.extension().and_then(|e| e.to_str()) {
            Some("kt") => kotlin.push_str(&text),
            Some("swift") => swift.push_str(&text),
            _ => {}
        }
    }
    for api in [
        "beginUpload",
        "reportProgress",
        "recoverAfterRestart",
        "importAsyncStorage",
    ] {
        assert!(kotlin.contains(api), "Kotlin lacks {api}");
        assert!(swift.contains(api), "Swift lacks {api}");
    }
    for api in ["setAccessToken", "takeLogLines"] {
        assert!(kotlin.contains(api), "Kotlin lacks {api}");
        assert!(swift.contains(api), "Swift lacks {api}");
    }
    assert!(kotlin.contains("interface SessionRefresher"));
    assert!(swift.contains("protocol SessionRefresher"));
}

/// Every foreign trait the app implements, by the callback vtable uniffi generates for it.
fn foreign_traits(kotlin: &str) -> Vec<String> {
    let marker = "uniffiCallbackInterface";
    let mut names: Vec<String> = kotlin
        .match_indices(marker)
        .map(|(at, _)| {
            kotlin[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// uniffi-bindgen-react-native 0.31.0-5 cannot pass an optional foreign object: its
/// converter for `Option<Arc<dyn Trait>>` overrides `lower()` but not `writeIntoCursor()`, so
/// the call throws "Cannot lower this object to a pointer" whenever the app gives one (the
/// old constructor's optional `ReporterLogger`). The exported surface must not have one; this
/// finds any in the generated Kotlin, which names the converter of every optional type.
#[test]
fn no_exported_call_takes_an_optional_foreign_object() {
    let out = tempfile::tempdir().expect("a temp dir");
    generate("kotlin", out.path());
    let kotlin: String = walk(out.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "kt"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let traits = foreign_traits(&kotlin);
    assert!(
        traits.contains(&"SessionRefresher".to_string()),
        "the foreign traits were not found: {traits:?}"
    );
    for name in &traits {
        let optional = format!("FfiConverterOptionalType{name}");
        assert!(
            !kotlin.contains(&optional),
            "an exported call takes an optional {name} ({optional}): React Native apps cannot \
             pass one (uniffi-bindgen-react-native 0.31.0-5); make it required or a setter"
        );
    }
}

/// Kotlin maps `ReporterError` to exceptions, where a field named `message` clashes with
/// `Throwable.message` and the generated file does not compile (42 errors; uniffi #1434).
#[test]
fn no_error_field_is_named_message() {
    let out = tempfile::tempdir().expect("a temp dir");
    generate("kotlin", out.path());
    for file in walk(out.path()) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains("val `message`"),
            "{} has a field named `message`",
            file.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
