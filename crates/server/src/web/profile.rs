//! `/profile`: the signed-in user's own page (details, password, API keys, second factors).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use muster_store::users::User;

use super::session::{Layout, Viewer};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::services;
use crate::settings::Settings;

pub fn router() -> Router<AppState> {
    Router::new().route("/profile", get(profile))
}

#[derive(Template, WebTemplate)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    user: User,
    api_keys: super::ApiKeySection,
    pw: super::passwords::PasswordDialog,
    second_factor: services::second_factor::Status,
}

async fn profile(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<ProfilePage, PageError> {
    let api_keys = super::ApiKeySection::load(&state, &viewer.actor, viewer.user.id, true).await?;
    let policy = Settings::load(&mut *state.store.conn().await?).await?.password_policy();
    let pw = super::passwords::PasswordDialog::for_self(&layout.csrf, &policy);
    let second_factor = services::second_factor::status(&state.store, &state.config.public_url, &viewer.user).await?;
    Ok(ProfilePage {
        layout,
        user: viewer.user,
        api_keys,
        pw,
        second_factor,
    })
}
