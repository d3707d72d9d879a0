use crate::error::Error;

/// A username: 1 to 64 characters of letters, digits, `.`, `_`, `-`, `@`.
/// Uniqueness is case-insensitive; the spelling given is kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Error::invalid("username", "is required"));
        }
        if s.chars().count() > 64 {
            return Err(Error::invalid("username", "must be at most 64 characters"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
        {
            return Err(Error::invalid(
                "username",
                format!("may contain letters, digits, '.', '_', '-' and '@' only (found {c:?})"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is checked on.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
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

/// A first or last name: required, at most 100 characters, no control characters.
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
