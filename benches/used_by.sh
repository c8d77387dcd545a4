#!/usr/bin/env bash
# Issue #13's figures: after a dependency bump, the target dir's size after
#   - `sweep --used-by "cargo build" --used-by "cargo build --release"`,
#   - rust-cache's rule (keep build/, .fingerprint/ and deps/ entries of dependencies *by name*,
#     drop the workspace's own crates and everything else in a profile; its `cleanTargetDir`),
#   - `sweep --max-age "7 days"` after a cache restore (every atime new, mtimes kept),
# and the wall time of the mark run against a plain no-op `cargo build`.
#
# Usage: benches/used_by.sh   (needs the network once, to fetch the crates into its own
# CARGO_HOME under bench-data/; never touches ~/.cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${BENCH_DATA:-$PWD/bench-data}/used-by
mkdir -p "$data"
data=$(cd "$data" && pwd)
cargo build --release --locked --bin cargo-janitor
bin=$PWD/target/release/cargo-janitor
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }

# Only what this script sets: no CARGO_TARGET_DIR, RUSTFLAGS, … of the caller.
run() { env -i PATH="$PATH" HOME="$data" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
    CARGO_HOME="$data/cargo-home" CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never "$@"; }

proj=$data/app
if [ ! -f "$data/built" ]; then
    rm -rf "$proj"
    mkdir -p "$proj/app/src" "$proj/core/src"
    cat >"$proj/Cargo.toml" <<'EOF'
[workspace]
members = ["app", "core"]
resolver = "2"
EOF
    cat >"$proj/core/Cargo.toml" <<'EOF'
[package]
name = "core-lib"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = { version = "=1.0.190", features = ["derive"] }
serde_json = "=1.0.108"
regex = "=1.10.2"
EOF
    cat >"$proj/core/src/lib.rs" <<'EOF'
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Item { pub name: String, pub size: u64 }
pub fn parse(s: &str) -> Vec<Item> {
    let re = regex::Regex::new(r"(\w+)=(\d+)").unwrap();
    re.captures_iter(s).map(|c| Item { name: c[1].into(), size: c[2].parse().unwrap() }).collect()
}
pub fn to_json(items: &[Item]) -> String { serde_json::to_string(items).unwrap() }
EOF
    cat >"$proj/app/Cargo.toml" <<'EOF'
[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
core-lib = { path = "../core" }
clap = { version = "=4.4.11", features = ["derive"] }
anyhow = "=1.0.75"
EOF
    cat >"$proj/app/build.rs" <<'EOF'
fn main() { println!("cargo:rustc-env=APP_BUILT=yes"); }
EOF
    cat >"$proj/app/src/main.rs" <<'EOF'
use clap::Parser;
#[derive(Parser)]
struct Args { input: String }
fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    println!("{} {}", env!("APP_BUILT"), core_lib::to_json(&core_lib::parse(&a.input)));
    Ok(())
}
EOF
    # Generation 1, then the bump (every dependency to its newest version), each in debug and
    # release.
    (cd "$proj" && run cargo build -q && run cargo build -q --release)
    sed -i 's/"=[0-9.]*"/"1"/' "$proj/core/Cargo.toml"
    sed -i 's/clap = { version = "=[0-9.]*"/clap = { version = "4"/; s/anyhow = "=[0-9.]*"/anyhow = "1"/' \
        "$proj/app/Cargo.toml"
    (cd "$proj" && run cargo update -q && run cargo build -q && run cargo build -q --release)
    touch "$data/built"
fi
echo "project: $(cd "$proj" && grep -c '^name' Cargo.lock) packages in Cargo.lock"

# Each rule on its own copy of the project and its target dir.
fresh() { rm -rf "$data/$1" && cp -a "$proj" "$data/$1"; }
size() { du -s --block-size=1 "$1/target" | cut -f1; }
mib() { python3 -c "print(f'{$1/1048576:.0f} MiB')"; }

fresh before
b=$(size "$data/before")

fresh used-by
(cd "$data/used-by" && run "$bin" sweep --used-by "cargo build" --used-by "cargo build --release" \
    --grace "0 seconds" -q >/dev/null)
u=$(size "$data/used-by")

fresh rust-cache
python3 - "$data/rust-cache" <<'PY'
# rust-cache v2.9.2's cleanTargetDir on save (peers.md §2.7): keep names are the dependencies'
# package names and lib target names, `-` → `_`; the workspace's own crates are not kept.
# (`cargo metadata --all-features` as rust-cache runs it: online, every platform's packages.)
import json, os, shutil, subprocess, sys
ws = sys.argv[1]
meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--all-features", "--format-version", "1"], cwd=ws,
    env={"PATH": os.environ["PATH"], "HOME": os.path.dirname(ws),
         "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup")),
         "CARGO_HOME": os.path.join(os.path.dirname(ws), "cargo-home")}))
keep = set()
for p in meta["packages"]:
    if p["manifest_path"].startswith(ws + "/"):
        continue
    keep.add(p["name"].replace("-", "_"))
    for t in p["targets"]:
        if set(t["kind"]) & {"lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro"}:
            keep.add(t["name"].replace("-", "_"))
def kept(name, libprefix):
    n = name.split(".")[0]
    n = n.rsplit("-", 1)[0] if "-" in n else n
    if libprefix and n.startswith("lib"):
        n2 = n[3:]
        if n2.replace("-", "_") in keep: return True
    return n.replace("-", "_") in keep
def clean(d):
    for e in os.listdir(d):
        p = os.path.join(d, e)
        if os.path.isfile(p) or os.path.islink(p):
            if e != "CACHEDIR.TAG": os.remove(p)
        elif e == "tests" or any(os.path.isdir(os.path.join(p, s)) for s in ("build", ".fingerprint", "deps")):
            for f in os.listdir(p):
                q = os.path.join(p, f)
                if f in ("build", ".fingerprint", "deps"):
                    for g in os.listdir(q):
                        if not kept(g, f == "deps"):
                            r = os.path.join(q, g)
                            shutil.rmtree(r) if os.path.isdir(r) and not os.path.islink(r) else os.remove(r)
                else:
                    shutil.rmtree(q) if os.path.isdir(q) and not os.path.islink(q) else os.remove(q)
        else:
            clean(p)
clean(os.path.join(ws, "target"))
PY
r=$(size "$data/rust-cache")

fresh max-age
# A cache restore: every file's atime is now (tar keeps mtimes).
find "$data/max-age/target" -exec touch -a {} +
(cd "$data/max-age" && run "$bin" sweep --max-age "7 days" -q target >/dev/null)
m=$(size "$data/max-age")

# What a clean build of generation 2 alone takes (the ideal).
fresh ideal
rm -rf "$data/ideal/target"
(cd "$data/ideal" && run cargo build -q --offline && run cargo build -q --offline --release)
i=$(size "$data/ideal")

echo "== target dir after a dependency bump (du -s --block-size=1)"
printf '%-48s %10s %6s\n' "rule" "size" "ratio"
for row in "before (two generations):$b" "sweep --used-by (build, build --release):$u" \
           "rust-cache's rule (keep by name):$r" "sweep --max-age 7days after a restore:$m" \
           "a clean build of the new generation:$i"; do
    printf '%-48s %10s %6s\n' "${row%%:*}" "$(mib "${row##*:}")" \
        "$(python3 -c "print(f'{${row##*:}/$i:.2f}x')")"
done

echo "== the mark run against a plain no-op cargo build (everything Fresh)"
cd "$data/used-by"
hyperfine -N --warmup 2 --runs 10 --export-json "$data/mark.json" \
    "env -i PATH=$PATH HOME=$data RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} CARGO_HOME=$data/cargo-home cargo build --offline -q" \
    "env -i PATH=$PATH HOME=$data RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} CARGO_HOME=$data/cargo-home $bin sweep --used-by 'cargo build --offline' -n -q" \
    >/dev/null
python3 - "$data/mark.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
for x in r:
    print(f'{x["mean"]*1000:9.1f} ms ± {x["stddev"]*1000:6.1f}  {x["mean"]/r[0]["mean"]:5.2f}x  {x["command"].split()[-4:]}')
PY
