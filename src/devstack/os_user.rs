//! Which OS user runs the PostgreSQL programs: ourselves, or an unprivileged user when we are root.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::error::DevStackError;

/// Users tried, in order, when we are root: Debian's server user, then the universal fallback.
const CANDIDATES: [&str; 2] = ["postgres", "nobody"];

/// An OS user (uid and gid) that PostgreSQL programs are run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    /// The user's id.
    pub(crate) uid: u32,
    /// The user's primary group id.
    pub(crate) gid: u32,
}

impl RunAs {
    /// The user to drop to, or `None` when we are not root and run the programs ourselves.
    ///
    /// # Errors
    ///
    /// [`DevStackError::NoUnprivilegedUser`] when we are root and no candidate user exists.
    pub(crate) fn for_this_process() -> Result<Option<RunAs>, DevStackError> {
        if effective_uid() != Some(0) {
            return Ok(None);
        }
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| DevStackError::io("reading /etc/passwd", e))?;
        CANDIDATES
            .iter()
            .find_map(|name| lookup(&passwd, name))
            .map(Some)
            .ok_or(DevStackError::NoUnprivilegedUser)
    }

    /// Makes `command` run as this user (std drops supplementary groups when root sets a uid).
    pub(crate) fn apply(self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }

    /// Gives `path` to this user, so the server can write there.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Io`] when the ownership cannot be changed.
    pub(crate) fn chown(self, path: &Path) -> Result<(), DevStackError> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| DevStackError::io(format!("chown {}", path.display()), e))
    }
}

/// Applies `run_as` to `command` when there is one.
pub(crate) fn run_as(command: &mut Command, run_as: Option<RunAs>) -> &mut Command {
    if let Some(user) = run_as {
        user.apply(command);
    }
    command
}

/// This process's effective uid, from `/proc/self/status` (Linux) or `id -u` elsewhere.
fn effective_uid() -> Option<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        // "Uid:\t<real>\t<effective>\t<saved>\t<fs>"
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        return line.split_whitespace().nth(2)?.parse().ok();
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// Finds `name` in the text of `/etc/passwd` (`name:x:uid:gid:gecos:home:shell`).
fn lookup(passwd: &str, name: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(RunAs { uid, gid })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";

    #[test]
    fn passwd_lines_give_uid_and_gid() {
        assert_eq!(
            lookup(PASSWD, "postgres"),
            Some(RunAs { uid: 101, gid: 104 })
        );
        assert_eq!(
            lookup(PASSWD, "nobody"),
            Some(RunAs {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(lookup(PASSWD, "post"), None);
    }

    #[test]
    fn this_process_uid_is_readable() {
        assert!(effective_uid().is_some());
    }
}
