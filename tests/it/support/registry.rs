//! A sparse registry served on 127.0.0.1 by a small HTTP/1.1 server, with an index and
//! `.crate` files generated here, so that the real cargo fetches from it like from crates.io.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use sha2::{Digest, Sha256};

/// One crate version to publish.
#[derive(Clone, Debug)]
pub struct CrateSpec {
    pub name: String,
    pub version: String,
    /// `(name, requirement)` of normal dependencies on this registry.
    pub deps: Vec<(String, String)>,
    pub build_rs: Option<String>,
    /// Extra source files `(relative path, contents)`, besides `src/lib.rs`.
    pub files: Vec<(String, String)>,
    /// A proc-macro crate (`[lib] proc-macro = true`) exporting the function-like macro
    /// `<name>_version!()`, which expands to nothing.
    pub proc_macro: bool,
}

impl CrateSpec {
    pub fn new(name: &str, version: &str) -> CrateSpec {
        CrateSpec {
            name: name.into(),
            version: version.into(),
            deps: Vec::new(),
            build_rs: None,
            files: Vec::new(),
            proc_macro: false,
        }
    }

    pub fn dep(mut self, name: &str, req: &str) -> CrateSpec {
        self.deps.push((name.into(), req.into()));
        self
    }

    pub fn build_rs(mut self, code: &str) -> CrateSpec {
        self.build_rs = Some(code.into());
        self
    }

    pub fn proc_macro(mut self) -> CrateSpec {
        self.proc_macro = true;
        self
    }

    pub fn file(mut self, path: &str, contents: &str) -> CrateSpec {
        self.files.push((path.into(), contents.into()));
        self
    }

    fn manifest(&self) -> String {
        let mut m = format!(
            "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\n",
            self.name, self.version
        );
        if self.build_rs.is_some() {
            m.push_str("build = \"build.rs\"\n");
        }
        if self.proc_macro {
            m.push_str("\n[lib]\nproc-macro = true\n");
        }
        m.push_str("\n[dependencies]\n");
        for (n, r) in &self.deps {
            m.push_str(&format!("{n} = \"{r}\"\n"));
        }
        m
    }

    fn lib_rs(&self) -> String {
        let ident = self.name.replace('-', "_");
        if self.proc_macro {
            return format!(
                "extern crate proc_macro;\n\
                 #[proc_macro]\n\
                 pub fn {ident}_version(_: proc_macro::TokenStream) -> proc_macro::TokenStream {{\n\
                 proc_macro::TokenStream::new()\n}}\n// {}\n",
                self.version
            );
        }
        let mut s = format!(
            "pub fn {ident}_version() -> &'static str {{ \"{}\" }}\n",
            self.version
        );
        for (n, _) in &self.deps {
            let d = n.replace('-', "_");
            s.push_str(&format!("pub use {d};\n"));
        }
        s
    }

    /// The `.crate` file: a gzipped tar of `<name>-<version>/…`.
    pub fn tarball(&self) -> Vec<u8> {
        let prefix = format!("{}-{}", self.name, self.version);
        let mut files: Vec<(String, String)> = vec![
            ("Cargo.toml".into(), self.manifest()),
            ("src/lib.rs".into(), self.lib_rs()),
        ];
        if let Some(b) = &self.build_rs {
            files.push(("build.rs".into(), b.clone()));
        }
        files.extend(self.files.iter().cloned());
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        for (path, contents) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(contents.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            tar.append_data(&mut h, format!("{prefix}/{path}"), contents.as_bytes())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }
}

/// Cargo's index path for a crate name (`make_dep_path`).
pub fn index_path(name: &str) -> String {
    let n = name.to_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// How slowly `.crate` files are served: a delay in milliseconds spread over each download.
type Delay = Arc<AtomicU64>;

/// A running registry server. Dropping it (or [`Registry::stop`]) closes the listener.
pub struct Registry {
    pub port: u16,
    files: Files,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
    /// Number of requests served, for tests that prove nothing was fetched.
    pub hits: Arc<Mutex<u64>>,
    /// Number of `.crate` files served.
    downloads: Arc<AtomicU64>,
    delay: Delay,
}

impl Registry {
    pub fn start(crates: &[CrateSpec]) -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Files = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(0));
        let delay: Delay = Arc::default();
        let mut reg = Registry {
            port,
            files: files.clone(),
            stop: stop.clone(),
            handle: None,
            hits: hits.clone(),
            downloads: Arc::default(),
            delay: delay.clone(),
        };
        let downloads = reg.downloads.clone();
        reg.files.lock().unwrap().insert(
            "/index/config.json".into(),
            format!("{{\"dl\":\"http://127.0.0.1:{port}/dl/{{crate}}/{{version}}/download\"}}")
                .into_bytes(),
        );
        for c in crates {
            reg.publish(c);
        }
        let handle = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let files = files.clone();
                let hits = hits.clone();
                let delay = delay.clone();
                let downloads = downloads.clone();
                thread::spawn(move || serve(conn, files, hits, delay, downloads));
            }
        });
        reg.handle = Some(handle);
        reg
    }

    /// Adds a crate version to the index and its `.crate` to the download area.
    pub fn publish(&self, c: &CrateSpec) {
        let tarball = c.tarball();
        let cksum: String = Sha256::digest(&tarball)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let deps: Vec<serde_json::Value> = c
            .deps
            .iter()
            .map(|(n, r)| {
                serde_json::json!({"name": n, "req": r, "features": [], "optional": false,
                    "default_features": true, "target": null, "kind": "normal"})
            })
            .collect();
        let line = serde_json::json!({"name": c.name, "vers": c.version, "deps": deps,
            "cksum": cksum, "features": {}, "yanked": false});
        let mut files = self.files.lock().unwrap();
        let key = format!("/index/{}", index_path(&c.name));
        let entry = files.entry(key).or_default();
        entry.extend_from_slice(line.to_string().as_bytes());
        entry.push(b'\n');
        files.insert(format!("/dl/{}/{}/download", c.name, c.version), tarball);
    }

    /// Serves every later `.crate` download slowly: its body in 8 parts over `total` (the
    /// index is served at once). Each connection has its own thread, so a slow download
    /// holds up no other request.
    pub fn slow_downloads(&self, total: std::time::Duration) {
        self.delay.store(total.as_millis() as u64, Ordering::SeqCst);
    }

    /// The `.crate` file this registry serves for `name` `version`.
    pub fn tarball(&self, name: &str, version: &str) -> Option<Vec<u8>> {
        let files = self.files.lock().unwrap();
        files
            .get(&format!("/dl/{name}/{version}/download"))
            .cloned()
    }

    /// The index URL, as cargo config and lockfiles spell it.
    pub fn index_url(&self) -> String {
        format!("sparse+http://127.0.0.1:{}/index/", self.port)
    }

    /// Stops accepting connections. Later fetches fail.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }

    pub fn requests(&self) -> u64 {
        *self.hits.lock().unwrap()
    }

    /// How many `.crate` files were served.
    pub fn downloads(&self) -> u64 {
        self.downloads.load(Ordering::SeqCst)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    conn: TcpStream,
    files: Files,
    hits: Arc<Mutex<u64>>,
    delay: Delay,
    downloads: Arc<AtomicU64>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        if content_length > 0 {
            let mut body = vec![0; content_length];
            let _ = reader.read_exact(&mut body);
        }
        *hits.lock().unwrap() += 1;
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
        let body = files.lock().unwrap().get(path).cloned();
        let (status, body) = match body {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", Vec::new()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            body.len()
        );
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        if path.starts_with("/dl/") && status.starts_with("200") {
            downloads.fetch_add(1, Ordering::SeqCst);
        }
        let delay = delay.load(Ordering::SeqCst);
        if method != "HEAD" && path.starts_with("/dl/") && delay > 0 {
            const PARTS: usize = 8;
            let part = body.len().div_ceil(PARTS).max(1);
            for chunk in body.chunks(part) {
                thread::sleep(std::time::Duration::from_millis(delay / PARTS as u64));
                if conn.write_all(chunk).and_then(|()| conn.flush()).is_err() {
                    return;
                }
            }
        } else if method != "HEAD" && conn.write_all(&body).is_err() {
            return;
        }
        let _ = conn.flush();
    }
}
