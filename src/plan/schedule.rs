//! The files `schedule install` writes, as text: a systemd user service and timer, a launchd
//! agent, a Task Scheduler task. Pure: each takes the command line to run and the interval.
//!
//! Each runs `tidy` with `--no-wait`: a run that meets a build holding a lock leaves that cache
//! alone (exit code 3, which the systemd service counts as success), as Cargo's automatic clean
//! skips when a build is busy. The jobs run at low priority (nice 19, idle I/O).

use std::fmt::Write;

/// The name of every file and job: `cargo-janitor-tidy`.
pub const NAME: &str = "cargo-janitor-tidy";
/// The launchd label (reverse DNS, as launchd wants).
pub const LABEL: &str = "io.github.cargo-janitor.tidy";

/// Shortest and longest interval accepted (Task Scheduler's repetition limits).
pub const MIN_INTERVAL: u64 = 60;
pub const MAX_INTERVAL: u64 = 31 * 86_400;

/// One argument quoted for a systemd `ExecStart=` line: in double quotes, with `\` and `"`
/// escaped, `%` (a specifier) doubled and `$` (a variable) doubled.
fn systemd_quote(arg: &str) -> String {
    let mut q = String::from("\"");
    for c in arg.chars() {
        match c {
            '\\' => q.push_str("\\\\"),
            '"' => q.push_str("\\\""),
            '%' => q.push_str("%%"),
            '$' => q.push_str("$$"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The systemd user service and timer: `(service, timer)`.
pub fn systemd(command: &[String], every_secs: u64) -> (String, String) {
    let exec: Vec<String> = command.iter().map(|a| systemd_quote(a)).collect();
    let service = format!(
        "[Unit]\n\
         Description=cargo-janitor: keep Cargo's caches within the disk budget\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={}\n\
         # 3: a build held a cache's locks; that cache was left alone, as Cargo's automatic\n\
         # clean skips a busy cache.\n\
         SuccessExitStatus=3\n\
         Nice=19\n\
         IOSchedulingClass=idle\n",
        exec.join(" ")
    );
    let timer = format!(
        "[Unit]\n\
         Description=Run {NAME}.service every {every_secs} seconds\n\
         \n\
         [Timer]\n\
         OnBootSec=15min\n\
         OnUnitActiveSec={every_secs}s\n\
         RandomizedDelaySec=10min\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    );
    (service, timer)
}

/// Text escaped for XML character data and attribute values.
fn xml(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// The launchd agent (`~/Library/LaunchAgents/<LABEL>.plist`).
pub fn launchd(command: &[String], every_secs: u64, log: Option<&str>) -> String {
    let mut t = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n",
    );
    let _ = writeln!(t, "  <key>Label</key>\n  <string>{LABEL}</string>");
    t.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    for a in command {
        let _ = writeln!(t, "    <string>{}</string>", xml(a));
    }
    t.push_str("  </array>\n");
    let _ = writeln!(
        t,
        "  <key>StartInterval</key>\n  <integer>{every_secs}</integer>"
    );
    t.push_str("  <key>RunAtLoad</key>\n  <false/>\n");
    t.push_str("  <key>ProcessType</key>\n  <string>Background</string>\n");
    t.push_str(
        "  <key>LowPriorityIO</key>\n  <true/>\n  <key>Nice</key>\n  <integer>19</integer>\n",
    );
    if let Some(log) = log {
        let _ = writeln!(
            t,
            "  <key>StandardErrorPath</key>\n  <string>{}</string>",
            xml(log)
        );
    }
    t.push_str("</dict>\n</plist>\n");
    t
}

/// One argument quoted for a Windows command line (the rules `CommandLineToArgvW` reads).
fn windows_quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_owned();
    }
    let mut q = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                q.push_str(&"\\".repeat(backslashes * 2 + 1));
                q.push('"');
                backslashes = 0;
            }
            c => {
                q.push_str(&"\\".repeat(backslashes));
                q.push(c);
                backslashes = 0;
            }
        }
    }
    q.push_str(&"\\".repeat(backslashes * 2));
    q.push('"');
    q
}

/// The Task Scheduler task, as the XML `schtasks /Create /XML` reads (before its UTF-16
/// encoding: see [`utf16_with_bom`]).
pub fn task_xml(command: &[String], every_secs: u64) -> String {
    let (program, args) = command
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    let args: Vec<String> = args.iter().map(|a| windows_quote(a)).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n\
         <Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n\
         \x20 <RegistrationInfo>\n\
         \x20   <Description>cargo-janitor: keep Cargo's caches within the disk budget</Description>\n\
         \x20   <URI>\\{NAME}</URI>\n\
         \x20 </RegistrationInfo>\n\
         \x20 <Triggers>\n\
         \x20   <TimeTrigger>\n\
         \x20     <Repetition>\n\
         \x20       <Interval>PT{every_secs}S</Interval>\n\
         \x20       <StopAtDurationEnd>false</StopAtDurationEnd>\n\
         \x20     </Repetition>\n\
         \x20     <StartBoundary>2000-01-01T03:00:00</StartBoundary>\n\
         \x20     <Enabled>true</Enabled>\n\
         \x20   </TimeTrigger>\n\
         \x20 </Triggers>\n\
         \x20 <Principals>\n\
         \x20   <Principal id=\"Author\">\n\
         \x20     <LogonType>InteractiveToken</LogonType>\n\
         \x20     <RunLevel>LeastPrivilege</RunLevel>\n\
         \x20   </Principal>\n\
         \x20 </Principals>\n\
         \x20 <Settings>\n\
         \x20   <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n\
         \x20   <DisallowStartIfOnBatteries>true</DisallowStartIfOnBatteries>\n\
         \x20   <StopIfGoingOnBatteries>true</StopIfGoingOnBatteries>\n\
         \x20   <StartWhenAvailable>true</StartWhenAvailable>\n\
         \x20   <Priority>7</Priority>\n\
         \x20   <Enabled>true</Enabled>\n\
         \x20 </Settings>\n\
         \x20 <Actions Context=\"Author\">\n\
         \x20   <Exec>\n\
         \x20     <Command>{}</Command>\n\
         \x20     <Arguments>{}</Arguments>\n\
         \x20   </Exec>\n\
         \x20 </Actions>\n\
         </Task>\n",
        xml(program),
        xml(&args.join(" "))
    )
}

/// `text` as UTF-16LE with a byte-order mark, as Task Scheduler writes and reads its XML.
pub fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        b.extend_from_slice(&u.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> Vec<String> {
        [
            "/usr/bin/cargo-janitor",
            "tidy",
            "--budget",
            "20 GiB",
            "--min-free",
            "10%",
            "a\"b$c\\",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn systemd_quotes_every_argument() {
        let (service, timer) = systemd(&cmd(), 86_400);
        assert!(service.contains(
            "ExecStart=\"/usr/bin/cargo-janitor\" \"tidy\" \"--budget\" \"20 GiB\" \
             \"--min-free\" \"10%%\" \"a\\\"b$$c\\\\\"\n"
        ));
        assert!(service.contains("SuccessExitStatus=3\n"));
        assert!(timer.contains("OnUnitActiveSec=86400s\n"));
    }

    #[test]
    fn launchd_and_task_escape_xml_and_quote_windows_arguments() {
        let p = launchd(&["/x".into(), "a<b&c".into()], 3600, Some("/l"));
        assert!(p.contains("<string>a&lt;b&amp;c</string>"));
        assert!(p.contains("<integer>3600</integer>"));
        let t = task_xml(&cmd(), 3600);
        assert!(t.contains("<Interval>PT3600S</Interval>"));
        assert!(t.contains(
            "<Arguments>tidy --budget &quot;20 GiB&quot; --min-free 10% &quot;a\\&quot;b$c\\\\&quot;</Arguments>"
        ));
        assert_eq!(windows_quote("C:\\a b\\"), "\"C:\\a b\\\\\"");
        assert_eq!(windows_quote(""), "\"\"");
        let b = utf16_with_bom("<a/>");
        assert_eq!(&b[..4], &[0xFF, 0xFE, b'<', 0]);
    }
}
