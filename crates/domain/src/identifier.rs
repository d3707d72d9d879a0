//! Names that identify something to a person: usernames and organization
//! names. Two of them must not look alike while being different strings, and
//! none may hide characters. The rules, after trimming:
//!
//! 1. No bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E,
//!    U+200F, U+061C) and no invisible (default-ignorable) characters — zero
//!    width space, joiners, word joiner, soft hyphen, U+FEFF, variation
//!    selectors, Hangul fillers, tags. Refused, never silently removed: a name
//!    is stored as the person typed it or not at all.
//! 2. NFKC normalization: full-width, ligature and mathematical letters
//!    become the plain ones (`ａｄｍｉｎ` is `admin`), so they collide with the
//!    plain name in the uniqueness check instead of standing beside it.
//! 3. One script, in the sense of Unicode TR39's *highly restrictive* level:
//!    a single script, or Latin with Han/Hiragana/Katakana or Latin with
//!    Han/Hangul. Latin mixed with Cyrillic or Greek (`аdmin` with a Cyrillic
//!    `а`) is refused. Digits and punctuation belong to every script.
//! 4. In a name that holds Latin letters, no non-ASCII character whose TR39
//!    confusable skeleton is plain ASCII: dotless `ı`, Latin alpha `ɑ`, the
//!    click letter `ǀ`… would each pass for an ASCII letter (`admın` for
//!    `admin`). Accented letters (`é`, `ü`, `ł`) keep a mark in their skeleton
//!    and stay allowed.
//!
//! Whole-script look-alikes (a name entirely in Cyrillic letters that looks
//! like a Latin one) pass these rules; they are a matter of comparing with the
//! names that exist, which the domain does not see.

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection, skeleton};

use crate::error::Error;

/// The bidirectional formatting characters: they reorder what is shown.
pub fn bidi_control_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        _ => return None,
    })
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, 16.0):
/// characters a renderer shows as nothing. The bidi controls are among them.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{034F}'
        | '\u{061C}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn invisible_name(c: char) -> &'static str {
    match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{FE00}'..='\u{FE0F}' => "VARIATION SELECTOR",
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => "HANGUL FILLER",
        '\u{E0000}'..='\u{E0FFF}' => "TAG",
        _ => "invisible character",
    }
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE`: how a refused character is named in messages.
fn describe(c: char, name: &str) -> String {
    format!("U+{:04X} {name}", u32::from(c))
}

/// Rule 1, with `allow_joiners` for personal names (ZWJ/ZWNJ spell Persian and Indic names).
pub fn refuse_hidden(field: &str, s: &str, allow_joiners: bool) -> Result<(), Error> {
    if let Some((c, name)) = s.chars().find_map(|c| bidi_control_name(c).map(|n| (c, n))) {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain bidirectional control characters, which change how text is shown (found {})",
                describe(c, name)
            ),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| is_invisible(c) && !(allow_joiners && matches!(c, '\u{200C}' | '\u{200D}')))
    {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain invisible characters (found {})",
                describe(c, invisible_name(c))
            ),
        ));
    }
    Ok(())
}

/// The TR39 confusable skeleton of `s` (what it reads as).
pub fn skeleton_of(s: &str) -> String {
    skeleton(s).collect()
}

/// NFKC (rule 2).
pub fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// The scripts that `s` draws on, by name, in order of appearance (Common and Inherited left out).
fn scripts_of(s: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for c in s.chars() {
        let script = c.script();
        if !matches!(script, Script::Common | Script::Inherited | Script::Unknown)
            && !names.contains(&script.full_name())
        {
            names.push(script.full_name());
        }
    }
    names
}

fn is_latin(c: char) -> bool {
    c.script() == Script::Latin
}

/// Rules 3 and 4 over the letters and digits of `s` (already NFKC). Characters outside
/// TR39's identifier profile (obsolete or technical letters) are refused when `strict`.
pub fn refuse_confusable(field: &str, s: &str, strict: bool) -> Result<(), Error> {
    let letters: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
    if strict && let Some(c) = letters.chars().find(|&c| !c.is_ascii() && !c.identifier_allowed()) {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain {c:?} (U+{:04X}): Unicode does not recommend it in identifiers",
                u32::from(c)
            ),
        ));
    }
    let allowed: String = letters.chars().filter(|c| c.identifier_allowed()).collect();
    if allowed.detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
        return Err(Error::invalid(
            field,
            format!(
                "must be written in one script: it mixes {}, which can look alike",
                scripts_of(&allowed).join(" and ")
            ),
        ));
    }
    if letters.chars().any(is_latin)
        && let Some((c, looks)) = letters.chars().filter(|c| !c.is_ascii()).find_map(|c| {
            let mut buf = [0u8; 4];
            let sk: String = skeleton(c.encode_utf8(&mut buf)).collect();
            (sk.is_ascii() && !sk.is_empty()).then_some((c, sk))
        })
    {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain {c:?} (U+{:04X}), which looks like the plain letter {looks:?}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// An organization's name: 1 to 100 characters, no control or hidden characters, NFKC,
/// one script. Uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        const FIELD: &str = "name";
        let trimmed = raw.trim();
        refuse_hidden(FIELD, trimmed, false)?;
        let s = nfkc(trimmed);
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
            return Err(Error::invalid(
                FIELD,
                "must be 1 to 100 characters without control characters",
            ));
        }
        refuse_confusable(FIELD, s, false)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for OrganizationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<(), Error>) -> String {
        match r {
            Err(Error::Invalid(f)) => f[0].message.clone(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn hidden_characters_are_named() {
        let m = message(refuse_hidden("name", "Main\u{200B}", false));
        assert!(m.contains("invisible") && m.contains("U+200B ZERO WIDTH SPACE"), "{m}");
        let m = message(refuse_hidden("name", "abc\u{202E}gpj.exe", false));
        assert!(
            m.contains("bidirectional") && m.contains("U+202E RIGHT-TO-LEFT OVERRIDE"),
            "{m}"
        );
        for c in [
            '\u{00AD}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{3164}',
            '\u{E0041}',
        ] {
            assert!(refuse_hidden("name", &format!("a{c}b"), false).is_err(), "{c:?}");
        }
        for c in ['\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{2066}', '\u{2069}'] {
            assert!(refuse_hidden("name", &format!("a{c}b"), true).is_err(), "{c:?}");
        }
        assert!(refuse_hidden("name", "a\u{200C}b", true).is_ok());
        assert!(refuse_hidden("name", "Main", false).is_ok());
    }

    #[test]
    fn scripts_and_look_alikes() {
        for ok in [
            "admin",
            "josé",
            "Müller",
            "Łukasz",
            "søren",
            "straße",
            "иван",
            "αλέξης",
            "山田",
            "yamada山田",
            "김민준",
        ] {
            assert!(refuse_confusable("username", ok, true).is_ok(), "{ok} should pass");
        }
        let m = message(refuse_confusable("username", "аdmin", true));
        assert!(
            m.contains("one script") && m.contains("Cyrillic") && m.contains("Latin"),
            "{m}"
        );
        let m = message(refuse_confusable("username", "admın", true));
        assert!(m.contains("U+0131") && m.contains("\"i\""), "{m}");
        assert!(refuse_confusable("username", "pɑypal", true).is_err());
        assert!(
            refuse_confusable("username", "ορenai", true).is_err(),
            "Greek with Latin"
        );
    }

    #[test]
    fn organization_names() {
        assert_eq!(
            OrganizationName::parse("  Acme & Sons (EU) ").unwrap().as_str(),
            "Acme & Sons (EU)"
        );
        assert_eq!(OrganizationName::parse("Ｍａｉｎ").unwrap().as_str(), "Main");
        assert!(OrganizationName::parse("Main\u{200B}").is_err());
        assert!(OrganizationName::parse("M\u{0430}in").is_err());
        assert!(OrganizationName::parse("Maın").is_err());
        assert!(OrganizationName::parse("Société Générale").is_ok());
        assert!(OrganizationName::parse("").is_err());
        assert!(OrganizationName::parse("a\u{1}b").is_err());
        assert!(OrganizationName::parse(&"x".repeat(101)).is_err());
    }
}
