//! `muster seed --login-attempts N`: fake sign-ins of the users already in
//! the database, spread over the last 30 days, for the dashboard's benchmark
//! (10M attempts beside a million users). Mostly successes, some wrong
//! passwords (a few of which lock), a few unknown usernames.

use muster_store::seed_attempts::{self, SeedAttempt};
use muster_store::{Backend, Store};

use crate::clock;
use crate::error::AppResult;
use crate::seed::Rng;

const DAY_MS: i64 = 86_400_000;
const SPAN_MS: i64 = 30 * DAY_MS;
const BATCH: i64 = 1000;
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "muster-client/1.0",
];

/// Add `n` attempts; returns how many were added.
pub async fn run(store: &Store, n: i64, show_progress: bool) -> AppResult<i64> {
    if n <= 0 {
        return Ok(0);
    }
    let now = clock::now();
    let mut tx = store.begin().await?;
    let (first_id, _, users) = seed_attempts::user_ids(&mut tx).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts")
        .fetch_one(&mut *tx)
        .await?;
    if store.backend == Backend::Sqlite {
        sqlx::query("PRAGMA cache_size = -262144").execute(&mut *tx).await?;
    }
    // into a (nearly) empty table, build the indexes and the rollup once at the end
    let deferred = if n >= 10_000 && existing <= n / 10 {
        Some(seed_attempts::start(&mut tx, store.backend).await?)
    } else {
        None
    };
    let bar = if show_progress {
        crate::progress::bar(
            u64::try_from(n).unwrap_or(0),
            "login attempts",
            crate::progress::Counting::Items("rows"),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut rng = Rng(0xA77E_4D75 ^ u64::try_from(existing).unwrap_or(0));
    let start = now - SPAN_MS;
    let step = (SPAN_MS / n).max(1);
    let mut done = 0;
    while done < n {
        let size = BATCH.min(n - done);
        let batch: Vec<SeedAttempt> = (done..done + size)
            .map(|i| fake_attempt(&mut rng, (start + i * step).min(now), first_id, users))
            .collect();
        seed_attempts::insert(&mut tx, &batch).await?;
        done += size;
        bar.inc(u64::try_from(size).unwrap_or(0));
    }
    if let Some(deferred) = deferred {
        bar.set_message("indexes");
        seed_attempts::finish(&mut tx, deferred).await?;
    }
    tx.commit().await?;
    bar.finish_and_clear();
    Ok(done)
}

fn fake_attempt(rng: &mut Rng, at: i64, first_id: i64, users: i64) -> SeedAttempt {
    let user_id = first_id + i64::try_from(rng.below(u64::try_from(users).unwrap_or(1))).unwrap_or(0);
    let (user_id, success, reason) = match rng.below(1000) {
        // an unknown username
        0..10 => (None, false, "unknown user".to_owned()),
        // a wrong password; one in 200 of them the last one before the lock
        10..120 if rng.chance(5) => (
            Some(user_id),
            false,
            format!(
                "wrong password (10); {}",
                muster_store::login_rollup::LOCKOUT_REASON_SUFFIX
            ),
        ),
        10..120 => (Some(user_id), false, format!("wrong password ({})", 1 + rng.below(9))),
        _ => (Some(user_id), true, String::new()),
    };
    let ip = format!("10.{}.{}.{}", rng.below(4), rng.below(256), 1 + rng.below(254));
    SeedAttempt {
        at,
        username: user_id.map_or_else(|| format!("nobody{}", rng.below(1000)), |id| format!("user{id}")),
        user_id,
        success,
        source: if rng.chance(50) { "api" } else { "web" },
        ip,
        user_agent: AGENTS[usize::try_from(rng.below(3)).unwrap_or(0)],
        reason,
    }
}
