//! Service functions: the one place each rule is applied, called by the UI,
//! the API and the CLI alike. A function that needs a permission takes the
//! proof of it (`Allowed<P>`) as an argument.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod batching;
pub mod bootstrap;
pub mod dashboard;
pub mod exports;
pub mod foreign_hashes;
pub mod imports;
pub mod jobs;
pub mod mass_reset;
pub mod organizations;
pub mod passkeys;
pub mod passwords;
pub mod records;
pub mod saved_views;
pub mod second_factor;
pub mod sessions;
pub mod settings;
pub mod users;

/// What the password services and the jobs that reset users work with: the
/// database, the hasher, and the address the links in their mails point to.
/// Not the whole `AppState`, so what a service can reach is in its signature.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub store: &'a muster_store::Store,
    pub hasher: &'a crate::hashing::Hasher,
    pub public_url: &'a str,
}

/// Where a request came from, for login attempts and audit events.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub ip: String,
    pub user_agent: String,
}

impl Ctx {
    pub fn cli() -> Self {
        Ctx {
            ip: "cli".to_owned(),
            user_agent: "muster cli".to_owned(),
        }
    }
}
