//! Argon2id hashing off the async runtime, at most one hash per core at a time,
//! so a burst of sign-ins queues instead of starving every other request. The
//! hashes run on the threads of `hash_pool`, which reuse one working memory each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Version};
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::hash_pool::{Pool, Scratch};

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
    /// Argon2 blocks (KiB) one hash with these parameters works in.
    pub fn block_count(&self) -> usize {
        self.argon2().map_or(0, |a| a.params().block_count())
    }

    fn argon2(&self) -> Result<Argon2<'static>, AppError> {
        let p = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| AppError::fault("argon2 parameters", e))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }
}

#[derive(Clone)]
pub struct Hasher {
    pool: Arc<Pool>,
    /// Microseconds a failed check lasts at least (`failure_floor`).
    failure_floor_us: Arc<AtomicU64>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// One hashing thread per core.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_threads(cores, crate::hash_pool::RELEASE_AFTER_IDLE)
    }

    /// `threads` hashing threads that give their memory back after `idle` without work.
    pub fn with_threads(threads: usize, idle: Duration) -> Self {
        Hasher {
            pool: Arc::new(Pool::start(threads, idle, Params::default().block_count())),
            failure_floor_us: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Hashing threads.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Working memories the hashing threads hold now: none once idle.
    pub fn memories_held(&self) -> usize {
        self.pool.memories_held()
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Scratch) -> T + Send + 'static) -> Result<T, AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.submit(Box::new(move |scratch| {
            // the caller is gone (a client that hung up while queued): skip the work
            if !tx.is_closed() {
                let _ = tx.send(f(scratch));
            }
        }));
        rx.await
            .map_err(|_| AppError::Internal("hashing task: no answer from the hashing threads".into()))
    }

    pub async fn hash(&self, password: String, params: Params) -> Result<String, AppError> {
        self.pool.keep_at_least(params.block_count());
        self.run(move |scratch| hash_with(scratch, &password, params)).await?
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
            .run(move |scratch| {
                let t = Instant::now();
                (verify_with(scratch, &password, &hash), t.elapsed())
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
        self.run(move |scratch| {
            let t = Instant::now();
            let _ = verify_with(scratch, "\u{0}muster: a password no hash matches", &hash);
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

/// Hash with memory of its own, freed on return (tools and tests; the server uses `Hasher`).
pub fn hash_now(password: &str, params: Params) -> Result<String, AppError> {
    hash_with(&mut Scratch::new(), password, params)
}

/// An Argon2id PHC string of `password` with a random salt, computed in `scratch`.
pub fn hash_with(scratch: &mut Scratch, password: &str, params: Params) -> Result<String, AppError> {
    let a = params.argon2()?;
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt).map_err(|e| AppError::fault("random salt", e))?;
    hash_with_salt(scratch, &a, password, &salt)
}

fn hash_with_salt(scratch: &mut Scratch, a: &Argon2<'_>, password: &str, salt: &[u8]) -> Result<String, AppError> {
    let internal = |e: &dyn std::fmt::Display| AppError::Internal(format!("argon2: {e}"));
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    let out = out
        .get_mut(..a.params().output_len().unwrap_or(argon2::Params::DEFAULT_OUTPUT_LEN))
        .ok_or_else(|| internal(&"output length"))?;
    let blocks = scratch
        .blocks(a.params().block_count())
        .ok_or_else(|| internal(&"cannot map its working memory"))?;
    a.hash_password_into_with_memory(password.as_bytes(), salt, out, blocks)
        .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(a.params()).map_err(|e| internal(&e))?,
        salt: Some(Salt::new(salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches `hash`, with memory of its own (see `verify_with`).
pub fn verify_now(password: &str, hash: &str) -> bool {
    verify_with(&mut Scratch::new(), password, hash)
}

/// Whether `password` matches `hash`: an Argon2 PHC string, or a foreign hash
/// kept from an import (bcrypt, Django, Symfony/Oro, PBKDF2; see `foreign_hash`).
pub fn verify_with(scratch: &mut Scratch, password: &str, hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        verify_argon2_with(scratch, password, hash)
    } else {
        crate::foreign_hash::verify_stored(password, hash)
    }
}

/// Whether `password` matches the Argon2 PHC string `hash`.
pub fn verify_argon2(password: &str, hash: &str) -> bool {
    verify_argon2_with(&mut Scratch::new(), password, hash)
}

/// As the argon2 crate's `verify_password` reads a PHC string (algorithm,
/// version 0x13 when none is written, `m`/`t`/`p`, the output's length), but
/// computed in `scratch` instead of a fresh allocation.
fn verify_argon2_with(scratch: &mut Scratch, password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let Some(blocks) = scratch.blocks(params.block_count()) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let a = Argon2::new(algorithm, version, params);
    if a.hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, blocks)
        .is_err()
    {
        return false;
    }
    out.ct_eq(expected.as_bytes()).into()
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

    /// The argon2 crate's own hashing of the same input, for comparison.
    fn reference(
        algorithm: Algorithm,
        version: Version,
        params: argon2::Params,
        password: &str,
        salt: &[u8],
    ) -> String {
        use argon2::password_hash::PasswordHasher;
        Argon2::new(algorithm, version, params)
            .hash_password_with_salt(password.as_bytes(), salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn reused_memory_gives_the_reference_hash_whatever_ran_in_it_before() {
        let salt = b"muster-fixed-salt";
        let a = FAST.argon2().unwrap();
        let want = reference(
            Algorithm::Argon2id,
            Version::V0x13,
            a.params().clone(),
            "same password",
            salt,
        );
        let mut scratch = Scratch::new();
        // fill the memory with other hashes first, a larger one included
        hash_with(&mut scratch, "something else entirely", Params::default()).unwrap();
        hash_with(&mut scratch, "and another", FAST).unwrap();
        assert_eq!(hash_with_salt(&mut scratch, &a, "same password", salt).unwrap(), want);
        assert_eq!(hash_with_salt(&mut scratch, &a, "same password", salt).unwrap(), want);
        assert_eq!(
            hash_with_salt(&mut Scratch::new(), &a, "same password", salt).unwrap(),
            want
        );
    }

    #[test]
    fn reused_memory_verifies_every_argon2_variant_the_crate_writes() {
        let salt = b"another-salt-16b";
        let mut scratch = Scratch::new();
        hash_with(&mut scratch, "warm the memory", Params::default()).unwrap();
        let cases = [
            (
                Algorithm::Argon2id,
                Version::V0x13,
                argon2::Params::new(4096, 2, 1, None).unwrap(),
            ),
            (
                Algorithm::Argon2i,
                Version::V0x13,
                argon2::Params::new(4096, 1, 2, None).unwrap(),
            ),
            (
                Algorithm::Argon2d,
                Version::V0x10,
                argon2::Params::new(2048, 3, 1, Some(16)).unwrap(),
            ),
            // larger than the memory kept so far: it grows for this one
            (
                Algorithm::Argon2id,
                Version::V0x13,
                argon2::Params::new(32768, 1, 1, Some(64)).unwrap(),
            ),
        ];
        for (alg, version, params) in cases {
            let h = reference(alg, version, params, "the password", salt);
            assert!(verify_with(&mut scratch, "the password", &h), "{h}");
            assert!(!verify_with(&mut scratch, "the passwore", &h), "{h}");
            assert!(argon2_crate_verifies(&h, "the password"));
        }
        // a PHC string without a version is read as 0x13, as the crate reads it
        let h = reference(
            Algorithm::Argon2id,
            Version::V0x13,
            FAST.argon2().unwrap().params().clone(),
            "pw",
            salt,
        );
        let unversioned = h.replace("$v=19", "");
        assert!(verify_with(&mut scratch, "pw", &unversioned));
        assert!(argon2_crate_verifies(&unversioned, "pw"));
        assert!(!verify_with(
            &mut scratch,
            "pw",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ"
        ));
    }

    fn argon2_crate_verifies(hash: &str, password: &str) -> bool {
        use argon2::password_hash::PasswordVerifier;
        Argon2::default()
            .verify_password(password.as_bytes(), &PasswordHash::new(hash).unwrap())
            .is_ok()
    }

    #[tokio::test]
    async fn the_pool_answers_every_concurrent_request_correctly_and_then_gives_its_memory_back() {
        let hasher = Hasher::with_threads(2, Duration::from_millis(50));
        assert_eq!(hasher.threads(), 2);
        let good = hasher.hash("correct horse battery".into(), FAST).await.unwrap();
        let mut checks = Vec::new();
        for i in 0..24 {
            let (hasher, hash) = (hasher.clone(), good.clone());
            let password = if i % 3 == 0 {
                "wrong horse battery"
            } else {
                "correct horse battery"
            };
            checks.push(tokio::spawn(async move {
                (i, hasher.verify(password.into(), hash).await.unwrap())
            }));
        }
        for c in checks {
            let (i, ok) = c.await.unwrap();
            assert_eq!(ok, i % 3 != 0, "request {i}");
        }
        // the same password and salt come out the same on whichever thread ran them
        let a = FAST.argon2().unwrap();
        let mut same = Vec::new();
        for _ in 0..6 {
            let a = a.clone();
            let h = hasher
                .run(move |s| hash_with_salt(s, &a, "pw on any thread", b"0123456789abcdef"))
                .await
                .unwrap()
                .unwrap();
            same.push(h);
        }
        assert!(same.iter().all(|h| h == &same[0]));
        // idle: the memory goes back to the system
        let deadline = Instant::now() + Duration::from_secs(30);
        while hasher.memories_held() > 0 {
            assert!(
                Instant::now() < deadline,
                "memory still held long after the pool went idle"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(hasher.verify("correct horse battery".into(), good).await.unwrap());
    }

    #[tokio::test]
    async fn a_job_that_panics_is_an_error_and_the_thread_goes_on() {
        let hasher = Hasher::with_threads(1, Duration::from_secs(60));
        let r: Result<(), AppError> = hasher.run(|_| panic!("boom")).await;
        assert!(r.is_err());
        let h = hasher.hash("still here".into(), FAST).await.unwrap();
        assert!(hasher.verify("still here".into(), h).await.unwrap());
    }
}
