//! The mails muster sends, each as text and HTML. Values are escaped in the
//! HTML part; links are absolute, starting with the public URL.

use muster_store::users::User;

use super::Outgoing;
use super::escape;

fn html_page(title: &str, paragraphs: &[String]) -> String {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str("<p style=\"margin:0 0 1em\">");
        body.push_str(p);
        body.push_str("</p>\n");
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font:15px/1.5 system-ui,sans-serif;color:#1d2733;max-width:36rem\">\n{body}\
         <p style=\"color:#5b6876;font-size:13px\">This message was sent by muster.</p>\n</body></html>\n",
        escape(title)
    )
}

fn greeting(u: &User) -> String {
    format!("Hello {},", u.first_name)
}

/// After a password change. `by` is the administrator's username, or `None` when the user set it.
pub fn password_changed(u: &User, by: Option<&str>, when: &str) -> Outgoing {
    let who = match by {
        Some(admin) => format!("by the administrator {admin}"),
        None => "by you".to_owned(),
    };
    let subject = "Your muster password was changed".to_owned();
    let line1 = format!(
        "The password of your muster account {} was changed {who} on {when}.",
        u.username
    );
    let line2 = "You were signed out of every other session.";
    let line3 = "If you did not expect this, contact your administrator at once.";
    let text = format!("{}\n\n{line1}\n{line2}\n\n{line3}\n", greeting(u));
    let html = html_page(
        &subject,
        &[
            escape(&greeting(u)),
            format!("{}<br>{line2}", escape(&line1)),
            escape(line3),
        ],
    );
    Outgoing {
        to: u.email.clone(),
        subject,
        text,
        html,
    }
}

/// A reset link (from an administrator or from *forgot password*).
pub fn password_reset(u: &User, link: &str, expires: &str, by_admin: bool) -> Outgoing {
    let subject = "Reset your muster password".to_owned();
    let why = if by_admin {
        format!(
            "An administrator reset the password of your muster account {}. You cannot sign in until you choose a new one.",
            u.username
        )
    } else {
        format!(
            "Someone (hopefully you) asked to reset the password of your muster account {}.",
            u.username
        )
    };
    let how = "Choose a new password with this link:";
    let note = format!("The link works once and expires on {expires}.");
    let ignore = if by_admin {
        "If the link has expired, ask for a new one with \"Forgot your password?\" on the sign-in page."
    } else {
        "If you did not ask for this, ignore this message: your password stays as it is."
    };
    let text = format!("{}\n\n{why}\n\n{how}\n{link}\n\n{note}\n{ignore}\n", greeting(u));
    let html = html_page(
        &subject,
        &[
            escape(&greeting(u)),
            escape(&why),
            format!("{}<br><a href=\"{}\">{}</a>", escape(how), escape(link), escape(link)),
            format!("{}<br>{}", escape(&note), escape(ignore)),
        ],
    );
    Outgoing {
        to: u.email.clone(),
        subject,
        text,
        html,
    }
}

/// The lockout locked the account.
pub fn account_locked(u: &User, failed: i64) -> Outgoing {
    let line1 = format!(
        "Your muster account {} was locked after {failed} failed sign-in attempts.",
        u.username
    );
    notice(
        u,
        "Your muster account was locked",
        &[
            &line1,
            "To sign in again, ask an administrator to activate your account, or set a new password with \"Forgot your password?\" on the sign-in page.",
            "If these attempts were not yours, someone may be guessing your password: tell your administrator.",
        ],
    )
}

/// An administrator removed the user's second factor (*Reset two-factor*).
pub fn second_factor_reset(u: &User, by: &str) -> Outgoing {
    let line1 = format!(
        "The administrator {by} removed the two-factor sign-in (authenticator app, passkeys and recovery codes) of your muster account {}.",
        u.username
    );
    notice(
        u,
        "Your muster two-factor sign-in was reset",
        &[
            &line1,
            "Your next sign-in asks for your password only, or, if your role requires it, for a new authenticator set-up. Set it up again on your profile.",
            "If you did not ask for this, contact your administrator at once.",
        ],
    )
}

/// A notice to `u`: the greeting, then each paragraph, in text and in HTML.
fn notice(u: &User, subject: &str, paragraphs: &[&str]) -> Outgoing {
    let mut text = greeting(u);
    let mut html_paragraphs = vec![escape(&text)];
    for p in paragraphs {
        text.push_str("\n\n");
        text.push_str(p);
        html_paragraphs.push(escape(p));
    }
    text.push('\n');
    Outgoing {
        to: u.email.clone(),
        html: html_page(subject, &html_paragraphs),
        subject: subject.to_owned(),
        text,
    }
}

pub fn test_email(to: &str, transport: &str) -> Outgoing {
    let subject = "muster test email".to_owned();
    let line = format!("This is a test email from muster, sent through {transport}. Mail works.");
    Outgoing {
        to: to.to_owned(),
        subject: subject.clone(),
        text: format!("{line}\n"),
        html: html_page(&subject, &[escape(&line)]),
    }
}

/// "Your export is ready", with the download link.
pub fn export_ready(to: &User, id: i64, rows: i64, days: i64, link: &str) -> Outgoing {
    let subject = format!("Your export #{id} of users is ready");
    let line1 = format!("Your export #{id} of {rows} user(s) is ready.");
    let line2 = format!(
        "The file is deleted after {days} day(s). It may contain password hashes: keep it safe and delete your \
         copy when you are done."
    );
    let text = format!(
        "{}\n\n{line1} Download it here (sign in first if asked):\n\n{link}\n\n{line2}\n",
        greeting(to)
    );
    let html = html_page(
        &subject,
        &[
            escape(&greeting(to)),
            escape(&line1),
            format!(
                "<a href=\"{}\">Download export #{id}</a> (sign in first if asked)",
                escape(link)
            ),
            escape(&line2),
        ],
    );
    Outgoing {
        to: to.email.clone(),
        subject,
        text,
        html,
    }
}
