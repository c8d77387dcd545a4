//! A spinner on stderr that stays invisible for short work and off terminals.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How long work may run before a spinner appears.
pub const DELAY: Duration = Duration::from_millis(200);

pub struct Progress {
    label: String,
    enabled: bool,
    start: Instant,
    bar: OnceCell<ProgressBar>,
}

impl Progress {
    pub fn new(label: &str, enabled: bool) -> Progress {
        Progress {
            label: label.to_owned(),
            enabled,
            start: Instant::now(),
            bar: OnceCell::new(),
        }
    }

    /// The spinner, once the delay has passed (and only where it may be shown).
    fn bar(&self) -> Option<&ProgressBar> {
        if !self.enabled || self.start.elapsed() < DELAY {
            return self.bar.get();
        }
        Some(self.bar.get_or_init(|| {
            let bar = ProgressBar::new_spinner();
            // `wide_msg` is cut at the terminal's width instead of wrapping.
            bar.set_style(
                ProgressStyle::with_template("{spinner:.green} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        }))
    }

    /// Reports that `n` entries have been seen so far.
    pub fn tick(&self, n: u64) {
        if let Some(bar) = self.bar() {
            bar.set_message(format!("{}: {n} entries", self.label));
        }
    }

    /// Shows `msg` instead of a count (once the delay has passed): fit it to
    /// [`Progress::columns`] first.
    pub fn message(&self, msg: &str) {
        if let Some(bar) = self.bar() {
            bar.set_message(msg.to_owned());
        }
    }

    /// Whether the spinner is shown at all: only on a terminal, and (as the library that draws
    /// it decides) not on a dumb one (`TERM` unset or `dumb` on Unix, `dumb` on Windows).
    /// When it is not, say what it would have said in plain lines.
    pub fn shown(&self) -> bool {
        let dumb = match std::env::var("TERM") {
            Ok(t) => t == "dumb",
            Err(_) => cfg!(unix),
        };
        self.enabled && !dumb
    }

    /// The columns a message has on this terminal, after the spinner.
    pub fn columns() -> usize {
        crate::sys::process::stderr_columns()
            .unwrap_or(80)
            .saturating_sub(2)
            .max(20)
    }

    /// Removes the spinner, if it was shown.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
