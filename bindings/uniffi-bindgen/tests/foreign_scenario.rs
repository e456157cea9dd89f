//! The generated bindings executed against the dev stack, the way an app runs them:
//!
//! - Kotlin on the JVM: uniffi's Kotlin, compiled with npm's `kotlin-compiler` (2.x, Java 17)
//!   and run with Debian's `libjna-java` against the host `libmonitor_sdk`
//!   (`tests/kotlin/Scenario.kt`);
//! - TypeScript under Node: the bindings uniffi-bindgen-react-native 0.31.0-5 generates for
//!   N-API (`bindings/react-native/test/napi/generated`, committed), compiled with the
//!   package's TypeScript and run by `node --test` through the prebuilt `@ubjs/node` addon
//!   (`bindings/react-native/test/napi/scenario.test.ts`).
//!
//! Both run one scenario: an expired session refreshed through the app's `SessionRefresher`,
//! an upload's whole life, a failure, offline then flush, typed errors, the buffered log
//! lines, and `shutdown()` returning at once while a refresh waits on the app. This test then
//! reads the rows the server holds for the scenario's user.
//!
//! The tools come from `npm ci` in `bindings/kotlin` and `bindings/react-native` and from
//! `apt-get install libjna-java` (what `.ci/run` does). Without them the tests say so and
//! pass, except under CI (`CI` set), where a missing tool fails them. Each run's output is
//! kept in `target/tmp/foreign-scenario-<language>.log` (`.ci/run` prints the summaries).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use upload_monitor::devstack::{DevStack, NewUser};
use uuid::Uuid;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The monitor-sdk cdylib the dev-dependency build left beside this test's binary, copied
/// to `dir` (the shared target dir's copy may be replaced by another build meanwhile).
fn sdk_library_in(dir: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a target profile directory");
    let name = format!(
        "{}monitor_sdk{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let found = [
        profile_dir.join(&name),
        profile_dir.join("deps").join(&name),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("{name} not found under {}", profile_dir.display()));
    let copy = dir.join(&name);
    std::fs::copy(&found, &copy).expect("the library copied");
    copy
}

/// Whether a missing tool is a failure (CI) or a skip (a developer without `npm ci`).
fn missing(tool: &str, how: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is missing ({how}); CI must run this test");
    }
    eprintln!("skipped: {tool} is missing ({how})");
    true
}

fn run(what: &str, command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Keeps a run's output where `.ci/run` finds it.
fn keep_log(language: &str, output: &Output) {
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("foreign-scenario-{language}.log"));
    let mut text = output.stdout.clone();
    text.extend_from_slice(&output.stderr);
    let _ = std::fs::write(path, text);
}

/// A user of the dev stack for one language's scenario.
fn scenario_user(runtime: &tokio::runtime::Runtime, language: &str) -> (Uuid, String) {
    let stack = DevStack::shared();
    let email = format!(
        "scenario-{language}-{}@example.test",
        Uuid::new_v4().simple()
    );
    let user = runtime
        .block_on(stack.create_user(&NewUser::new(email)))
        .expect("a user");
    (user.id, user.access_token)
}

/// The scenario's uploads as the server holds them: (local id, status, retries, error code).
fn server_rows(
    runtime: &tokio::runtime::Runtime,
    user: Uuid,
) -> Vec<(String, String, i32, Option<String>)> {
    runtime.block_on(async {
        let client = DevStack::shared().connect().await.expect("a connection");
        client
            .query(
                "select local_id, status::text, retry_count, error_code \
                 from public.upload_queue where user_id = $1 order by local_id",
                &[&user],
            )
            .await
            .expect("upload_queue reads")
            .into_iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect()
    })
}

/// What both scenarios leave on the server: `a` completed after the refresh, `b` failed once
/// with `network`, `c` (reported offline) completed after the flush.
fn assert_server_holds_the_scenario(runtime: &tokio::runtime::Runtime, user: Uuid, prefix: &str) {
    let rows = server_rows(runtime, user);
    let row = |local: &str| {
        rows.iter()
            .find(|r| r.0 == format!("{prefix}_{local}"))
            .unwrap_or_else(|| panic!("{prefix}_{local} is not on the server: {rows:?}"))
            .clone()
    };
    assert_eq!(row("a").1, "completed", "{rows:?}");
    let b = row("b");
    assert_eq!(
        (b.1.as_str(), b.2, b.3.as_deref()),
        ("failed", 1, Some("network"))
    );
    assert_eq!(row("c").1, "completed", "{rows:?}");
}

fn scenario_env<'a>(command: &'a mut Command, token: &str, scratch: &Path) -> &'a mut Command {
    let stack = DevStack::shared();
    command
        .env("SUPABASE_URL", stack.api_url())
        .env("SUPABASE_ANON_KEY", stack.anon_key())
        .env("USER_TOKEN", token)
        .env("SCRATCH_DIR", scratch)
}

#[test]
fn the_generated_kotlin_runs_the_scenario_on_the_jvm_against_the_dev_stack() {
    let kotlin_home = workspace_root().join("bindings/kotlin/node_modules/kotlin-compiler");
    let kotlinc = kotlin_home.join("bin/kotlinc");
    let jna = std::env::var_os("JNA_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/jna.jar"));
    if !kotlinc.exists() && missing("kotlinc", "npm ci in bindings/kotlin") {
        return;
    }
    if !jna.exists() && missing("jna.jar", "apt-get install libjna-java, or JNA_JAR") {
        return;
    }
    let work = tempfile::tempdir().expect("a temp dir");
    let library = sdk_library_in(work.path());
    let sources = work.path().join("src");
    let output = run(
        "uniffi-bindgen generate --language kotlin",
        Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
            .args(["generate", "--library"])
            .arg(&library)
            .args(["--language", "kotlin", "--no-format", "--out-dir"])
            .arg(&sources),
    );
    drop(output);
    let lib = kotlin_home.join("lib");
    let classpath = [jna.clone(), lib.join("kotlinx-coroutines-core-jvm.jar")]
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let classes = work.path().join("classes");
    let generated = sources.join("uniffi/monitor_sdk/monitor_sdk.kt");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kotlin/Scenario.kt");
    run(
        "kotlinc (the generated Kotlin must compile: 42 errors when an error had a `message`)",
        Command::new("bash")
            .arg(&kotlinc)
            .args(["-nowarn", "-cp", &classpath, "-d"])
            .arg(&classes)
            .arg(&generated)
            .arg(&scenario),
    );

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (user, token) = scenario_user(&runtime, "kotlin");
    let scratch = tempfile::tempdir().expect("a temp dir");
    let run_classpath = format!(
        "{}:{classpath}:{}",
        classes.display(),
        lib.join("kotlin-stdlib.jar").display()
    );
    let output = run(
        "the Kotlin scenario on the JVM",
        scenario_env(&mut Command::new("java"), &token, scratch.path())
            .arg(format!("-Djna.library.path={}", work.path().display()))
            .args(["-cp", &run_classpath, "ScenarioKt"]),
    );
    keep_log("kotlin", &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kotlin scenario: ok"), "{stdout}");
    assert_server_holds_the_scenario(&runtime, user, "kt");
}

#[test]
fn the_generated_napi_typescript_runs_the_scenario_under_node_against_the_dev_stack() {
    let package = workspace_root().join("bindings/react-native");
    let tsc = package.join("node_modules/typescript/bin/tsc");
    if !package.join("node_modules/@ubjs/node").exists()
        && missing("@ubjs/node", "npm ci in bindings/react-native")
    {
        return;
    }
    // Compiled inside the package (.test-build/, git-ignored) so Node finds its node_modules.
    let build = package.join(".test-build");
    let _ = std::fs::remove_dir_all(&build);
    run(
        "tsc -p tsconfig.test.json",
        Command::new("node")
            .arg(&tsc)
            .args(["-p", "tsconfig.test.json"])
            .current_dir(&package),
    );
    std::fs::write(build.join("package.json"), r#"{"type":"module"}"#).expect("build/package.json");
    // --lib-colocated: the library sits beside the generated JavaScript.
    sdk_library_in(&build.join("test/napi/generated"));

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (user, token) = scenario_user(&runtime, "node");
    let scratch = tempfile::tempdir().expect("a temp dir");
    let output = run(
        "node --test (the N-API scenario)",
        scenario_env(&mut Command::new("node"), &token, scratch.path())
            .args([
                "--import",
                "./test/node/register.mjs",
                "--test",
                "--test-reporter=spec",
                ".test-build/test/napi/scenario.test.js",
            ])
            .current_dir(&package),
    );
    keep_log("node", &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("pass 3") && stdout.contains("fail 0"),
        "{stdout}"
    );
    assert_server_holds_the_scenario(&runtime, user, "ts");
}
