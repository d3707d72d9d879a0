//! `muster apikey create|revoke`: a key from the command line, for scripts
//! and the first integration (the operator acts as an administrator).

use clap::Subcommand;
use muster_domain::{Actor, Role};
use muster_store::{organizations, users};

use crate::cli::open_store;
use crate::config::Config;
use crate::error::AppError;
use crate::services::{Ctx, api_keys};

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Generate (or replace) a user's API key and print it once.
    Create {
        #[arg(long)]
        username: String,
        /// The key's organization (default: the user's first).
        #[arg(long)]
        organization: Option<String>,
    },
    /// Revoke a user's API key (in one organization, or in all).
    Revoke {
        #[arg(long)]
        username: String,
        #[arg(long)]
        organization: Option<String>,
    },
}

pub async fn run(cmd: ApiKeyCommand, config: Config) -> Result<(), AppError> {
    let store = open_store(&config).await?;
    let (username, organization) = match &cmd {
        ApiKeyCommand::Create { username, organization } | ApiKeyCommand::Revoke { username, organization } => {
            (username, organization)
        }
    };
    let mut conn = store.conn().await?;
    let user = users::find_by_username(&mut conn, username)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let org_id = match organization {
        Some(name) => Some(
            organizations::find_by_name(&mut conn, name)
                .await?
                .ok_or_else(|| AppError::not_found("organization"))?
                .id,
        ),
        None => None,
    };
    let actor = Actor {
        user_id: 0,
        username: "cli".to_owned(),
        roles: vec![Role::Administrator],
        organization_ids: organizations::list(&mut conn).await?.iter().map(|o| o.id).collect(),
    };
    drop(conn);
    match cmd {
        ApiKeyCommand::Create { .. } => {
            let new = api_keys::generate(&store, &actor, &Ctx::cli(), user.id, org_id).await?;
            eprintln!(
                "API key of {} in {} (shown once; use it as Authorization: Bearer <key>):",
                new.user.username, new.organization_name
            );
            println!("{}", new.secret);
        }
        ApiKeyCommand::Revoke { .. } => {
            api_keys::revoke(&store, &actor, &Ctx::cli(), user.id, org_id).await?;
            println!("revoked");
        }
    }
    Ok(())
}
