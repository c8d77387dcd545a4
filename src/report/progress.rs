//! A spinner on stderr that stays invisible for short work and off terminals.

use std::cell::{Cell, OnceCell};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How long work may run before a spinner appears.
pub const DELAY: Duration = Duration::from_millis(200);

pub struct Progress {
    label: String,
    enabled: bool,
    start: Instant,
    bar: OnceCell<ProgressBar>,
    last: Cell<u64>,
}

impl Progress {
    pub fn new(label: &str, enabled: bool) -> Progress {
        Progress {
            label: label.to_owned(),
            enabled,
            start: Instant::now(),
            bar: OnceCell::new(),
            last: Cell::new(0),
        }
    }

    /// Reports that `n` entries have been seen so far.
    pub fn tick(&self, n: u64) {
        self.last.set(n);
        if !self.enabled || self.start.elapsed() < DELAY {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.green} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        bar.set_message(format!("{}: {n} entries", self.label));
    }

    /// Shows `msg` (once the delay has passed).
    pub fn message(&self, msg: &str) {
        self.tick(self.last.get());
        if let Some(bar) = self.bar.get() {
            bar.set_message(msg.to_owned());
        }
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
