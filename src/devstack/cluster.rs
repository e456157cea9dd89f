//! A throwaway PostgreSQL cluster: initdb in a temp dir, a server on a free loopback port, and
//! a watcher process that stops it and removes the dir when we go away, however we go away.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use super::error::DevStackError;
use super::os_user::{run_as, RunAs};
use super::pg_binaries::PgBinaries;

/// How long a server may take to accept connections. A cold start is ~1 s; CI runs many test
/// binaries at once on 2 cores, so allow a wide margin before calling it failed.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Pause between readiness checks: short against a ~1 s start, cheap on the CPU.
const READY_POLL: Duration = Duration::from_millis(20);

/// Attempts at starting the server on a fresh port: another process may take the free port we
/// picked before the server binds it.
const PORT_ATTEMPTS: usize = 5;

/// Connection slots: parallel tests and benchmarks open pools of their own beside the gateway's.
const MAX_CONNECTIONS: u32 = 200;

/// A running throwaway cluster. Dropping it stops the server and removes its files.
#[derive(Debug)]
pub(crate) struct Cluster {
    dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    postmaster: Option<Child>,
    /// Holds the write end of the watcher's stdin: when it closes (drop, or this process dying
    /// in any way) the watcher stops the server and removes `dir`.
    watcher: Option<(Child, ChildStdin)>,
    /// Extra `name=value` server settings, passed as `-c` on every start attempt.
    settings: Vec<String>,
    /// The OS user the server runs as (and the watcher that removes `dir`), when not us.
    run_as: Option<RunAs>,
}

impl Cluster {
    /// Creates and starts a cluster with `bins`, waiting until it accepts connections;
    /// `settings` are extra `-c name=value` server settings (e.g. pg_cron's preload).
    ///
    /// # Errors
    ///
    /// Any [`DevStackError`] from the file system, `initdb`, or a server that does not start.
    pub(crate) fn start(
        bins: &PgBinaries,
        settings: &[(&str, String)],
    ) -> Result<Cluster, DevStackError> {
        let user = RunAs::for_this_process()?;
        // Dropping to another user: /tmp, since TMPDIR may sit under root's 0700 home.
        let parent = match user {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("upload-monitor-pg-")
            .tempdir_in(parent)
            .map_err(|e| DevStackError::io("creating the cluster's temp dir", e))?
            // The watcher removes it, also when this process is killed; TempDir would not.
            .keep();
        if let Some(user) = user {
            user.chown(&dir)?;
        }
        let data_dir = dir.join("data");
        let mut cluster = Cluster {
            dir,
            data_dir,
            port: 0,
            postmaster: None,
            watcher: None,
            settings: settings
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            run_as: user,
        };
        cluster.watcher = Some(spawn_watcher(bins, &cluster.dir, &cluster.data_dir, user)?);
        initdb(bins, &cluster.dir, &cluster.data_dir, user)?;
        cluster.run_server(bins, user)?;
        Ok(cluster)
    }

    /// The server's TCP port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Creates `name` inside the cluster's temp directory, for the stack's other files (such
    /// as Storage's objects), so they go with the cluster, also when this process dies. It is
    /// given to the server's OS user, since that user's watcher removes the directory: keep
    /// only files in it (a subdirectory made by root would outlive the watcher's `rm -rf`).
    ///
    /// # Errors
    ///
    /// [`DevStackError::Io`] when the directory cannot be made or given away.
    pub(crate) fn make_dir(&self, name: &str) -> Result<PathBuf, DevStackError> {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| DevStackError::io(format!("creating {}", dir.display()), e))?;
        if let Some(user) = self.run_as {
            user.chown(&dir)?;
        }
        Ok(dir)
    }

    /// The directory holding the server's unix socket.
    pub(crate) fn socket_dir(&self) -> &Path {
        &self.dir
    }

    fn run_server(&mut self, bins: &PgBinaries, user: Option<RunAs>) -> Result<(), DevStackError> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match self.try_port(bins, user, port) {
                Ok(()) => {
                    self.port = port;
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "PostgreSQL did not start, trying another port");
                    last_error = Some(e);
                }
            }
        }
        // PORT_ATTEMPTS > 0, so an error was recorded; the fallback only satisfies the types.
        Err(last_error.unwrap_or_else(|| DevStackError::Config("no port was tried".into())))
    }

    fn try_port(
        &mut self,
        bins: &PgBinaries,
        user: Option<RunAs>,
        port: u16,
    ) -> Result<(), DevStackError> {
        let log_path = self.dir.join(format!("postgres-{port}.log"));
        let log =
            File::create(&log_path).map_err(|e| DevStackError::io("creating the server log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| DevStackError::io("creating the server log", e))?;
        let mut command = Command::new(bins.postgres());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            // Supabase runs with logical WAL (Realtime); its publication warns without it.
            .args(["-c", "wal_level=logical"])
            // A throwaway cluster never needs crash safety: skip the disk flushes.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", &format!("max_connections={MAX_CONNECTIONS}")])
            // Supabase's databases run in UTC; timestamps print the same as there.
            .args(["-c", "timezone=UTC"])
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            // Its own process group: a Ctrl-C meant for us does not shut it down under our feet.
            .process_group(0);
        run_as(&mut command, user);
        let child = command
            .spawn()
            .map_err(|e| DevStackError::io(format!("starting {}", bins.postgres().display()), e))?;
        self.postmaster = Some(child);
        let started = Instant::now();
        loop {
            if is_ready(&self.data_dir) {
                return Ok(());
            }
            if let Some(child) = self.postmaster.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.postmaster = None;
                    return Err(DevStackError::Command {
                        program: "postgres".into(),
                        status: status.to_string(),
                        output: read_tail(&log_path),
                    });
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(DevStackError::NotReady {
                    seconds: READY_TIMEOUT.as_secs(),
                    log: read_tail(&log_path),
                });
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// Stops the server and removes the files; waits until both are done.
    pub(crate) fn stop(&mut self) {
        match self.watcher.take() {
            Some((mut watcher, stdin)) => {
                drop(stdin);
                if let Err(e) = watcher.wait() {
                    tracing::warn!(error = %e, "dev stack watcher did not finish");
                }
            }
            // The watcher never started (start-up failed first): clean up here.
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
        if let Some(mut postmaster) = self.postmaster.take() {
            // Already stopped by the watcher's `pg_ctl stop`; this only reaps it.
            if let Ok(None) = postmaster.try_wait() {
                let _ = postmaster.kill();
                let _ = postmaster.wait();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the process that cleans up after us: it blocks reading its stdin, whose write end
/// only we hold; at end-of-file (we dropped the cluster, or died) it stops the server
/// immediately and deletes the temp dir. It runs as the server's user because `pg_ctl`
/// refuses root, and in its own process group so a Ctrl-C to us does not kill it first.
fn spawn_watcher(
    bins: &PgBinaries,
    dir: &Path,
    data_dir: &Path,
    user: Option<RunAs>,
) -> Result<(Child, ChildStdin), DevStackError> {
    let mut command = Command::new("/bin/sh");
    command
        // `cat` and `rm` from the system, whatever PATH the caller runs with.
        .env("PATH", "/usr/bin:/bin")
        .arg("-c")
        .arg(r#"cat >/dev/null; "$0" stop -D "$1" -m immediate -s >/dev/null 2>&1; rm -rf "$2""#)
        .arg(bins.pg_ctl())
        .arg(data_dir)
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    run_as(&mut command, user);
    let mut child = command
        .spawn()
        .map_err(|e| DevStackError::io("starting the dev stack's cleanup watcher", e))?;
    match child.stdin.take() {
        Some(stdin) => Ok((child, stdin)),
        None => Err(DevStackError::io(
            "starting the dev stack's cleanup watcher",
            std::io::Error::other("no stdin pipe"),
        )),
    }
}

/// Runs `initdb`: trust auth (loopback only, throwaway data), superuser `postgres`, UTF-8.
/// Collation C like Supabase's newer projects; character classes from C.UTF-8 so `lower()` and
/// `upper()` know accented letters (French labels), falling back to plain C where that locale
/// is missing.
fn initdb(
    bins: &PgBinaries,
    dir: &Path,
    data_dir: &Path,
    user: Option<RunAs>,
) -> Result<(), DevStackError> {
    let mut last = None;
    for ctype in ["C.UTF-8", "C"] {
        let mut command = Command::new(bins.initdb());
        command
            .arg("-D")
            .arg(data_dir)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8"])
            .args(["--lc-collate=C", &format!("--lc-ctype={ctype}")])
            .args([
                "--lc-messages=C",
                "--lc-monetary=C",
                "--lc-numeric=C",
                "--lc-time=C",
            ])
            // No fsync of the new files: the cluster dies with the test run.
            .arg("-N")
            .current_dir(dir)
            .stdin(Stdio::null());
        run_as(&mut command, user);
        let output = command
            .output()
            .map_err(|e| DevStackError::io(format!("running {}", bins.initdb().display()), e))?;
        if output.status.success() {
            return Ok(());
        }
        last = Some(DevStackError::Command {
            program: "initdb".into(),
            status: output.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            ),
        });
        // A half-made data dir would make the next attempt fail.
        let _ = std::fs::remove_dir_all(data_dir);
    }
    Err(last.unwrap_or_else(|| DevStackError::Config("initdb never ran".into())))
}

/// True once `postmaster.pid` says "ready" (its 8th line, written when the server accepts
/// connections; the same check `pg_ctl -w` makes).
fn is_ready(data_dir: &Path) -> bool {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .map(|pid| pid.lines().nth(7).map(str::trim) == Some("ready"))
        .unwrap_or(false)
}

/// A port that was free a moment ago on 127.0.0.1 (the kernel picks it).
pub(crate) fn free_port() -> Result<u16, DevStackError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DevStackError::io("finding a free port", e))
}

/// The last few KB of a log file, for error messages.
fn read_tail(path: &Path) -> String {
    const TAIL: usize = 4096;
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let start = text.len().saturating_sub(TAIL);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}
