//! Running Packer: the process adapter (the only place that spawns Packer).
//!
//! Owns: finding the `packer` executable, starting `packer build` in its own
//! process group with `-machine-readable -color=false`, teeing the stream (raw
//! machine-readable to `build.machine.log`, the human text to the console and
//! `build.log`), feeding the extractor as bytes arrive, forwarding SIGINT/SIGTERM
//! and escalating to SIGKILL on a second signal or after the cleanup deadline, and
//! reporting Packer's own exit status.
//!
//! Why `-machine-readable`: artifact ids arrive as structured `artifact,N,id`
//! records, so extraction does not depend on human formatting; the person still
//! sees ordinary Packer text because `ui` records are rendered back to text.

use std::ffi::OsString;
use std::io::{BufWriter, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

use super::log::{human_text, Extraction, Extractor};
use crate::error::{Error, Result};

/// Find the Packer executable: `explicit` (a path, or a name looked up on PATH),
/// else `packer` on PATH.
pub fn find_packer(explicit: Option<&Path>) -> Result<PathBuf> {
    let wanted = explicit.unwrap_or(Path::new("packer"));
    if wanted.components().count() > 1 || wanted.is_absolute() {
        return if is_executable(wanted) {
            Ok(wanted.to_path_buf())
        } else {
            Err(Error::Usage(format!(
                "packer executable {} does not exist or is not executable: fix --packer (env AMI_BUILDER_PACKER)",
                wanted.display()
            )))
        };
    }
    if let Ok(found) = which::which(wanted) {
        return Ok(found);
    }
    Err(Error::Usage(format!(
        "`{}` was not found on PATH: install Packer (e.g. `apt-get install packer`, or from releases.hashicorp.com) or pass --packer /path/to/packer",
        wanted.display()
    )))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How to run Packer.
#[derive(Debug, Clone)]
pub struct PackerRun {
    pub program: PathBuf,
    /// Arguments after the program name (`build ...`).
    pub args: Vec<OsString>,
    pub dir: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Human text goes here.
    pub build_log: PathBuf,
    /// The raw machine-readable stream goes here.
    pub machine_log: PathBuf,
    /// How long to wait for Packer's cleanup after forwarding a signal.
    pub cleanup_timeout: Duration,
    /// Echo the human text to stderr.
    pub echo: bool,
}

impl PackerRun {
    /// The log files, for messages.
    fn out_dir_hint(&self) -> String {
        format!(
            "{} / {}",
            self.build_log.display(),
            self.machine_log.display()
        )
    }
}

/// How Packer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// The result of one Packer run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Packer's exit.
    pub exit: Exit,
    /// What the stream said.
    pub extraction: Extraction,
    /// The first signal we received and forwarded, if any.
    pub interrupted: Option<i32>,
    /// We had to SIGKILL Packer's process group (second signal or deadline).
    pub escalated: bool,
    /// Human lines written.
    pub lines: u64,
}

/// Run Packer to completion (or interruption), streaming as it goes.
pub async fn run(spec: PackerRun) -> Result<RunOutcome> {
    // Install handlers before spawning, so a signal in between is not lost.
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| Error::io("installing the SIGINT handler", e))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| Error::io("installing the SIGTERM handler", e))?;

    let build_log = std::fs::File::create(&spec.build_log)
        .map_err(|e| Error::io(format!("creating {}", spec.build_log.display()), e))?;
    let machine_log = std::fs::File::create(&spec.machine_log)
        .map_err(|e| Error::io(format!("creating {}", spec.machine_log.display()), e))?;

    let mut expr = duct::cmd(&spec.program, &spec.args)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .env("CHECKPOINT_DISABLE", "1")
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    for (k, v) in &spec.env {
        expr = expr.env(k, v);
    }
    if let Some(dir) = &spec.dir {
        expr = expr.dir(dir);
    }
    let handle = expr.reader().map_err(|e| {
        Error::io(
            format!(
                "starting {} (is it a working Packer?)",
                spec.program.display()
            ),
            e,
        )
    })?;
    let leader = handle
        .pids()
        .first()
        .copied()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| Error::Other("Packer started but its pid is unknown".into()))?;
    tracing::debug!(pid = leader, "packer started in its own process group");

    let echo = spec.echo;
    // The pump says once when it can no longer write the logs: Packer is
    // then cancelled as on SIGTERM (its cleanup awaited), never orphaned.
    let (write_failed_tx, mut write_failed) = tokio::sync::oneshot::channel::<()>();
    let mut reader_task = tokio::task::spawn_blocking(move || {
        pump(handle, build_log, machine_log, echo, write_failed_tx)
    });

    let mut interrupted: Option<i32> = None;
    let mut cancelled_for_write = false;
    let mut write_watch = true;
    let mut escalated = false;
    let deadline = tokio::time::sleep(Duration::from_secs(u64::MAX / 4));
    tokio::pin!(deadline);
    // Packer can exit while a child it started (a shell-local provisioner, a
    // background process) still holds its output pipe open: then no EOF ever
    // comes. Once Packer itself has exited, give stragglers a moment, then end
    // its process group.
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut exited_at: Option<tokio::time::Instant> = None;
    let mut stragglers_killed = false;
    let joined = loop {
        tokio::select! {
            res = &mut reader_task => break res,
            _ = tick.tick(), if !stragglers_killed => {
                if has_exited(leader) {
                    let since = *exited_at.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= Duration::from_secs(2) {
                        eprintln!("ami-builder: Packer has exited but processes it started still hold its output open; stopping its process group");
                        let _ = killpg(Pid::from_raw(leader), Signal::SIGKILL);
                        stragglers_killed = true;
                    }
                }
            }
            _ = sigint.recv() => {
                on_signal(leader, 2, &mut interrupted, &mut escalated, &spec, deadline.as_mut());
            }
            _ = sigterm.recv() => {
                on_signal(leader, 15, &mut interrupted, &mut escalated, &spec, deadline.as_mut());
            }
            failed = &mut write_failed, if write_watch => {
                write_watch = false;
                if failed.is_ok() && interrupted.is_none() {
                    cancelled_for_write = true;
                    let _ = kill(Pid::from_raw(leader), Signal::SIGTERM);
                    eprintln!(
                        "ami-builder: cannot write Packer's output to {}: stopping Packer (SIGTERM) and waiting up to {}s for its cleanup",
                        spec.out_dir_hint(),
                        spec.cleanup_timeout.as_secs()
                    );
                    deadline.as_mut().reset(tokio::time::Instant::now() + spec.cleanup_timeout);
                }
            }
            _ = &mut deadline, if (interrupted.is_some() || cancelled_for_write) && !escalated => {
                eprintln!(
                    "ami-builder: Packer did not finish its cleanup within {}s; killing its process group. Check EC2 for leftover instances, key pairs, security groups and AMIs.",
                    spec.cleanup_timeout.as_secs()
                );
                let _ = killpg(Pid::from_raw(leader), Signal::SIGKILL);
                escalated = true;
            }
        }
    };
    let (extraction, exit, lines, write_error) = joined
        .map_err(|e| Error::Other(format!("the Packer output reader failed: {e}")))?
        .map_err(|e| Error::io("reading Packer's output", e))?;
    if let (Some(e), None) = (write_error, interrupted) {
        let how = if escalated {
            "Packer was stopped but did not finish its cleanup in time and was killed; check EC2 for leftover instances, key pairs, security groups and AMIs"
        } else {
            "Packer was stopped (SIGTERM) and its cleanup awaited"
        };
        return Err(Error::io(
            format!(
                "writing Packer's output to {} ({how}, {exit}); free the disk or fix the out dir, then build again",
                spec.out_dir_hint()
            ),
            e,
        ));
    }
    Ok(RunOutcome {
        exit,
        extraction,
        interrupted,
        escalated,
        lines,
    })
}

/// True once `pid` has exited (a zombie not yet reaped, or gone). Uses Linux's
/// `/proc`; where there is none it says false, and the run simply waits for EOF.
fn has_exited(pid: i32) -> bool {
    if !Path::new("/proc/self/stat").exists() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

fn on_signal(
    leader: i32,
    sig: i32,
    interrupted: &mut Option<i32>,
    escalated: &mut bool,
    spec: &PackerRun,
    deadline: std::pin::Pin<&mut tokio::time::Sleep>,
) {
    let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
    if interrupted.is_none() {
        *interrupted = Some(sig);
        let s = if sig == 2 {
            Signal::SIGINT
        } else {
            Signal::SIGTERM
        };
        // Packer's first process is a wrapper that passes signals on to the real
        // build process, so signal the leader only; the group gets SIGKILL later.
        let _ = kill(Pid::from_raw(leader), s);
        eprintln!(
            "ami-builder: received {name}; forwarded it to Packer and waiting up to {}s for its cleanup (send it again to kill Packer at once)",
            spec.cleanup_timeout.as_secs()
        );
        deadline.reset(tokio::time::Instant::now() + spec.cleanup_timeout);
    } else if !*escalated {
        eprintln!("ami-builder: second {name}: killing Packer's process group now; its cleanup did not finish");
        let _ = killpg(Pid::from_raw(leader), Signal::SIGKILL);
        *escalated = true;
    }
}

/// Blocking: copy Packer's stream to the logs and console, feeding the
/// extractor. A write error on a log is kept, told once on `write_failed`,
/// and stops the log writes; the stream is still read to its end (and
/// echoed), so that Packer's cleanup output is seen and nothing blocks on a
/// full pipe.
fn pump(
    mut handle: duct::ReaderHandle,
    build_log: std::fs::File,
    machine_log: std::fs::File,
    echo: bool,
    write_failed: tokio::sync::oneshot::Sender<()>,
) -> std::io::Result<(Extraction, Exit, u64, Option<std::io::Error>)> {
    let mut extractor = Extractor::packer_stream();
    let mut logs = Logs {
        human: BufWriter::with_capacity(1 << 16, build_log),
        machine: BufWriter::with_capacity(1 << 16, machine_log),
        error: None,
        notify: Some(write_failed),
    };
    // Not `stderr().lock()`: the signal handler prints on stderr while we pump,
    // and holding the lock for the whole run would deadlock it.
    let mut console = BufWriter::with_capacity(1 << 16, std::io::stderr());
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    let mut lines = 0u64;
    loop {
        let n = match handle.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        extractor.feed(chunk);
        logs.write(|l| l.machine.write_all(chunk));
        carry.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &carry[start..]) {
            let line = &carry[start..start + i];
            lines += emit(line, &mut logs, &mut console, echo);
            start += i + 1;
        }
        carry.drain(..start);
        if carry.len() > super::log::MAX_LINE {
            lines += emit(&carry, &mut logs, &mut console, echo);
            carry.clear();
        }
        // Flush whatever arrived: line by line for a slow stream, batched for a fast one.
        logs.write(|l| {
            l.human.flush()?;
            l.machine.flush()
        });
        if echo {
            console_flush(&mut console);
        }
    }
    if !carry.is_empty() {
        lines += emit(&carry, &mut logs, &mut console, echo);
    }
    logs.write(|l| {
        l.human.flush()?;
        l.machine.flush()
    });
    if echo {
        console_flush(&mut console);
    }
    let status = loop {
        if let Some(out) = handle.try_wait()? {
            break out.status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let exit = match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(-1),
    };
    Ok((extractor.finish(), exit, lines, logs.error))
}

/// The two log files, and the first error writing them.
struct Logs {
    human: BufWriter<std::fs::File>,
    machine: BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
    notify: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Logs {
    /// Run `f` unless a write already failed; keep its error and say so once.
    fn write(&mut self, f: impl FnOnce(&mut Self) -> std::io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = f(self) {
            self.error = Some(e);
            if let Some(tx) = self.notify.take() {
                let _ = tx.send(());
            }
        }
    }
}

/// One line to build.log (as human text) and the console; returns 1 when
/// it was a line of text (machine-readable records other than `ui` are not).
fn emit(line: &[u8], logs: &mut Logs, console: &mut impl Write, echo: bool) -> u64 {
    let text = String::from_utf8_lossy(line);
    let Some(out) = human_text(&text) else {
        return 0;
    };
    logs.write(|l| {
        l.human.write_all(out.as_bytes())?;
        l.human.write_all(b"\n")
    });
    if echo {
        // A closed console (broken pipe) must not stop the build or the log.
        let _ = console.write_all(out.as_bytes());
        let _ = console.write_all(b"\n");
    }
    1
}

fn console_flush(console: &mut impl Write) {
    let _ = console.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_packer_is_a_usage_error() {
        let err = find_packer(Some(Path::new("/nonexistent/packer"))).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("/nonexistent/packer"));
    }

    #[test]
    fn name_not_on_path_is_a_usage_error() {
        let err = find_packer(Some(Path::new("packer-that-does-not-exist-xyz"))).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("not found on PATH"), "{err}");
    }
}
