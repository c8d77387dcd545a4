//! `cargo janitor completions SHELL` (clap_complete) and the hidden `cargo janitor man`
//! (clap_mangen): both generated from the same command-line definition as `--help`, so they
//! cannot disagree with it.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit;
use crate::report;

/// The command as installed: `cargo-janitor`, which cargo runs for `cargo janitor`. Every
/// subcommand's bin name is set from it (the derive's `cargo janitor` would otherwise name
/// them `cargo janitor gc`, which the bash script's own `cargo-janitor` never matches).
fn command() -> clap::Command {
    command_named("cargo-janitor")
}

/// The command with `bin` as its bin name, and every subcommand's (`BIN gc`) set from it.
fn command_named(bin: &str) -> clap::Command {
    fn named(cmd: clap::Command, bin: &str) -> clap::Command {
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        let mut cmd = cmd.bin_name(bin.to_owned()).display_name(bin.to_owned());
        for name in names {
            let sub = format!("{bin} {name}");
            cmd = cmd.mut_subcommand(&name, |s| named(s, &sub));
        }
        cmd
    }
    named(Cli::command(), bin)
}

/// What makes bash complete `cargo janitor …`, appended to clap's script for
/// `cargo-janitor`. Cargo's own bash completion (rustup's) hands `cargo janitor …` to the
/// completion of `cargo-janitor` only under bash-completion 2.12 or newer, and only if that is
/// where the script was installed; this works wherever the script is sourced: `cargo`'s
/// completion is wrapped so that `cargo janitor …` is completed as `cargo-janitor …`, and every
/// other `cargo …` goes to the completion cargo had (loaded on first use if bash-completion
/// loads it lazily).
const BASH_CARGO: &str = r#"
# `cargo janitor …`: completed as `cargo-janitor …`; any other `cargo …` by cargo's own.
_cargo_janitor__previous=$(complete -p cargo 2>/dev/null | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[[ $_cargo_janitor__previous == _cargo_janitor__cargo ]] && _cargo_janitor__previous=
_cargo_janitor__cargo() {
    if [[ $COMP_CWORD -ge 2 && ${COMP_WORDS[1]} == janitor ]]; then
        local -a COMP_WORDS=(cargo-janitor "${COMP_WORDS[@]:2}")
        local COMP_CWORD=$((COMP_CWORD - 1))
        local prev=
        [[ $COMP_CWORD -ge 1 ]] && prev=${COMP_WORDS[COMP_CWORD - 1]}
        _cargo_janitor cargo-janitor "${COMP_WORDS[COMP_CWORD]}" "$prev"
        return
    fi
    if [[ -z $_cargo_janitor__previous ]]; then
        # Not loaded yet: let bash-completion load cargo's, then wrap it again.
        complete -r cargo 2>/dev/null
        if declare -F _comp_load >/dev/null; then
            _comp_load cargo
        elif declare -F __load_completion >/dev/null; then
            __load_completion cargo
        fi
        _cargo_janitor__previous=$(complete -p cargo 2>/dev/null | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
        complete -F _cargo_janitor__cargo -o bashdefault -o default cargo
    fi
    if [[ -n $_cargo_janitor__previous ]]; then
        "$_cargo_janitor__previous" "$@"
    fi
}
complete -F _cargo_janitor__cargo -o bashdefault -o default cargo
"#;

/// What makes fish complete `cargo janitor …`, appended to clap's script for `cargo-janitor`:
/// fish's own `cargo` completion lists `cargo-*` commands but completes none of their
/// arguments, so the words after `cargo janitor` are completed as `cargo-janitor …`.
const FISH_CARGO: &str = r#"
# `cargo janitor …` (cargo runs cargo-janitor): completed as `cargo-janitor …`. fish loads a
# completions file by the command's name only, so for `cargo janitor` this file must be
# loaded with the shell: save it in ~/.config/fish/conf.d/.
function __fish_cargo_janitor_after_cargo
    set -l words (commandline -opc)
    test (count $words) -ge 2; and test "$words[2]" = janitor
end
function __fish_cargo_janitor_as_cargo_janitor
    set -l words (commandline -opc)
    complete -C (string join -- ' ' cargo-janitor (string escape -- $words[3..-1]) (commandline -ct))
end
complete -c cargo -n __fish_cargo_janitor_after_cargo -f -a '(__fish_cargo_janitor_as_cargo_janitor)'
"#;

/// A completion script for `shell`, on stdout (through the one writer: `| head` is quiet),
/// for `cargo-janitor` and, in bash and fish, `cargo janitor` (zsh's own `cargo` completion
/// calls `_cargo-janitor` for it).
pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let bash = shell == clap_complete::Shell::Bash;
    // clap_complete's bash script names a subcommand's case from its bin name with each `-`
    // made `__` in one place and `__subcmd__` in another, so that under `cargo-janitor` no
    // subcommand's options complete: generated as `cargo_janitor`, registered for
    // `cargo-janitor`.
    let bin = if bash {
        "cargo_janitor"
    } else {
        "cargo-janitor"
    };
    let mut cmd = command_named(bin);
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin, &mut buf);
    let mut script = String::from_utf8_lossy(&buf).into_owned();
    if bash {
        script = script
            .lines()
            .map(|l| match l.strip_suffix(" cargo_janitor") {
                Some(head) if l.trim_start().starts_with("complete ") => {
                    format!("{head} cargo-janitor\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        script.push_str(BASH_CARGO);
    }
    if shell == clap_complete::Shell::Fish {
        script.push_str(FISH_CARGO);
    }
    report::print(script)?;
    Ok(exit::OK)
}

/// The man page, cargo-janitor(1), in roff on stdout: `cargo janitor man | man -l -`.
pub fn man() -> Result<i32> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(command()).render(&mut buf)?;
    report::print(String::from_utf8_lossy(&buf))?;
    Ok(exit::OK)
}
