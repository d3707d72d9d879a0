//! How names sort as people read them: case and accents do not count, so
//! "van Dijk" sits beside "Vance" (not after "Zhang", where a byte order puts
//! lower case) and "Émile" beside "Emil". The key is computed here, once, and
//! stored beside the name (`users.first_name_key`, `users.last_name_key`): an
//! index on it serves the order on SQLite and PostgreSQL alike, which their
//! own collations would not (SQLite has none for accents, and PostgreSQL's
//! depends on the locale the cluster was made with).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFKD (compatibility decomposition: `é` → `e` + a combining acute, `ﬁ` →
/// `fi`), combining marks dropped, lowercased. Compared byte by byte.
pub fn sort_key(name: &str) -> String {
    name.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_do_not_count() {
        assert_eq!(sort_key("Émile"), "emile");
        assert_eq!(sort_key("van Dijk"), "van dijk");
        assert_eq!(sort_key("ÅNGSTRÖM"), "angstrom");
        assert_eq!(sort_key("Ｆｕｌｌ"), "full", "compatibility forms fold too");
        let mut names = vec!["Zhang", "van Dijk", "Vance", "Émile", "Emil", "adams", "Åberg"];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(names, ["Åberg", "adams", "Emil", "Émile", "van Dijk", "Vance", "Zhang"]);
    }
}
