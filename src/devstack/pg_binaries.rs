//! Finding the PostgreSQL server programs (`initdb`, `pg_ctl`, `postgres`) on this machine.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::DevStackError;

/// Environment variable naming a bin directory to use before any search.
pub const BINDIR_ENV: &str = "UPLOAD_MONITOR_PG_BINDIR";

/// The programs a directory must hold to run a throwaway cluster.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// A directory holding the PostgreSQL server programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    bindir: PathBuf,
}

/// Where [`PgBinaries::find_in`] looks, in order. [`SearchPaths::from_env`] is the real machine;
/// tests build their own.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    /// A directory to try first (from [`BINDIR_ENV`]).
    pub explicit: Option<PathBuf>,
    /// A `PATH`-style list of directories; also where `pg_config` is looked for.
    pub path: Option<OsString>,
    /// Directories whose children are versions with a `bin/` each, e.g. `/usr/lib/postgresql`
    /// (holding `15/bin`, `16/bin`): the newest version wins.
    pub versioned_roots: Vec<PathBuf>,
}

impl SearchPaths {
    /// This machine's search: [`BINDIR_ENV`], `PATH` (and `pg_config --bindir` from it), then
    /// the Debian/Ubuntu layout `/usr/lib/postgresql/<version>/bin`. Other layouts (RHEL's
    /// `/usr/pgsql-<version>/bin`, Homebrew) are found through PATH or [`BINDIR_ENV`].
    pub fn from_env() -> Self {
        SearchPaths {
            explicit: std::env::var_os(BINDIR_ENV).map(PathBuf::from),
            path: std::env::var_os("PATH"),
            versioned_roots: vec![PathBuf::from("/usr/lib/postgresql")],
        }
    }
}

impl PgBinaries {
    /// Finds the server programs on this machine (see [`SearchPaths::from_env`]).
    ///
    /// # Errors
    ///
    /// [`DevStackError::PostgresNotFound`], naming the install command, when no directory has
    /// all of `initdb`, `pg_ctl` and `postgres`.
    pub fn find() -> Result<Self, DevStackError> {
        Self::find_in(&SearchPaths::from_env())
    }

    /// Finds the server programs in the given places, first match wins.
    ///
    /// # Errors
    ///
    /// [`DevStackError::PostgresNotFound`] when no candidate directory has all three programs.
    pub fn find_in(search: &SearchPaths) -> Result<Self, DevStackError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        candidates.extend(search.explicit.clone());
        let path_dirs: Vec<PathBuf> = search
            .path
            .as_ref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        candidates.extend(path_dirs.iter().cloned());
        if let Some(dir) = pg_config_bindir(&path_dirs) {
            candidates.push(dir);
        }
        for root in &search.versioned_roots {
            candidates.extend(versioned_bindirs(root));
        }
        match candidates.iter().find(|dir| has_server_programs(dir)) {
            Some(dir) => Ok(PgBinaries {
                bindir: dir.clone(),
            }),
            None => Err(DevStackError::PostgresNotFound {
                searched: candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The directory holding the programs.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Path of `initdb`.
    pub fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    /// Path of `pg_ctl`.
    pub fn pg_ctl(&self) -> PathBuf {
        self.bindir.join("pg_ctl")
    }

    /// Path of `postgres`.
    pub fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }

    /// The server's major version as packages name it (`15`, `17`; `9.6` before 10), from
    /// `postgres --version`; `None` when the program does not answer as PostgreSQL does.
    pub fn major_version(&self) -> Option<String> {
        let output = Command::new(self.postgres())
            .arg("--version")
            .output()
            .ok()?;
        major_version_of(&String::from_utf8(output.stdout).ok()?)
    }
}

/// The major version in `postgres --version`'s answer
/// (`postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` is `15`).
fn major_version_of(answer: &str) -> Option<String> {
    let version = answer.split(')').nth(1)?.split_whitespace().next()?;
    let mut parts = version.split('.');
    let major = parts.next()?;
    let major_number: u32 = major.parse().ok()?;
    if major_number >= 10 {
        Some(major.to_string())
    } else {
        let minor: u32 = parts.next()?.parse().ok()?;
        Some(format!("{major_number}.{minor}"))
    }
}

/// True when `dir` holds an executable `initdb`, `pg_ctl` and `postgres`.
fn has_server_programs(dir: &Path) -> bool {
    REQUIRED.iter().all(|name| is_executable(&dir.join(name)))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `pg_config --bindir` for the first `pg_config` among `path_dirs`, if it runs.
fn pg_config_bindir(path_dirs: &[PathBuf]) -> Option<PathBuf> {
    let pg_config = path_dirs
        .iter()
        .map(|d| d.join("pg_config"))
        .find(|p| is_executable(p))?;
    let output = Command::new(pg_config).arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `<root>/<version>/bin` for every numeric version under `root`, newest first.
fn versioned_bindirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            Some((key, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_programs(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for name in REQUIRED {
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn missing_binaries_error_names_the_install_command() {
        let empty = tempfile::tempdir().unwrap();
        let search = SearchPaths {
            explicit: None,
            path: Some(empty.path().as_os_str().to_owned()),
            versioned_roots: vec![empty.path().join("no-such-root")],
        };
        let err = PgBinaries::find_in(&search).unwrap_err();
        assert!(matches!(err, DevStackError::PostgresNotFound { .. }));
        let message = err.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(
            message.contains(&empty.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn a_directory_on_path_with_all_three_programs_is_found() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        fake_programs(&bin);
        let path = std::env::join_paths([root.path().join("empty"), bin.clone()]).unwrap();
        let search = SearchPaths {
            path: Some(path),
            ..SearchPaths::default()
        };
        assert_eq!(PgBinaries::find_in(&search).unwrap().bindir(), bin);
    }

    #[test]
    fn a_directory_missing_one_program_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        fake_programs(root.path());
        std::fs::remove_file(root.path().join("pg_ctl")).unwrap();
        let search = SearchPaths {
            path: Some(root.path().as_os_str().to_owned()),
            ..SearchPaths::default()
        };
        assert!(PgBinaries::find_in(&search).is_err());
    }

    #[test]
    fn the_major_version_is_read_as_packages_name_it() {
        let debian = "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)\n";
        assert_eq!(major_version_of(debian).as_deref(), Some("15"));
        assert_eq!(
            major_version_of("postgres (PostgreSQL) 17.2\n").as_deref(),
            Some("17")
        );
        assert_eq!(
            major_version_of("postgres (PostgreSQL) 9.6.24").as_deref(),
            Some("9.6")
        );
        assert_eq!(major_version_of("bash: postgres: not found"), None);
    }

    #[test]
    fn the_newest_installed_version_wins() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9.6", "13", "16", "15"] {
            fake_programs(&root.path().join(version).join("bin"));
        }
        let search = SearchPaths {
            versioned_roots: vec![root.path().to_path_buf()],
            ..SearchPaths::default()
        };
        let found = PgBinaries::find_in(&search).unwrap();
        assert_eq!(found.bindir(), root.path().join("16").join("bin"));
    }
}
