//! Password hashes made by other applications, read from an import (CSV,
//! `POST /api/users`, the Django and Keycloak importers): which scheme a
//! string is, its parameters, and whether the scheme is too weak to keep.
//!
//! Parsing is pure: no hashing happens here. The server verifies a parsed hash
//! (`muster_server::foreign_hash`) and replaces it by Argon2id at the user's
//! first successful sign-in; the string itself is stored as it was given.
//!
//! | scheme | written as |
//! |---|---|
//! | Argon2 (muster's own) | `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (PHC) |
//! | bcrypt | `$2a$`, `$2b$`, `$2y$` + cost + 53 characters |
//! | Django PBKDF2 | `pbkdf2_sha256$<iterations>$<salt>$<base64>`, `pbkdf2_sha1$…` |
//! | Django Argon2 | `argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash` |
//! | Django bcrypt | `bcrypt_sha256$$2b$…` (bcrypt of the hex SHA-256 of the password), `bcrypt$$2b$…` |
//! | Symfony / Oro | `sha512-symfony$<iterations>$<salt>$<base64 digest>` |
//! | PBKDF2 in PHC form (Keycloak) | `$pbkdf2-sha256$i=<iterations>$<b64 salt>$<b64 hash>`, `-sha512`, `-sha1` |
//!
//! Weak, refused unless the import allows them (and then never stored): hex
//! MD5 or SHA-1 without salt, Django `md5$…`/`sha1$…`/`unsalted_*`, LDAP
//! `{MD5}`/`{SHA}`/`{SMD5}`/`{SSHA}`, bcrypt with a cost under 10, PBKDF2 or
//! the Symfony digest with fewer than 1,000 iterations or no salt.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Error;

/// The field name in errors.
const FIELD: &str = "password_hash";

/// Below this bcrypt cost a hash is weak.
pub const MIN_BCRYPT_COST: u32 = 10;
/// Above this bcrypt cost a hash is refused: one sign-in would take minutes.
pub const MAX_BCRYPT_COST: u32 = 16;
/// Below this many iterations a PBKDF2 or Symfony digest is weak.
pub const MIN_ITERATIONS: u32 = 1_000;
/// Above this many iterations a PBKDF2 or Symfony digest is refused (cost of one sign-in).
pub const MAX_ITERATIONS: u32 = 5_000_000;
/// Argon2 memory above this (KiB) is refused: two such hashes at once would exhaust a small host.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1_048_576;
pub const MAX_ARGON2_TIME: u32 = 100;

/// Standard base64, with or without padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn b64(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return None;
    }
    B64.decode(s).ok()
}

/// Standard base64 without padding, as PHC strings write salts and hashes.
pub fn b64_phc(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Which kind of hash a stored or imported string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// muster's own (and any Argon2 PHC string).
    Argon2,
    Bcrypt,
    DjangoPbkdf2Sha256,
    DjangoPbkdf2Sha1,
    DjangoArgon2,
    DjangoBcryptSha256,
    DjangoBcrypt,
    SymfonySha512,
    Pbkdf2Sha1,
    Pbkdf2Sha256,
    Pbkdf2Sha512,
    /// MD5 or SHA-1, with or without a salt, in any spelling.
    WeakDigest,
}

impl Scheme {
    /// The schemes that a user may still be on after an import, other than Argon2.
    pub const FOREIGN: [Scheme; 10] = [
        Scheme::Bcrypt,
        Scheme::DjangoPbkdf2Sha256,
        Scheme::DjangoPbkdf2Sha1,
        Scheme::DjangoArgon2,
        Scheme::DjangoBcryptSha256,
        Scheme::DjangoBcrypt,
        Scheme::SymfonySha512,
        Scheme::Pbkdf2Sha1,
        Scheme::Pbkdf2Sha256,
        Scheme::Pbkdf2Sha512,
    ];

    /// A stable key (URLs, audit events).
    pub fn key(self) -> &'static str {
        match self {
            Scheme::Argon2 => "argon2",
            Scheme::Bcrypt => "bcrypt",
            Scheme::DjangoPbkdf2Sha256 => "django_pbkdf2_sha256",
            Scheme::DjangoPbkdf2Sha1 => "django_pbkdf2_sha1",
            Scheme::DjangoArgon2 => "django_argon2",
            Scheme::DjangoBcryptSha256 => "django_bcrypt_sha256",
            Scheme::DjangoBcrypt => "django_bcrypt",
            Scheme::SymfonySha512 => "sha512_symfony",
            Scheme::Pbkdf2Sha1 => "pbkdf2_sha1",
            Scheme::Pbkdf2Sha256 => "pbkdf2_sha256",
            Scheme::Pbkdf2Sha512 => "pbkdf2_sha512",
            Scheme::WeakDigest => "weak_digest",
        }
    }

    pub fn from_key(key: &str) -> Option<Scheme> {
        Scheme::FOREIGN
            .into_iter()
            .chain([Scheme::Argon2, Scheme::WeakDigest])
            .find(|s| s.key() == key)
    }

    /// What an administrator reads.
    pub fn label(self) -> &'static str {
        match self {
            Scheme::Argon2 => "Argon2",
            Scheme::Bcrypt => "bcrypt ($2a$, $2b$, $2y$)",
            Scheme::DjangoPbkdf2Sha256 => "Django pbkdf2_sha256",
            Scheme::DjangoPbkdf2Sha1 => "Django pbkdf2_sha1",
            Scheme::DjangoArgon2 => "Django argon2",
            Scheme::DjangoBcryptSha256 => "Django bcrypt_sha256",
            Scheme::DjangoBcrypt => "Django bcrypt",
            Scheme::SymfonySha512 => "Symfony / Oro sha512",
            Scheme::Pbkdf2Sha1 => "PBKDF2-SHA1 (Keycloak)",
            Scheme::Pbkdf2Sha256 => "PBKDF2-SHA256 (Keycloak)",
            Scheme::Pbkdf2Sha512 => "PBKDF2-SHA512 (Keycloak)",
            Scheme::WeakDigest => "MD5 / SHA-1",
        }
    }

    /// The fixed text a stored hash of this scheme starts with (bcrypt: one of three).
    /// The store counts users per scheme with these.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            Scheme::Argon2 => &["$argon2"],
            Scheme::Bcrypt => &["$2a$", "$2b$", "$2y$"],
            Scheme::DjangoPbkdf2Sha256 => &["pbkdf2_sha256$"],
            Scheme::DjangoPbkdf2Sha1 => &["pbkdf2_sha1$"],
            Scheme::DjangoArgon2 => &["argon2$"],
            Scheme::DjangoBcryptSha256 => &["bcrypt_sha256$"],
            Scheme::DjangoBcrypt => &["bcrypt$"],
            Scheme::SymfonySha512 => &["sha512-symfony$"],
            Scheme::Pbkdf2Sha1 => &["$pbkdf2-sha1$"],
            Scheme::Pbkdf2Sha256 => &["$pbkdf2-sha256$"],
            Scheme::Pbkdf2Sha512 => &["$pbkdf2-sha512$"],
            Scheme::WeakDigest => &[],
        }
    }
}

/// The pseudo-random function of a PBKDF2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    HmacSha1,
    HmacSha256,
    HmacSha512,
}

/// What it takes to check a password against the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// An Argon2 PHC string (Django's with its `argon2` prefix removed).
    Argon2 { phc: String },
    /// A bcrypt string; with `sha256_prehash` the password is first replaced by
    /// the lower-case hex of its SHA-256 (Django's `bcrypt_sha256`).
    Bcrypt { bcrypt: String, sha256_prehash: bool },
    /// PBKDF2; the derived key is as long as `hash`.
    Pbkdf2 {
        prf: Prf,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// Symfony's `MessageDigestPasswordHasher` with SHA-512: `d = sha512(p{salt})`,
    /// then `iterations - 1` times `d = sha512(d ‖ p{salt})`. An empty salt (or
    /// `"0"`, which PHP takes as false) means `p` alone.
    SymfonySha512 {
        iterations: u32,
        salt: String,
        digest: Vec<u8>,
    },
    /// Never verified: the import refuses it or puts the user in password reset.
    Weak,
}

/// A hash string that parsed: its scheme, the cost of one check, and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHash {
    pub scheme: Scheme,
    /// The string as it is stored (trimmed).
    pub stored: String,
    pub check: Check,
    weak_reason: Option<String>,
}

impl ParsedHash {
    /// Too weak to keep: MD5/SHA-1, bcrypt under cost 10, too few iterations, no salt.
    pub fn is_weak(&self) -> bool {
        self.weak_reason.is_some()
    }

    /// Why it is weak, for the row's reason in an import report.
    pub fn weak_reason(&self) -> Option<&str> {
        self.weak_reason.as_deref()
    }

    /// Made by another application (anything but an Argon2 PHC string).
    pub fn is_foreign(&self) -> bool {
        self.scheme != Scheme::Argon2
    }

    /// What one check of this hash costs, as text: two hashes with the same
    /// class take the same time to check (salt and digest left out). The
    /// sign-in's failure floor times one hash of each class in use.
    pub fn cost_class(&self) -> String {
        let scheme = self.scheme.key();
        match &self.check {
            Check::Argon2 { phc } => {
                // `$argon2id$v=19$m=…,t=…,p=…$salt$hash`: the parameters only
                let params: Vec<&str> = phc.split('$').take(4).collect();
                format!("{scheme}:{}", params.join("$"))
            }
            Check::Bcrypt { bcrypt, sha256_prehash } => {
                format!("{scheme}:{}:{sha256_prehash}", bcrypt.get(4..6).unwrap_or(""))
            }
            Check::Pbkdf2 {
                prf, iterations, hash, ..
            } => format!("{scheme}:{prf:?}:{iterations}:{}", hash.len()),
            Check::SymfonySha512 { iterations, .. } => format!("{scheme}:{iterations}"),
            Check::Weak => format!("{scheme}:weak"),
        }
    }

    fn new(scheme: Scheme, stored: &str, check: Check, weak_reason: Option<String>) -> ParsedHash {
        ParsedHash {
            scheme,
            stored: stored.to_owned(),
            check,
            weak_reason,
        }
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid(FIELD, message)
}

const ACCEPTED: &str = "expected an Argon2 PHC string, bcrypt ($2a$/$2b$/$2y$), a Django hash \
     (pbkdf2_sha256$, pbkdf2_sha1$, argon2$, bcrypt_sha256$), sha512-symfony$<iterations>$<salt>$<digest> \
     or $pbkdf2-sha256$i=<iterations>$<salt>$<hash>";

/// Parse a hash string. Every refusal says what was expected.
pub fn parse(raw: &str) -> Result<ParsedHash, Error> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(bad("is empty"));
    }
    if let Some(weak) = weak_digest(s) {
        return Ok(ParsedHash::new(
            Scheme::WeakDigest,
            s,
            Check::Weak,
            Some(format!("{weak} is a weak scheme")),
        ));
    }
    if s.starts_with("$argon2") {
        let phc = argon2_phc(s)?;
        return Ok(ParsedHash::new(Scheme::Argon2, s, Check::Argon2 { phc }, None));
    }
    if let Some(rest) = s.strip_prefix("argon2$") {
        let phc = argon2_phc(&format!("${rest}"))?;
        return Ok(ParsedHash::new(Scheme::DjangoArgon2, s, Check::Argon2 { phc }, None));
    }
    if s.starts_with("$2") {
        let (cost, weak) = bcrypt(s)?;
        return Ok(ParsedHash::new(
            Scheme::Bcrypt,
            s,
            Check::Bcrypt {
                bcrypt: s.to_owned(),
                sha256_prehash: false,
            },
            weak.then(|| format!("bcrypt with cost {cost} (under {MIN_BCRYPT_COST}) is a weak scheme")),
        ));
    }
    for (prefix, scheme, prehash) in [
        ("bcrypt_sha256$", Scheme::DjangoBcryptSha256, true),
        ("bcrypt$", Scheme::DjangoBcrypt, false),
    ] {
        if let Some(inner) = s.strip_prefix(prefix) {
            let (cost, weak) = bcrypt(inner)?;
            return Ok(ParsedHash::new(
                scheme,
                s,
                Check::Bcrypt {
                    bcrypt: inner.to_owned(),
                    sha256_prehash: prehash,
                },
                weak.then(|| format!("bcrypt with cost {cost} (under {MIN_BCRYPT_COST}) is a weak scheme")),
            ));
        }
    }
    for (prefix, scheme, prf) in [
        ("pbkdf2_sha256$", Scheme::DjangoPbkdf2Sha256, Prf::HmacSha256),
        ("pbkdf2_sha1$", Scheme::DjangoPbkdf2Sha1, Prf::HmacSha1),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return django_pbkdf2(s, rest, scheme, prf);
        }
    }
    if let Some(rest) = s.strip_prefix("sha512-symfony$") {
        return symfony(s, rest);
    }
    for (prefix, scheme, prf) in [
        ("$pbkdf2-sha256$", Scheme::Pbkdf2Sha256, Prf::HmacSha256),
        ("$pbkdf2-sha512$", Scheme::Pbkdf2Sha512, Prf::HmacSha512),
        ("$pbkdf2-sha1$", Scheme::Pbkdf2Sha1, Prf::HmacSha1),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return phc_pbkdf2(s, rest, scheme, prf);
        }
    }
    Err(bad(format!("is not a known hash format: {ACCEPTED}")))
}

/// The scheme a stored hash is on, by its prefix only (no full parse).
pub fn scheme_of(stored: &str) -> Option<Scheme> {
    Scheme::FOREIGN
        .into_iter()
        .chain([Scheme::Argon2])
        .find(|s| s.prefixes().iter().any(|p| stored.starts_with(p)))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A name for an MD5 or SHA-1 hash in any of its usual spellings.
fn weak_digest(s: &str) -> Option<&'static str> {
    if is_hex(s, 32) {
        return Some("unsalted MD5");
    }
    if is_hex(s, 40) {
        return Some("unsalted SHA-1");
    }
    let lower = s.to_ascii_lowercase();
    for (prefix, name) in [
        ("unsalted_md5$", "unsalted MD5"),
        ("unsalted_sha1$", "unsalted SHA-1"),
        ("md5$$", "unsalted MD5"),
        ("sha1$$", "unsalted SHA-1"),
        ("md5$", "salted MD5"),
        ("sha1$", "salted SHA-1"),
        ("{md5}", "unsalted MD5"),
        ("{sha}", "unsalted SHA-1"),
        ("{smd5}", "salted MD5"),
        ("{ssha}", "salted SHA-1"),
    ] {
        if lower.starts_with(prefix) {
            return Some(name);
        }
    }
    None
}

/// `$2a$`/`$2b$`/`$2y$`, two-digit cost, 22 characters of salt and 31 of hash: (cost, weak).
fn bcrypt(s: &str) -> Result<(u32, bool), Error> {
    let shape = "must be a bcrypt hash: $2b$<cost>$ and 53 characters of salt and hash";
    let b = s.as_bytes();
    if b.len() != 60 || !s.is_ascii() {
        return Err(bad(shape));
    }
    if !matches!(&s[..4], "$2a$" | "$2b$" | "$2y$") || b[6] != b'$' {
        return Err(bad(format!("{shape} (only $2a$, $2b$ and $2y$ are accepted)")));
    }
    let cost: u32 = s[4..6].parse().map_err(|_| bad(shape))?;
    let body_ok = s[7..]
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/');
    if !body_ok || cost < 4 {
        return Err(bad(shape));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(bad(format!(
            "bcrypt cost {cost} is above {MAX_BCRYPT_COST}: one sign-in would take too long"
        )));
    }
    Ok((cost, cost < MIN_BCRYPT_COST))
}

fn iterations(text: &str) -> Result<u32, Error> {
    let n: u32 = text
        .parse()
        .map_err(|_| bad(format!("the iterations must be a whole number (got {text:?})")))?;
    if n == 0 {
        return Err(bad("the iterations must be at least 1"));
    }
    if n > MAX_ITERATIONS {
        return Err(bad(format!(
            "{n} iterations is above {MAX_ITERATIONS}: one sign-in would take too long"
        )));
    }
    Ok(n)
}

fn few_iterations(n: u32) -> Option<String> {
    (n < MIN_ITERATIONS).then(|| format!("{n} iterations (under {MIN_ITERATIONS}) is a weak scheme"))
}

/// Django: `<algorithm>$<iterations>$<salt>$<base64 hash>`; the salt is text, used as its UTF-8 bytes.
fn django_pbkdf2(stored: &str, rest: &str, scheme: Scheme, prf: Prf) -> Result<ParsedHash, Error> {
    let mut parts = rest.splitn(3, '$');
    let (Some(iter), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad(
            "a Django PBKDF2 hash is <algorithm>$<iterations>$<salt>$<base64 hash>",
        ));
    };
    let iterations = iterations(iter)?;
    let hash = b64(hash).ok_or_else(|| bad("the hash after the salt must be base64"))?;
    if hash.len() < 16 {
        return Err(bad("the hash is too short"));
    }
    let weak = if salt.is_empty() {
        Some("PBKDF2 without a salt is a weak scheme".to_owned())
    } else {
        few_iterations(iterations)
    };
    Ok(ParsedHash::new(
        scheme,
        stored,
        Check::Pbkdf2 {
            prf,
            iterations,
            salt: salt.as_bytes().to_vec(),
            hash,
        },
        weak,
    ))
}

/// `sha512-symfony$<iterations>$<salt>$<base64 digest>`. The salt may hold `$`
/// (the digest never does), but not `{` or `}` (Symfony refuses those).
fn symfony(stored: &str, rest: &str) -> Result<ParsedHash, Error> {
    let shape = "a Symfony hash is sha512-symfony$<iterations>$<salt>$<base64 digest>";
    let Some((iter, salt_and_digest)) = rest.split_once('$') else {
        return Err(bad(shape));
    };
    let Some((salt, digest)) = salt_and_digest.rsplit_once('$') else {
        return Err(bad(shape));
    };
    let iterations = iterations(iter)?;
    if salt.contains(['{', '}']) {
        return Err(bad("the salt of a Symfony hash cannot contain { or }"));
    }
    let digest = b64(digest).ok_or_else(|| bad("the digest after the salt must be base64"))?;
    if digest.len() != 64 {
        return Err(bad(format!(
            "the digest must be the 64 bytes of a SHA-512 digest, in base64 (got {} bytes)",
            digest.len()
        )));
    }
    let weak = if salt.is_empty() || salt == "0" {
        Some("a Symfony digest without a salt is a weak scheme".to_owned())
    } else {
        few_iterations(iterations)
    };
    Ok(ParsedHash::new(
        Scheme::SymfonySha512,
        stored,
        Check::SymfonySha512 {
            iterations,
            salt: salt.to_owned(),
            digest,
        },
        weak,
    ))
}

/// `$pbkdf2-<hash>$i=<iterations>[,l=<length>]$<b64 salt>$<b64 hash>`.
fn phc_pbkdf2(stored: &str, rest: &str, scheme: Scheme, prf: Prf) -> Result<ParsedHash, Error> {
    let shape = "a PBKDF2 PHC string is $pbkdf2-sha256$i=<iterations>$<base64 salt>$<base64 hash>";
    let parts: Vec<&str> = rest.split('$').collect();
    let [params, salt, hash] = parts.as_slice() else {
        return Err(bad(shape));
    };
    let mut iters = None;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("i", v)) => iters = Some(iterations(v)?),
            Some(("l", _)) => {}
            _ => return Err(bad(format!("{shape} (unknown parameter {kv:?})"))),
        }
    }
    let iterations = iters.ok_or_else(|| bad(format!("{shape} (i= is missing)")))?;
    let salt = if salt.is_empty() {
        Vec::new()
    } else {
        b64(salt).ok_or_else(|| bad("the salt must be base64"))?
    };
    let hash = b64(hash).ok_or_else(|| bad("the hash must be base64"))?;
    if hash.len() < 16 || hash.len() > 1024 {
        return Err(bad("the hash must be 16 to 1024 bytes"));
    }
    let weak = if salt.is_empty() {
        Some("PBKDF2 without a salt is a weak scheme".to_owned())
    } else {
        few_iterations(iterations)
    };
    Ok(ParsedHash::new(
        scheme,
        stored,
        Check::Pbkdf2 {
            prf,
            iterations,
            salt,
            hash,
        },
        weak,
    ))
}

/// Check the shape of an Argon2 PHC string and its costs; return it as it is.
fn argon2_phc(s: &str) -> Result<String, Error> {
    let shape = "must be an Argon2 hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash)";
    let parts: Vec<&str> = s.split('$').collect();
    // "", algorithm, [v=..], params, salt, hash
    let (alg, params, salt, hash) = match parts.as_slice() {
        ["", alg, v, params, salt, hash] if v.starts_with("v=") => (*alg, *params, *salt, *hash),
        ["", alg, params, salt, hash] => (*alg, *params, *salt, *hash),
        _ => return Err(bad(shape)),
    };
    if !matches!(alg, "argon2id" | "argon2i" | "argon2d") {
        return Err(bad(shape));
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in params.split(',') {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(bad(shape));
        };
        let Ok(n) = v.parse::<u32>() else {
            // keyid= and data= carry text; m, t and p must be numbers
            if matches!(k, "m" | "t" | "p") {
                return Err(bad(shape));
            }
            continue;
        };
        match k {
            "m" => m = Some(n),
            "t" => t = Some(n),
            "p" => p = Some(n),
            _ => {}
        }
    }
    let (Some(m), Some(t), Some(p)) = (m, t, p) else {
        return Err(bad(shape));
    };
    if m > MAX_ARGON2_MEMORY_KIB || t > MAX_ARGON2_TIME || p == 0 || p > 255 || t == 0 {
        return Err(bad(format!(
            "Argon2 costs m={m},t={t},p={p} are out of range (at most m={MAX_ARGON2_MEMORY_KIB}, t={MAX_ARGON2_TIME})"
        )));
    }
    if b64(salt).is_none_or(|v| v.len() < 8) || b64(hash).is_none_or(|v| v.len() < 4) {
        return Err(bad(shape));
    }
    Ok(s.to_owned())
}

/// The PHC string of a PBKDF2 hash, as the Keycloak importer writes it.
pub fn pbkdf2_phc(prf: Prf, iterations: u32, salt: &[u8], hash: &[u8]) -> String {
    let id = match prf {
        Prf::HmacSha1 => "pbkdf2-sha1",
        Prf::HmacSha256 => "pbkdf2-sha256",
        Prf::HmacSha512 => "pbkdf2-sha512",
    };
    format!("${id}$i={iterations}${}${}", b64_phc(salt), b64_phc(hash))
}

/// The PHC string of an Argon2 hash given by its parts (Keycloak keeps them apart).
pub fn argon2_phc_of(
    variant: &str,
    version: u32,
    memory_kib: u32,
    time: u32,
    parallelism: u32,
    salt: &[u8],
    hash: &[u8],
) -> String {
    format!(
        "$argon2{variant}$v={version}$m={memory_kib},t={time},p={parallelism}${}${}",
        b64_phc(salt),
        b64_phc(hash)
    )
}

/// Decode standard base64 (padded or not), as exports of other applications write it.
pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    b64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

    #[test]
    fn cost_class_leaves_salt_and_digest_out() {
        let a = parse(BCRYPT).unwrap();
        let other_salt = parse(&BCRYPT.replacen("R9h/", "AAAA", 1)).unwrap();
        assert_eq!(a.cost_class(), other_salt.cost_class());
        assert_eq!(a.cost_class(), "bcrypt:12:false");
        let dearer = parse(&BCRYPT.replacen("$12$", "$13$", 1)).unwrap();
        assert_ne!(a.cost_class(), dearer.cost_class());
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0";
        if let Ok(h) = parse(phc) {
            assert_eq!(h.cost_class(), "argon2:$argon2id$v=19$m=19456,t=2,p=1");
        }
    }

    #[test]
    fn bcrypt_variants_and_costs() {
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let s = BCRYPT.replacen("$2b$", prefix, 1);
            let h = parse(&s).unwrap();
            assert_eq!(h.scheme, Scheme::Bcrypt);
            assert!(!h.is_weak() && h.is_foreign());
        }
        let weak = parse(&BCRYPT.replacen("$12$", "$09$", 1)).unwrap();
        assert!(weak.is_weak());
        assert!(weak.weak_reason().unwrap().contains("cost 9"));
        assert!(parse(&BCRYPT.replacen("$12$", "$17$", 1)).is_err());
        assert!(parse(&BCRYPT.replacen("$2b$", "$2x$", 1)).is_err());
        assert!(parse(&BCRYPT[..59]).is_err());
        assert!(parse(&BCRYPT.replacen('R', "!", 1)).is_err());
    }

    #[test]
    fn django_formats() {
        let h = parse("pbkdf2_sha256$870000$saltsalt$c2l4dGVlbi1ieXRlcy1sb25nLWhhc2g=").unwrap();
        assert_eq!(h.scheme, Scheme::DjangoPbkdf2Sha256);
        match &h.check {
            Check::Pbkdf2 {
                prf, iterations, salt, ..
            } => {
                assert_eq!(
                    (*prf, *iterations, salt.as_slice()),
                    (Prf::HmacSha256, 870_000, &b"saltsalt"[..])
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!h.is_weak());
        let sha1 = parse("pbkdf2_sha1$500$salt$c2l4dGVlbi1ieXRlcy1sb25nLWhhc2g=").unwrap();
        assert_eq!(sha1.scheme, Scheme::DjangoPbkdf2Sha1);
        assert!(sha1.is_weak(), "500 iterations");
        assert!(parse("pbkdf2_sha256$many$salt$aGFzaA==").is_err());
        assert!(parse("pbkdf2_sha256$1000$salt").is_err());
        assert!(parse("pbkdf2_sha256$99999999$salt$c2l4dGVlbi1ieXRlcy1sb25nLWhhc2g=").is_err());

        let a = parse("argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHRzb21l$aGFzaGhhc2hoYXNoaGFzaA").unwrap();
        assert_eq!(a.scheme, Scheme::DjangoArgon2);
        assert_eq!(
            a.check,
            Check::Argon2 {
                phc: "$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHRzb21l$aGFzaGhhc2hoYXNoaGFzaA".into()
            }
        );
        assert!(parse("argon2$argon2id$v=19$m=99999999,t=2,p=8$c29tZXNhbHRzb21l$aGFzaA").is_err());

        let b = parse(&format!("bcrypt_sha256${BCRYPT}")).unwrap();
        assert_eq!(b.scheme, Scheme::DjangoBcryptSha256);
        assert_eq!(
            b.check,
            Check::Bcrypt {
                bcrypt: BCRYPT.into(),
                sha256_prehash: true
            }
        );
        assert_eq!(parse(&format!("bcrypt${BCRYPT}")).unwrap().scheme, Scheme::DjangoBcrypt);
    }

    #[test]
    fn symfony_digest() {
        let digest = b64_phc(&[7u8; 64]);
        let h = parse(&format!("sha512-symfony$5000$abc$de$f${digest}==")).unwrap();
        assert_eq!(h.scheme, Scheme::SymfonySha512);
        match &h.check {
            Check::SymfonySha512 { iterations, salt, .. } => {
                assert_eq!((*iterations, salt.as_str()), (5000, "abc$de$f"))
            }
            other => panic!("{other:?}"),
        }
        assert!(!h.is_weak());
        assert!(
            parse(&format!("sha512-symfony$5000$${digest}")).unwrap().is_weak(),
            "no salt"
        );
        assert!(parse(&format!("sha512-symfony$1$salt${digest}")).unwrap().is_weak());
        assert!(parse(&format!("sha512-symfony$5000$s{{a}}${digest}")).is_err());
        assert!(parse("sha512-symfony$5000$salt$c2hvcnQ=").is_err(), "not 64 bytes");
        assert!(parse(&format!("sha512-symfony$x$salt${digest}")).is_err());
    }

    #[test]
    fn pbkdf2_phc_round_trip() {
        let s = pbkdf2_phc(Prf::HmacSha512, 210_000, b"0123456789abcdef", &[1u8; 64]);
        assert!(s.starts_with("$pbkdf2-sha512$i=210000$"));
        let h = parse(&s).unwrap();
        assert_eq!(h.scheme, Scheme::Pbkdf2Sha512);
        assert_eq!(scheme_of(&s), Some(Scheme::Pbkdf2Sha512));
        assert!(parse("$pbkdf2-sha256$x=1$c2FsdA$aGFzaA").is_err());
        assert!(
            parse("$pbkdf2-sha256$i=27500$$aGFzaGhhc2hoYXNoaGFzaA")
                .unwrap()
                .is_weak()
        );
    }

    #[test]
    fn weak_digests_and_unknown() {
        for s in [
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
            "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
            "sha1$$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
            "unsalted_md5$$5f4dcc3b5aa765d61d8327deb882cf99",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        ] {
            let h = parse(s).unwrap();
            assert_eq!(h.scheme, Scheme::WeakDigest, "{s}");
            assert!(h.is_weak(), "{s}");
        }
        let e = parse("plaintext-password").unwrap_err().to_string();
        assert!(e.contains("not a known hash format"), "{e}");
        assert!(parse("   ").is_err());
    }

    #[test]
    fn argon2_is_ours_and_checked() {
        let s = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21l$aGFzaGhhc2hoYXNoaGFzaA";
        let h = parse(s).unwrap();
        assert_eq!(h.scheme, Scheme::Argon2);
        assert!(!h.is_foreign() && !h.is_weak());
        assert_eq!(scheme_of(s), Some(Scheme::Argon2));
        assert!(parse("$argon2id$v=19$m=19456,t=2$c29tZXNhbHRzb21l$aGFzaA").is_err());
        assert!(parse("$argon2x$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21l$aGFzaA").is_err());
        assert_eq!(scheme_of(&format!("argon2{s}")), Some(Scheme::DjangoArgon2));
        assert_eq!(scheme_of("!unusable-abc"), None);
        for s in Scheme::FOREIGN {
            assert_eq!(Scheme::from_key(s.key()), Some(s));
        }
    }
}
