use std::process::ExitCode;

use clap::Parser;

use cargo_janitor::cli::{Cli, args_from_env};
use cargo_janitor::commands;
use cargo_janitor::exit;
use cargo_janitor::report::{self, Output};

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(args_from_env()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT as u8
            } else {
                exit::OK as u8
            });
        }
    };
    let out = Output::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    let code = match commands::run(&cli, &out) {
        Ok(code) => code,
        // The reader of our output went away (`| head`): not a failure, and nothing to say,
        // as in ripgrep.
        Err(err) if report::is_broken_pipe(&err) => exit::OK,
        Err(err) => {
            // Cargo's shape: the outermost message, then each cause indented.
            let mut chain = err.chain();
            out.error(chain.next().map(ToString::to_string).unwrap_or_default());
            let causes: Vec<String> = chain.map(ToString::to_string).collect();
            if !causes.is_empty() {
                out.line("\nCaused by:");
                for c in causes {
                    out.line(format!("  {c}"));
                }
            }
            if err.chain().any(|e| e.is::<exit::BadInput>()) {
                exit::BAD_INPUT
            } else {
                exit::FAILURE
            }
        }
    };
    ExitCode::from(code as u8)
}
