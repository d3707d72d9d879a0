//! An audit event as a person reads it, for the audit log and a user's
//! History: a sentence ("admin disabled john.smith"), the fields that changed
//! ("email: a@x → b@y"), and the stored JSON only behind a "details" toggle.

use muster_domain::AuditAction;
use muster_store::audit::Event;
use serde_json::{Map, Value};

/// One event, ready for a template.
#[derive(Debug, Clone)]
pub struct EventView {
    pub at: i64,
    /// The stored action code (`user.disabled`), for the filter and a tooltip.
    pub code: String,
    pub actor: String,
    pub target: String,
    pub target_id: Option<i64>,
    pub ip: String,
    /// "admin disabled john.smith".
    pub sentence: String,
    /// "email: a@x → b@y", one per field that changed (or was set, or removed).
    pub changes: Vec<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

impl EventView {
    pub fn has_raw(&self) -> bool {
        self.before_json.is_some() || self.after_json.is_some()
    }
}

pub fn view(e: Event) -> EventView {
    let action = AuditAction::parse(&e.action);
    EventView {
        sentence: sentence(action, &e),
        changes: changes(e.before_json.as_deref(), e.after_json.as_deref()),
        at: e.at,
        code: e.action,
        actor: e.actor_username,
        target: e.target_username,
        target_id: e.target_id,
        ip: e.ip,
        before_json: e.before_json,
        after_json: e.after_json,
    }
}

/// "‹actor› ‹wording› ‹target›"; a lockout is the system's doing, so it reads "‹target› was locked …".
fn sentence(action: Option<AuditAction>, e: &Event) -> String {
    // the actor by name when they still exist ("Jane Doe disabled john.smith"), else as recorded
    let actor = if !e.actor_name.trim().is_empty() {
        e.actor_name.trim()
    } else if e.actor_username.is_empty() {
        "system"
    } else {
        e.actor_username.as_str()
    };
    let Some(action) = action else {
        // a code muster no longer writes: shown as it is
        return format!("{actor}: {} {}", e.action, e.target_username)
            .trim_end()
            .to_owned();
    };
    if action == AuditAction::UserLocked {
        return format!("{} was {}", e.target_username, action.wording());
    }
    format!("{actor} {} {}", action.wording(), e.target_username)
        .trim_end()
        .to_owned()
}

/// A JSON value in words: text as it is, lists joined, yes/no, "—" for nothing.
fn words(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(s) if s.is_empty() => "—".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "—".to_owned(),
        Value::Array(a) => a.iter().map(words).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `firstName` → `first name`: the stored keys, spelled for reading.
fn label(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn object(raw: Option<&str>) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(raw?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Field by field: with both sides, only what differs ("email: a → b"); with
/// one side, what it says ("organization: Main").
fn changes(before: Option<&str>, after: Option<&str>) -> Vec<String> {
    match (object(before), object(after)) {
        (Some(b), Some(a)) => {
            let mut keys: Vec<&String> = b.keys().collect();
            keys.extend(a.keys().filter(|k| !b.contains_key(*k)));
            keys.into_iter()
                .filter_map(|k| {
                    let (x, y) = (b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null));
                    (x != y).then(|| format!("{}: {} → {}", label(k), words(x), words(y)))
                })
                .collect()
        }
        (None, Some(one)) | (Some(one), None) => {
            one.iter().map(|(k, v)| format!("{}: {}", label(k), words(v))).collect()
        }
        (None, None) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, before: Option<&str>, after: Option<&str>) -> Event {
        Event {
            actor_username: "jane".into(),
            action: action.into(),
            target_username: "john.smith".into(),
            before_json: before.map(Into::into),
            after_json: after.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn sentences_name_who_did_what_to_whom() {
        assert_eq!(
            view(event("user.disabled", None, None)).sentence,
            "jane disabled john.smith"
        );
        assert_eq!(
            view(event("api_key.generated", None, None)).sentence,
            "jane generated an API key for john.smith"
        );
        assert_eq!(
            view(event("user.locked", None, None)).sentence,
            "john.smith was locked (too many failed sign-ins)"
        );
        let mut e = event("settings.updated", None, None);
        e.target_username.clear();
        assert_eq!(view(e).sentence, "jane changed the settings");
        assert_eq!(
            view(event("user.gone", None, None)).sentence,
            "jane: user.gone john.smith"
        );
    }

    #[test]
    fn changes_are_field_by_field() {
        let v = view(event(
            "user.updated",
            Some(r#"{"email":"a@x","enabled":true,"roles":["User"],"lastName":"Doe"}"#),
            Some(r#"{"email":"b@y","enabled":false,"roles":["User","User Manager"],"lastName":"Doe"}"#),
        ));
        // the key order of serde_json's map depends on its features: compare as a set
        let mut got = v.changes.clone();
        got.sort();
        assert_eq!(
            got,
            [
                "email: a@x → b@y",
                "enabled: yes → no",
                "roles: User → User, User Manager"
            ]
        );
        let v = view(event(
            "api_key.generated",
            None,
            Some(r#"{"organization":"Main","keyPrefix":"mk_ab"}"#),
        ));
        let mut got = v.changes.clone();
        got.sort();
        assert_eq!(got, ["key prefix: mk_ab", "organization: Main"]);
        assert!(view(event("user.deleted", Some("not json"), None)).changes.is_empty());
    }
}
