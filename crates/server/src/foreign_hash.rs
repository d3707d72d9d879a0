//! Checking a password against a hash made by another application (bcrypt,
//! Django, Symfony/Oro, Keycloak), as parsed by `muster_domain::password_hash`.
//! Called from `hashing::verify_with`, so it runs on the hashing threads
//! (`hash_pool`) like Argon2. Every comparison of a computed hash is constant-time.
//!
//! A user on such a hash gets an Argon2id hash at their first successful
//! sign-in (`services::auth::sign_in`, which audits `user.password_rehashed`).

use muster_domain::password_hash::{self, Check, ParsedHash, Prf};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Symfony refuses longer passwords (`CheckPasswordLengthTrait`), so none of its hashes match them.
const SYMFONY_MAX_PASSWORD: usize = 4096;

/// Whether `password` matches the parsed hash. Weak hashes never match: they are never stored.
pub fn verify_parsed(password: &str, hash: &ParsedHash) -> bool {
    match &hash.check {
        Check::Argon2 { phc } => crate::hashing::verify_argon2(password, phc),
        Check::Bcrypt { bcrypt, sha256_prehash } => {
            let input = if *sha256_prehash {
                hex::encode(Sha256::digest(password.as_bytes()))
            } else {
                password.to_owned()
            };
            bcrypt::verify(input.as_bytes(), bcrypt).unwrap_or(false)
        }
        Check::Pbkdf2 {
            prf,
            iterations,
            salt,
            hash,
        } => {
            let mut out = vec![0u8; hash.len()];
            let p = password.as_bytes();
            match prf {
                Prf::HmacSha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(p, salt, *iterations, &mut out),
                Prf::HmacSha256 => pbkdf2::pbkdf2_hmac::<Sha256>(p, salt, *iterations, &mut out),
                Prf::HmacSha512 => pbkdf2::pbkdf2_hmac::<Sha512>(p, salt, *iterations, &mut out),
            }
            out.ct_eq(hash).into()
        }
        Check::SymfonySha512 {
            iterations,
            salt,
            digest,
        } => {
            if password.len() > SYMFONY_MAX_PASSWORD {
                return false;
            }
            symfony_sha512(password, salt, *iterations).ct_eq(digest).into()
        }
        Check::Weak => false,
    }
}

/// Symfony's `MessageDigestPasswordHasher('sha512', true, iterations)`.
fn symfony_sha512(password: &str, salt: &str, iterations: u32) -> Vec<u8> {
    let salted = if salt.is_empty() || salt == "0" {
        password.to_owned()
    } else {
        format!("{password}{{{salt}}}")
    };
    let mut digest = Sha512::digest(salted.as_bytes());
    for _ in 1..iterations {
        let mut h = Sha512::new();
        h.update(digest);
        h.update(salted.as_bytes());
        digest = h.finalize();
    }
    digest.to_vec()
}

/// Check a stored hash that is not an Argon2 PHC string. A hash that does not parse never matches.
pub fn verify_stored(password: &str, stored: &str) -> bool {
    password_hash::parse(stored).is_ok_and(|h| !h.is_weak() && verify_parsed(password, &h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::password_hash::{b64_phc, parse};

    #[test]
    fn symfony_matches_the_reference_loop() {
        // one iteration is sha512("pw{salt}") itself
        let one = symfony_sha512("pw", "salt", 1);
        assert_eq!(one, Sha512::digest(b"pw{salt}").to_vec());
        let two = symfony_sha512("pw", "salt", 2);
        let mut h = Sha512::new();
        h.update(&one);
        h.update(b"pw{salt}");
        assert_eq!(two, h.finalize().to_vec());
        let stored = parse(&format!("sha512-symfony$2$salt${}", b64_phc(&two))).unwrap();
        assert!(verify_parsed("pw", &stored));
        assert!(!verify_parsed("pW", &stored));
        // two iterations is weak: never verified as a stored hash
        assert!(!verify_stored("pw", &stored.stored));
    }

    #[test]
    fn pbkdf2_rfc6070_vector() {
        // RFC 6070: P = "password", S = "salt", c = 4096, dkLen = 20
        let dk = hex::decode("4b007901b765489abead49d926f721d065a429c1").unwrap();
        let s = format!("$pbkdf2-sha1$i=4096${}${}", b64_phc(b"salt"), b64_phc(&dk));
        let h = parse(&s).unwrap();
        assert!(verify_parsed("password", &h));
        assert!(!verify_parsed("passwore", &h));
    }

    #[test]
    fn bcrypt_published_vector() {
        // from the OpenBSD / passlib test vectors: "U*U" with cost 5
        let h = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        // cost 5 is weak, so verify_stored refuses it; the check itself is right
        let parsed = parse(h).unwrap();
        assert!(parsed.is_weak());
        assert!(verify_parsed("U*U", &parsed));
        assert!(!verify_parsed("U*V", &parsed));
        assert!(!verify_stored("U*U", h));
    }
}
