//! Generates a large synthetic Cargo home for benchmarks: a crates.io-style sparse registry
//! (index cache files, `.crate` files, extracted sources with `.cargo-ok`), git databases and
//! checkouts, `bin/`, lock files, and a `.global-cache` created with Cargo's migrations whose
//! rows describe every entry (sizes as Cargo stores them, last use spread over 200 days).
//!
//! Usage: `cargo run --release --example synth_home -- DIR [--crates N] [--files F]`
//! Defaults: 2500 crates of 40 files each (about 108,000 files in all).

use std::fs;
use std::path::Path;

use cargo_janitor::for_examples as db;

/// A small deterministic generator, so that two runs make identical homes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const REG: &str = "index.crates.io-1949cf8c6b5b557f";

fn index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: synth_home DIR [--crates N] [--files F]");
    let (mut crates, mut files) = (2500u64, 40u64);
    while let Some(a) = args.next() {
        let v: u64 = args.next().expect("a number").parse()?;
        match a.as_str() {
            "--crates" => crates = v,
            "--files" => files = v,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    let home = Path::new(&dir);
    anyhow::ensure!(!home.exists(), "{} exists already", home.display());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for f in [".package-cache", ".package-cache-mutate"] {
        fs::create_dir_all(home)?;
        fs::write(home.join(f), b"")?;
    }
    let index = home.join("registry/index").join(REG);
    let cache = home.join("registry/cache").join(REG);
    let src = home.join("registry/src").join(REG);
    for d in [&index, &cache, &src] {
        fs::create_dir_all(d)?;
    }
    fs::write(
        index.join("config.json"),
        br#"{"dl":"https://static.crates.io/crates","api":"https://crates.io"}"#,
    )?;

    let mut conn = db::open(&home.join(".global-cache"), true)?;
    db::migrate(&mut conn, now)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO registry_index (name, timestamp) VALUES (?1, ?2)",
        rusqlite::params![REG, now as i64],
    )?;
    let rid = tx.last_insert_rowid();
    let filler = vec![b'a'; 8192];
    for i in 0..crates {
        let name = format!("crate{i:05}");
        let ver = format!("{}.{}.{}", rng.below(3), rng.below(20), rng.below(10));
        let pkg = format!("{name}-{ver}");
        let ts = now - rng.below(200 * 86_400);

        let ip = index.join(".cache").join(index_path(&name));
        fs::create_dir_all(ip.parent().unwrap())?;
        fs::write(&ip, &filler[..200 + rng.below(400) as usize])?;

        let crate_len = 1000 + rng.below(7000) as usize;
        fs::write(cache.join(format!("{pkg}.crate")), &filler[..crate_len])?;

        let root = src.join(&pkg);
        let mut size = 0u64;
        for f in 0..files {
            let sub = match f % 4 {
                0 => "src",
                1 => "src/detail",
                2 => "tests",
                _ => "benches",
            };
            let d = root.join(sub);
            if f < 4 {
                fs::create_dir_all(&d)?;
            }
            let len = 100 + rng.below(3000) as usize;
            fs::write(d.join(format!("f{f}.rs")), &filler[..len])?;
            size += len as u64;
        }
        fs::write(root.join(".cargo-ok"), br#"{"v":1}"#)?;
        tx.execute(
            "INSERT INTO registry_crate (registry_id, name, size, timestamp) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![rid, format!("{pkg}.crate"), crate_len as i64, ts as i64],
        )?;
        tx.execute(
            "INSERT INTO registry_src (registry_id, name, size, timestamp) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![rid, pkg, size as i64, ts as i64],
        )?;
    }
    for g in 0..5 {
        let name = format!("repo{g}-{:016x}", rng.next());
        let db_dir = home.join("git/db").join(&name);
        fs::create_dir_all(db_dir.join("objects/pack"))?;
        fs::write(db_dir.join("objects/pack/pack.pack"), &filler)?;
        fs::write(db_dir.join("HEAD"), b"ref: refs/heads/main\n")?;
        let ts = now - rng.below(200 * 86_400);
        tx.execute(
            "INSERT INTO git_db (name, timestamp) VALUES (?1, ?2)",
            rusqlite::params![name, ts as i64],
        )?;
        let gid = tx.last_insert_rowid();
        for c in 0..2 {
            let rev = format!("{:07x}", rng.next() & 0xfff_ffff);
            let co = home.join("git/checkouts").join(&name).join(&rev);
            fs::create_dir_all(co.join("src"))?;
            for f in 0..20 {
                fs::write(co.join("src").join(format!("f{f}.rs")), &filler[..500])?;
            }
            fs::write(co.join(".cargo-ok"), b"")?;
            tx.execute(
                "INSERT INTO git_checkout (git_id, name, size, timestamp) VALUES (?1, ?2, NULL, ?3)",
                rusqlite::params![gid, rev, (ts + c) as i64],
            )?;
        }
    }
    tx.commit()?;
    fs::create_dir_all(home.join("bin"))?;
    for b in 0..10 {
        fs::write(home.join("bin").join(format!("tool{b}")), &filler)?;
    }
    println!(
        "generated {} with {crates} crates of {files} files",
        home.display()
    );
    Ok(())
}
