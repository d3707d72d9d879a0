//! Where delivered mail goes: the spool folder (one RFC 5322 `.eml` per
//! message, the default) or an SMTP server through lettre.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use muster_store::outbox::Mail;

use crate::config::Config;

/// Well under the worker's lease of 120 s.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

pub enum Transport {
    Spool(PathBuf),
    Smtp {
        smtp: AsyncSmtpTransport<Tokio1Executor>,
        /// The URL without its password, for messages.
        label: String,
    },
}

impl Transport {
    pub fn from_config(config: &Config) -> Result<Transport, String> {
        match &config.smtp_url {
            None => Ok(Transport::Spool(config.data_dir.join("mail"))),
            Some(url) => Ok(Transport::Smtp {
                smtp: smtp_from_url(url.expose())?,
                label: url.redacted(),
            }),
        }
    }

    /// What [`Transport::from_config`] would use, without building it.
    pub fn describe_config(config: &Config) -> String {
        match &config.smtp_url {
            None => format!("the spool folder {}", config.data_dir.join("mail").display()),
            Some(url) => url.redacted(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Spool(dir) => format!("the spool folder {}", dir.display()),
            Transport::Smtp { label, .. } => label.clone(),
        }
    }

    pub async fn send(&self, mail: &Mail, message: Message) -> Result<(), String> {
        match self {
            Transport::Spool(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                // Written under a temporary name then renamed: a reader never sees half a file,
                // and a second delivery of the same mail replaces the first.
                let name = format!("{}-{}.eml", mail.created_at, mail.id);
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, message.formatted())
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
                tokio::fs::rename(&tmp, dir.join(&name))
                    .await
                    .map_err(|e| format!("cannot rename {}: {e}", tmp.display()))?;
                Ok(())
            }
            // lettre's timeout does not bound every read; a server that stops
            // answering must not hold the mail past its lease.
            Transport::Smtp { smtp, .. } => match tokio::time::timeout(SEND_TIMEOUT, smtp.send(message)).await {
                Ok(sent) => sent.map(|_| ()).map_err(|e| e.to_string()),
                Err(_) => Err(format!(
                    "no answer from the SMTP server within {}s",
                    SEND_TIMEOUT.as_secs()
                )),
            },
        }
    }
}

/// `smtp://user:pass@host:port` (no TLS; for a local relay), `smtps://…`
/// (TLS from the start, port 465), `smtp://…?tls=starttls` (STARTTLS
/// required, port 587) or `?tls=opportunistic`; `&ca=/path/ca.pem` trusts a
/// private certificate authority.
pub fn smtp_from_url(raw: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let redacted = crate::config::SecretUrl::new(raw).redacted();
    let url = url::Url::parse(raw).map_err(|e| format!("SMTP URL {redacted}: {e}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("SMTP URL {redacted}: a host is required"))?
        .to_owned();
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_lowercase());
    // `ca=/path/ca.pem`: trust a private CA besides the public roots.
    let ca = url.query_pairs().find(|(k, _)| k == "ca").map(|(_, v)| v.into_owned());
    let tls_params = || {
        let mut b = TlsParameters::builder(host.clone());
        if let Some(path) = &ca {
            let pem = std::fs::read(path).map_err(|e| format!("SMTP URL {redacted}: cannot read ca={path}: {e}"))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("SMTP URL {redacted}: ca={path}: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        b.build().map_err(|e| format!("TLS for {host}: {e}"))
    };
    let (tls, default_port) = match (url.scheme(), tls_param.as_deref()) {
        ("smtps", None | Some("wrapper" | "implicit")) => (Tls::Wrapper(tls_params()?), 465),
        ("smtp", Some("starttls" | "required")) => (Tls::Required(tls_params()?), 587),
        ("smtp", Some("opportunistic")) => (Tls::Opportunistic(tls_params()?), 587),
        ("smtp", None | Some("none")) => (Tls::None, 25),
        (scheme, tls) => {
            return Err(format!(
                "SMTP URL {redacted}: unsupported scheme {scheme:?} with tls={tls:?}; use smtp://, smtps:// or smtp://…?tls=starttls"
            ));
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(url.port().unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).map_err(|()| format!("SMTP URL {redacted}: bad percent-encoding in the credentials"))
        };
        let user = decode(url.username())?;
        let pass = decode(url.password().unwrap_or(""))?;
        builder = builder.credentials(Credentials::new(user, pass));
    }
    Ok(builder.build())
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let hex = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// The RFC 5322 message of an outbox row: From, To, Subject, Date,
/// Message-ID, and a multipart/alternative body of text and HTML.
pub fn build_message(config: &Config, mail: &Mail) -> Result<Message, String> {
    let from: Mailbox = config
        .mail_from
        .parse()
        .map_err(|e| format!("the From address {:?} is not valid: {e}", config.mail_from))?;
    let to: Mailbox = mail
        .to_addr
        .parse()
        .map_err(|e| format!("the recipient address is not valid: {e}"))?;
    let (Some(text), Some(html)) = (&mail.text_body, &mail.html_body) else {
        return Err("the mail has no body any more (it was delivered before)".to_owned());
    };
    let message_id = if mail.message_id.contains('@') {
        mail.message_id.clone()
    } else {
        format!("<{}@{}>", mail.message_id, from.email.domain())
    };
    let date = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(mail.created_at).unwrap_or(0));
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .date(date)
        .message_id(Some(message_id))
        .header(header::MIME_VERSION_1_0)
        .multipart(MultiPart::alternative_plain_html(text.clone(), html.clone()))
        .map_err(|e| format!("cannot build the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // building an SMTP transport starts its connection pool, which needs a runtime
    #[tokio::test]
    async fn smtp_urls() {
        assert!(smtp_from_url("smtp://localhost:2525").is_ok());
        assert!(smtp_from_url("smtp://u%40x:p%21w@localhost:2525").is_ok());
        assert!(smtp_from_url("smtps://mail.example.com").is_ok());
        assert!(smtp_from_url("smtp://mail.example.com?tls=starttls").is_ok());
        let e = smtp_from_url("http://x").err().unwrap_or_default();
        assert!(e.contains("unsupported scheme"), "{e}");
        let e = smtp_from_url("smtp://u:secret@h?tls=bogus").err().unwrap_or_default();
        assert!(!e.contains("secret"), "password leaked: {e}");
    }

    #[test]
    fn decode() {
        assert_eq!(percent_decode("a%40b").as_deref(), Ok("a@b"));
        assert!(percent_decode("a%4").is_err());
    }
}
