//! The bindings uniffi generates for monitor-sdk, generated from the built library and, for
//! Python, executed: the FFI surface works from a foreign language, errors arrive typed and
//! a panic inside the SDK does not take the host process down. Kotlin and Swift are only
//! generated (Debian's Kotlin is too old for uniffi's output; there is no Swift here).

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
    assert!(kotlin.contains("interface TokenProvider"));
    assert!(swift.contains("protocol TokenProvider"));
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
