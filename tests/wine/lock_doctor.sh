#!/usr/bin/env bash
# The Windows lock doctor's acceptance (issue 12), under Wine: a Windows-built cargo-janitor
# against Windows-built stand-ins for cargo (tests/wine/locker: std `File::lock`, which is
# `LockFileEx`, as cargo on Windows). Checks, in order:
#
#   1. `locks --json` names the holder's pid with `"evidence": "probable"`, and the waiter;
#   2. `wait --timeout 1s` exits 4 while the lock is held;
#   3. `run -- <a program that blocks on the lock>` prints the holder line, and exits 4 when
#      given `--timeout`;
#   4. `stop` without --force is refused (Windows has only TerminateProcess), and so is
#      `stop --force PID:START` with another start (a reused pid): exit 5, the holder still holds;
#   5. `stop --force --yes PID:START` ends exactly the holder: exit 0; a `wait` running
#      meanwhile exits 0 (the delay is printed), and the waiting program gets the lock.
#
# Needs Debian's rustc-web 1.96 + rust-web-src, mingw-w64 and wine64 (cross-platform.md §1).
# Run from anywhere; everything it makes is under target/xplat (XPLAT_DIR). It signals only
# the processes it started. Exit 0 when every check passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
X=${XPLAT_DIR:-target/xplat}
mkdir -p "$X"
X=$(cd "$X" && pwd)
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$X/target
TARGET=x86_64-pc-windows-gnu
BS=(-Zbuild-std=std,panic_abort)
cargo build --locked --target $TARGET "${BS[@]}" --bin cargo-janitor || exit 1
cargo build --locked --target $TARGET "${BS[@]}" --manifest-path tests/wine/locker/Cargo.toml || exit 1
BIN=$X/target/$TARGET/debug

# Wine 8.0 lacks bcryptprimitives.dll (ProcessPrng), which Rust >= 1.78 std imports: a shim.
export WINEPREFIX=$X/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
WINE=/usr/lib/wine/wine64
if [ ! -e "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
    cat > "$X/bcryptprimitives.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len); /* RtlGenRandom */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
C
    printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng\n' > "$X/bcryptprimitives.def"
    x86_64-w64-mingw32-gcc -O2 -shared -o "$X/bcryptprimitives.dll" \
        "$X/bcryptprimitives.c" "$X/bcryptprimitives.def" || exit 1
    [ -d "$WINEPREFIX/drive_c/windows/system32" ] || $WINE wineboot --init >/dev/null 2>&1
    cp "$X/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/" || exit 1
fi

T=$(mktemp -d "$X/lock_doctor.XXXXXX")
mkdir -p "$T/home"
# The Cargo home as Windows sees it (Z: is /).
CARGO_HOME=$($WINE winepath -w "$T/home" 2>/dev/null | tr -d '\r')
export CARGO_HOME
LOCK="$CARGO_HOME\\.package-cache"
started=()
cleanup() {
    for p in "${started[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*"; fail=1; }
janitor() { $WINE "$BIN/cargo-janitor.exe" "$@"; }
# Waits (up to 60 s) for a line matching $2 in file $1, and prints it.
line() {
    for _ in $(seq 600); do
        grep -m1 "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# A field of the first lock of `locks --json` ($1: the JSON file), by a Python expression on `l`.
field() { python3 -c "import json,sys; l=json.load(open(sys.argv[1]))['locks']; print($2)" "$1"; }

$WINE "$BIN/locker.exe" hold "$LOCK" 600 > "$T/holder.out" 2>&1 &
started+=($!)
H=$(line "$T/holder.out" '^locked ' | cut -d' ' -f2) || { bad "the holder never locked"; exit 1; }
$WINE "$BIN/locker.exe" wait "$LOCK" > "$T/waiter.out" 2>&1 &
started+=($!)
WT=$(line "$T/waiter.out" '^waiting ' | cut -d' ' -f2) || { bad "the waiter never started"; exit 1; }
echo "holder: Windows pid $H; waiter: Windows pid $WT; lock: $LOCK"

# 1. locks --json
janitor locks --json > "$T/locks.json" 2> "$T/locks.err"
rc=$?
got=$(field "$T/locks.json" "len(l), l[0]['holders'][0]['pid'], l[0]['holders'][0]['evidence'], [w['pid'] for w in l[0]['waiters']]" 2>&1)
if [ $rc = 0 ] && [ "$got" = "1 $H probable [$WT]" ]; then
    ok "locks --json: holder $H (probable), waiter $WT"
else
    bad "locks --json (rc $rc): expected 1 $H probable [$WT], got $got"; cat "$T/locks.json" "$T/locks.err"
fi
START=$(field "$T/locks.json" "l[0]['holders'][0]['start_time']" 2>/dev/null)

# 2. wait --timeout while held
janitor wait --timeout 1s > "$T/wait1.out" 2>&1
rc=$?
[ $rc = 4 ] && grep -q "probably held by pid $H " "$T/wait1.out" \
    && ok "wait --timeout 1s: exit 4, names pid $H" \
    || { bad "wait --timeout 1s: rc $rc"; cat "$T/wait1.out"; }

# 3. run -- a program that blocks on the lock
janitor run --timeout 3s -- "$BIN/locker.exe" wait "$LOCK" > "$T/run.out" 2> "$T/run.err"
rc=$?
[ $rc = 4 ] && grep -q "is blocked on the package-cache lock .*, probably held by pid $H " "$T/run.err" \
    && grep -q "stopping .* (the job of process [0-9]*)" "$T/run.err" \
    && ok "run: the holder line names pid $H; exit 4 after --timeout, ending its job" \
    || { bad "run: rc $rc"; cat "$T/run.out" "$T/run.err"; }

# 4. refusals: no --force; a start that is not the holder's
janitor stop --yes "$H:$START" > "$T/stop1.out" 2>&1
rc=$?
[ $rc = 5 ] && grep -q "pass --force" "$T/stop1.out" \
    && ok "stop without --force: refused, exit 5" \
    || { bad "stop without --force: rc $rc"; cat "$T/stop1.out"; }
janitor stop --force --yes "$H:$((START + 1))" > "$T/stop2.out" 2>&1
rc=$?
janitor locks --json > "$T/locks2.json" 2>/dev/null
still=$(field "$T/locks2.json" "l[0]['holders'][0]['pid']" 2>&1)
[ $rc = 5 ] && grep -q "names another process" "$T/stop2.out" && [ "$still" = "$H" ] \
    && ok "stop --force $H:<another start>: refused, exit 5, pid $H still holds" \
    || { bad "stop with another start: rc $rc, holder now $still"; cat "$T/stop2.out"; }

# 5. stop --force ends exactly the holder; wait returns; the waiter gets the lock
( janitor wait --timeout 60s > "$T/wait2.out" 2>&1; echo "$? $(date +%s.%N)" > "$T/wait2.rc" ) &
started+=($!)
line "$T/wait2.out" '^Waiting for' > /dev/null || bad "wait did not start waiting"
janitor stop --force --yes "$H:$START" > "$T/stop3.out" 2>&1
rc=$?
stopped_at=$(date +%s.%N)
[ $rc = 0 ] && grep -q "Stopped" "$T/stop3.out" && grep -q "TerminateProcess to pid $H " "$T/stop3.out" \
    && ok "stop --force --yes $H:$START: exit 0" \
    || { bad "stop --force: rc $rc"; cat "$T/stop3.out"; }
line "$T/wait2.rc" . > /dev/null
read -r wrc wat < "$T/wait2.rc"
[ "$wrc" = 0 ] \
    && ok "wait: exit 0, $(python3 -c "print(f'{max(0.0, $wat - $stopped_at):.2f}')") s after stop returned" \
    || { bad "wait after the holder stopped: rc $wrc"; cat "$T/wait2.out"; }
line "$T/waiter.out" '^acquired' > /dev/null \
    && ok "the waiting program got the lock" || bad "the waiter never got the lock"
janitor locks --json > "$T/locks3.json" 2>/dev/null
left=$(field "$T/locks3.json" "l" 2>&1)
[ "$left" = "[]" ] && ok "afterwards no lock is held" || bad "afterwards: $left"

[ $fail = 0 ] && echo "lock doctor under Wine: all checks passed" || echo "lock doctor under Wine: FAILED"
exit $fail
