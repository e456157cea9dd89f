//! The `supabase/` folder the Supabase CLI reads stays in step with `migrations/`:
//! `supabase/migrations` holds a link to every timestamped migration and to nothing else (never
//! the plain-PostgreSQL shim in `migrations/local/`), and `supabase/tests` is the pgTAP folder.
//!
//! The CLI (`supabase db push`, `supabase start`, `supabase db reset`) reads only
//! `supabase/migrations/<digits>_<name>.sql` and `supabase test db` only `supabase/tests`; a
//! migration added to `migrations/` without its link here would never reach a hosted project.
//! Offline, no database: it reads the file tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<digits>_<name>.sql`, the CLI's pattern for a migration file (`^([0-9]+)_(.*)\.sql$`).
fn is_migration_name(name: &str) -> bool {
    name.strip_suffix(".sql")
        .and_then(|stem| stem.split_once('_'))
        .is_some_and(|(version, _)| {
            !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The names of the timestamped migrations in `migrations/` (not `local/`, not `tests/`).
fn timestamped_migrations() -> BTreeSet<String> {
    std::fs::read_dir(root().join("migrations"))
        .expect("migrations/ is readable")
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| is_migration_name(name))
        .collect()
}

#[test]
fn supabase_migrations_links_every_timestamped_migration_and_nothing_else() {
    let dir = root().join("supabase/migrations");
    let wanted = timestamped_migrations();
    assert!(!wanted.is_empty(), "no migrations found in migrations/");
    let mut found = BTreeSet::new();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("supabase/migrations is readable") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let target = std::fs::read_link(&path).ok();
        let expected = PathBuf::from("../../migrations").join(&name);
        if target.as_deref() != Some(expected.as_path()) {
            problems.push(format!(
                "supabase/migrations/{name} must be a link to {} (found {})",
                expected.display(),
                match &target {
                    Some(t) => format!("a link to {}", t.display()),
                    None => "a plain file or directory: put migrations in migrations/".into(),
                }
            ));
        } else if !wanted.contains(&name) {
            problems.push(format!(
                "supabase/migrations/{name} links to something that is not a timestamped \
                 migration in migrations/ (deleted, renamed, or local/): remove the link"
            ));
        }
        found.insert(name);
    }
    for missing in wanted.difference(&found) {
        problems.push(format!(
            "migrations/{missing} is not linked, so `supabase db push` would skip it: \
             ln -s ../../migrations/{missing} supabase/migrations/{missing}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn supabase_tests_is_the_pgtap_folder() {
    let link = root().join("supabase/tests");
    assert_eq!(
        std::fs::read_link(&link).ok(),
        Some(PathBuf::from("../migrations/tests")),
        "supabase/tests must be a link to ../migrations/tests (one link for the folder: \
         `supabase test db` mounts only supabase/tests into its container, where per-file \
         links would point outside the mount)"
    );
    assert_eq!(
        link.canonicalize().expect("supabase/tests resolves"),
        root()
            .join("migrations/tests")
            .canonicalize()
            .expect("migrations/tests exists")
    );
}

#[test]
fn nothing_under_supabase_reaches_the_local_shim() {
    let shim = root()
        .join("migrations/local")
        .canonicalize()
        .expect("migrations/local exists");
    let mut stack = vec![root().join("supabase")];
    let mut reached = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a readable directory") {
            let path = entry.expect("a directory entry").path();
            let resolved = path
                .canonicalize()
                .expect("every link under supabase/ resolves");
            if resolved.starts_with(&shim) {
                reached.push(path.display().to_string());
            } else if resolved.is_dir() {
                stack.push(path);
            }
        }
    }
    assert!(
        reached.is_empty(),
        "migrations/local/ is the plain-PostgreSQL shim and must never reach Supabase: {reached:?}"
    );
}

#[test]
fn the_cli_pattern_is_what_the_test_matches() {
    assert!(is_migration_name("20261124090000_baseline_app_tables.sql"));
    assert!(!is_migration_name("NOTES.md"));
    // The shim's files match the pattern too: only their folder keeps them out of a push.
    assert!(is_migration_name("00_supabase_platform.sql"));
    assert!(!is_migration_name("_x.sql"));
    assert!(!is_migration_name("2026a_x.sql"));
}
