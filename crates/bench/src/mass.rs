//! `--mass-only`: a quiet mass disable, then enable, of every user of the API
//! key's organization (the seed puts a quarter of the users there), through
//! `POST /api/users/mass/{disable,enable}`, on a freshly seeded database per
//! `--users` size and backend. Each run also measures `grid view=all` p50
//! before the flips as its reference: the machine is shared, and a ratio to a
//! page measured in the same minute says how loaded it was.

use crate::Args;
use crate::report::Row;
use crate::scenarios::{self, Target};

/// Flips per direction: the best is reported, all of them in the note.
const ROUNDS: usize = 2;

async fn rows(args: &Args, t: &Target) -> Result<Vec<Row>, String> {
    let (server, _) = scenarios::start(args, t).await?;
    let cookie = scenarios::admin_session(&server.base).await?;
    let auth = format!("Bearer {}", t.admin_key(args)?);
    let mut out = Vec::new();

    let reference = format!("{}/admin/users?view=all", server.base);
    let s = scenarios::get_latency(args, reference, Some(cookie), None).await;
    let reference_ms = s.p50_ms;
    out.push(scenarios::latency_row(
        t,
        "grid view=all p50 (reference)",
        &s,
        "≤ 15 ms p50 (SQLite, 1M)",
        15.0,
    ));

    let all = serde_json::json!({ "filter": { "view": "all" } });
    let mut times: [Vec<(f64, i64)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, action) in ["disable", "enable"].into_iter().enumerate() {
            let (secs, status, body) = scenarios::timed_mass(&server, &auth, action, all.clone()).await?;
            if !status.is_success() {
                return Err(format!("mass {action}: HTTP {status}: {body}"));
            }
            let affected = body["meta"]["affected"].as_i64().unwrap_or(0);
            eprintln!("   mass {action}: {affected} users in {secs:.3} s");
            if let Some(v) = times.get_mut(i) {
                v.push((secs, affected));
            }
        }
    }
    for (action, runs) in ["disable", "enable"].into_iter().zip(times) {
        let per_100k: Vec<f64> = runs
            .iter()
            .map(|(secs, n)| secs * 100_000.0 / (*n).max(1) as f64)
            .collect();
        let best = per_100k.iter().copied().fold(f64::INFINITY, f64::min);
        let mut r = scenarios::target(
            t.row(&format!("mass {action}, per 100,000 users"), best, "s"),
            "≤ 1 s per 100,000",
            best <= 1.0,
        );
        let each = runs
            .iter()
            .map(|(secs, n)| format!("{n} users in {secs:.2} s"))
            .collect::<Vec<_>>()
            .join(", ");
        r.note = format!(
            "best of {ROUNDS}: {each}; {:.0}× grid view=all p50 ({reference_ms:.1} ms)",
            best * 1000.0 / reference_ms.max(0.001)
        );
        out.push(r);
    }
    Ok(out)
}

/// `--mass-only`: per `--users` size and backend, a freshly seeded database,
/// then the mass disable and enable rows. Writes no report.
pub async fn only(args: &Args) -> Result<Vec<Row>, String> {
    let mut out = Vec::new();
    for &users in &args.users {
        for (backend, pg) in scenarios::backends(args) {
            let (t, _) = scenarios::seeded(args, "mass", backend, users, pg, 0).await?;
            out.extend(rows(args, &t).await?);
        }
    }
    Ok(out)
}
