//! Where a page may send the browser next (`next`, `back`): one check for
//! every redirect target that comes from a request.
//!
//! The target is parsed, not pattern-matched: it is resolved against a
//! placeholder origin with the WHATWG URL parser (what browsers use), and
//! kept only if it stays on that origin. Before parsing, anything a browser
//! would drop or reinterpret is refused outright — ASCII control characters
//! and whitespace (the parser silently strips tab and newline, so
//! `/\t/evil.example` would become `//evil.example`), backslashes (read as
//! `/` in http URLs) — and so are their percent-encoded forms, and any `//`
//! in the path. What comes out is the parser's normalized path and query,
//! printable ASCII only, so it is always a valid `Location` header.

use url::Url;

/// The origin relative targets are resolved against; it never leaves this module.
const BASE: &str = "http://muster.invalid/";
/// Longer targets are refused rather than cut.
const MAX_LEN: usize = 2048;

/// A byte that may not appear in a target, raw or percent-decoded:
/// ASCII control characters (tab, newline, CR, VT, FF, NUL…, DEL) and space.
fn forbidden(b: u8) -> bool {
    b.is_ascii_control() || b == b' '
}

/// Percent-decode once (what the server and the browser each do once).
/// A `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            // hi and lo are below 16
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Refused when the path (raw or decoded once) could point off-site.
fn bad_path(path: &[u8]) -> bool {
    !path.starts_with(b"/") || path.windows(2).any(|w| w == b"//") || path.contains(&b'\\')
}

/// A local path (and query) to redirect to, normalized; `None` for anything
/// else: absolute or scheme-relative URLs, `javascript:`, backslashes,
/// control characters or whitespace, raw or percent-encoded.
pub fn local_path(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_LEN {
        return None;
    }
    // Raw: no control characters, no whitespace (Unicode included), no backslash.
    if raw.bytes().any(forbidden) || raw.chars().any(char::is_whitespace) || raw.contains('\\') {
        return None;
    }
    let (path, _) = raw.split_once(['?', '#']).unwrap_or((raw, ""));
    if bad_path(path.as_bytes()) {
        return None;
    }
    // Decoded once: the same rules, so `%09`, `%0A`, `%5C`, `%2F%2F`… cannot smuggle them in
    // (an encoded space stays allowed in the query, where a search may hold one).
    let decoded_path = percent_decode(path);
    if decoded_path.iter().copied().any(forbidden) || bad_path(&decoded_path) {
        return None;
    }
    if percent_decode(raw).iter().any(u8::is_ascii_control) {
        return None;
    }
    let base = Url::parse(BASE).ok()?;
    let url = base.join(raw).ok()?;
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let mut out = url.path().to_owned();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    // The parser's output, checked once more: what we send is what we checked.
    let out_path = out.split_once('?').map_or(out.as_str(), |(p, _)| p);
    (!bad_path(out_path.as_bytes()) && out.bytes().all(|b| b.is_ascii_graphic())).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn local_paths_pass_normalized() {
        assert_eq!(local_path("/admin/users").as_deref(), Some("/admin/users"));
        assert_eq!(
            local_path("/admin/users?view=all&search=a%20b").as_deref(),
            Some("/admin/users?view=all&search=a%20b")
        );
        assert_eq!(
            local_path("/profile#keys").as_deref(),
            Some("/profile"),
            "fragment dropped"
        );
        assert_eq!(
            local_path("/a/../profile").as_deref(),
            Some("/profile"),
            "dot segments resolved"
        );
        assert_eq!(local_path("/").as_deref(), Some("/"));
        assert_eq!(
            local_path("/admin/users?search=jos\u{e9}").as_deref(),
            Some("/admin/users?search=jos%C3%A9"),
            "non-ASCII is percent-encoded, so it is a valid header"
        );
        assert_eq!(
            local_path("/admin/users?search=http://x").as_deref(),
            Some("/admin/users?search=http://x"),
            "`//` in the query is data"
        );
    }

    #[test]
    fn control_characters_and_whitespace_are_refused() {
        for c in [
            '\t', '\n', '\r', '\u{b}', '\u{c}', '\0', '\u{7f}', ' ', '\u{a0}', '\u{2028}',
        ] {
            for raw in [
                format!("/{c}/evil.example/x"),
                format!("/admin{c}"),
                format!("/a?q={c}"),
            ] {
                assert_eq!(local_path(&raw), None, "{raw:?}");
            }
        }
    }

    #[test]
    fn encoded_control_characters_are_refused() {
        for enc in ["%09", "%0a", "%0A", "%0d", "%0D", "%0b", "%0c", "%00", "%7f", "%1b"] {
            for raw in [
                format!("/{enc}/evil.example/x"),
                format!("/admin{enc}"),
                format!("/a?q={enc}"),
            ] {
                assert_eq!(local_path(&raw), None, "{raw:?}");
            }
        }
        assert_eq!(local_path("/%20/evil.example"), None, "no encoded space in the path");
    }

    #[test]
    fn backslashes_and_double_slashes_are_refused() {
        for raw in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/admin\\users",
            "/admin//users",
            "/.//evil.example",
            "/a/..//evil.example",
        ] {
            assert_eq!(local_path(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn encoded_slashes_and_backslashes_are_refused() {
        for raw in [
            "/%2F%2Fevil.example",
            "/%2f%2fevil.example",
            "/%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%5C%5Cevil.example",
            "%2F%2Fevil.example",
            "%5C%5Cevil.example",
            "/%09/evil.example",
            "/a/..%2F..%2F/evil.example",
        ] {
            assert_eq!(local_path(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn absolute_and_scheme_urls_are_refused() {
        for raw in [
            "http://evil.example/",
            "https://evil.example/admin",
            "HTTP://evil.example",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.example",
            "admin/users",
            "?next=/x",
            "#x",
            "",
            "http:/evil.example",
            "/\u{ff0f}evil.example",
        ] {
            let got = local_path(raw);
            assert!(
                got.as_deref()
                    .is_none_or(|p| p.starts_with('/') && !p.starts_with("//")),
                "{raw:?} -> {got:?}"
            );
            if !raw.starts_with('/') {
                assert_eq!(got, None, "{raw:?}");
            }
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), None, "too long");
    }
}
