//! The delivery worker: claims due mail with a lease, sends it, and either
//! marks it sent (dropping its bodies), schedules a retry with exponential
//! backoff, or marks it failed after the last attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use muster_store::outbox::{self, Mail};
use muster_store::{Backend, Store};

use super::transport::{Transport, build_message};
use crate::clock;
use crate::config::Config;
use crate::error::AppResult;
use crate::settings::Settings;

/// Longer than an SMTP timeout: a lease only runs out when its worker died.
const LEASE_MS: i64 = 120_000;
const BATCH: i64 = 20;
const IDLE_POLL: Duration = Duration::from_secs(1);
const MAX_BACKOFF_MS: i64 = 3_600_000;
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// Spent and expired reset tokens are of no use to anyone: delete them.
async fn cleanup(store: &Store) -> AppResult<()> {
    let mut conn = store.conn().await?;
    muster_store::password_resets::delete_expired(&mut conn, clock::now()).await?;
    muster_store::second_factor::delete_expired_pending(&mut conn, clock::now()).await?;
    muster_store::passkeys::delete_expired_ceremonies(&mut conn, clock::now()).await?;
    Ok(())
}

/// Start the worker of `muster serve`. It runs until the process ends; a
/// mail in flight then is taken over when its lease runs out.
pub fn spawn(store: Store, config: Arc<Config>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let transport = match Transport::from_config(&config) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "mail delivery is off: the mail transport is not usable");
                return;
            }
        };
        tracing::info!(transport = %transport.describe(), "mail worker started");
        let mut last_cleanup: Option<std::time::Instant> = None;
        let mut last_scrub = std::time::Instant::now();
        while !store.is_closed() {
            if last_cleanup.is_none_or(|t| t.elapsed() > CLEANUP_EVERY) {
                last_cleanup = Some(std::time::Instant::now());
                if let Err(e) = cleanup(&store).await {
                    tracing::error!(error = %e, "cleaning up reset tokens");
                }
            }
            let woken = super::wake_signal().notified();
            match deliver_due(&store, &config, &transport).await {
                Ok(n) if n > 0 => {
                    // more may be due (a mass reset queues thousands): scrub now and then meanwhile
                    if last_scrub.elapsed() >= SCRUB_EVERY {
                        scrub_if_owed(&store, &mut last_scrub).await;
                    }
                    continue;
                }
                Ok(_) => scrub_if_owed(&store, &mut last_scrub).await,
                Err(_) if store.is_closed() => return,
                Err(e) => tracing::error!(error = %e, "mail worker"),
            }
            let _ = tokio::time::timeout(IDLE_POLL, woken).await;
        }
    })
}

/// Deliver the mail that is due now; returns how many were claimed.
pub async fn deliver_due(store: &Store, config: &Config, transport: &Transport) -> AppResult<usize> {
    let now = clock::now();
    let mails = {
        let mut conn = store.conn().await?;
        outbox::claim_due(&mut conn, store.backend, now, now + LEASE_MS, BATCH).await?
    };
    if mails.is_empty() {
        return Ok(0);
    }
    let settings = Settings::load(&mut *store.conn().await?).await?;
    let mut sent = 0;
    for mail in &mails {
        // the outcome is kept on the row (sent, retry, failed)
        if deliver(store, config, transport, &settings, mail).await?.is_ok() {
            sent += 1;
        }
    }
    if sent > 0 && store.backend == Backend::Sqlite {
        SCRUB_OWED.store(true, Ordering::Relaxed);
    }
    Ok(mails.len())
}

/// Set while delivered bodies may still sit in the WAL (not checkpointed yet,
/// or a checkpoint was held back).
static SCRUB_OWED: AtomicBool = AtomicBool::new(false);

/// How often the WAL is scrubbed while mail keeps coming; once the due mail
/// is all delivered, it is scrubbed at once. A checkpoint that empties the
/// WAL holds SQLite's writer while it copies the last frames, syncs the file,
/// waits for readers on an older snapshot and cuts the file: at 1M users
/// 2–73 ms, and more after a big change had grown the file. One per batch of
/// [`BATCH`] mails was 4 a second during a mass reset, and every sign-in that
/// wrote meanwhile waited for it. Between two scrubs the bodies of up to a
/// second of deliveries stay in the WAL, beside the undelivered ones the
/// outbox holds anyway.
const SCRUB_EVERY: Duration = Duration::from_secs(1);

async fn scrub_if_owed(store: &Store, last_scrub: &mut std::time::Instant) {
    if !SCRUB_OWED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = scrub_wal(store).await {
        tracing::error!(error = %e, "checkpointing the WAL");
    }
    *last_scrub = std::time::Instant::now();
}

/// Once delivered bodies are emptied, no copy of them may stay in the WAL.
/// Measured on the shared 2-core machine (release build, SQLite, 150 reset
/// mails in 8 batches): 1.0 to 7.7 ms a checkpoint at a small database; it
/// syncs the database file, so it is done per batch or less often, never per mail.
async fn scrub_wal(store: &Store) -> AppResult<()> {
    let started = std::time::Instant::now();
    let emptied = outbox::checkpoint_wal(&mut *store.conn().await?, store.backend).await?;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if emptied {
        SCRUB_OWED.store(false, Ordering::Relaxed);
        tracing::debug!(micros, "WAL checkpointed after delivery");
    } else {
        // under a steady load this happens every second or so, and the next try gets through
        tracing::debug!(
            micros,
            "WAL checkpoint held back by a reader or writer; tried again soon"
        );
    }
    Ok(())
}

/// Claim and deliver one mail now (`muster send-test-email`).
pub async fn deliver_now(
    store: &Store,
    config: &Config,
    transport: &Transport,
    id: i64,
) -> AppResult<Result<(), String>> {
    let now = clock::now();
    let Some(mail) = outbox::claim_one(&mut *store.conn().await?, id, now, now + LEASE_MS).await? else {
        return Ok(Err("the mail is held by a running worker".to_owned()));
    };
    let settings = Settings::load(&mut *store.conn().await?).await?;
    deliver(store, config, transport, &settings, &mail).await
}

async fn deliver(
    store: &Store,
    config: &Config,
    transport: &Transport,
    settings: &Settings,
    mail: &Mail,
) -> AppResult<Result<(), String>> {
    let result = match build_message(config, mail) {
        Ok(message) => transport.send(mail, message).await,
        Err(e) => Err(e),
    };
    if result.is_ok() {
        mark_sent(store, mail.id).await?;
        return Ok(result);
    }
    let mut conn = store.conn().await?;
    let now = clock::now();
    match &result {
        Ok(()) => {}
        Err(error) => {
            // Neither the address nor the body is logged: the body may hold a reset link.
            let attempt = mail.attempts + 1;
            if attempt >= settings.get("mail_max_attempts") {
                tracing::warn!(mail_id = mail.id, attempt, %error, "mail failed for good");
                crate::metrics::delivery_failed(true);
                outbox::mark_failed(&mut conn, mail.id, error).await?;
            } else {
                let next = now + backoff_ms(settings.get("mail_retry_base_seconds"), mail.attempts);
                tracing::info!(mail_id = mail.id, attempt, %error, "mail delivery failed; will retry");
                crate::metrics::delivery_failed(false);
                outbox::mark_retry(&mut conn, mail.id, error, next).await?;
            }
        }
    }
    Ok(result)
}

/// Record a sent mail. The mail has left: if the database is away at that moment, keep
/// trying for half the lease, so that it is not sent a second time when the lease runs out.
async fn mark_sent(store: &Store, id: i64) -> AppResult<()> {
    let give_up = std::time::Instant::now() + Duration::from_millis((LEASE_MS / 2) as u64);
    loop {
        let attempt = async {
            let mut conn = store.conn().await?;
            outbox::mark_sent(&mut conn, id, clock::now()).await?;
            AppResult::Ok(())
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if std::time::Instant::now() >= give_up => return Err(e),
            Err(_) if std::time::Instant::now() >= give_up => {
                return Err(crate::error::AppError::Unavailable);
            }
            Ok(Err(e)) => tracing::warn!(mail_id = id, error = %e, "mail sent, recording it failed; retrying"),
            Err(_) => tracing::warn!(mail_id = id, "mail sent, recording it timed out; retrying"),
        }
        tokio::time::sleep(IDLE_POLL).await;
    }
}

/// `base`, then twice as long after each failed attempt, at most an hour.
pub fn backoff_ms(base_seconds: i64, attempts_before: i64) -> i64 {
    let factor = 1_i64 << attempts_before.clamp(0, 20);
    base_seconds
        .max(1)
        .saturating_mul(1000)
        .saturating_mul(factor)
        .min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(15, 0), 15_000);
        assert_eq!(backoff_ms(15, 1), 30_000);
        assert_eq!(backoff_ms(15, 3), 120_000);
        assert_eq!(backoff_ms(15, 30), 3_600_000);
        assert_eq!(backoff_ms(0, 0), 1_000);
    }
}
