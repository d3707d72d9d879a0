//! The role-matrix population, shared by the tests of who may act on whom:
//! an actor per role (each with an API key and a signed-in UI session), and
//! targets holding each role. Each matrix writes its expected cells by hand;
//! only the people are built here, so every matrix acts with the same ones.

use muster_store::users::User;

use super::{Client, PASSWORD, TestApp};
use crate::api_client::{Api, key_for};

/// The roles an actor of a matrix holds, one each.
pub const ACTOR_ROLES: [&str; 3] = ["Administrator", "User Manager", "User"];
/// The targets of a matrix: a user holding this role, or the actor themself.
pub const TARGET_ROLES: [&str; 4] = ["Administrator", "User Manager", "User", "self"];

/// A user who acts, through the API and through the UI.
pub struct RoleActor {
    pub role: &'static str,
    pub user: User,
    /// The API key, acting in the actor's first organization.
    pub key: String,
    pub api: Api,
    pub ui: Client,
}

/// A user holding `role` in the organizations `orgs` (their first is the key's), with a key and a session.
pub async fn actor_in(app: &TestApp, username: &str, role: &'static str, orgs: &[&str]) -> RoleActor {
    let user = app.create_user_in(username, &[role], orgs).await;
    let org = match orgs.first() {
        Some(name) => {
            let mut c = app.store().conn().await.expect("conn");
            muster_store::organizations::find_by_name(&mut c, name)
                .await
                .expect("find organization")
                .map(|o| o.id)
        }
        None => None,
    };
    let key = key_for(app, user.id, org).await;
    let api = Api::new(app, Some(&key));
    let ui = app.signed_in(username, PASSWORD).await;
    RoleActor {
        role,
        user,
        key,
        api,
        ui,
    }
}

/// One actor per role of [`ACTOR_ROLES`] in organization Main, named `{prefix}0`, `{prefix}1`, ….
pub async fn actors(app: &TestApp, prefix: &str) -> Vec<RoleActor> {
    let mut all = Vec::with_capacity(ACTOR_ROLES.len());
    for (i, role) in ACTOR_ROLES.iter().enumerate() {
        all.push(actor_in(app, &format!("{prefix}{i}"), role, &["Main"]).await);
    }
    all
}

/// The actor holding `role` among `actors`.
pub fn by_role<'a>(actors: &'a [RoleActor], role: &str) -> &'a RoleActor {
    actors
        .iter()
        .find(|a| a.role == role)
        .unwrap_or_else(|| panic!("no actor holds {role}"))
}

/// A target of a matrix cell: `actor` themself for `"self"`, otherwise a new
/// user `name` holding `target_role` in Main.
pub async fn target(app: &TestApp, actor: &RoleActor, name: &str, target_role: &str) -> User {
    if target_role == "self" {
        actor.user.clone()
    } else {
        app.create_user(name, &[target_role]).await
    }
}
