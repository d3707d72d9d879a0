//! Argon2id hashing off the async runtime, at most one hash per core at a time,
//! so a burst of sign-ins queues instead of starving every other request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Params {
    fn argon2(&self) -> Result<Argon2<'static>, AppError> {
        let p = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| AppError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Microseconds a failed check lasts at least (`failure_floor`).
    failure_floor_us: Arc<AtomicU64>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Hasher {
            permits: Arc::new(Semaphore::new(cores)),
            failure_floor_us: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Internal("hasher closed".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AppError::Internal(format!("hashing task: {e}")))
    }

    pub async fn hash(&self, password: String, params: Params) -> Result<String, AppError> {
        self.run(move || hash_now(&password, params)).await?
    }

    /// Whether `password` matches the stored `hash` (see `verify_now`). A malformed hash never matches.
    ///
    /// A mismatch answers no sooner than the failure floor after the call:
    /// users still on an imported hash (PBKDF2 with 600,000 iterations, bcrypt
    /// cost 12) take longer to check than the Argon2 dummy an unknown user is
    /// checked against, and without the floor a wrong password would tell
    /// such a user apart from a name nobody has. A check of a foreign hash
    /// that outlasts the floor raises it, so a class of hash that calibration
    /// has not seen yet (imported by another process) leaks once at most.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, AppError> {
        let started = Instant::now();
        let foreign = !hash.starts_with("$argon2");
        let (ok, took) = self
            .run(move || {
                let t = Instant::now();
                (verify_now(&password, &hash), t.elapsed())
            })
            .await?;
        if foreign {
            self.raise_failure_floor(took);
        }
        if !ok {
            let floor = self.failure_floor();
            tokio::time::sleep_until((started + floor).into()).await;
        }
        Ok(ok)
    }

    /// Check `hash` with a password that cannot match, without the floor:
    /// how long a failure against this class of hash takes.
    pub async fn time_failure(&self, hash: String) -> Result<Duration, AppError> {
        self.run(move || {
            let t = Instant::now();
            let _ = verify_now("\u{0}muster: a password no hash matches", &hash);
            t.elapsed()
        })
        .await
    }

    /// Raise the floor to a failed check of `hash`, a foreign hash just stored,
    /// before anyone can sign in against it.
    pub async fn learn_failure_time(&self, hash: String) -> Result<(), AppError> {
        let took = self.time_failure(hash).await?;
        self.raise_failure_floor(took);
        Ok(())
    }

    /// The least time a failed check takes (see `verify`).
    pub fn failure_floor(&self) -> Duration {
        Duration::from_micros(self.failure_floor_us.load(Ordering::Relaxed))
    }

    /// Set the floor to a check taking `took`, with a quarter for the noise of a busy machine.
    pub fn set_failure_floor(&self, took: Duration) {
        self.failure_floor_us.store(floor_micros(took), Ordering::Relaxed);
    }

    fn raise_failure_floor(&self, took: Duration) {
        self.failure_floor_us.fetch_max(floor_micros(took), Ordering::Relaxed);
    }
}

fn floor_micros(took: Duration) -> u64 {
    u64::try_from(took.as_micros()).unwrap_or(u64::MAX).saturating_mul(5) / 4
}

pub fn hash_now(password: &str, params: Params) -> Result<String, AppError> {
    let a = params.argon2()?;
    let h: PasswordHash = a
        .hash_password(password.as_bytes())
        .map_err(|e| AppError::Internal(format!("argon2: {e}")))?;
    Ok(h.to_string())
}

/// Whether `password` matches `hash`: an Argon2 PHC string, or a foreign hash
/// kept from an import (bcrypt, Django, Symfony/Oro, PBKDF2; see `foreign_hash`).
pub fn verify_now(password: &str, hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        verify_argon2(password, hash)
    } else {
        crate::foreign_hash::verify_stored(password, hash)
    }
}

/// Whether `password` matches the Argon2 PHC string `hash`.
pub fn verify_argon2(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Whether `hash` was made with other parameters (or another algorithm) than `params`.
pub fn needs_rehash(hash: &str, params: Params) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match argon2::Params::try_from(&parsed) {
        Ok(p) => p.m_cost() != params.memory_kib || p.t_cost() != params.iterations || p.p_cost() != params.parallelism,
        Err(_) => true,
    }
}

/// Whether `s` is an Argon2 PHC string (accepted as-is on import).
pub fn is_argon2_phc(s: &str) -> bool {
    PasswordHash::new(s).is_ok_and(|p| p.algorithm.as_str().starts_with("argon2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Params = Params {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn hash_verify_and_rehash() {
        let h = hash_now("correct horse battery", FAST).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_now("correct horse battery", &h));
        assert!(!verify_now("wrong", &h));
        assert!(!verify_now("x", "not a hash"));
        assert!(!needs_rehash(&h, FAST));
        assert!(needs_rehash(&h, Params::default()));
        assert!(is_argon2_phc(&h));
        assert!(!is_argon2_phc("$2y$10$abc"));
    }
}
