//! A token bucket per client address for failed API key attempts. Only a
//! failure takes a token; while an address has none left, its failed
//! attempts are answered 429 instead of 401 and not recorded. A valid key is
//! checked first and answered normally, whatever the bucket holds (a key has
//! 256 random bits: the limit keeps guessers from filling the log and the
//! database, it is not what makes a key unguessable).
//! In memory and per process: a restart or a second instance starts afresh,
//! which only ever helps the legitimate client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use muster_domain::Millis;

/// Past this many addresses, full buckets (which carry no state) are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

fn refill(b: Bucket, per_minute: u32, now: Millis) -> Bucket {
    let cap = f64::from(per_minute);
    let gained = (now - b.at).max(0) as f64 * cap / 60_000.0;
    Bucket {
        tokens: (b.tokens + gained).min(cap),
        at: now,
    }
}

fn wait_secs(b: Bucket, per_minute: u32) -> u64 {
    let missing = (1.0 - b.tokens).max(0.0);
    let secs = (missing * 60.0 / f64::from(per_minute.max(1))).ceil();
    (secs as u64).max(1)
}

impl Limiter {
    /// `Some(seconds to wait)` when the address has no attempt left.
    pub fn blocked(&self, ip: IpAddr, per_minute: u32, now: Millis) -> Option<u64> {
        if per_minute == 0 {
            return None;
        }
        let mut map = self.buckets.lock().ok()?;
        let b = refill(*map.get(&ip)?, per_minute, now);
        map.insert(ip, b);
        (b.tokens < 1.0).then(|| wait_secs(b, per_minute))
    }

    /// Count one failed attempt.
    pub fn fail(&self, ip: IpAddr, per_minute: u32, now: Millis) {
        if per_minute == 0 {
            return;
        }
        let Ok(mut map) = self.buckets.lock() else {
            return;
        };
        if map.len() >= MAX_TRACKED {
            map.retain(|_, b| refill(*b, per_minute, now).tokens < f64::from(per_minute));
        }
        let start = Bucket {
            tokens: f64::from(per_minute),
            at: now,
        };
        let b = refill(map.get(&ip).copied().unwrap_or(start), per_minute, now);
        map.insert(
            ip,
            Bucket {
                tokens: (b.tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_refills_over_time() {
        let l = Limiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(l.blocked(ip, 3, 0), None);
        for _ in 0..3 {
            l.fail(ip, 3, 0);
        }
        assert_eq!(l.blocked(ip, 3, 0), Some(20));
        assert_eq!(l.blocked(other, 3, 0), None, "per address");
        assert_eq!(l.blocked(ip, 3, 20_000), None, "one token back after 20 s");
        assert_eq!(l.blocked(ip, 0, 0), None, "0 turns the limit off");
    }
}
