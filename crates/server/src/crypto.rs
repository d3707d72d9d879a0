//! Random tokens and hashes of secrets. Every secret comes from the OS random source.

use sha2::{Digest, Sha256};

/// Fill `buf` from the OS random source. Without it no secret can be made
/// safely, so muster stops rather than go on with weak tokens.
pub fn os_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        eprintln!("muster: the OS random source failed; stopping");
        std::process::abort();
    }
}

/// `bytes` random bytes from the OS, as URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    os_random(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Compare two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const ALPHABET: &[u8; 64] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_.!#%+";

/// A random password that meets `policy` (Suggest Password, the first admin).
pub fn suggest_password(policy: &muster_domain::PasswordPolicy) -> String {
    let len = policy.min_length.clamp(16, policy.max_length.max(1));
    loop {
        // 64 symbols: a byte's low 6 bits pick one without bias
        let mut bytes = vec![0u8; len];
        os_random(&mut bytes);
        let candidate: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
            .collect();
        if policy.check(&candidate, &[]).is_ok() {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn suggestions_meet_the_policy() {
        let p = muster_domain::PasswordPolicy {
            require_uppercase: true,
            require_digit: true,
            require_special: true,
            ..Default::default()
        };
        for _ in 0..5 {
            assert!(p.check(&suggest_password(&p), &[]).is_ok());
        }
    }
}
