//! BENCHMARKS.md (a table per run, with the machine) and a JSON file beside it.

use std::fmt::Write as _;

use crate::Args;

#[derive(Debug, Clone)]
pub struct Row {
    pub backend: String,
    pub users: i64,
    pub scenario: String,
    pub value: f64,
    pub unit: &'static str,
    /// e.g. "≤ 15 ms p50"; empty when there is no target.
    pub target: String,
    pub met: Option<bool>,
    pub note: String,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or_else(String::new, |k| format!("{:.0} GiB", k as f64 / 1024.0 / 1024.0));
    format!("{cpu}, {cores} cores, {mem}")
}

pub fn write(args: &Args, rows: &[Row]) -> std::io::Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Made by `scripts/bench` (release build, loopback, {} concurrent clients, {} s per latency scenario) on {}.",
        args.concurrency,
        args.seconds,
        machine()
    );
    let _ = writeln!(
        md,
        "The JSON beside this file holds the same rows. Targets are issue 7's.\n"
    );
    let _ = writeln!(md, "| backend | users | scenario | result | target | met | note |");
    let _ = writeln!(md, "|---|---:|---|---:|---|---|---|");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} {} | {} | {} | {} |",
            r.backend, r.users, r.scenario, r.value, r.unit, r.target, met, r.note
        );
    }
    let notes_path = std::path::Path::new("docs/benchmarks-notes.md");
    if let Ok(notes) = std::fs::read_to_string(notes_path) {
        let _ = writeln!(md, "\n{notes}");
    }
    std::fs::write(&args.out, md)?;
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "backend": r.backend, "users": r.users, "scenario": r.scenario, "value": r.value,
                "unit": r.unit, "target": r.target, "met": r.met, "note": r.note,
            })
        })
        .collect();
    std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&serde_json::json!({"machine": machine(), "rows": json}))?,
    )
}
