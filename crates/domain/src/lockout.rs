//! The failed-login lockout. The store applies the same rule in one atomic
//! statement; this is its specification, tested without a clock or a database.

use crate::Millis;
use crate::status::{AuthStatus, may_authenticate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed attempts that lock the account; 0 turns the lockout off.
    pub limit: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self { limit: 10 }
    }
}

/// What a sign-in attempt comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Password right, account usable.
    Success,
    /// Password wrong on a usable account: counted; `locked` if this attempt reached the limit.
    Failed { failed_count: i64, locked: bool },
    /// The account cannot sign in (disabled, locked, in password reset, unknown): not counted.
    Refused,
}

impl LockoutPolicy {
    /// The counter and status after one more wrong password.
    pub fn after_failure(&self, failed_count: i64, status: AuthStatus) -> (i64, AuthStatus) {
        let count = failed_count + 1;
        if self.limit > 0 && count >= self.limit {
            (count, AuthStatus::Locked)
        } else {
            (count, status)
        }
    }

    /// Decide an attempt on a known account.
    pub fn decide(&self, enabled: bool, status: AuthStatus, failed_count: i64, password_ok: bool) -> LoginOutcome {
        if !may_authenticate(enabled, status) {
            return LoginOutcome::Refused;
        }
        if password_ok {
            return LoginOutcome::Success;
        }
        let (count, new_status) = self.after_failure(failed_count, status);
        LoginOutcome::Failed {
            failed_count: count,
            locked: new_status == AuthStatus::Locked,
        }
    }
}

/// The pause of failed web sign-ins per client address: at most `limit`
/// failures in any sliding `window_ms`; past that, the address waits
/// (without its password being checked) until the oldest of the last
/// `limit` failures leaves the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressThrottle {
    /// Failures allowed in the window; 0 turns the pause off.
    pub limit: i64,
    pub window_ms: i64,
}

impl AddressThrottle {
    pub fn is_on(&self) -> bool {
        self.limit > 0 && self.window_ms > 0
    }

    /// Failures after this instant count.
    pub fn window_start(&self, now: Millis) -> Millis {
        now - self.window_ms
    }

    /// Seconds to wait, given the time of the `limit`-th most recent failure
    /// inside the window (`None` when there are fewer than `limit`).
    pub fn retry_after(&self, limit_th_failure_at: Option<Millis>, now: Millis) -> Option<u64> {
        if !self.is_on() {
            return None;
        }
        let at = limit_th_failure_at.filter(|at| *at > self.window_start(now))?;
        let wait_ms = (at + self.window_ms - now).max(0);
        Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_until_the_oldest_counted_failure_leaves_the_window() {
        let t = AddressThrottle {
            limit: 3,
            window_ms: 60_000,
        };
        assert_eq!(t.retry_after(None, 100_000), None, "fewer failures than the limit");
        assert_eq!(t.retry_after(Some(90_000), 100_000), Some(50));
        assert_eq!(t.retry_after(Some(40_001), 100_000), Some(1), "rounded up, never 0");
        assert_eq!(t.retry_after(Some(40_000), 100_000), None, "left the window");
        let off = AddressThrottle { limit: 0, ..t };
        assert_eq!(off.retry_after(Some(99_000), 100_000), None, "0 turns it off");
    }

    #[test]
    fn locks_exactly_at_the_limit() {
        let p = LockoutPolicy { limit: 3 };
        let mut count = 0;
        let mut status = AuthStatus::Active;
        let mut outcomes = vec![];
        for _ in 0..5 {
            let o = p.decide(true, status, count, false);
            if let LoginOutcome::Failed { failed_count, locked } = o {
                count = failed_count;
                if locked {
                    status = AuthStatus::Locked;
                }
            }
            outcomes.push(o);
        }
        assert_eq!(count, 3);
        assert_eq!(status, AuthStatus::Locked);
        assert_eq!(
            outcomes[2],
            LoginOutcome::Failed {
                failed_count: 3,
                locked: true
            }
        );
        assert_eq!(outcomes[3], LoginOutcome::Refused);
        // a right password after the lock does not get in
        assert_eq!(p.decide(true, status, count, true), LoginOutcome::Refused);
    }

    #[test]
    fn zero_turns_it_off() {
        let p = LockoutPolicy { limit: 0 };
        assert_eq!(p.after_failure(1000, AuthStatus::Active), (1001, AuthStatus::Active));
    }

    #[test]
    fn disabled_and_reset_are_refused_and_not_counted() {
        let p = LockoutPolicy::default();
        assert_eq!(p.decide(false, AuthStatus::Active, 0, false), LoginOutcome::Refused);
        assert_eq!(
            p.decide(true, AuthStatus::PasswordReset, 0, true),
            LoginOutcome::Refused
        );
        assert_eq!(p.decide(true, AuthStatus::Active, 4, true), LoginOutcome::Success);
    }
}
