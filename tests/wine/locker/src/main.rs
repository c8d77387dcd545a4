//! `locker hold PATH [SECONDS]`: locks PATH exclusively (creating it, as cargo does), prints
//! `locked PID`, and keeps the lock for SECONDS (600) or until killed.
//! `locker wait PATH`: prints `waiting PID`, blocks until it gets the lock, prints `acquired`
//! and exits 0.
//!
//! The lock is released by exiting (closing the file), never by `unlock()`: under Wine 8.0
//! std's `unlock()` reports an error although the lock was released (cross-platform.md §4).

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

fn say(what: &str) {
    let mut out = std::io::stdout();
    writeln!(out, "{what}").unwrap();
    out.flush().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: locker hold PATH [SECONDS] | locker wait PATH";
    let (Some(mode), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    let pid = std::process::id();
    match mode.as_str() {
        "hold" => {
            file.lock().unwrap();
            say(&format!("locked {pid}"));
            let secs = args.get(3).map_or(600, |s| s.parse().unwrap());
            std::thread::sleep(Duration::from_secs(secs));
        }
        "wait" => {
            say(&format!("waiting {pid}"));
            file.lock().unwrap();
            say("acquired");
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
