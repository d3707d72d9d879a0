//! Configuration: a flag, else `MUSTER_<FLAG>`, else `muster.toml`, else the default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The flags every command shares. Each also reads `MUSTER_<FLAG>`.
#[derive(clap::Args, Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ConfigArgs {
    /// Path of an optional TOML file with the same keys (default: ./muster.toml if present).
    #[arg(long, env = "MUSTER_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "MUSTER_BIND", global = true)]
    pub bind: Option<String>,
    /// sqlite://… or postgres://… (default: SQLite at <data-dir>/muster.db).
    #[arg(long, env = "MUSTER_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Folder for the SQLite database, the mail spool and exports.
    #[arg(long, env = "MUSTER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// The address users reach muster at; links in mail start with it.
    #[arg(long, env = "MUSTER_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// smtp://user:pass@host:port, smtps://…, or smtp://…?tls=starttls (default: the spool folder).
    #[arg(long, env = "MUSTER_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of mail.
    #[arg(long, env = "MUSTER_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Who may read /metrics on the main listener: addresses or networks, comma-separated
    /// (default: loopback, 127.0.0.0/8 and ::1).
    #[arg(long, env = "MUSTER_METRICS_ALLOW", global = true)]
    pub metrics_allow: Option<String>,
    /// Serve /metrics on this address of its own instead of on the main listener.
    #[arg(long, env = "MUSTER_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Where the users grid's and `GET /api/users`'s totals stop counting a search (default 1,000).
    #[arg(long, env = "MUSTER_COUNT_CAP", global = true)]
    pub count_cap: Option<i64>,
}

/// A secret string (a URL with a password) that prints as `***` where the password is.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(s: impl Into<String>) -> Self {
        SecretUrl(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub database_url: SecretUrl,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub smtp_url: Option<SecretUrl>,
    pub mail_from: String,
    pub metrics_allow: crate::metrics::AllowList,
    pub metrics_bind: Option<String>,
    /// Where the grid's and `GET /api/users`'s totals stop counting a search
    /// ("1,000+"): counting every match is what a search costs at a million
    /// users (docs/architecture.md, "Search").
    pub count_cap: i64,
}

/// The default of [`Config::count_cap`].
pub const COUNT_CAP: i64 = 1_000;

impl Config {
    /// Resolve the flags against the optional TOML file and the defaults.
    pub fn resolve(args: &ConfigArgs) -> Result<Config, String> {
        let file = load_file(args.config.as_deref())?;
        let pick = |a: &Option<String>, f: &Option<String>| a.clone().or_else(|| f.clone());
        let bind = pick(&args.bind, &file.bind).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./muster-data"));
        let database_url = pick(&args.database_url, &file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("muster.db").display()));
        let public_url = pick(&args.public_url, &file.public_url)
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(format!(
                "public URL must start with http:// or https:// (got {public_url:?})"
            ));
        }
        let smtp_url = pick(&args.smtp_url, &file.smtp_url)
            .filter(|s| !s.is_empty())
            .map(SecretUrl::new);
        let mail_from =
            pick(&args.mail_from, &file.mail_from).unwrap_or_else(|| "muster <muster@localhost>".to_owned());
        let metrics_allow = match pick(&args.metrics_allow, &file.metrics_allow) {
            Some(list) => crate::metrics::AllowList::parse(&list)?,
            None => crate::metrics::AllowList::loopback(),
        };
        let metrics_bind = pick(&args.metrics_bind, &file.metrics_bind).filter(|s| !s.is_empty());
        let count_cap = match args.count_cap.or(file.count_cap) {
            None => COUNT_CAP,
            Some(n) if n >= 1 => n,
            Some(n) => return Err(format!("count cap must be at least 1 (got {n})")),
        };
        Ok(Config {
            metrics_allow,
            metrics_bind,
            bind,
            database_url: SecretUrl::new(database_url),
            data_dir,
            public_url,
            smtp_url,
            mail_from,
            count_cap,
        })
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }
}

fn load_file(explicit: Option<&Path>) -> Result<ConfigArgs, String> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from("muster.toml");
            if !p.exists() {
                return Ok(ConfigArgs::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let s = SecretUrl::new("postgres://muster:hunter2@db:5432/muster");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.redacted().contains("***"));
    }

    #[test]
    fn defaults() {
        let c = Config::resolve(&ConfigArgs {
            config: Some(PathBuf::from("/nonexistent/muster.toml")),
            ..Default::default()
        });
        assert!(c.is_err(), "an explicit missing file is an error");
        let c = Config::resolve(&ConfigArgs {
            data_dir: Some(PathBuf::from("/tmp/x")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.database_url.expose().starts_with("sqlite:///tmp/x/muster.db"));
    }
}
