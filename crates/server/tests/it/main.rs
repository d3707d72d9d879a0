//! All integration tests of the server in one binary (one link on a 2-core machine).

mod support;

mod http_auth;
mod lockout;
mod mail;
mod mailbox;
mod mass_reset;
mod passwords;
mod passwords_browser;
