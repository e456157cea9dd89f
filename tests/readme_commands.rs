//! The commands README.md and CONTRIBUTING.md name are true (issue 18): every
//! `cargo run --example X` / `-p Y` / `cargo test --test Z` / `cargo bench -p Y` names an
//! example, package or test file that exists, every `--flag` given to a program is one its clap
//! parser declares, every test name filter and seed variable is in the test it is given to, and
//! every repository path and link the two pages name exists.
//!
//! The source is read, nothing is built or run: running the commands is CI's part (CI runs
//! `.ci/run` on a fresh clone, and `tests/simulated_upload.rs` runs the fleet's `--once`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's packages: (name, directory).
fn packages() -> Vec<(String, PathBuf)> {
    let mut found = vec![("upload-monitor".to_string(), root())];
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    for member in members.split(',') {
        let dir = root().join(member.trim().trim_matches('"'));
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .unwrap()
            .trim_matches('"')
            .to_string();
        found.push((name, dir));
    }
    found
}

fn package_dir(name: &str) -> PathBuf {
    packages()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, dir)| dir)
        .unwrap_or_else(|| panic!("no workspace package named {name}"))
}

/// The `.rs` files of a target: `<dir>/<name>.rs`, or every file of `<dir>/<name>/`.
fn target_sources(dir: &Path, name: &str) -> Option<String> {
    let single = dir.join(format!("{name}.rs"));
    if single.is_file() {
        return std::fs::read_to_string(single).ok();
    }
    let folder = dir.join(name);
    folder
        .join("main.rs")
        .is_file()
        .then(|| all_sources(&folder))
}

/// Every `.rs` file under `dir`, concatenated.
fn all_sources(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    text
}

/// The long flags a clap `derive(Parser)` source declares: `#[arg(long)] field` as
/// `--field-name`, and `long = "name"`.
fn declared_flags(source: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        if !(line.starts_with("#[arg(") || line.starts_with("#[clap(")) || !line.contains("long") {
            continue;
        }
        if let Some(named) = line.split("long = \"").nth(1) {
            flags.insert(named.split('"').next().unwrap_or_default().to_string());
            continue;
        }
        // The field: the next line that is not an attribute or a doc comment.
        if let Some(field) = lines[i + 1..]
            .iter()
            .find(|l| !l.starts_with("#[") && !l.starts_with("///"))
        {
            let field = field.trim_start_matches("pub ").split(':').next().unwrap();
            flags.insert(field.trim().replace('_', "-"));
        }
    }
    flags
}

/// The code of both pages: the lines of fenced blocks, and inline `spans` (which may wrap
/// across lines: a wrap is a space).
fn code_spans(page: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut prose = String::new();
    let mut fenced = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            spans.push(line.trim().to_string());
        } else {
            prose.push_str(line.trim());
            prose.push('\n');
        }
    }
    for (i, span) in prose.split('`').enumerate() {
        if i % 2 == 1 {
            spans.push(span.replace('\n', " "));
        }
    }
    spans
}

fn pages() -> Vec<(&'static str, String)> {
    ["README.md", "CONTRIBUTING.md"]
        .into_iter()
        .map(|name| (name, std::fs::read_to_string(root().join(name)).unwrap()))
        .collect()
}

/// What is wrong with one `cargo …` command, if anything.
fn check_cargo(command: &str, problems: &mut Vec<String>) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let Some(start) = words.iter().position(|w| *w == "cargo") else {
        return;
    };
    let env_vars: Vec<&str> = words[..start]
        .iter()
        .filter_map(|w| w.split_once('=').map(|(name, _)| name))
        .collect();
    let words = &words[start + 1..];
    let Some(&sub) = words.first() else { return };
    let (cargo_args, program_args) = match words.iter().position(|w| *w == "--") {
        Some(at) => (&words[1..at], &words[at + 1..]),
        None => (&words[1..], &[][..]),
    };
    let value_of = |flag: &str| {
        cargo_args
            .iter()
            .position(|w| *w == flag)
            .and_then(|at| cargo_args.get(at + 1).copied())
    };
    let package = value_of("-p").unwrap_or("upload-monitor");
    let dir = package_dir(package);
    let mut sources = String::new();
    match sub {
        "run" => {
            let program = match value_of("--example") {
                Some(example) => {
                    let examples = [dir.join("examples"), root().join("examples")];
                    let found = if package == "upload-monitor" {
                        target_sources(&examples[1], example)
                    } else {
                        target_sources(&examples[0], example)
                    };
                    found.unwrap_or_else(|| {
                        problems.push(format!("`{command}`: no example {example} in {package}"));
                        String::new()
                    })
                }
                None => all_sources(&dir.join("src")),
            };
            for flag in program_args.iter().filter_map(|w| w.strip_prefix("--")) {
                if !declared_flags(&program).contains(flag) {
                    problems.push(format!("`{command}`: the program declares no --{flag}"));
                }
            }
        }
        "test" | "bench" => {
            if let Some(test) = value_of("--test") {
                match target_sources(&dir.join("tests"), test) {
                    Some(text) => sources = text,
                    None => problems.push(format!("`{command}`: no tests/{test}.rs in {package}")),
                }
            } else if sub == "bench"
                && !dir.join("benches").is_dir()
                && !dir.join("examples").is_dir()
            {
                problems.push(format!("`{command}`: {package} has no benches"));
            }
            // Name filters after `--` (not libtest's own flags) name a test in the file.
            for filter in program_args.iter().filter(|w| !w.starts_with('-')) {
                if !sources.contains(&format!("fn {filter}")) {
                    problems.push(format!("`{command}`: no test named {filter}"));
                }
            }
        }
        _ => {}
    }
    for name in env_vars {
        if !sources.is_empty() && !sources.contains(name) {
            problems.push(format!("`{command}`: the test never reads {name}"));
        }
    }
}

/// Every long flag of every program a page can run (examples and binaries).
fn every_program_flag() -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for (_, dir) in packages() {
        flags.extend(declared_flags(&all_sources(&dir.join("src"))));
        flags.extend(declared_flags(&all_sources(&dir.join("examples"))));
    }
    flags
}

#[test]
fn every_cargo_command_of_the_readme_and_contributing_names_what_exists() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (page, text) in pages() {
        for span in code_spans(&text) {
            // `INGEST_DIFF_SEED=<n> cargo test --test …`: placeholders are values.
            let span = span.replace("<n>", "1");
            if span.contains("cargo ") && !span.contains('<') {
                checked += 1;
                let before = problems.len();
                check_cargo(&span, &mut problems);
                for problem in &mut problems[before..] {
                    *problem = format!("{page}: {problem}");
                }
            }
        }
    }
    assert!(checked > 20, "read only {checked} cargo commands");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_flag_and_test_file_named_alone_exists() {
    let flags = every_program_flag();
    assert!(flags.contains("once"), "the parser reads flags: {flags:?}");
    let test_files: BTreeSet<String> = packages()
        .into_iter()
        .flat_map(|(_, dir)| {
            std::fs::read_dir(dir.join("tests"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|e| Some(e.path().file_stem()?.to_string_lossy().into_owned()))
        .collect();
    let mut problems = Vec::new();
    for (page, text) in pages() {
        // Flags named alone (`--dashboard-port N`, `-- --port N`, `--test http`), not those
        // of another program's command line (`npm ci --prefix …`).
        let alone = |s: &&String| s.starts_with('-') && !s.contains("cargo ");
        for span in code_spans(&text).iter().filter(alone) {
            let words: Vec<&str> = span.split_whitespace().collect();
            for (i, word) in words.iter().enumerate() {
                if *word == "--test" {
                    let name = words.get(i + 1).copied().unwrap_or_default();
                    if !test_files.contains(name) {
                        problems.push(format!("{page}: `{span}`: no test file {name}"));
                    }
                } else if let Some(flag) = word.strip_prefix("--") {
                    let known_elsewhere = ["ext", "ignored"].contains(&flag);
                    if !flag.is_empty() && !known_elsewhere && !flags.contains(flag) {
                        problems.push(format!("{page}: `{span}`: no program declares --{flag}"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_path_and_link_the_pages_name_exists() {
    let top: BTreeSet<String> = std::fs::read_dir(root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let links = text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .map(str::to_string);
        let paths = code_spans(&text).into_iter().filter(|span| {
            let first = span.split('/').next().unwrap_or_default();
            !span.contains(' ') && span.contains('/') && top.contains(first)
        });
        for path in links.chain(paths) {
            let path = path.split('#').next().unwrap_or_default().to_string();
            let generated = path.starts_with("target/") || path.starts_with("http");
            let pattern = path.contains(['<', '*', '{', ':']);
            if !generated && !pattern && !root().join(&path).exists() {
                problems.push(format!("{page}: {path} does not exist"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
