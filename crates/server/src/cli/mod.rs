//! The `muster` command line: the commands and `serve` here, the longer
//! commands in their own files.

pub mod apikey;
pub mod backup;
pub mod csv_commands;
pub mod import_foreign;

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use muster_domain::permission::perm;
use muster_domain::{Actor, Role, UserFilter, UserSort, View};
use muster_store::{Store, organizations};

use crate::app::{AppState, shutdown_signal};
use crate::config::{Config, ConfigArgs};
use crate::error::AppError;
use crate::services::{self, Ctx};

#[derive(Parser, Debug)]
#[command(name = "muster", version, about = "Manage the users of a business application")]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate, then serve the web UI, the API and the background workers.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(crate::cli::apikey::ApiKeyCommand),
    /// Add realistic fake users (and records they own), for demos and benchmarks.
    ///
    /// On an empty database it first creates the organization Main and the administrator
    /// "admin", as `muster serve` would, so that someone can sign in afterwards.
    Seed {
        /// How many users to add, spread over the organizations Main, North, South and East.
        #[arg(long, default_value_t = 1000)]
        users: i64,
        /// How many records to add in total (not per user), each owned by one of the new users
        /// picked at random. Needs --users above 0.
        #[arg(long, default_value_t = 0)]
        records: i64,
        /// The password every seeded user signs in with (hashed once).
        #[arg(long, env = "MUSTER_SEED_PASSWORD", default_value = "Seeded-Users-Password-1")]
        password: String,
        /// How many login attempts to add, by the users in the database, over the last 30 days.
        #[arg(long, default_value_t = 0)]
        login_attempts: i64,
    },
    /// Export users to CSV.
    #[command(subcommand)]
    Export(crate::cli::csv_commands::ExportCommand),
    /// Import users: from CSV, a Django `dumpdata auth.user` file or a Keycloak realm export.
    #[command(subcommand)]
    Import(crate::cli::csv_commands::ImportCommand),
    /// Copy the SQLite database to FILE, consistently, while `muster serve` runs
    /// (for PostgreSQL it prints the pg_dump line to use).
    Backup {
        /// Where to write the copy; it must not exist yet.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Restore a file made by `muster backup` into a data dir that has no database yet.
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// Send a test email through the configured transport (spool folder or SMTP), now.
    SendTestEmail {
        /// The recipient.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Administrator, "User Manager" or User; repeat for several.
        #[arg(long = "role", default_value = "User")]
        roles: Vec<String>,
        /// Organization name; repeat for several (default: Main).
        #[arg(long = "organization")]
        organizations: Vec<String>,
        /// Read the password from standard input (otherwise one is generated and printed).
        #[arg(long)]
        password_stdin: bool,
        /// Create the user disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List users.
    List {
        /// all, active, disabled or cannot_login.
        #[arg(long, default_value = "all")]
        view: String,
        /// Contains, in names, username and email.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// Remove a user's two-factor sign-in (authenticator app and recovery
    /// codes): the way back in for an administrator who lost both.
    ResetTwoFactor {
        /// The user's username.
        username: String,
    },
}

/// glibc's allocator tuned for a server that should stay small (`docs/memory.md`). Called before
/// any thread starts.
///
/// - A fixed mmap threshold of 1 MiB: a large block (a big CSV buffer, an imported Argon2 hash
///   with a large `m`) is mapped and unmapped, instead of glibc raising its threshold to the
///   largest block freed and keeping such blocks in an arena. (Argon2's own memory is mapped by
///   the hashing pool, `hash_pool.rs`.)
/// - One arena: glibc gives threads arenas of their own (up to 8 per core), and each keeps what
///   its thread freed. SQLite's connection threads each kept their page cache's pages after an
///   export: RSS 35.0 MB after an export job with the default, 27.6 MB with one arena, and
///   27.9 → 22.5 MB idle (`MALLOC_ARENA_MAX` runs, 100,000 users). Small allocations still go
///   through each thread's cache without the arena's lock.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator parameter; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

pub fn main() -> ExitCode {
    return_large_blocks_to_the_os();
    let cli = Cli::parse();
    if let Err(e) = init_logging() {
        eprintln!("muster: {e}");
        return ExitCode::from(2);
    }
    let config = match Config::resolve(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("muster: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("muster: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_command(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("muster: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// Crates whose debug output would put secrets in the log.
const QUIET_TARGETS: &[&str] = &["webauthn_rs=warn", "webauthn_rs_core=warn"];

/// Logs on standard error: `MUSTER_LOG` filters (default `info,sqlx=error`);
/// `MUSTER_LOG_FORMAT=json` writes one JSON object per line (the request's span,
/// with its id, under `span`), `text` (the default) lines for a person.
fn init_logging() -> Result<(), String> {
    let filter = || {
        let f = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=error"));
        // webauthn-rs traces ceremony states (challenges) at debug and trace
        // level: never below warn, whatever MUSTER_LOG asks for.
        QUIET_TARGETS
            .iter()
            .filter_map(|d| d.parse().ok())
            .fold(f, tracing_subscriber::EnvFilter::add_directive)
    };
    let format = std::env::var("MUSTER_LOG_FORMAT").unwrap_or_default();
    match format.trim().to_ascii_lowercase().as_str() {
        "json" => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        "" | "text" => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            // colours only for a person at a terminal, not in a log file
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        other => return Err(format!("MUSTER_LOG_FORMAT must be text or json, not {other:?}")),
    }
    Ok(())
}

/// An error as a sentence for the terminal: "username 'x' is already taken",
/// "password must be at least 12 characters".
fn describe(e: &AppError) -> String {
    match e {
        AppError::Domain(muster_domain::Error::Invalid(fields)) => fields
            .iter()
            .map(|f| sentence(&f.field, &f.message))
            .collect::<Vec<_>>()
            .join("\n"),
        AppError::Internal(detail) => detail.clone(),
        other => crate::error::chain(other),
    }
}

/// "field message" when the message reads on from its subject ("is …", "must …"), else "field: message".
fn sentence(subject: &str, message: &str) -> String {
    const CONTINUES: &[&str] = &[
        "is ",
        "are ",
        "must ",
        "may ",
        "cannot ",
        "can't ",
        "has ",
        "have ",
        "does ",
        "should ",
        "needs ",
        "need ",
        "contains ",
        "looks ",
        "matches ",
    ];
    if subject.is_empty() {
        message.to_owned()
    } else if CONTINUES.iter().any(|w| message.starts_with(w)) {
        format!("{subject} {message}")
    } else {
        format!("{subject}: {message}")
    }
}

/// Name the value in each complaint about a field the user typed: "username 'x' is already taken".
fn with_values(e: AppError, values: &[(&str, &str)]) -> AppError {
    let named = |field: &str| match values.iter().find(|(f, _)| *f == field) {
        Some((f, v)) => format!("{f} '{v}'"),
        None => field.to_owned(),
    };
    match e {
        AppError::Domain(muster_domain::Error::Invalid(fields)) => AppError::Domain(muster_domain::Error::Refused(
            fields
                .iter()
                .map(|f| sentence(&named(&f.field), &f.message))
                .collect::<Vec<_>>()
                .join("\n"),
        )),
        AppError::Domain(muster_domain::Error::Conflict { field }) => AppError::Domain(muster_domain::Error::Refused(
            format!("{} is already taken", named(&field)),
        )),
        other => other,
    }
}

pub async fn open_store(config: &Config) -> Result<Store, AppError> {
    if config.is_sqlite() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| AppError::fault(format!("cannot create {}", config.data_dir.display()), e))?;
    }
    let max = if config.is_sqlite() { 8 } else { 16 };
    let store = Store::connect(config.database_url.expose(), max).await?;
    store.migrate().await?;
    Ok(store)
}

/// The operator at the command line acts as an administrator of every organization.
async fn cli_actor(store: &Store) -> Result<Actor, AppError> {
    let mut conn = store.conn().await?;
    let orgs = organizations::list(&mut conn).await?;
    Ok(Actor {
        user_id: 0,
        username: "cli".to_owned(),
        roles: vec![Role::Administrator],
        organization_ids: orgs.iter().map(|o| o.id).collect(),
    })
}

async fn run_command(command: Command, config: Config) -> Result<(), AppError> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(cmd) => user_command(cmd, config).await,
        Command::Apikey(cmd) => crate::cli::apikey::run(cmd, config).await,
        Command::Seed {
            users,
            records,
            password,
            login_attempts,
        } => {
            if users < 0 || records < 0 || login_attempts < 0 {
                return Err(muster_domain::Error::invalid("users", "must not be negative").into());
            }
            if records > 0 && users == 0 {
                return Err(muster_domain::Error::invalid(
                    "records",
                    "need --users above 0: each record is owned by one of the users the seed adds",
                )
                .into());
            }
            let store = open_store(&config).await?;
            let hasher = crate::hashing::Hasher::new();
            // a seed before the first `serve` must still leave someone able to sign in
            let admin_password = std::env::var("MUSTER_ADMIN_PASSWORD").ok();
            announce_admin(services::bootstrap::ensure_admin(&store, &hasher, admin_password).await?);
            let mut conn = store.conn().await?;
            let params = crate::settings::Settings::load(&mut conn).await?.argon2();
            drop(conn);
            let hash = hasher.hash(password, params).await?;
            let started = std::time::Instant::now();
            let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let report = crate::seed::run(&store, users, records, &hash, show).await?;
            println!(
                "seeded {} users and {} records in {:.1} s",
                report.users,
                report.records,
                started.elapsed().as_secs_f64()
            );
            if login_attempts > 0 {
                let started = std::time::Instant::now();
                let n = crate::seed_attempts::run(&store, login_attempts, show).await?;
                println!("seeded {n} login attempts in {:.1} s", started.elapsed().as_secs_f64());
            }
            Ok(())
        }
        Command::Export(cmd) => crate::cli::csv_commands::export(cmd, &open_store(&config).await?).await,
        Command::Import(cmd) => {
            let store = open_store(&config).await?;
            crate::cli::csv_commands::import(cmd, &store, &cli_actor(&store).await?, &config).await
        }
        Command::Backup { out } => crate::cli::backup::backup(&config, &out).await,
        Command::Restore { file } => crate::cli::backup::restore(&config, &file).await,
        Command::SendTestEmail { to } => send_test_email(&to, config).await,
    }
}

async fn serve(config: Config) -> Result<(), AppError> {
    let shutdown = shutdown_signal();
    let store = open_store(&config).await?;
    let state = AppState::new(store, config.clone()).await?;
    let admin_password = std::env::var("MUSTER_ADMIN_PASSWORD").ok();
    announce_admin(services::bootstrap::ensure_admin(&state.store, &state.hasher, admin_password).await?);
    crate::jobs::spawn(state.clone());
    // Before the first request: a wrong password for a user still on an imported hash
    // must not answer faster than for a name nobody has (see `Hasher::verify`).
    let (floor, classes) = services::foreign_hashes::calibrate_failure_floor(&state.store, &state.hasher).await?;
    tracing::info!(
        floor_ms = floor.as_millis() as u64,
        classes,
        "sign-in failure floor set"
    );
    services::foreign_hashes::spawn_recalibration(state.store.clone(), state.hasher.clone());
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|e| AppError::fault(format!("cannot listen on {}", config.bind), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::fault("reading the listening address", e))?;
    // A bad SMTP URL stops the start here rather than leave mail silently undelivered.
    let transport = crate::mail::transport::Transport::from_config(&config).map_err(AppError::Internal)?;
    tracing::info!(transport = %transport.describe(), "mail");
    crate::mail::worker::spawn(state.store.clone(), state.config.clone());
    if let Some(metrics_bind) = &config.metrics_bind {
        let metrics_listener = tokio::net::TcpListener::bind(metrics_bind)
            .await
            .map_err(|e| AppError::fault(format!("cannot listen on {metrics_bind} for metrics"), e))?;
        let metrics_addr = metrics_listener
            .local_addr()
            .map_err(|e| AppError::fault("reading the metrics address", e))?;
        println!("muster metrics on http://{metrics_addr}/metrics");
        let metrics_state = state.clone();
        tokio::spawn(async move {
            if let Err(e) =
                crate::metrics::serve_separately(metrics_listener, metrics_state, std::future::pending()).await
            {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    println!("muster listening on http://{addr}");
    tracing::info!(%addr, database = ?config.database_url, "muster started");
    crate::app::run(listener, state, shutdown)
        .await
        .map_err(|e| AppError::fault("serving", e))?;
    tracing::info!("muster stopped");
    Ok(())
}

/// Print the generated password of a just-created administrator, once.
fn announce_admin(generated: Option<String>) {
    if let Some(generated) = generated {
        println!("Created the administrator \"admin\" (admin@example.com) with the password: {generated}");
        println!("This password is shown once. Sign in and change it.");
    }
}

async fn send_test_email(to: &str, config: Config) -> Result<(), AppError> {
    let to = muster_domain::EmailAddress::parse(to)?;
    let store = open_store(&config).await?;
    let transport = crate::mail::transport::Transport::from_config(&config).map_err(AppError::Internal)?;
    let mut tx = store.begin().await?;
    let id = crate::mail::queue(
        &mut tx,
        crate::mail::messages::test_email(to.as_str(), &transport.describe()),
        crate::clock::now(),
    )
    .await?;
    tx.commit().await?;
    match crate::mail::worker::deliver_now(&store, &config, &transport, id).await? {
        Ok(()) => {
            println!("test email sent to {to} through {}", transport.describe());
            Ok(())
        }
        Err(e) => Err(AppError::Internal(format!(
            "the test email to {to} was not delivered through {}: {e} (it stays queued; muster serve retries it)",
            transport.describe()
        ))),
    }
}

async fn user_command(cmd: UserCommand, config: Config) -> Result<(), AppError> {
    let store = open_store(&config).await?;
    let actor = cli_actor(&store).await?;
    match cmd {
        UserCommand::Create {
            username,
            email,
            first_name,
            last_name,
            roles,
            organizations,
            password_stdin,
            disabled,
        } => {
            let hasher = crate::hashing::Hasher::new();
            let (password, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| AppError::fault("reading the password", e))?;
                (s.trim_end_matches(['\n', '\r']).to_owned(), false)
            } else {
                let mut conn = store.conn().await?;
                let policy = crate::settings::Settings::load(&mut conn).await?.password_policy();
                (crate::crypto::suggest_password(&policy), true)
            };
            let organizations = if organizations.is_empty() {
                vec!["Main".to_owned()]
            } else {
                organizations
            };
            let grant = actor.allow::<perm::CreateUsers>()?;
            let input = services::users::UserInput {
                username,
                email,
                first_name,
                last_name,
                password: Some(password.clone()),
                enabled: !disabled,
                roles,
                organizations,
            };
            let user = services::users::create(&store, &hasher, &grant, &Ctx::cli(), &input)
                .await
                .map_err(|e| with_values(e, &[("username", &input.username), ("email", &input.email)]))?;
            println!("created user {} (id {})", user.username, user.id);
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        UserCommand::List { view, search, limit } => {
            let grant = actor.allow::<perm::ViewUsers>()?;
            let filter = UserFilter {
                view: Some(View::parse(&view)?),
                search,
                ..Default::default()
            };
            let page = services::users::list(&store, &grant, &filter, &UserSort::default(), 1, limit).await?;
            println!(
                "{:<6} {:<24} {:<32} {:<8} {:<15} ROLES",
                "ID", "USERNAME", "EMAIL", "ENABLED", "STATUS"
            );
            for u in &page.users {
                println!(
                    "{:<6} {:<24} {:<32} {:<8} {:<15} {}",
                    u.id,
                    u.username,
                    u.email,
                    if u.enabled { "yes" } else { "no" },
                    u.auth_status.as_str(),
                    u.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
                );
            }
            println!("{} user(s)", page.total);
            Ok(())
        }
        UserCommand::ResetTwoFactor { username } => {
            let grant = actor.allow::<perm::ResetPasswords>()?;
            let user = muster_store::users::find_by_username(&mut *store.conn().await?, username.trim())
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            services::second_factor::reset(&store, &grant, &Ctx::cli(), user.id).await?;
            println!("two-factor sign-in of {} reset", user.username);
            Ok(())
        }
    }
}
