//! Progress of long work on stderr: an indicatif bar on a terminal (done of
//! total, rate, failures so far, ETA), and where stderr is not a terminal
//! (CodeBuild's log) a plain line when the work starts, every
//! [`LINE_EVERY`] while it runs, and when it ends. `--quiet` turns it off.
//! Results never go here: they are stdout's. Bars share one
//! `MultiProgress`, so that work running side by side (prune reads sharing
//! while it deletes) draws a bar each instead of over each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

fn bars() -> &'static MultiProgress {
    static BARS: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// How often a non-terminal prints a line while work runs.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// Where progress goes, decided once per run from `--quiet` and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Off,
}

impl Mode {
    pub fn new(quiet: bool, stderr_is_terminal: bool) -> Mode {
        match (quiet, stderr_is_terminal) {
            (true, _) => Mode::Off,
            (false, true) => Mode::Bar,
            (false, false) => Mode::Lines,
        }
    }

    /// From the process: `--quiet` and whether stderr is a terminal.
    pub fn detect(quiet: bool) -> Mode {
        Mode::new(quiet, std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }
}

/// One piece of countable work (`deleting 120 resources`).
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    what: String,
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    started: Instant,
    bar: Option<ProgressBar>,
    lines: bool,
    ticker: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// Start `what` over `total` items. In [`Mode::Lines`] a ticker task
    /// prints a line every [`LINE_EVERY`]; it needs a tokio runtime.
    pub fn start(mode: Mode, what: impl Into<String>, total: u64) -> Progress {
        Self::begin(mode, what.into(), Some(total))
    }

    /// Start `what` whose items are not known yet: [`Progress::grow`] adds
    /// them as they come (prune deletes while it still reads). The first
    /// line names no total.
    pub fn start_growing(mode: Mode, what: impl Into<String>) -> Progress {
        Self::begin(mode, what.into(), None)
    }

    fn begin(mode: Mode, what: String, known: Option<u64>) -> Progress {
        let total = known.unwrap_or(0);
        let bar = (mode == Mode::Bar).then(|| {
            let bar = bars().add(ProgressBar::new(total));
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} ({per_sec}, ETA {eta}) {prefix}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let p = Progress {
            inner: Arc::new(Inner {
                what,
                total: AtomicU64::new(total),
                done: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                started: Instant::now(),
                bar,
                lines: mode == Mode::Lines,
                ticker: std::sync::Mutex::new(None),
            }),
        };
        if p.inner.lines {
            match known {
                Some(total) => eprintln!("ami-builder: {} ({total})...", p.inner.what),
                None => eprintln!("ami-builder: {}...", p.inner.what),
            }
            // a weak handle: work dropped without finish() (a --timeout
            // cancels it) also ends its ticker
            let me = Arc::downgrade(&p.inner);
            let handle = tokio::spawn(async move {
                let mut tick = tokio::time::interval(LINE_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(inner) = me.upgrade() else { break };
                    eprintln!("ami-builder: {}", Progress { inner }.line());
                }
            });
            if let Ok(mut t) = p.inner.ticker.lock() {
                *t = Some(handle);
            }
        }
        p
    }

    /// `more` items to do than were known when the work started.
    pub fn grow(&self, more: u64) {
        self.inner.total.fetch_add(more, Ordering::Relaxed);
        if let Some(bar) = &self.inner.bar {
            bar.inc_length(more);
        }
    }

    /// One item done; `ok == false` counts it as a failure too.
    pub fn item(&self, ok: bool) {
        self.inner.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.inner.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(bar) = &self.inner.bar {
            bar.inc(1);
            let failed = self.inner.failed.load(Ordering::Relaxed);
            if failed > 0 {
                bar.set_prefix(format!("{failed} failed"));
            }
        }
    }

    /// `deleting resources: 40/120 done, 2 failed, 12.5/s, about 6s left`.
    pub fn line(&self) -> String {
        line(
            &self.inner.what,
            self.inner.done.load(Ordering::Relaxed),
            self.inner.total.load(Ordering::Relaxed),
            self.inner.failed.load(Ordering::Relaxed),
            self.inner.started.elapsed(),
        )
    }

    /// The work is over: the bar goes, a non-terminal gets the last line.
    pub fn finish(&self) {
        if let Ok(mut t) = self.inner.ticker.lock() {
            if let Some(h) = t.take() {
                h.abort();
            }
        }
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
            bars().remove(bar);
        }
        if self.inner.lines {
            eprintln!("ami-builder: {}", self.line());
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut t) = self.ticker.lock() {
            if let Some(h) = t.take() {
                h.abort();
            }
        }
    }
}

/// The plain progress line: what, done of total, failures, rate and what
/// is left at that rate.
pub fn line(what: &str, done: u64, total: u64, failed: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let mut s = format!("{what}: {done}/{total} done");
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    if secs >= 1.0 && done > 0 {
        let rate = done as f64 / secs;
        s.push_str(&format!(", {rate:.1}/s"));
        if done < total {
            let left = (total - done) as f64 / rate;
            s.push_str(&format!(", about {}s left", left.ceil() as u64));
        }
    }
    s.push_str(&format!(", {}s", elapsed.as_secs()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_wins_then_the_terminal_decides() {
        assert_eq!(Mode::new(true, true), Mode::Off);
        assert_eq!(Mode::new(false, true), Mode::Bar);
        assert_eq!(Mode::new(false, false), Mode::Lines);
    }

    #[test]
    fn the_line_says_done_failures_rate_and_what_is_left() {
        assert_eq!(
            line("deleting", 40, 120, 2, Duration::from_secs(4)),
            "deleting: 40/120 done, 2 failed, 10.0/s, about 8s left, 4s"
        );
        assert_eq!(
            line("listing", 0, 3, 0, Duration::from_millis(10)),
            "listing: 0/3 done, 0s"
        );
        assert_eq!(
            line("deleting", 5, 5, 0, Duration::from_secs(2)),
            "deleting: 5/5 done, 2.5/s, 2s"
        );
    }
}
