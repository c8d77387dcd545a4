//! `cargo janitor status`: an inventory of CARGO_HOME. Read-only, takes no lock.

use anyhow::Result;

use crate::cli::{GlobalArgs, StatusArgs};
use crate::discover::{CargoConfig, CargoHome, RegistryNames};
use crate::exit;
use crate::observe::home::{self, SizeMode};
use crate::observe::walk::Walker;
use crate::observe::{db, now};
use crate::plan;
use crate::report::{self, Output};

pub fn run(global: &GlobalArgs, args: &StatusArgs, out: &Output) -> Result<i32> {
    let home = CargoHome::resolve(global.cargo_home.as_deref())?;
    let cwd = std::env::current_dir()?;
    let config = CargoConfig::load(&cwd, &home)?;
    let urls = config.registry_urls();
    let names = RegistryNames::with_urls(urls.iter().map(String::as_str));

    super::network::note(&home.path, out);
    let db = db::read(&home.db_path());
    if let Some(note) = db.note() {
        out.warn(note);
    }
    let mut inv = home::scan(&home.path, db.snapshot());
    for (path, err) in &inv.errors {
        out.warn(format!("`{}` {err}; left out", path.display()));
    }
    let progress = out.progress("Scanning CARGO_HOME");
    let tick = |n| progress.tick(n);
    let mut walker = Walker::with_progress(&tick);
    // `--top` sizes its items as `du` does: everything is walked.
    let mode = if args.exact || args.top.is_some() {
        SizeMode::Exact
    } else {
        SizeMode::Stored
    };
    home::measure(&mut inv, mode, &mut walker);
    progress.finish();
    out.warn_unread(&walker.errors);

    let status = plan::status::build(&inv, &db, &names, now(), mode == SizeMode::Exact, args.top);
    if args.json {
        report::json(&status)?;
    } else {
        report::print_human(report::status::render(&status, out))?;
    }
    Ok(exit::OK)
}
