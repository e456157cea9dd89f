//! Applying `migrations/local/*.sql` and `migrations/*.sql` the way the Supabase CLI does.

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use super::error::DevStackError;

/// Environment variable overriding the migrations directory.
pub const MIGRATIONS_DIR_ENV: &str = "UPLOAD_MONITOR_MIGRATIONS_DIR";

/// The Supabase CLI's bookkeeping table, created the way the CLI creates it (later CLI
/// versions added `statements` and `name` as columns, hence the `add column if not exists`).
const BOOKKEEPING: &str = "
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
";

/// Applies a migrations directory: `local/*.sql` (the platform shim, idempotent, applied every
/// time and never recorded) then the timestamped files not yet recorded, in file-name order,
/// each in one transaction.
#[derive(Debug, Clone)]
pub struct Migrator {
    dir: PathBuf,
}

/// What one run of the [`Migrator`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Shim files applied from `local/` (every run).
    pub local: Vec<String>,
    /// Versions applied and recorded by this run.
    pub applied: Vec<String>,
    /// Versions already recorded, left alone.
    pub skipped: Vec<String>,
}

/// One timestamped migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MigrationFile {
    version: String,
    name: String,
    path: PathBuf,
}

impl Migrator {
    /// A migrator for `dir` (which holds `local/` and the timestamped files).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Migrator { dir: dir.into() }
    }

    /// The project's migrations: [`MIGRATIONS_DIR_ENV`] when set, else `migrations/` at the
    /// root of this repository.
    pub fn default_dir() -> PathBuf {
        std::env::var_os(MIGRATIONS_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
    }

    /// The directory this migrator reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies what is missing through `client` (a superuser connection).
    ///
    /// # Errors
    ///
    /// [`DevStackError::Migration`] for the first file that fails (its transaction is rolled
    /// back; files before it stay applied), [`DevStackError::Io`] when the directory cannot be
    /// read, [`DevStackError::Database`] when the bookkeeping table cannot be read or written.
    pub async fn apply(&self, client: &mut Client) -> Result<MigrationReport, DevStackError> {
        let mut report = MigrationReport::default();
        for path in sql_files(&self.dir.join("local"))? {
            let sql = read(&path)?;
            run_in_transaction(client, &path, &sql, None).await?;
            report.local.push(file_name(&path));
        }
        client
            .batch_execute(BOOKKEEPING)
            .await
            .map_err(|e| DevStackError::db("creating supabase_migrations", e))?;
        let recorded: Vec<String> = client
            .query(
                "select version from supabase_migrations.schema_migrations",
                &[],
            )
            .await
            .map_err(|e| DevStackError::db("reading supabase_migrations", e))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for path in sql_files(&self.dir)? {
            let Some(file) = parse_name(&path) else {
                // The CLI skips such files with a warning too.
                tracing::warn!(file = %path.display(), "skipping migration: name is not <version>_<name>.sql");
                continue;
            };
            if recorded.contains(&file.version) {
                report.skipped.push(file.version);
                continue;
            }
            let sql = read(&path)?;
            run_in_transaction(client, &path, &sql, Some(&file)).await?;
            tracing::debug!(version = %file.version, name = %file.name, "migration applied");
            report.applied.push(file.version);
        }
        Ok(report)
    }
}

/// Runs one file in one transaction, recording it when it is a timestamped migration.
async fn run_in_transaction(
    client: &mut Client,
    path: &Path,
    sql: &str,
    record: Option<&MigrationFile>,
) -> Result<(), DevStackError> {
    let fail = |e: tokio_postgres::Error| DevStackError::Migration {
        file: path.to_path_buf(),
        message: describe(sql, &e),
    };
    let tx = client.transaction().await.map_err(fail)?;
    tx.batch_execute(sql).await.map_err(fail)?;
    if let Some(file) = record {
        tx.execute(
            "insert into supabase_migrations.schema_migrations (version, name, statements) \
             values ($1, $2, $3)",
            &[&file.version, &file.name, &split_statements(sql)],
        )
        .await
        .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

/// The server's message with severity, detail, hint and the line it points at.
fn describe(sql: &str, e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(tokio_postgres::error::ErrorPosition::Original(pos)) = db.position() {
        // The position counts characters from 1.
        let before: String = sql.chars().take(*pos as usize).collect();
        text.push_str(&format!(" (line {})", before.lines().count().max(1)));
    }
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    if let Some(where_) = db.where_() {
        text.push_str(&format!("; where: {where_}"));
    }
    text
}

fn read(path: &Path) -> Result<String, DevStackError> {
    std::fs::read_to_string(path)
        .map_err(|e| DevStackError::io(format!("reading {}", path.display()), e))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `*.sql` files directly in `dir`, sorted by file name; none when `dir` does not exist.
fn sql_files(dir: &Path) -> Result<Vec<PathBuf>, DevStackError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DevStackError::io(format!("reading {}", dir.display()), e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort_by_key(|p| file_name(p));
    Ok(files)
}

/// `<digits>_<name>.sql` → version and name, as the CLI reads them.
fn parse_name(path: &Path) -> Option<MigrationFile> {
    let stem = path.file_stem()?.to_str()?;
    let (version, name) = stem.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(MigrationFile {
        version: version.to_string(),
        name: name.to_string(),
        path: path.to_path_buf(),
    })
}

/// Splits a SQL script into statements at top-level semicolons, skipping those inside
/// quotes, quoted identifiers, dollar-quoted bodies and comments (what the CLI stores in
/// `statements`). Statements are trimmed; empty ones dropped.
fn split_statements(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                // A doubled quote is an escaped one: the scan simply continues after it.
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => match dollar_tag(&sql[i..]) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = match sql[body..].find(tag) {
                        Some(end) => body + end + tag.len(),
                        None => bytes.len(),
                    };
                }
                None => i += 1,
            },
            b';' => {
                let statement = sql[start..i].trim();
                if !statement.is_empty() {
                    statements.push(statement.to_string());
                }
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    let rest = sql[start.min(sql.len())..].trim();
    if !rest.is_empty() && !is_only_comments(rest) {
        statements.push(rest.to_string());
    }
    statements
}

/// `$tag$` or `$$` at the start of `s`, when it is a dollar-quote opener (not `$1`).
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = &s[1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag
        .chars()
        .enumerate()
        .all(|(n, c)| c == '_' || c.is_alphabetic() || (n > 0 && c.is_ascii_digit()));
    valid.then(|| &s[..end + 2])
}

fn is_only_comments(s: &str) -> bool {
    s.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_top_level_semicolons_only() {
        let sql = "create table t (a text default ';');\n\
                   -- a comment; with a semicolon\n\
                   create function f() returns int language sql as $$ select 1; $$;\n\
                   create function g() returns int language plpgsql as $body$ begin return 1; end $body$;\n\
                   /* block; comment */ select \"odd;name\" from t;\n\
                   select $1;\n\
                   -- trailing comment";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert!(statements[1].contains("$$ select 1; $$"));
        assert!(statements[2].ends_with("$body$"));
        assert!(statements[3].contains("\"odd;name\""));
        assert_eq!(statements[4], "select $1");
    }

    #[test]
    fn migration_names_give_the_cli_version_and_name() {
        let file = parse_name(Path::new("/m/20261124090000_baseline_app_tables.sql")).unwrap();
        assert_eq!(file.version, "20261124090000");
        assert_eq!(file.name, "baseline_app_tables");
        assert!(parse_name(Path::new("/m/notes_v1.sql")).is_none());
        assert!(parse_name(Path::new("/m/20261124.sql")).is_none());
    }

    #[test]
    fn default_dir_is_the_repository_migrations() {
        if std::env::var_os(MIGRATIONS_DIR_ENV).is_none() {
            assert!(Migrator::default_dir().join("local").is_dir());
        }
    }
}
