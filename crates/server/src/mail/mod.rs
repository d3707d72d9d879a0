//! Mail: messages are built here, queued in the outbox in the caller's
//! transaction, and delivered by the [`worker`] through a [`transport`]
//! (the spool folder by default, or SMTP).

pub mod messages;
pub mod transport;
pub mod worker;

use muster_domain::Millis;
use muster_store::{Conn, outbox};
use tokio::sync::Notify;

use crate::error::AppResult;

/// Escape text for HTML attribute or body context: mail bodies here, and the
/// UI's flash text (askama escapes templates itself).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A mail to queue: every mail has a text and an HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Outgoing {
    /// The outbox row. The stored Message-ID is its unique left part; the
    /// domain of the From address is added at delivery.
    pub fn into_new(self) -> outbox::NewMail {
        outbox::NewMail {
            to_addr: self.to,
            subject: self.subject,
            text_body: self.text,
            html_body: self.html,
            message_id: crate::crypto::random_token(18),
        }
    }
}

/// Queue a mail in the caller's transaction; it leaves only if that commits.
pub async fn queue(conn: &mut Conn, mail: Outgoing, now: Millis) -> AppResult<i64> {
    Ok(outbox::enqueue(conn, &mail.into_new(), now).await?)
}

static WAKE: Notify = Notify::const_new();

/// Tell the worker of this process that mail is waiting (call after commit).
pub fn wake() {
    WAKE.notify_waiters();
}

pub(crate) fn wake_signal() -> &'static Notify {
    &WAKE
}
