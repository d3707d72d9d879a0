//! `muster import django FILE.json` and `muster import keycloak FILE.json`:
//! another system's export read into muster's users CSV
//! (`import_formats`) and imported through the same path as
//! `muster import users`, with the same report and dry run.

use std::path::{Path, PathBuf};

use clap::Args;
use muster_domain::permission::perm;
use muster_store::{Store, organizations};

use crate::cli::csv_commands::{bar, finish, io};
use crate::config::Config;
use crate::error::AppResult;
use crate::import_formats::{self, ImportUser, NameMap};
use crate::services::{Ctx, imports};

#[derive(Args, Debug)]
pub struct DjangoArgs {
    /// The output of `manage.py dumpdata auth.user` (add `--natural-foreign` to get group names).
    pub file: PathBuf,
    /// Check every user and list the rejected ones; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// KIND=ROLE, KIND one of superuser, staff, default (default:
    /// superuser=Administrator, staff=User Manager, default=User). Repeat or separate with commas.
    #[arg(long = "role-map")]
    pub role_map: Vec<String>,
    /// GROUP=ORGANIZATION (a group's id, or its name with --natural-foreign), and
    /// default=ORGANIZATION for users in no mapped group (default: Main).
    #[arg(long = "org-map")]
    pub org_map: Vec<String>,
    /// Import users whose hash is of a weak scheme (Django's md5/sha1 hashers) without it:
    /// they are put in Password reset and mailed a link.
    #[arg(long)]
    pub allow_weak_hashes: bool,
}

#[derive(Args, Debug)]
pub struct KeycloakArgs {
    /// A realm export (`kc.sh export --realm R --file F.json`, or a partial export with users).
    pub file: PathBuf,
    /// Check every user and list the rejected ones; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// REALM-ROLE=ROLE, and default=ROLE for users with no mapped realm role (default: User).
    #[arg(long = "role-map")]
    pub role_map: Vec<String>,
    /// GROUP=ORGANIZATION (the group's path /a/b or its name), and default=ORGANIZATION
    /// (default: Main). Unmapped groups go to the organization of the same name, if there is one.
    #[arg(long = "org-map")]
    pub org_map: Vec<String>,
    /// Import users whose hash is of a weak scheme without it: Password reset and a mail.
    #[arg(long)]
    pub allow_weak_hashes: bool,
}

fn read(path: &Path) -> AppResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| io("reading", path, e))
}

fn maps(role_map: &[String], org_map: &[String]) -> AppResult<(NameMap, NameMap)> {
    let roles = NameMap::parse("--role-map", role_map)?;
    roles.check_roles()?;
    Ok((roles, NameMap::parse("--org-map", org_map)?))
}

async fn run(
    users: &[ImportUser],
    dry_run: bool,
    allow_weak_hashes: bool,
    store: &Store,
    actor: &muster_domain::Actor,
    config: &Config,
) -> AppResult<()> {
    let grant = actor.allow::<perm::ImportUsers>()?;
    let csv = import_formats::to_csv(users)?;
    let pb = bar(users.len() as u64, "import", crate::progress::Counting::Items("users"));
    // the CSV holds one line per user after its header
    let lines: Vec<usize> = csv
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let mut progress = |bytes: u64| {
        // lines ends are sorted; the first is the header's
        let done = lines.partition_point(|end| (*end as u64) <= bytes).saturating_sub(1);
        pb.set_position(done as u64);
    };
    let options = imports::Options {
        dry_run,
        allow_weak_hashes,
    };
    let report = imports::import_users_with(store, &grant, &Ctx::cli(), csv.as_slice(), options, &mut progress).await?;
    pb.finish_and_clear();
    finish(store, actor, config, &report, |e| format!("user {}", e.username)).await
}

pub async fn django(args: DjangoArgs, store: &Store, actor: &muster_domain::Actor, config: &Config) -> AppResult<()> {
    let (roles, orgs) = maps(&args.role_map, &args.org_map)?;
    let users = import_formats::django(&read(&args.file)?, &roles, &orgs)?;
    run(&users, args.dry_run, args.allow_weak_hashes, store, actor, config).await
}

pub async fn keycloak(
    args: KeycloakArgs,
    store: &Store,
    actor: &muster_domain::Actor,
    config: &Config,
) -> AppResult<()> {
    let (roles, orgs) = maps(&args.role_map, &args.org_map)?;
    let names: Vec<String> = organizations::list(&mut *store.conn().await?)
        .await?
        .into_iter()
        .map(|o| o.name)
        .collect();
    let users = import_formats::keycloak(&read(&args.file)?, &roles, &orgs, &names)?;
    run(&users, args.dry_run, args.allow_weak_hashes, store, actor, config).await
}
