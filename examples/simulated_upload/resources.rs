//! CPU and memory of a run, read from Linux's `/proc`: this process (phones, SDK reporters,
//! the dev stack's gateway) and the PostgreSQL server it started. Elsewhere, nothing.
#![allow(dead_code)] // The example prints the figures; the test does not read them.

use std::path::Path;

/// Clock ticks per second of `/proc/<pid>/stat` times: USER_HZ, 100 on every Linux
/// architecture this runs on (the kernel fixes it for user space whatever its own HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// This process, user + system.
    pub own: f64,
    /// The PostgreSQL server: the postmaster, its live backends, and the backends it reaped.
    pub postgres: Option<f64>,
}

/// The postmaster's pid, from the lock file beside its unix socket (first line).
pub fn postmaster_pid(socket_dir: &Path, port: u16) -> Option<u32> {
    let lock = std::fs::read_to_string(socket_dir.join(format!(".s.PGSQL.{port}.lock"))).ok()?;
    lock.lines().next()?.trim().parse().ok()
}

/// (ppid, utime + stime, cutime + cstime) in ticks, from `/proc/<pid>/stat`.
fn stat(pid: &str) -> Option<(u32, f64, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields are counted after
    // its closing parenthesis (state is field 3).
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let ppid = fields.get(1)?.parse().ok()?;
    Some((ppid, num(11)? + num(12)?, num(13)? + num(14)?))
}

impl CpuTimes {
    /// Reads the times now; `postmaster` is the server's pid when this run started it.
    pub fn now(postmaster: Option<u32>) -> CpuTimes {
        let own = stat("self")
            .map(|(_, t, _)| t / TICKS_PER_SECOND)
            .unwrap_or(0.0);
        let postgres = postmaster.and_then(|pm| {
            let (_, own, reaped) = stat(&pm.to_string())?;
            let mut ticks = own + reaped;
            for entry in std::fs::read_dir("/proc").ok()?.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                if let Some((ppid, t, _)) = stat(pid) {
                    if ppid == pm {
                        ticks += t;
                    }
                }
            }
            Some(ticks / TICKS_PER_SECOND)
        });
        CpuTimes { own, postgres }
    }
}

/// This process's peak resident memory, MB (`VmHWM`).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// One line: CPU of both sides over `seconds` of wall time, and peak memory.
pub fn line(start: CpuTimes, end: CpuTimes, seconds: f64) -> String {
    let cores = |cpu: f64| cpu / seconds.max(0.001);
    let own = end.own - start.own;
    let mut text = format!(
        "resources: this process (phones + gateway) CPU {own:.1} s ({:.2} cores)",
        cores(own)
    );
    if let (Some(a), Some(b)) = (start.postgres, end.postgres) {
        text.push_str(&format!(
            " · PostgreSQL CPU {:.1} s ({:.2} cores)",
            b - a,
            cores(b - a)
        ));
    }
    if let Some(mb) = peak_rss_mb() {
        text.push_str(&format!(" · peak RSS {mb:.0} MB"));
    }
    text
}
