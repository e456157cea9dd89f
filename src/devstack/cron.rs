//! pg_cron in the dev stack: whether this machine's PostgreSQL has it (Debian's
//! `postgresql-<version>-cron`, which Supabase also offers) and the server settings that preload it,
//! so `migrations/local/30_pg_cron.sql` creates the extension and the migrations' guarded
//! `cron.schedule` calls run for real.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::pg_binaries::PgBinaries;

/// The Debian/Ubuntu package that brings pg_cron to this machine's PostgreSQL (the one the
/// dev stack runs): `postgresql-<major>-cron` (`postgresql-15-cron` on Debian 12), named in
/// the log line that says pg_cron is missing. Without a PostgreSQL whose version can be read,
/// the pattern itself.
pub fn pg_cron_package() -> String {
    let major = PgBinaries::find()
        .ok()
        .and_then(|bins| bins.major_version());
    format!(
        "postgresql-{}-cron",
        major.as_deref().unwrap_or("<major version>")
    )
}

/// The library and extension files of pg_cron, when this PostgreSQL has both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgCron {
    library: PathBuf,
}

impl PgCron {
    /// Looks for `pg_cron.so` in the server's library directory and `pg_cron.control` in its
    /// extension directory, as `pg_config` (beside the server programs) names them.
    pub(crate) fn find(bins: &PgBinaries) -> Option<PgCron> {
        // The server's real directory: the programs found may be symlinks elsewhere
        // (/usr/local/bin/postgres -> /usr/lib/postgresql/15/bin/postgres), without a
        // pg_config beside them.
        let real = std::fs::canonicalize(bins.postgres()).ok()?;
        let bindir = real.parent()?;
        let pg_config = bindir.join("pg_config");
        let ask = |flag: &str| -> Option<PathBuf> {
            let output = Command::new(&pg_config).arg(flag).output().ok()?;
            let text = String::from_utf8(output.stdout).ok()?;
            output.status.success().then(|| PathBuf::from(text.trim()))
        };
        // Without pg_config: the layout Debian and most builds use (bin/ beside lib/).
        let pkglibdir = ask("--pkglibdir").or_else(|| Some(bindir.parent()?.join("lib")));
        let sharedir = ask("--sharedir");
        Self::find_in(pkglibdir.as_deref()?, sharedir.as_deref())
    }

    fn find_in(pkglibdir: &Path, sharedir: Option<&Path>) -> Option<PgCron> {
        let library = pkglibdir.join("pg_cron.so");
        let control_ok = match sharedir {
            Some(dir) => dir.join("extension/pg_cron.control").is_file(),
            // No way to tell where extensions live: trust the library, and the shim's
            // `pg_available_extensions` check decides.
            None => true,
        };
        (library.is_file() && control_ok).then_some(PgCron { library })
    }

    /// The library found (for the log line).
    pub(crate) fn library(&self) -> &Path {
        &self.library
    }

    /// Server settings that load pg_cron at start-up (it refuses to load later) and run its
    /// jobs in the stack's one database.
    pub(crate) fn server_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("shared_preload_libraries", "pg_cron".into()),
            // The database the migrations and jobs live in (the dev stack has only this one).
            ("cron.database_name", "postgres".into()),
            // Jobs run in background workers, not through a client connection to
            // cron.host: nothing to configure for the throwaway cluster's socket and auth.
            ("cron.use_background_workers", "on".into()),
            // Supabase's databases run in UTC; '0 2 * * *' means 02:00 UTC there and here.
            // (pg_cron 1.4 schedules in GMT already; the setting only exists from 1.5 on, so
            // it is not set.)
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_cron_is_found_only_with_its_library_and_control_file() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        let share = dir.path().join("share");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(share.join("extension")).unwrap();
        assert_eq!(PgCron::find_in(&lib, Some(&share)), None);
        std::fs::write(lib.join("pg_cron.so"), b"").unwrap();
        assert_eq!(PgCron::find_in(&lib, Some(&share)), None);
        std::fs::write(share.join("extension/pg_cron.control"), b"").unwrap();
        let found = PgCron::find_in(&lib, Some(&share)).unwrap();
        assert_eq!(found.library(), lib.join("pg_cron.so"));
        assert!(found
            .server_settings()
            .contains(&("shared_preload_libraries", "pg_cron".to_string())));
    }
}
