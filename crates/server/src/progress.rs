//! One progress bar for every long command (export, import, seed): the same
//! layout, drawn on standard error only when it is a terminal, with rates as
//! whole numbers ("1234 users/s", not indicatif's "1234.5678/s").

use std::fmt::Write as _;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// What a bar counts.
#[derive(Debug, Clone, Copy)]
pub enum Counting {
    /// Things with a name: "users", "records".
    Items(&'static str),
    /// Bytes of an input file.
    Bytes,
}

/// "1235 users/s": a rate without decimals.
pub fn rate(per_sec: f64, unit: &str) -> String {
    if per_sec.is_finite() && per_sec > 0.0 {
        format!("{per_sec:.0} {unit}/s")
    } else {
        String::new()
    }
}

/// A bar of `len`, labelled `label` (shown before it, like a phase: "users", "import").
pub fn bar(len: u64, label: &str, counting: Counting) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let template = match counting {
        Counting::Items(_) => "{msg:>8} [{bar:40}] {pos}/{len}  {rate}  eta {eta}",
        Counting::Bytes => "{msg:>8} [{bar:40}] {bytes}/{total_bytes}  {rate}  eta {eta}",
    };
    let unit = match counting {
        Counting::Items(unit) => unit,
        Counting::Bytes => "bytes",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        let style = match counting {
            Counting::Items(_) => style.with_key("rate", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate(s.per_sec(), unit));
            }),
            Counting::Bytes => style.with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let mut out = String::new();
                let per_sec = s.per_sec();
                if per_sec.is_finite() && per_sec > 0.0 {
                    let _ = write!(out, "{}/s", indicatif::HumanBytes(per_sec as u64));
                }
                let _ = w.write_str(&out);
            }),
        };
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(label.to_owned());
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_numbers() {
        assert_eq!(rate(1234.5678, "users"), "1235 users/s");
        assert_eq!(rate(0.0, "users"), "");
        assert_eq!(rate(f64::NAN, "users"), "");
    }
}
