//! The cryptography of the second factor: TOTP secrets and codes (RFC 6238:
//! HMAC-SHA-1, 30-second steps, 6 digits, through `totp-rs`), the enrolment
//! QR code (an SVG), and recovery codes. No I/O: the service stores and counts.

use base64::Engine;
use totp_rs::{Algorithm, Builder, Secret};

use crate::crypto::{os_random, sha256_hex};

/// Seconds per step (RFC 6238's recommended value, what every app assumes).
pub const STEP_SECONDS: i64 = 30;
/// How many recovery codes a user gets at enrolment.
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "muster";

/// A new secret: 160 random bits (RFC 4226's recommended length), in base32.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    os_random(&mut bytes);
    Secret::from(bytes).to_base32()
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(secret: &str, account: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // `+` is how form encoding writes a space; a URI path wants %20.
    let label = format!("{ISSUER}:{account}");
    format!(
        "otpauth://totp/{}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP_SECONDS}",
        enc(&label).replace('+', "%20")
    )
}

/// The QR code of `uri` as an SVG image in a `data:` URL (allowed by the
/// CSP's `img-src 'self' data:`; no inline style).
pub fn qr_data_url(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The step (unix seconds / 30) whose code `code` is, within one step either
/// side of `now_secs` (clock drift), or `None`. `code` must be six digits;
/// spaces are ignored.
pub fn matching_step(secret: &str, code: &str, now_secs: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bytes = Secret::try_from_base32(secret).ok()?;
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS as u64)
        .with_secret(bytes)
        .build()
        .ok()?;
    let step = totp.check(&code, u64::try_from(now_secs).ok()?)?;
    i64::try_from(step).ok()
}

/// Whether `code` looks like a TOTP code (six digits) rather than a recovery code.
pub fn is_totp_code(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A recovery code: 16 base32 characters (80 random bits), shown as
/// `abcd-efgh-ijkl-mnop`. 80 bits make a plain SHA-256 enough at rest: the
/// codes cannot be guessed from a copy of the database.
pub fn new_recovery_code() -> String {
    let mut bytes = [0u8; 16];
    os_random(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored form of a recovery code as typed (any case, with or without
/// dashes and spaces), or `None` if it cannot be one.
pub fn recovery_code_hash(typed: &str) -> Option<String> {
    let norm: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    (norm.len() == 16 && norm.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then(|| sha256_hex(&norm))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238, appendix B: the SHA-1 seed "12345678901234567890", 8 digits there; the last 6 here.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_vectors() {
        assert_eq!(matching_step(RFC_SECRET, "287082", 59), Some(1));
        assert_eq!(matching_step(RFC_SECRET, "081804", 1_111_111_109), Some(37_037_036));
        assert_eq!(matching_step(RFC_SECRET, "050471", 1_111_111_111), Some(37_037_037));
        assert_eq!(matching_step(RFC_SECRET, "005924", 1_234_567_890), Some(41_152_263));
        assert_eq!(matching_step(RFC_SECRET, "279037", 2_000_000_000), Some(66_666_666));
    }

    #[test]
    fn one_step_of_drift_is_accepted_not_two() {
        // 287082 is the code of step 1 (seconds 30..59)
        assert_eq!(matching_step(RFC_SECRET, "287082", 89), Some(1));
        assert_eq!(matching_step(RFC_SECRET, "287 082", 60), Some(1));
        assert_eq!(matching_step(RFC_SECRET, "287082", 95), None);
        assert_eq!(matching_step(RFC_SECRET, "28708", 59), None);
        assert_eq!(matching_step(RFC_SECRET, "28708x", 59), None);
        assert_eq!(matching_step("not base32!", "287082", 59), None);
    }

    #[test]
    fn secrets_are_160_bits_of_base32() {
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_ne!(s, new_secret());
        let uri = otpauth_uri(&s, "jane doe");
        assert!(uri.starts_with("otpauth://totp/muster%3Ajane%20doe?secret="), "{uri}");
        assert!(qr_data_url(&uri).is_some_and(|u| u.starts_with("data:image/svg+xml;base64,")));
    }

    #[test]
    fn recovery_codes_read_back_however_typed() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 19);
        let h = recovery_code_hash(&c);
        assert!(h.is_some());
        assert_eq!(recovery_code_hash(&c.to_uppercase().replace('-', " ")), h);
        assert_eq!(recovery_code_hash("abcd-efgh"), None);
        assert_eq!(recovery_code_hash("abcd-efgh-ijkl-mno1"), None);
        assert!(is_totp_code("123 456"));
        assert!(!is_totp_code(&c));
    }
}
