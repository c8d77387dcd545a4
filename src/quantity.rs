//! Durations and sizes in Cargo's own grammar.
//!
//! `cargo clean gc` and the `[cache]` config table accept durations such as `"3 months"` and
//! sizes such as `"10 GiB"`. In cargo config we accept exactly the same strings, with the same
//! rules (`src/cargo/core/gc.rs`: `maybe_parse_time_span`, `parse_human_size`), so that a value
//! that works in Cargo works here and a value Cargo rejects is rejected here too
//! ([`parse_span`]). The one deliberate difference: Cargo overflows on absurd ages; we
//! saturate, which later means "nothing is that old".
//!
//! Every duration *flag* (`--grace`, `--max-*-age`, `--timeout`, `--sample`, `stop --grace`)
//! takes one grammar, [`parse_duration`]: Cargo's, plus short units and fractions, the same
//! for all of them:
//!
//! * `N[.F][ ]UNIT`: a number (a fraction is allowed: `1.5h`, `0.5s`), at most one space, and
//!   one of Cargo's units (`second(s)`, `minute(s)`, `hour(s)`, `day(s)`, `week(s)`,
//!   `month(s)`, a month being 30.436875 days) or a short one: `ms`, `s`, `min`, `h`, `d`, `w`;
//! * `0` alone is zero (zero is zero in any unit);
//! * `m` is refused as ambiguous (minutes, or months as in Cargo's `"3 months"`?), and so is a
//!   number without a unit; units are lower case, as in Cargo.
//!
//! Ages, grace periods and timeouts count whole seconds (a `.global-cache` timestamp is whole
//! seconds): a fraction of a second rounds up ([`Span::from_duration`]); `--sample` keeps it.

use std::fmt;
use std::time::Duration;

/// Seconds in Cargo's "month": 30.436875 days.
pub const MONTH_SECS: u64 = 2_629_746;

/// The accepted forms, for error messages.
pub const DURATION_GRAMMAR: &str = "a whole number and a unit: N seconds|minutes|hours|days|weeks|months (e.g. \"30 days\", \"3months\")";
/// The accepted forms of a duration in cargo config (`cache.global-clean.*`).
pub const CONFIG_DURATION: &str = "a string like \"1 month\" (a whole number and a unit: N seconds|minutes|hours|days|weeks|months)";
/// The accepted forms of `cache.auto-clean-frequency`.
pub const CONFIG_FREQUENCY: &str = "\"always\", \"never\" or a string like \"1 day\" (a whole number and a unit: N seconds|minutes|hours|days|weeks|months)";

/// The accepted forms of a duration flag, for error messages and `--help`.
pub const FLAG_DURATION_GRAMMAR: &str = "a number and a unit: N seconds|minutes|hours|days|weeks|months (Cargo's), or the short units ms, s, min, h, d, w; a fraction is allowed, and \"0\" alone is zero (e.g. \"30 days\", \"10 minutes\", \"30s\", \"5min\", \"1.5h\", \"500ms\")";
pub const SIZE_GRAMMAR: &str = "a number with at most one decimal and an optional unit: b, kb, mb, gb, kib, mib, gib (e.g. \"10 GiB\", \"1.5gb\", \"4096\")";

/// A span of time in whole seconds, as Cargo's GC understands it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub u64);

impl Span {
    pub fn secs(self) -> u64 {
        self.0
    }

    /// Whole seconds, a fraction of a second rounded up (a limit of "0.5s" is one second, not
    /// zero: a grace period or an age never shrinks by rounding).
    pub fn from_duration(d: Duration) -> Span {
        Span(d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0)))
    }
}

/// Parses a duration flag: Cargo's grammar plus short units and fractions (see the module
/// docs). Absurdly long durations saturate.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{input}`: expected {FLAG_DURATION_GRAMMAR}");
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    let int_end = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    let (int, rest) = input.split_at(int_end);
    if int.is_empty() {
        return Err(bad());
    }
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            // At least one digit, at most nanoseconds' worth.
            if end == 0 || end > 9 {
                return Err(bad());
            }
            r.split_at(end)
        }
        None => ("", rest),
    };
    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    const NS: u128 = 1_000_000_000;
    let factor: u128 = match unit {
        "ms" => 1_000_000,
        "s" | "second" | "seconds" => NS,
        "min" | "minute" | "minutes" => 60 * NS,
        "h" | "hour" | "hours" => 3600 * NS,
        "d" | "day" | "days" => 86_400 * NS,
        "w" | "week" | "weeks" => 7 * 86_400 * NS,
        "month" | "months" => MONTH_SECS as u128 * NS,
        "m" => {
            return Err(format!(
                "invalid duration `{input}`: `m` is ambiguous (minutes or months?): write \
                 `{int}{frac_dot}{frac}min` for minutes or `\"{int}{frac_dot}{frac} months\"` for months",
                frac_dot = if frac.is_empty() { "" } else { "." },
            ));
        }
        _ => return Err(bad()),
    };
    // A count too large is still "a very long time": saturate rather than fail.
    let Ok(int) = int.parse::<u128>() else {
        return Ok(Duration::MAX);
    };
    let mut nanos = int.saturating_mul(factor);
    if !frac.is_empty() {
        let scale = 10u128.pow(frac.len() as u32);
        let f: u128 = frac.parse().map_err(|_| bad())?;
        nanos = nanos.saturating_add((f * factor).div_ceil(scale));
    }
    let secs = nanos / NS;
    Ok(match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, (nanos % NS) as u32),
        Err(_) => Duration::MAX,
    })
}

/// Parses `"N unit"` exactly as Cargo does: digits, at most one space, then one of
/// second(s), minute(s), hour(s), day(s), week(s), month(s). No sign, no decimals.
pub fn parse_span(input: &str) -> Result<Span, String> {
    let bad = || format!("invalid duration `{input}`: expected {DURATION_GRAMMAR}");
    let split = input.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, rest) = input.split_at(split);
    if digits.is_empty() {
        return Err(bad());
    }
    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    let factor = match unit {
        "second" | "seconds" => 1,
        "minute" | "minutes" => 60,
        "hour" | "hours" => 60 * 60,
        "day" | "days" => 24 * 60 * 60,
        "week" | "weeks" => 7 * 24 * 60 * 60,
        "month" | "months" => MONTH_SECS,
        _ => return Err(bad()),
    };
    // A count too large for u64 is still "a very long time": saturate rather than fail.
    let count: u64 = digits.parse().unwrap_or(u64::MAX);
    Ok(Span(count.saturating_mul(factor)))
}

/// Cargo's `cache.auto-clean-frequency`: "never", "always", or a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Never,
    Always,
    Every(Span),
}

pub fn parse_frequency(input: &str) -> Result<Frequency, String> {
    match input {
        "never" => Ok(Frequency::Never),
        "always" => Ok(Frequency::Always),
        other => parse_span(other).map(Frequency::Every).map_err(|_| {
            format!(
                "invalid frequency `{input}`: expected \"always\", \"never\", or {DURATION_GRAMMAR}"
            )
        }),
    }
}

/// Parses a size exactly as Cargo does: `(?i)^([0-9]+(\.[0-9])?) ?(b|kb|mb|gb|kib|mib|gib)?$`.
/// Without a unit the number must be a whole number of bytes.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let bad = || format!("invalid size `{input}`: expected {SIZE_GRAMMAR}");
    let int_end = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    if int_end == 0 {
        return Err(bad());
    }
    let mut num_end = int_end;
    let rest = &input[int_end..];
    if let Some(frac) = rest.strip_prefix('.') {
        // Exactly one decimal digit.
        if !frac.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad());
        }
        num_end = int_end + 2;
    }
    let number = &input[..num_end];
    let unit = &input[num_end..];
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" => {
            return number.parse::<u64>().map_err(|_| bad());
        }
        "b" => 1.0,
        "kb" => 1_000.0,
        "mb" => 1_000_000.0,
        "gb" => 1_000_000_000.0,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    Ok((value * factor) as u64)
}

/// Bytes shown the way Cargo shows them (`human_readable_bytes`): binary units, one decimal.
pub struct HumanBytes(pub u64);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// How long ago a unix time was, in the largest sensible unit ("3 days ago").
pub fn ago(now: u64, then: u64) -> String {
    if then > now {
        return "in the future".to_string();
    }
    let d = now - then;
    let (n, unit) = if d < 60 {
        return "just now".to_string();
    } else if d < 3600 {
        (d / 60, "minute")
    } else if d < 86_400 {
        (d / 3600, "hour")
    } else if d < 14 * 86_400 {
        (d / 86_400, "day")
    } else if d < 2 * MONTH_SECS {
        (d / (7 * 86_400), "week")
    } else {
        (d / MONTH_SECS, "month")
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A span back in Cargo's words ("1 month", "3 months", "90 seconds").
pub fn span_words(span: Span) -> String {
    let s = span.0;
    let (n, unit) = [
        (MONTH_SECS, "month"),
        (7 * 86_400, "week"),
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ]
    .into_iter()
    .find(|&(f, _)| s != 0 && s.is_multiple_of(f))
    .map_or((s, "second"), |(f, u)| (s / f, u));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `serde-1.0.210` (a source's or archive's directory name) as `serde 1.0.210`: split before
/// the first `-` that starts a version (`sha-1-0.10.0` is `sha-1 0.10.0`). A name with no
/// version is returned as it is.
pub fn name_version(dir: &str) -> String {
    let is_version = |v: &str| {
        let core = v.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    for (i, _) in dir.match_indices('-') {
        if is_version(&dir[i + 1..]) {
            return format!("{} {}", &dir[..i], &dir[i + 1..]);
        }
    }
    dir.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_are_split_where_the_version_starts() {
        assert_eq!(name_version("serde-1.0.210"), "serde 1.0.210");
        assert_eq!(name_version("sha-1-0.10.0"), "sha-1 0.10.0");
        assert_eq!(name_version("a-b-2.0.0-rc.1+x"), "a-b 2.0.0-rc.1+x");
        assert_eq!(name_version("gitdep-1a2b3c"), "gitdep-1a2b3c");
    }

    #[test]
    fn spans_follow_cargo() {
        assert_eq!(parse_span("1 second"), Ok(Span(1)));
        assert_eq!(parse_span("3months"), Ok(Span(3 * MONTH_SECS)));
        assert_eq!(parse_span("2 weeks"), Ok(Span(14 * 86_400)));
        assert_eq!(parse_span("0days"), Ok(Span(0)));
        assert_eq!(parse_span("1 month"), Ok(Span(2_629_746)));
        for bad in [
            "", "days", "1", "1  day", "1 year", "-1 day", "1.5 days", "1 day ", " 1 day", "1 Days",
        ] {
            let err = parse_span(bad).unwrap_err();
            assert!(err.contains("seconds|minutes"), "{bad}: {err}");
        }
    }

    #[test]
    fn flag_durations() {
        let d = |s| parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        // Cargo's own forms.
        assert_eq!(d("30 days"), Duration::from_secs(30 * 86_400));
        assert_eq!(d("3months"), Duration::from_secs(3 * MONTH_SECS));
        assert_eq!(d("1 second"), Duration::from_secs(1));
        assert_eq!(d("10 minutes"), Duration::from_secs(600));
        // Short units, with or without a space.
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("5min"), Duration::from_secs(300));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("7 d"), Duration::from_secs(7 * 86_400));
        assert_eq!(d("2w"), Duration::from_secs(14 * 86_400));
        // Fractions, in any unit.
        assert_eq!(d("0.5s"), Duration::from_millis(500));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("1.5 days"), Duration::from_secs(129_600));
        assert_eq!(d("0.25ms"), Duration::from_micros(250));
        // Zero.
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("0 seconds"), Duration::ZERO);
        assert_eq!(d("0s"), Duration::ZERO);
        // Saturation.
        assert_eq!(
            d("99999999999999999999999999999999999999999 months"),
            Duration::MAX
        );
        assert_eq!(d("10000000000000 months"), Duration::MAX);
        for bad in [
            "",
            "s",
            "1",
            "0.5",
            "30",
            "1  day",
            "1 year",
            "-1 day",
            "1.s",
            ".5s",
            "1 day ",
            " 1 day",
            "1 Days",
            "1S",
            "1sec",
            "1mo",
            "1.0000000001s",
            "1e3s",
            "1,5h",
            "5 mins",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("seconds|minutes|hours|days|weeks|months"),
                "{bad}: {err}"
            );
            assert!(err.contains("ms, s, min, h, d, w"), "{bad}: {err}");
        }
        // `m`: minutes or months? Refused, naming both.
        let err = parse_duration("5m").unwrap_err();
        assert!(
            err.contains("ambiguous") && err.contains("5min") && err.contains("5 months"),
            "{err}"
        );
        assert!(parse_duration("1.5 m").unwrap_err().contains("1.5min"));
    }

    #[test]
    fn spans_from_durations_round_up() {
        assert_eq!(Span::from_duration(Duration::ZERO), Span(0));
        assert_eq!(Span::from_duration(Duration::from_millis(500)), Span(1));
        assert_eq!(Span::from_duration(Duration::from_secs(60)), Span(60));
        assert_eq!(Span::from_duration(Duration::from_millis(60_001)), Span(61));
        assert_eq!(Span::from_duration(Duration::MAX), Span(u64::MAX));
    }

    #[test]
    fn huge_spans_saturate() {
        assert_eq!(
            parse_span("99999999999999999999999 months"),
            Ok(Span(u64::MAX))
        );
        assert_eq!(parse_span("10000000000000 months"), Ok(Span(u64::MAX)));
    }

    #[test]
    fn sizes_follow_cargo() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10 GiB"), Ok(10 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5gb"), Ok(1_500_000_000));
        assert_eq!(parse_size("2kB"), Ok(2000));
        assert_eq!(parse_size("3 b"), Ok(3));
        assert_eq!(parse_size("0.5 kib"), Ok(512));
        for bad in [
            "", "1.5", "1.55 GB", "GB", "1 TB", "1  GB", "-1", "1e3", "1. GB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frequency() {
        assert_eq!(parse_frequency("never"), Ok(Frequency::Never));
        assert_eq!(parse_frequency("always"), Ok(Frequency::Always));
        assert_eq!(parse_frequency("1 day"), Ok(Frequency::Every(Span(86_400))));
        assert!(parse_frequency("sometimes").is_err());
    }

    #[test]
    fn human_bytes() {
        assert_eq!(HumanBytes(0).to_string(), "0 B");
        assert_eq!(HumanBytes(1023).to_string(), "1023 B");
        assert_eq!(HumanBytes(1536).to_string(), "1.5 KiB");
        assert_eq!(HumanBytes(10 * 1024 * 1024 * 1024).to_string(), "10.0 GiB");
    }

    #[test]
    fn words() {
        assert_eq!(span_words(Span(MONTH_SECS)), "1 month");
        assert_eq!(span_words(Span(3 * MONTH_SECS)), "3 months");
        assert_eq!(span_words(Span(86_400)), "1 day");
        assert_eq!(span_words(Span(0)), "0 seconds");
        assert_eq!(ago(1000, 1000), "just now");
        assert_eq!(ago(86_400 * 3, 0), "3 days ago");
    }
}
