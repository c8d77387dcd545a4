#!/usr/bin/env bash
# Benchmarks recorded in BENCHMARKS.md. Usage: benches/run.sh [status|gc|locks|sweep|trim|all]
#   or benches/run.sh real TREE (sweep --recursive over a tree of real target dirs; not in `all`)
#   or benches/run.sh budget TREE (tidy --budget over the generated home and the target dirs
#      TREE/*/target, against du -s of the same set; not in `all`)
# Needs hyperfine (installed from Debian's packages if missing) and, for `gc`, a nightly
# toolchain for the `cargo +nightly clean gc -Zgc` baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
if [ "$what" = real ]; then
    # A tree of target dirs of real builds, given (nothing is generated). Side by side with
    # du -s, repeated: the machine is shared, so the spread between rounds is reported too.
    tree=${2:?usage: benches/run.sh real TREE}
    cargo build --release --locked --bin cargo-janitor
    bin=$PWD/target/release/cargo-janitor
    echo "tree: $(find "$tree" | wc -l) entries, $(du -sh "$tree" | cut -f1)"
    for round in 1 2 3; do
        hyperfine -N --warmup 2 --runs 10 --export-json "/tmp/janitor-real-$round.json" \
            "du -s $tree" \
            "$bin sweep -r $tree --max-age 30days --dry-run -q" >/dev/null
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print("round %s: du %.1f ms, sweep %.1f ms, %.2fx" % (sys.argv[2], r[0]["mean"]*1e3, r[1]["mean"]*1e3, r[1]["mean"]/r[0]["mean"]))' "/tmp/janitor-real-$round.json" "$round"
    done
    exit 0
fi
data=${BENCH_DATA:-$PWD/bench-data}
mkdir -p "$data"

if ! command -v hyperfine >/dev/null; then
    apt-get update -qq && apt-get install -y -qq hyperfine
fi
cargo build --release --locked --bin cargo-janitor --example synth_home
bin=$PWD/target/release/cargo-janitor
gen=$PWD/target/release/examples/synth_home
home=$data/home
[ -d "$home" ] || "$gen" "$home" --crates 2500 --files 40
echo "home: $(find "$home" | wc -l) entries, $(du -sh "$home" | cut -f1)"

ratio() { # ratio JSON: mean of each command / mean of the first
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["mean"]
for x in r:
    print(f'{x["mean"]*1000:9.1f} ms ± {x["stddev"]*1000:6.1f}  {x["mean"]/base:5.2f}x  {x["command"]}')
PY
}

if [ "$what" = budget ]; then
    # tidy --budget over the generated home and real target dirs, against du -s of the same
    # set: the dry run (scan and plan) on the set itself, the real run on fresh copies.
    tree=${2:?usage: benches/run.sh budget TREE}
    set=("$home")
    # A private copy of the target dirs (cp -a, once): the real runs' hard-linked copies are
    # made from it, so that no lock file or inode of TREE is shared with them.
    pristine=$data/budget-targets
    if [ ! -d "$pristine" ]; then
        mkdir -p "$pristine.tmp"
        for t in "$tree"/*/target; do
            p=$(basename "$(dirname "$t")")
            mkdir -p "$pristine.tmp/$p"
            cp -a "$t" "$pristine.tmp/$p/"
            [ -f "$(dirname "$t")/Cargo.toml" ] && cp -a "$(dirname "$t")/Cargo.toml" "$pristine.tmp/$p/"
            [ -f "$(dirname "$t")/Cargo.lock" ] && cp -a "$(dirname "$t")/Cargo.lock" "$pristine.tmp/$p/"
        done
        mv "$pristine.tmp" "$pristine"
    fi
    targets=("$pristine"/*/target)
    set+=("${targets[@]}")
    total=$(du -s -c --block-size=1 "${set[@]}" | tail -1 | cut -f1)
    budget=$((total / 3))
    echo "set: home + ${#targets[@]} target dirs, $(find "${set[@]}" | wc -l) entries, $total bytes on disk (du); budget $budget"
    # Runs record the target dirs they worked on: in a state dir of the benchmark's own.
    export XDG_STATE_HOME=$data/state
    # --grace 0: the copies are made seconds before each real run, and copying (like any
    # listing) moves directory access times, which tidy counts as use; the dry runs take the
    # same flags, so that both plan the same removals.
    tidy=(--no-policy --grace 0 --budget "$budget")
    echo "== tidy --dry-run (budget T/3; budget 256 MiB, which reaches the home), relative to du -s of the same set (3 rounds)"
    for round in 1 2 3; do
        hyperfine -N --warmup 2 --runs 10 --export-json "$data/budget-dry-$round.json" \
            "du -s -c ${set[*]}" \
            "$bin --cargo-home $home tidy --dry-run -q ${tidy[*]} ${targets[*]}" \
            "$bin --cargo-home $home tidy --dry-run -q --no-policy --grace 0 --budget 256MiB ${targets[*]}" >/dev/null
        ratio "$data/budget-dry-$round.json"
    done
    # The real run, on full copies (cp -a): a hard-linked copy would free no block, and
    # tidy measures what a removal frees on disk, so its budget would not be met the same
    # way. A copy of ~9 GiB takes a minute here: three runs, each timed once beside du -s of
    # the same fresh copy (du first: it reads, and leaves the copy as it was).
    work=$data/budget-work
    wtargets=()
    for t in "${targets[@]}"; do wtargets+=("$work/targets/${t#"$pristine"/}"); done
    echo "== tidy (removing; a fresh full copy each run), relative to du -s of that copy"
    for round in 1 2 3; do
        rm -rf "$work" && mkdir -p "$work" && cp -a "$home" "$work/home" && cp -a "$pristine" "$work/targets" && sync
        hyperfine -N --runs 1 --export-json "$data/budget-du-$round.json" \
            "du -s -c $work/home ${wtargets[*]}" >/dev/null
        hyperfine -N --runs 1 --export-json "$data/budget-real-$round.json" \
            "$bin --cargo-home $work/home tidy -q ${tidy[*]} ${wtargets[*]}" >/dev/null
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["results"][0]["mean"]; t=json.load(open(sys.argv[2]))["results"][0]["mean"]; print("round %s: du %.1f ms, tidy %.1f ms, %.2fx" % (sys.argv[3], d*1e3, t*1e3, t/d))' \
            "$data/budget-du-$round.json" "$data/budget-real-$round.json" "$round"
        echo "after: $(du -s -c --block-size=1 "$work/home" "${wtargets[@]}" | tail -1 | cut -f1) bytes on disk (du)"
    done
    rm -rf "$work"
    exit 0
fi

if [ "$what" = status ] || [ "$what" = all ]; then
    hyperfine -N --warmup 3 --runs 15 --export-json "$data/status.json" \
        "du -s $home" \
        "$bin status --cargo-home $home" \
        "$bin status --exact --cargo-home $home" >/dev/null
    echo "== status (warm cache), relative to du -s"
    ratio "$data/status.json"
fi

if [ "$what" = gc ] || [ "$what" = all ]; then
    work=$data/gc-home
    reg=index.crates.io-1949cf8c6b5b557f
    # hyperfine -N runs --prepare without a shell too: give it a script. The copy hard-links
    # the files (a full copy of 480 MB takes ~30 s here) and copies the database for real;
    # every contender then unlinks the same files under the same conditions.
    printf '#!/bin/sh\nrm -rf "%s" && cp -al "%s" "%s" && rm "%s/.global-cache" && cp "%s/.global-cache" "%s/" && sync\n' \
        "$work" "$home" "$work" "$work" "$home" "$work" >"$data/prep-gc.sh"
    chmod +x "$data/prep-gc.sh"
    prep="$data/prep-gc.sh"
    cmds=("rm -rf $work/registry/src/$reg"
          "$bin gc --max-src-age 0days --cargo-home $work")
    if cargo +nightly --version >/dev/null 2>&1; then
        cmds+=("env CARGO_HOME=$work cargo +nightly clean gc -Zgc --max-src-age 0days")
    else
        echo "no nightly: skipping the cargo clean gc baseline"
    fi
    hyperfine -N --runs 10 --prepare "$prep" --export-json "$data/gc.json" "${cmds[@]}" >/dev/null
    echo "== removing every extracted source, relative to rm -rf"
    ratio "$data/gc.json"
fi

if [ "$what" = locks ] || [ "$what" = all ]; then
    # 500 extra sleeping processes, started here and killed on exit.
    pids=()
    for _ in $(seq 500); do sleep 600 & pids+=($!); done
    trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
    echo "processes on the machine: $(ls -d /proc/[0-9]* | wc -l)"
    hyperfine -N --warmup 3 --runs 20 --export-json "$data/locks.json" \
        "$bin locks --sample 0 --cargo-home $home" >/dev/null
    echo "== locks --sample 0 with 500 extra sleeping processes"
    ratio "$data/locks.json"
    kill "${pids[@]}" 2>/dev/null || true
fi

if [ "$what" = sweep ] || [ "$what" = all ]; then
    # 200 projects, each with a real target dir built once by cargo (copied, not hard-linked,
    # so that du and sweep see 200 separate trees).
    tree=$data/projects
    if [ ! -d "$tree" ]; then
        seed=$data/seed
        rm -rf "$seed" && mkdir -p "$seed/src"
        printf '[package]\nname = "seed"\nversion = "0.1.0"\nedition = "2021"\n[workspace]\n' >"$seed/Cargo.toml"
        printf 'pub fn a() {}\n' >"$seed/src/lib.rs"
        for i in $(seq 1 8); do printf 'pub fn f%s() -> u64 { %s }\n' "$i" "$i" >"$seed/src/m$i.rs"; done
        (cd "$seed" && cargo build --offline -q && cargo build --release --offline -q)
        mkdir -p "$tree"
        for i in $(seq -w 1 200); do
            mkdir -p "$tree/p$i" && cp -a "$seed/Cargo.toml" "$seed/src" "$seed/target" "$tree/p$i/"
        done
    fi
    echo "tree: $(find "$tree" | wc -l) entries, $(du -sh "$tree" | cut -f1), $(ls "$tree" | wc -l) projects"
    hyperfine -N --warmup 3 --runs 15 --export-json "$data/sweep.json" \
        "du -s $tree" \
        "$bin sweep --recursive $tree --max-age 30days --dry-run" >/dev/null
    echo "== sweep --recursive over the tree, relative to du -s"
    ratio "$data/sweep.json"
fi

if [ "$what" = trim ] || [ "$what" = all ]; then
    # A lockfile pinning every fifth crate of the generated home (500 of 2,500), from crates.io.
    lock=$data/trim-Cargo.lock
    python3 - "$home" "$lock" <<'PY'
import os, sys
home, lock = sys.argv[1], sys.argv[2]
cache = os.path.join(home, "registry/cache/index.crates.io-1949cf8c6b5b557f")
names = sorted(os.listdir(cache))[::5]
with open(lock, "w") as f:
    f.write("version = 4\n")
    for n in names:
        name, ver = n[:-len(".crate")].rsplit("-", 1)
        f.write(f'\n[[package]]\nname = "{name}"\nversion = "{ver}"\n'
                'source = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "0"\n')
PY
    work=$data/trim-home
    printf '#!/bin/sh\nrm -rf "%s" && cp -al "%s" "%s" && rm "%s/.global-cache" && cp "%s/.global-cache" "%s/" && sync\n' \
        "$work" "$home" "$work" "$work" "$home" "$work" >"$data/prep-trim.sh"
    chmod +x "$data/prep-trim.sh"
    "$data/prep-trim.sh"
    echo "before: du -s $(du -s --block-size=1 "$work" | cut -f1) bytes, $(find "$work" | wc -l) entries"
    "$bin" trim --ci --lockfile "$lock" --cargo-home "$work" | tail -n 2
    echo "after:  du -s $(du -s --block-size=1 "$work" | cut -f1) bytes, $(find "$work" | wc -l) entries"
    "$data/prep-trim.sh"
    hyperfine -N --warmup 2 --runs 10 --export-json "$data/trim-dry.json" \
        "du -s $work" \
        "$bin trim --ci --dry-run --lockfile $lock --cargo-home $work" >/dev/null
    echo "== trim --ci --dry-run (scan and plan), relative to du -s"
    ratio "$data/trim-dry.json"
    hyperfine -N --runs 5 --prepare "$data/prep-trim.sh" --export-json "$data/trim.json" \
        "du -s $work" \
        "$bin trim --ci --lockfile $lock --cargo-home $work" >/dev/null
    echo "== trim --ci (removing), relative to du -s"
    ratio "$data/trim.json"
fi
