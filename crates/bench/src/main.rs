//! `muster-bench`: seed, serve, drive over loopback with a bounded-time load
//! generator, and write the numbers to BENCHMARKS.md and a JSON file beside it.
//! Run through `scripts/bench` (release build). Never part of the test suite.

mod dashboard;
mod export_ratio;
mod load;
mod mass;
mod memory;
mod mixed;
mod proc_stats;
mod report;
mod scenarios;
mod search;
mod timing;

use std::path::PathBuf;

use clap::Parser;

/// A change the mixed load is measured during.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixedChange {
    /// Mass disable/enable flips through the API.
    Flips,
    /// A CLI import of new users.
    Import,
    /// A mass password reset job.
    Reset,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Measure muster's hot paths against their targets")]
pub struct Args {
    /// User counts to seed, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub users: Vec<i64>,
    /// Also run on this PostgreSQL server (a fresh database is created per size).
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// With `--postgres-url`: run on PostgreSQL only, not on SQLite too.
    #[arg(long, requires = "postgres_url")]
    pub postgres_only: bool,
    /// Seconds per latency scenario.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The muster binary (a release build).
    #[arg(long, default_value = "target/release/muster")]
    pub bin: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.json")]
    pub json: PathBuf,
    /// Requests per group (existing, unknown account) in the forgot-password timing.
    #[arg(long, default_value_t = 150)]
    pub forgot_samples: usize,
    /// Only the forgot-password timing (existing vs unknown account), on a fresh
    /// database of the first `--users` size; prints the numbers, writes no report.
    #[arg(long)]
    pub forgot_timing: bool,
    /// Login attempts to seed per user, for the dashboard's scenario (10: 10M at 1M users).
    #[arg(long, default_value_t = 10)]
    pub login_attempts_per_user: i64,
    /// Only the dashboard: seed users and login attempts, measure GET /admin;
    /// prints the numbers, writes no report.
    #[arg(long)]
    pub dashboard_only: bool,
    /// Only the mass password reset (a job: 10,000 users by id, then every user
    /// of the key's organization, about a quarter of `--users`); prints the numbers, writes no report.
    #[arg(long)]
    pub mass_reset_only: bool,
    /// Only the search rows (grid and API, "smith"), with `grid view=all` as
    /// the reference, on a database seeded once and reused; writes no report.
    #[arg(long)]
    pub search_only: bool,
    /// Only the memory rows (issue 11): a fresh start, a seed of the first
    /// `--users` size, sign-ins, export, import; prints them, writes no report.
    #[arg(long)]
    pub memory_only: bool,
    /// Only the mixed load (sign-ins and grid pages during mass disable/enable
    /// flips): seed each `--users` size, measure; prints the numbers, writes no report.
    #[arg(long)]
    pub mixed_only: bool,
    /// With the mixed load: also run it this many minutes while mass flips,
    /// imports, mass resets, exports and searches follow one another, and
    /// report the RSS during and after (0: not run).
    #[arg(long, default_value_t = 0)]
    pub mixed_minutes: u64,
    /// With the mixed load: which changes to measure it during (to look into one of them).
    #[arg(long, value_delimiter = ',', default_value = "flips,import,reset")]
    pub mixed_changes: Vec<MixedChange>,
    /// Only the export against `sqlite3 -csv` / `psql \copy` (and the seed's time):
    /// seed users, export, dump; prints the numbers, writes no report.
    #[arg(long)]
    pub export_only: bool,
    /// Only the mass enable/disable (issue 11): a quiet mass disable then enable
    /// of the key's organization through the API, on a fresh seed of each
    /// `--users` size, with `grid view=all` p50 as the reference; writes no report.
    #[arg(long)]
    pub mass_only: bool,
    /// Where to keep the seeded databases.
    #[arg(long, default_value = "target/bench-data")]
    pub work_dir: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("muster-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // one scenario alone: print its rows, write no report
    let only = if args.forgot_timing {
        Some(rt.block_on(scenarios::forgot_timing_only(&args)))
    } else if args.mass_reset_only {
        Some(rt.block_on(scenarios::mass_reset_only(&args)))
    } else if args.dashboard_only {
        Some(rt.block_on(dashboard::only(&args)))
    } else if args.search_only {
        Some(rt.block_on(search::only(&args)))
    } else if args.memory_only {
        Some(rt.block_on(memory::only(&args)))
    } else if args.export_only {
        Some(rt.block_on(export_ratio::only(&args)))
    } else if args.mass_only {
        Some(rt.block_on(mass::only(&args)))
    } else if args.mixed_only {
        Some(rt.block_on(mixed::only(&args)))
    } else {
        None
    };
    if let Some(result) = only {
        return print_rows(result);
    }
    match rt.block_on(scenarios::run_all(&args)) {
        Ok(results) => {
            if let Err(e) = report::write(&args, &results) {
                eprintln!("muster-bench: writing the report: {e}");
                return std::process::ExitCode::FAILURE;
            }
            println!("wrote {} and {}", args.out.display(), args.json.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("muster-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn print_rows(result: Result<Vec<report::Row>, String>) -> std::process::ExitCode {
    match result {
        Ok(rows) => {
            for r in rows {
                println!(
                    "{} {} users | {} | {:.3} {} | {} | {}",
                    r.backend, r.users, r.scenario, r.value, r.unit, r.target, r.note
                );
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("muster-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
