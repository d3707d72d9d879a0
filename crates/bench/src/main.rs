//! `muster-bench`: seed, serve, drive over loopback with a bounded-time load
//! generator, and write the numbers to BENCHMARKS.md and a JSON file beside it.
//! Run through `scripts/bench` (release build). Never part of the test suite.

mod dashboard;
mod export_ratio;
mod load;
mod proc_stats;
mod report;
mod scenarios;
mod timing;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "Measure muster's hot paths against their targets")]
pub struct Args {
    /// User counts to seed, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub users: Vec<i64>,
    /// Also run on this PostgreSQL server (a fresh database is created per size).
    #[arg(long)]
    pub postgres_url: Option<String>,
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
    /// Only the export against `sqlite3 -csv` / `psql \copy` (and the seed's time):
    /// seed users, export, dump; prints the numbers, writes no report.
    #[arg(long)]
    pub export_only: bool,
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
    if args.forgot_timing {
        return match rt.block_on(scenarios::forgot_timing_only(&args)) {
            Ok(rows) => {
                for r in rows {
                    println!(
                        "{} {} users | {} | {:.3} {} | {} {}",
                        r.backend, r.users, r.scenario, r.value, r.unit, r.target, r.note
                    );
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("muster-bench: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if args.export_only {
        return match rt.block_on(export_ratio::only(&args)) {
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
        };
    }
    if args.dashboard_only {
        return match rt.block_on(dashboard::only(&args)) {
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
        };
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
