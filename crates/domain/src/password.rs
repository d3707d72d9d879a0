//! The password policy (DESIGN.md §3): length bounds, a zxcvbn score, not built
//! from the user's own name or email, and Oro-style character classes that are
//! available but off by default.

use crate::error::{Error, FieldError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// zxcvbn score 0..=4 the password must reach.
    pub min_score: u8,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_digit: bool,
    pub require_special: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            min_score: 3,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_special: false,
        }
    }
}

/// A new password that passed the policy. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A password taken as it is, for passwords that were checked elsewhere
    /// (an imported hash is never a `Password`; this is for tests and the CLI's bootstrap).
    pub fn trusted(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }
}

impl PasswordPolicy {
    /// Check `raw` for a user known by `user_inputs` (username, names, email).
    /// On failure every problem is listed, each saying what is missing.
    pub fn check(&self, raw: &str, user_inputs: &[&str]) -> Result<Password, Error> {
        let mut problems = Vec::new();
        let len = raw.chars().count();
        if len < self.min_length {
            problems.push(format!(
                "must be at least {} characters (it has {len})",
                self.min_length
            ));
        }
        if len > self.max_length {
            problems.push(format!("must be at most {} characters (it has {len})", self.max_length));
        }
        let classes = [
            (
                self.require_lowercase,
                raw.chars().any(char::is_lowercase),
                "a lowercase letter",
            ),
            (
                self.require_uppercase,
                raw.chars().any(char::is_uppercase),
                "an uppercase letter",
            ),
            (self.require_digit, raw.chars().any(|c| c.is_ascii_digit()), "a digit"),
            (
                self.require_special,
                raw.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()),
                "a special character",
            ),
        ];
        for (required, present, what) in classes {
            if required && !present {
                problems.push(format!("must contain {what}"));
            }
        }
        let lower = raw.to_lowercase();
        for input in personal_parts(user_inputs) {
            if lower.contains(&input) {
                problems.push("must not contain your name, username or email".to_owned());
                break;
            }
        }
        // zxcvbn is costly on long inputs and meaningless past the maximum.
        if problems.is_empty() && self.min_score > 0 {
            let inputs: Vec<&str> = user_inputs.iter().copied().filter(|s| !s.is_empty()).collect();
            let entropy = zxcvbn::zxcvbn(raw, &inputs);
            let score = u8::from(entropy.score());
            if score < self.min_score {
                let mut msg = format!(
                    "is too easy to guess (strength {score} of 4, {} needed)",
                    self.min_score
                );
                match entropy.feedback().and_then(|f| f.warning()) {
                    Some(w) => msg.push_str(&format!(": {w}")),
                    None => msg.push_str(": add more words or less common characters"),
                }
                problems.push(msg);
            }
        }
        if problems.is_empty() {
            Ok(Password(raw.to_owned()))
        } else {
            Err(Error::Invalid(
                problems.into_iter().map(|m| FieldError::new("password", m)).collect(),
            ))
        }
    }
}

/// The lowercase pieces of a user's identity worth refusing in a password:
/// whole inputs and the local part of an email, 3 characters or longer.
fn personal_parts(user_inputs: &[&str]) -> Vec<String> {
    let mut parts = Vec::new();
    for input in user_inputs {
        let l = input.trim().to_lowercase();
        if let Some((local, _)) = l.split_once('@') {
            parts.push(local.to_owned());
        }
        parts.push(l);
    }
    parts.retain(|p| p.chars().count() >= 3);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(r: Result<Password, Error>) -> Vec<String> {
        match r {
            Err(Error::Invalid(f)) => f.into_iter().map(|e| e.message).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn length_bounds() {
        let p = PasswordPolicy::default();
        assert!(messages(p.check("short", &[]))[0].contains("at least 12"));
        assert!(messages(p.check(&"x".repeat(129), &[]))[0].contains("at most 128"));
    }

    #[test]
    fn weak_is_refused_strong_accepted() {
        let p = PasswordPolicy::default();
        assert!(messages(p.check("password1234", &[]))[0].contains("too easy"));
        assert!(p.check("correct horse battery staple", &[]).is_ok());
        assert!(p.check("tAblE-Lamp-91-orbit", &[]).is_ok());
    }

    #[test]
    fn own_name_and_email_refused() {
        let p = PasswordPolicy::default();
        let m = messages(p.check("zebrafish-jdoe-garden", &["jdoe", "Jane", "Doe", "jane@example.com"]));
        assert!(m[0].contains("name, username or email"));
        let m = messages(p.check("my jane@example.com!", &["jane@example.com"]));
        assert!(m[0].contains("name, username or email"));
    }

    #[test]
    fn classes_off_by_default_and_each_named() {
        let p = PasswordPolicy {
            require_uppercase: true,
            require_digit: true,
            require_special: true,
            min_score: 0,
            ..PasswordPolicy::default()
        };
        let m = messages(p.check("lowercaseonlywords", &[]));
        assert_eq!(m.len(), 3);
        assert!(m.iter().any(|x| x.contains("uppercase")));
        assert!(m.iter().any(|x| x.contains("digit")));
        assert!(m.iter().any(|x| x.contains("special")));
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Password::trusted("secret-value");
        assert!(!format!("{p:?}").contains("secret"));
    }
}
