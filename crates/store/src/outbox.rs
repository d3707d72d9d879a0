//! The mail outbox: a mail is queued in the same transaction as the change
//! that causes it, and delivered later by a worker.

use muster_domain::Millis;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub to_addr: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub message_id: String,
}

pub async fn enqueue(conn: &mut Conn, m: &NewMail, now: Millis) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, message_id, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) RETURNING id",
    )
    .bind(&m.to_addr)
    .bind(&m.subject)
    .bind(&m.text_body)
    .bind(&m.html_body)
    .bind(&m.message_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}
