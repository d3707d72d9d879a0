//! Confirmation pages for actions that cannot be undone (Reset Password of
//! one user, Generate Key over an existing key, Revoke, Delete, ending
//! sessions). The page is the `GET` of the action's own URL; its form posts
//! to the same URL. The buttons that lead here are links carrying
//! `data-confirm…` attributes: with JavaScript, `/static/confirm.js` asks in
//! a dialog and posts directly; without it, the browser follows the link to
//! this page. So both paths ask, and the `POST` itself stays what the tests
//! and the API-like forms already use.

use askama::Template;
use askama_web::WebTemplate;

use super::session::Layout;

/// What a confirmation asks, and where it posts.
#[derive(Debug, Clone, Default)]
pub struct Confirm {
    pub title: String,
    pub message: String,
    /// The form's target: the action's URL.
    pub action: String,
    /// Hidden fields besides the CSRF token (`back`, `organization_id`, `session`…).
    pub fields: Vec<(String, String)>,
    /// The confirming button's label, in the seed's words ("Reset", "Yes, Delete").
    pub button: String,
    /// Where Cancel goes: the page the admin came from.
    pub cancel: String,
    /// When the action would be refused: why, said before anything is confirmed.
    pub refused: Option<String>,
    /// A way past a refusal (e.g. "Reassign records"), as (href, label).
    pub way_out: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub c: Confirm,
}

/// Where to go back to after an action (or its Cancel): a local path in the
/// back office, checked by the one redirect check; anything else is `fallback`.
pub fn back_or(raw: Option<&str>, fallback: String) -> String {
    raw.and_then(super::redirect::local_path)
        .filter(|b| b.starts_with("/admin/") || b == "/admin" || b.starts_with("/profile"))
        .unwrap_or(fallback)
}

/// The first value of `key` in a query or form.
pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `back` or `next`, whichever the form carried (the row menu says `back`, dialogs `next`).
pub fn back_field(pairs: &[(String, String)]) -> Option<&str> {
    field(pairs, "back").or_else(|| field(pairs, "next"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_stays_in_the_back_office() {
        let f = || "/admin/users/7".to_owned();
        assert_eq!(
            back_or(Some("/admin/users?view=all&q=a"), f()),
            "/admin/users?view=all&q=a"
        );
        assert_eq!(back_or(Some("/profile"), f()), "/profile");
        assert_eq!(back_or(Some("//evil.example/admin/"), f()), "/admin/users/7");
        assert_eq!(back_or(Some("/login"), f()), "/admin/users/7");
        assert_eq!(back_or(Some("https://evil.example/admin/"), f()), "/admin/users/7");
        assert_eq!(back_or(None, f()), "/admin/users/7");
    }

    #[test]
    fn back_or_next() {
        let p = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(back_field(&p("back", "/a")), Some("/a"));
        assert_eq!(back_field(&p("next", "/b")), Some("/b"));
        assert_eq!(back_field(&p("other", "/c")), None);
    }
}
