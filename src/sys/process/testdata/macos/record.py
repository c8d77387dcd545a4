#!/usr/bin/env python3
"""Writes the recorded macOS inputs of the lock doctor's tests (`*.txt` here).

Nothing here ran on a Mac: each scenario is what libproc and sysctl would return, packed
byte for byte after xnu's `sys/proc_info.h` (struct layouts of lock-holders-macos-windows.md
§1), independently of the Rust decoder (`darwin.rs`) that reads it back.

One record a line, `#` comments; hex is the structure's bytes, little-endian as on both
Apple targets, with trailing zero bytes left off (the reader pads to the structure's size):

    now SECS                 the wall clock (seconds since the epoch)
    timebase NUMER DENOM     mach_timebase_info (125/3 on Apple silicon, 1/1 on Intel)
    bsd PID HEX              proc_pidinfo(PROC_PIDTBSDINFO): struct proc_bsdinfo
    short PID HEX            proc_pidinfo(PROC_PIDT_SHORTBSDINFO): another user's process
    task PID HEX             proc_pidinfo(PROC_PIDTASKINFO): struct proc_taskinfo
    rusage PID HEX           proc_pid_rusage(RUSAGE_INFO_V2): struct rusage_info_v2
    args PID HEX             sysctl(KERN_PROCARGS2)
    cwd PID HEX              proc_pidinfo(PROC_PIDVNODEPATHINFO): pvi_cdir (vnode_info_path)
    fd PID FD HEX            proc_pidfdinfo(PROC_PIDFDVNODEPATHINFO): vnode_fdinfowithpath
    probe DEV INO STATE      fcntl(F_GETLK) on the file: free, shared, exclusive, unknown

Run it from this directory to rewrite the fixtures.
"""
import struct

NOW = 1764000000
FWASLOCKED, O_RDWR, O_CLOEXEC_FLAG = 0x4000, 0x2, 0x1000000
PROC_FP_SHARED, PROC_FP_CLEXEC = 1, 2
SRUN, SSLEEP, SSTOP = 2, 3, 4
DEV = 0x1000012  # an APFS volume's st_dev
UID = 501


def bsdinfo(pid, ppid, pgid, status, comm, start, uid=UID, flags=0x10 | 0x20):
    b = struct.pack("<12I", flags, status, 0, pid, ppid, uid, 20, uid, 20, uid, 20, 0)
    b += comm[:16].encode().ljust(16, b"\0") + comm[:32].encode().ljust(32, b"\0")
    b += struct.pack("<5Ii", 12, pgid, 1, 0x10000002, pgid, 0)
    b += struct.pack("<QQ", NOW - start, 250000)
    assert len(b) == 136
    return b


def shortinfo(pid, ppid, pgid, status, comm, uid):
    b = struct.pack("<4I", pid, ppid, pgid, status) + comm[:16].encode().ljust(16, b"\0")
    b += struct.pack("<8I", 0x10, uid, 20, uid, 20, uid, 20, 0)
    assert len(b) == 64
    return b


def taskinfo(cpu_ticks, running, threads=4):
    b = struct.pack("<6Q", 412 << 20, 38 << 20, cpu_ticks - cpu_ticks // 3, cpu_ticks // 3, 0, 0)
    b += struct.pack("<12i", 0, 9000, 12, 40, 300, 280, 900, 2500, 1200, threads, running, 31)
    assert len(b) == 96
    return b


def rusage(child_ticks):
    b = bytes(16) + struct.pack("<10Q", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    b += struct.pack("<8Q", child_ticks - child_ticks // 2, child_ticks // 2, 0, 0, 0, 0, 0, 0)
    assert len(b) == 160
    return b


def procargs2(argv, env, exe=None):
    exe = exe or argv[0]
    b = struct.pack("<i", len(argv)) + exe.encode() + b"\0"
    b += b"\0" * ((-len(b)) % 8 + 8)
    b += b"".join(a.encode() + b"\0" for a in argv)
    b += b"".join(e.encode() + b"\0" for e in env) + b"\0"
    b += b"executable_path=" + exe.encode() + b"\0ptr_munge=\0main_stack=\0"
    return b


def vinfo_stat(ino, nlink=1, mode=0o100644):
    b = struct.pack("<IHHQII", DEV, mode, nlink, ino, UID, 20)
    b += struct.pack("<8q", NOW - 500, 0, NOW - 500, 0, NOW - 500, 0, NOW - 900, 0)
    b += struct.pack("<qqiIIIqq", 0, 0, 4096, 0, 0, 0, 0, 0)
    assert len(b) == 136
    return b


def vnode_info_path(ino, path, nlink=1, vtype=1):
    b = vinfo_stat(ino, nlink) + struct.pack("<ii", vtype, 0) + struct.pack("<ii", DEV, 0x1a)
    assert len(b) == 152
    b += path.encode().ljust(1024, b"\0")
    return b


def fdinfo(ino, path, locked, shared=False, nlink=1):
    flags = O_RDWR | (FWASLOCKED if locked else 0)
    status = PROC_FP_CLEXEC | (PROC_FP_SHARED if shared else 0)
    b = struct.pack("<IIqiI", flags, status, 0, 1, 0) + vnode_info_path(ino, path, nlink)
    assert len(b) == 1200
    return b


def hexs(b):
    return b.rstrip(b"\0").hex()


class Scenario:
    def __init__(self, name, doc, timebase=(125, 3)):
        self.name, self.lines = name, [f"# {l}" for l in doc.strip().splitlines()]
        self.lines += [f"now {NOW}", f"timebase {timebase[0]} {timebase[1]}"]
        self.tb = timebase

    def ticks(self, secs):
        return int(secs * 1e9 * self.tb[1] / self.tb[0])

    def proc(self, pid, ppid, comm, argv, start, status=SSLEEP, running=0, cpu=0.5,
             child_cpu=0.0, cwd="/Users/dev/proj", env=(), pgid=None):
        self.lines.append(f"# {pid}: {' '.join(argv)}")
        self.lines.append(f"bsd {pid} {hexs(bsdinfo(pid, ppid, pgid or pid, status, comm, start))}")
        self.lines.append(f"task {pid} {hexs(taskinfo(self.ticks(cpu), running))}")
        self.lines.append(f"rusage {pid} {hexs(rusage(self.ticks(child_cpu)))}")
        self.lines.append(f"args {pid} {hexs(procargs2(argv, ['HOME=/Users/dev', *env]))}")
        self.lines.append(f"cwd {pid} {hexs(vnode_info_path(2, cwd, vtype=2))}")

    def other_user(self, pid, ppid, comm, uid):
        self.lines.append(f"# {pid}: {comm}, another user's ({uid}): short info only")
        self.lines.append(f"short {pid} {hexs(shortinfo(pid, ppid, pid, SRUN, comm, uid))}")

    def fd(self, pid, fd, ino, path, locked, shared=False, nlink=1):
        self.lines.append(f"fd {pid} {fd} {hexs(fdinfo(ino, path, locked, shared, nlink))}")

    def probe(self, ino, state):
        self.lines.append(f"probe {DEV} {ino} {state}")

    def write(self):
        with open(f"{self.name}.txt", "w") as f:
            f.write("\n".join(self.lines) + "\n")


CARGO = "/Users/dev/.rustup/toolchains/stable-aarch64-apple-darwin/bin/cargo"
RUSTC = "/Users/dev/.rustup/toolchains/stable-aarch64-apple-darwin/bin/rustc"
HOME = "/Users/dev/.cargo"
PKG, MUTATE = f"{HOME}/.package-cache", f"{HOME}/.package-cache-mutate"
BUILD = "/Users/dev/proj/target/debug/.cargo-lock"


def common(s):
    s.other_user(1, 0, "launchd", 0)
    s.other_user(340, 1, "login", 0)
    s.proc(350, 340, "zsh", ["-zsh"], start=7200, cwd="/Users/dev")
    s.proc(351, 340, "zsh", ["-zsh"], start=7100, cwd="/Users/dev")


s = Scenario("holder_and_waiter", """
cargo build (501) holds the build directory and, shared, the package cache's mutate lock,
and runs rustc (512); cargo check (620), started later in another terminal, holds the
mutate lock shared too and waits for the build directory.
""")
common(s)
s.proc(501, 350, "cargo", [CARGO, "build"], start=120, cpu=2.0, child_cpu=40.0)
s.proc(512, 501, "rustc", [RUSTC, "--crate-name", "serde", "--edition=2021"], start=8,
       status=SRUN, running=1, cpu=7.5)
s.proc(620, 351, "cargo", [CARGO, "check"], start=30, cpu=0.3)
s.fd(501, 3, 9100, MUTATE, locked=True)
s.fd(501, 4, 9200, BUILD, locked=True)
s.fd(620, 3, 9100, MUTATE, locked=True)
s.fd(620, 4, 9200, BUILD, locked=False)
s.probe(9100, "shared")
s.probe(9200, "exclusive")
s.write()

s = Scenario("co_holders", """
A script (python3, 700) took the package cache with flock and forked sleep (701), which
shares the open file description; both descriptors show FWASLOCKED and PROC_FP_SHARED.
cargo fetch (720) waits. Intel timebase.
""", timebase=(1, 1))
common(s)
s.proc(700, 350, "python3", ["/usr/bin/python3", "hold.py"], start=600, cpu=0.1)
s.proc(701, 700, "sleep", ["sleep", "3600"], start=599, cpu=0.0)
s.proc(720, 351, "cargo", [CARGO, "fetch"], start=45, cpu=0.2)
s.fd(700, 3, 9300, PKG, locked=True, shared=True)
s.fd(701, 3, 9300, PKG, locked=True, shared=True)
s.fd(720, 3, 9300, PKG, locked=False)
s.probe(9300, "exclusive")
s.write()

s = Scenario("orphans", """
The terminal that ran the script of co_holders was closed: its two children (702, started
first, then 701) were re-parented to launchd and share the package cache's description.
A cargo build (901) of a closed editor, re-parented to launchd, holds another project's
build directory and is idle.
""")
common(s)
s.proc(701, 1, "sleep", ["sleep", "3600"], start=500, cpu=0.0)
s.proc(702, 1, "sleep", ["sleep", "7200"], start=560, cpu=0.0)
s.proc(901, 1, "cargo", [CARGO, "build", "--message-format=json"], start=3000, cpu=1.0,
       cwd="/Users/dev/other")
s.fd(701, 3, 9300, PKG, locked=True, shared=True)
s.fd(702, 3, 9300, PKG, locked=True, shared=True)
s.fd(901, 4, 9400, "/Users/dev/other/target/debug/.cargo-lock", locked=True)
s.probe(9300, "exclusive")
s.probe(9400, "exclusive")
s.write()

s = Scenario("stopped", """
cargo build (801) was stopped with Ctrl-Z (SSTOP) while it held the package cache;
cargo update (820) waits for it.
""")
common(s)
s.proc(801, 350, "cargo", [CARGO, "build"], start=900, status=SSTOP, cpu=3.0)
s.proc(820, 351, "cargo", [CARGO, "update"], start=60, cpu=0.2)
s.fd(801, 3, 9300, PKG, locked=True)
s.fd(820, 3, 9300, PKG, locked=False)
s.probe(9300, "exclusive")
s.write()

s = Scenario("deadlock", """
cargo build (1001) holds the build directory; the build script it runs (1010) starts a
nested cargo (1020) on the same target directory, which waits for its grandparent.
""")
common(s)
s.proc(1001, 350, "cargo", [CARGO, "build"], start=200, cpu=5.0)
s.proc(1010, 1001, "build-script-build",
       ["/Users/dev/proj/target/debug/build/gen-0123456789abcdef/build-script-build"],
       start=190, cpu=0.1)
s.proc(1020, 1010, "cargo", [CARGO, "build", "--manifest-path", "sub/Cargo.toml"],
       start=189, cpu=0.2)
s.fd(1001, 4, 9200, BUILD, locked=True)
s.fd(1020, 4, 9200, BUILD, locked=False)
s.probe(9200, "exclusive")
s.write()

s = Scenario("other_user", """
A shared CARGO_HOME: another user's cargo (1100) holds its package cache, and libproc does
not show another user's descriptors; our cargo (1120) waits for it.
""")
common(s)
s.other_user(1100, 1, "cargo", 502)
s.proc(1120, 350, "cargo", [CARGO, "fetch"], start=20, cpu=0.1,
       env=["CARGO_HOME=/Users/Shared/cargo"])
s.fd(1120, 3, 9500, "/Users/Shared/cargo/.package-cache", locked=False)
s.probe(9500, "exclusive")
s.write()

s = Scenario("stale_flag", """
A tool (1200) locked and then unlocked the package cache without closing it: FWASLOCKED
stays set, but the probe finds the file free, and cargo (1220) that has it open waits for
nothing. In another home two unrelated processes (1230, 1240) show locked, unshared
descriptions of one exclusively held file: one of them unlocked without closing, so
neither is certain.
""")
common(s)
s.proc(1200, 350, "python3", ["/usr/bin/python3", "tool.py"], start=900, cpu=0.1)
s.proc(1220, 351, "cargo", [CARGO, "build"], start=10, cpu=0.1)
s.proc(1230, 350, "python3", ["/usr/bin/python3", "tool.py"], start=800, cpu=0.1)
s.proc(1240, 351, "cargo", [CARGO, "fetch"], start=100, cpu=0.1)
s.fd(1200, 3, 9300, PKG, locked=True)
s.fd(1220, 3, 9300, PKG, locked=False)
s.fd(1230, 3, 9600, "/Users/dev/h2/.package-cache", locked=True)
s.fd(1240, 3, 9600, "/Users/dev/h2/.package-cache", locked=True)
s.probe(9300, "free")
s.probe(9600, "exclusive")
s.write()
