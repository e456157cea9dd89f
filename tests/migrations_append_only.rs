//! A migration that has landed is never edited again: `migrations/landed.sha256` pins the
//! SHA-256 of every timestamped migration on main, and a change to one of them fails here. A
//! hosted project that ran a file once never runs it again (`supabase db push` skips applied
//! versions), so an edit would reach new databases only and the two would drift apart.
//!
//! A file not yet in the manifest is a migration on its way in; it must sort after every
//! landed one, or a project that applied those would run it out of order (the CLI refuses
//! it, or applies it before changes it was written after). Offline, no database.
//!
//! The manifest is `sha256sum` output, one `<hex>  migrations/<file>` line a file, so
//! `sha256sum -c migrations/landed.sha256` checks it too. CONTRIBUTING.md says how a new
//! migration joins it.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<digits>_<name>.sql` directly in `migrations/` (not `local/`, not `tests/`).
fn timestamped_migrations() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("migrations"))
        .expect("migrations/ is readable")
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.strip_suffix(".sql")
                .and_then(|stem| stem.split_once('_'))
                .is_some_and(|(version, _)| {
                    !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())
                })
        })
        .collect();
    names.sort();
    names
}

/// The manifest: file name (without `migrations/`) to its pinned hex digest.
fn landed() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("migrations/landed.sha256"))
        .expect("migrations/landed.sha256 is readable");
    let mut pinned = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let (digest, path) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("landed.sha256 line {}: `<sha256>  <path>`", n + 1));
        let name = path
            .strip_prefix("migrations/")
            .unwrap_or_else(|| panic!("landed.sha256 line {}: a path under migrations/", n + 1));
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "landed.sha256 line {}: a 64-digit hex SHA-256",
            n + 1
        );
        let previous = pinned.insert(name.to_string(), digest.to_ascii_lowercase());
        assert!(previous.is_none(), "landed.sha256 lists {name} twice");
    }
    pinned
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn no_landed_migration_is_edited_or_removed() {
    let pinned = landed();
    assert!(!pinned.is_empty(), "landed.sha256 pins no migration");
    let mut problems = Vec::new();
    for (name, digest) in &pinned {
        match std::fs::read(root().join("migrations").join(name)) {
            Ok(bytes) => {
                let now = sha256_hex(&bytes);
                if &now != digest {
                    problems.push(format!(
                        "migrations/{name} has landed and was edited (sha256 {now}, pinned \
                         {digest}): restore it and put the change in a new migration"
                    ));
                }
            }
            Err(e) => problems.push(format!(
                "migrations/{name} has landed and is gone ({e}): projects have applied it; \
                 restore it"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_migration_not_yet_landed_sorts_after_every_landed_one() {
    let pinned = landed();
    let newest_landed = pinned.keys().max().expect("landed.sha256 pins a migration");
    let out_of_order: Vec<String> = timestamped_migrations()
        .into_iter()
        .filter(|name| !pinned.contains_key(name) && name < newest_landed)
        .collect();
    assert!(
        out_of_order.is_empty(),
        "{out_of_order:?} would run before {newest_landed}, which has landed: give each a \
         later timestamp, then pin it: `sha256sum migrations/<file> >> \
         migrations/landed.sha256`"
    );
}

#[test]
fn the_digest_is_sha256_of_the_bytes() {
    // The well-known digest of "abc" (FIPS 180-2): the helper the tests above rely on.
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
