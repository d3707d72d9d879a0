use crate::error::Error;
use crate::identifier;

/// A username: 1 to 64 characters of letters, digits, `.`, `_`, `-`, `@`,
/// NFKC-normalized, in one script, with no hidden characters and no letter
/// that passes for another (see [`crate::identifier`]).
/// Uniqueness is case-insensitive; the spelling given is kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        const FIELD: &str = "username";
        let trimmed = raw.trim();
        identifier::refuse_hidden(FIELD, trimmed, false)?;
        let normalized = identifier::nfkc(trimmed);
        let s = normalized.trim();
        if s.is_empty() {
            return Err(Error::invalid(FIELD, "is required"));
        }
        if s.chars().count() > 64 {
            return Err(Error::invalid(FIELD, "must be at most 64 characters"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
        {
            return Err(Error::invalid(
                FIELD,
                format!("may contain letters, digits, '.', '_', '-' and '@' only (found {c:?})"),
            ));
        }
        identifier::refuse_confusable(FIELD, s, true)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is checked on.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }

    /// The plain ASCII name this one reads as, when it is written otherwise: the
    /// TR39 skeleton of a name in another script (Cyrillic `асе` reads as `ace`).
    /// The parse already refuses mixed scripts; this is for whole-script look-alikes,
    /// compared with the existing names by the store. One direction only: a plain
    /// name created after its look-alike is not caught (that needs the skeletons
    /// of the existing names stored beside them).
    pub fn plain_look_alike(&self) -> Option<String> {
        if self.0.is_ascii() {
            return None;
        }
        let plain = identifier::skeleton_of(&self.canonical()).to_lowercase();
        (plain.is_ascii() && plain != self.canonical()).then_some(plain)
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A primary email address: `local@domain` with a dotted domain, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim();
        let err = |m: &str| Err(Error::invalid("email", m));
        if s.is_empty() {
            return err("is required");
        }
        if s.len() > 254 {
            return err("must be at most 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return err("must look like name@example.com");
        };
        if local.is_empty()
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return err("must look like name@example.com");
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        {
            return err("must not contain spaces, quotes or < > , ;");
        }
        if domain.contains('@') || local.contains('@') {
            return err("must contain exactly one @");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A first or last name: required, at most 100 characters, no control characters, no
/// bidirectional controls and no invisible characters except the joiners (ZWJ, ZWNJ) that
/// Persian and Indic names are spelled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Error> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        if s.chars().count() > 100 {
            return Err(Error::invalid(field, "must be at most 100 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        identifier::refuse_hidden(field, s, true)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert_eq!(Username::parse("  JDoe ").unwrap().as_str(), "JDoe");
        assert_eq!(Username::parse("JDoe").unwrap().canonical(), "jdoe");
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
        assert!(Username::parse("jane.o-neil_2@corp").is_ok());
    }

    #[test]
    fn usernames_that_pass_for_others_are_refused() {
        for ok in ["josé", "Müller", "иван", "αλέξης", "山田", "yamada山田"] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
        // NFKC: full-width and ligatures become the plain letters
        assert_eq!(Username::parse("ａｄｍｉｎ").unwrap().as_str(), "admin");
        assert_eq!(Username::parse("ﬁona").unwrap().as_str(), "fiona");
        for (bad, says) in [
            ("admın", "U+0131"),
            ("\u{0430}dmin", "one script"),
            ("admin\u{200B}", "U+200B ZERO WIDTH SPACE"),
            ("ad\u{200D}min", "invisible"),
            ("\u{FEFF}admin", "invisible"),
            ("ad\u{00AD}min", "SOFT HYPHEN"),
            ("nimda\u{202E}", "U+202E RIGHT-TO-LEFT OVERRIDE"),
            ("a\u{2066}b", "bidirectional"),
            ("a\u{200F}b", "bidirectional"),
        ] {
            match Username::parse(bad) {
                Err(Error::Invalid(f)) => {
                    assert_eq!(f[0].field, "username");
                    assert!(f[0].message.contains(says), "{bad:?}: {}", f[0].message);
                }
                other => panic!("{bad:?} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn whole_script_look_alikes_name_the_plain_name() {
        // Cyrillic а, с, е: one script, so the parse accepts it; the store compares
        assert_eq!(
            Username::parse("\u{0430}\u{0441}\u{0435}")
                .unwrap()
                .plain_look_alike()
                .as_deref(),
            Some("ace")
        );
        assert_eq!(Username::parse("ace").unwrap().plain_look_alike(), None);
        assert_eq!(Username::parse("josé").unwrap().plain_look_alike(), None);
        assert_eq!(Username::parse("иван").unwrap().plain_look_alike(), None);
    }

    #[test]
    fn names_refuse_bidi_controls_and_invisibles() {
        let err = PersonName::parse("first_name", "Eve\u{202E}nomis").unwrap_err();
        assert!(err.to_string().contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{err}");
        assert!(PersonName::parse("last_name", "Do\u{200B}e").is_err());
        assert!(PersonName::parse("last_name", "Do\u{2067}e").is_err());
        // joiners spell Persian names
        assert!(
            PersonName::parse(
                "first_name",
                "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}"
            )
            .is_ok()
        );
        assert!(PersonName::parse("first_name", "Zoë d'Arc-Ñúñez").is_ok());
    }

    #[test]
    fn email_rules() {
        assert_eq!(
            EmailAddress::parse("Jo@Example.COM").unwrap().canonical(),
            "jo@example.com"
        );
        for bad in [
            "",
            "jo",
            "jo@",
            "@x.com",
            "jo@localhost",
            "jo@x..com",
            "a b@x.com",
            "a@b@x.com",
            "jo@.x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn names_keep_markup_as_text() {
        let n = PersonName::parse("first_name", "<script>alert(1)</script>").unwrap();
        assert_eq!(n.as_str(), "<script>alert(1)</script>");
        assert!(PersonName::parse("first_name", "  ").is_err());
        assert!(PersonName::parse("first_name", "a\u{0}b").is_err());
    }
}
