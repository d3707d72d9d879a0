//! Mass Enable/Disable committed in batches: the counters stay exact, the
//! sessions of the disabled users end, the actor and the users a User Manager
//! may not act on are skipped, and one audit event holds the totals — whether
//! the selection fits one batch, fills batches exactly or spills over.

use muster_domain::permission::perm;
use muster_domain::{AuthStatus, UserFilter, View};
use muster_server::services::{Ctx, auth, users};
use muster_store::{sessions, users as stored};

use crate::support::{TestApp, TestDb};

async fn rows(app: &TestApp, sql: &str) -> Vec<(i64, i64, String, i64)> {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_as::<_, (i64, i64, String, i64)>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// The trigger-kept counters against COUNTs of the users themselves (and
/// every user with exactly one status row: the join below would not count one without).
async fn assert_counters_exact(app: &TestApp, when: &str) {
    let unmatched = rows(
        app,
        "SELECT CAST(0 AS BIGINT), CAST(0 AS BIGINT), '', COUNT(*) FROM users u \
         WHERE NOT EXISTS (SELECT 1 FROM user_status s WHERE s.user_id = u.id)",
    )
    .await;
    assert_eq!(
        unmatched,
        vec![(0, 0, String::new(), 0)],
        "users without a status row {when}"
    );
    let kept = rows(
        app,
        "SELECT CAST(0 AS BIGINT), enabled, auth_status, n FROM user_counts WHERE n <> 0 ORDER BY 2, 3",
    )
    .await;
    let counted = rows(
        app,
        "SELECT CAST(0 AS BIGINT), s.enabled, s.auth_status, COUNT(*) FROM users u \
         JOIN user_status s ON s.user_id = u.id GROUP BY s.enabled, s.auth_status ORDER BY 2, 3",
    )
    .await;
    assert_eq!(kept, counted, "user_counts {when}");
    let kept = rows(
        app,
        "SELECT organization_id, enabled, auth_status, n FROM user_org_counts WHERE n <> 0 ORDER BY 1, 2, 3",
    )
    .await;
    let counted = rows(
        app,
        "SELECT m.organization_id, s.enabled, s.auth_status, COUNT(*) FROM user_organizations m \
         JOIN users u ON u.id = m.user_id JOIN user_status s ON s.user_id = u.id \
         GROUP BY m.organization_id, s.enabled, s.auth_status ORDER BY 1, 2, 3",
    )
    .await;
    assert_eq!(kept, counted, "user_org_counts {when}");
}

async fn give_session(app: &TestApp, user_id: i64) {
    let mut conn = app.store().conn().await.unwrap();
    let s = sessions::Session {
        id_hash: format!("session-of-{user_id}"),
        user_id,
        csrf_token: "t".into(),
        created_at: 1,
        expires_at: i64::MAX,
    };
    sessions::create(&mut conn, &s, "", "").await.unwrap();
}

async fn live_sessions(app: &TestApp, user_id: i64) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    sessions::count_for_user(&mut conn, user_id).await.unwrap()
}

async fn mass_events(app: &TestApp, action: &str) -> Vec<serde_json::Value> {
    let mut conn = app.store().conn().await.unwrap();
    let texts: Vec<String> = sqlx::query_scalar("SELECT after_json FROM audit_events WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect()
}

/// Main holds the User Manager (the actor), an Administrator and ten users;
/// Other holds one more user. The User Manager disables "all" in batches of
/// `batch`, then enables them again in batches of `batch + 2`.
async fn mass_story(app: TestApp, batch: usize) {
    app.create_org("Other").await;
    let manager = app.create_user("manager", &["User Manager"]).await;
    let boss = app.create_user("boss", &["Administrator"]).await;
    let mut plain = Vec::new();
    for i in 0..10 {
        plain.push(app.create_user(&format!("plain{i}"), &["User"]).await.id);
    }
    let outsider = app.create_user_in("outsider", &["User"], &["Other"]).await;
    let admin = app.user_by_name("admin").await;
    for id in plain
        .iter()
        .copied()
        .chain([manager.id, boss.id, outsider.id, admin.id])
    {
        give_session(&app, id).await;
    }
    assert_counters_exact(&app, "before").await;

    let actor = auth::actor_for(&mut app.store().conn().await.unwrap(), &manager)
        .await
        .unwrap();
    let grant = actor.allow::<perm::EnableDisable>().unwrap();
    let all = UserFilter {
        view: Some(View::All),
        ..Default::default()
    };
    let done = users::mass_set_enabled_in_batches(
        app.store(),
        &grant,
        &Ctx::cli(),
        &all,
        false,
        serde_json::json!("all"),
        batch,
    )
    .await
    .unwrap();
    // the ten plain users; boss and admin are Administrators, guarded from a
    // User Manager; the manager is the actor; the outsider is out of scope
    assert_eq!((done.affected, done.refused), (10, 2), "batches of {batch}");
    for &id in &plain {
        assert!(!app.user(id).await.enabled, "user {id} disabled");
        assert_eq!(live_sessions(&app, id).await, 0, "user {id}'s session ended");
    }
    for u in [&manager, &boss, &outsider, &admin] {
        assert!(app.user(u.id).await.enabled, "{} untouched", u.username);
        assert_eq!(live_sessions(&app, u.id).await, 1, "{}'s session kept", u.username);
    }
    assert_counters_exact(&app, "after the mass disable").await;
    let events = mass_events(&app, "users.mass_disabled").await;
    assert_eq!(events.len(), 1, "one audit event for the whole action: {events:?}");
    assert_eq!(events[0]["affected"], 10);
    assert_eq!(events[0]["refused"], 2);

    // again: nothing left to change, still one event per action
    let again = users::mass_set_enabled_in_batches(
        app.store(),
        &grant,
        &Ctx::cli(),
        &all,
        false,
        serde_json::json!("all"),
        batch,
    )
    .await
    .unwrap();
    assert_eq!((again.affected, again.refused), (0, 2));
    assert_eq!(mass_events(&app, "users.mass_disabled").await.len(), 2);

    let disabled = UserFilter {
        view: Some(View::Disabled),
        ..Default::default()
    };
    let back = users::mass_set_enabled_in_batches(
        app.store(),
        &grant,
        &Ctx::cli(),
        &disabled,
        true,
        serde_json::json!("disabled"),
        batch + 2,
    )
    .await
    .unwrap();
    assert_eq!((back.affected, back.refused), (10, 0));
    for &id in &plain {
        assert!(app.user(id).await.enabled, "user {id} enabled again");
    }
    assert_counters_exact(&app, "after the mass enable").await;
    let events = mass_events(&app, "users.mass_enabled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["affected"], 10);
}

/// An Administrator has no guarded roles: every other user of the scope,
/// Administrators included, is disabled; the actor is not.
async fn admin_story(app: TestApp) {
    let boss = app.create_user("boss", &["Administrator"]).await;
    let plain = app.create_user("plain", &["User"]).await;
    let admin = app.user_by_name("admin").await;
    for u in [&boss, &plain, &admin] {
        give_session(&app, u.id).await;
    }
    let actor = auth::actor_for(&mut app.store().conn().await.unwrap(), &admin)
        .await
        .unwrap();
    let grant = actor.allow::<perm::EnableDisable>().unwrap();
    let done = users::mass_set_enabled(
        app.store(),
        &grant,
        &Ctx::cli(),
        &UserFilter::default(),
        false,
        serde_json::json!("all"),
    )
    .await
    .unwrap();
    assert_eq!((done.affected, done.refused), (2, 0));
    assert!(!app.user(boss.id).await.enabled);
    assert!(!app.user(plain.id).await.enabled);
    assert!(app.user(admin.id).await.enabled, "the actor is skipped");
    assert_eq!(live_sessions(&app, boss.id).await, 0);
    assert_eq!(live_sessions(&app, admin.id).await, 1);
    assert_counters_exact(&app, "after an administrator's mass disable").await;
}

/// No batch leaves its counter bypass behind (migration 0021): a row left
/// there would stop the triggers counting every later change
/// (SQLite only: PostgreSQL's statement-level triggers count a batch themselves).
async fn assert_no_bypass(app: &TestApp, when: &str) {
    if app.store().backend != muster_store::Backend::Sqlite {
        return;
    }
    let mut conn = app.store().conn().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM counter_bypass")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(n, 0, "counter_bypass {when}");
}

/// A mass flip counts its own changes (the status triggers stand aside for
/// it): users of every status, in one, two and three organizations, some
/// guarded or out of scope, flipped in batches, then changed one at a time
/// (the triggers count again), deleted, and flipped back; after each step the
/// counters equal a count of the users themselves.
async fn counters_story(app: TestApp, batch: usize) {
    app.create_org("Other").await;
    app.create_org("Third").await;
    let manager = app.create_user("manager", &["User Manager"]).await;
    let boss = app.create_user("boss", &["Administrator"]).await;
    let outsider = app.create_user_in("outsider", &["User"], &["Other"]).await;
    let two = app.create_user_in("two", &["User"], &["Main", "Other"]).await;
    let three = app
        .create_user_in("three", &["User"], &["Main", "Other", "Third"])
        .await;
    let locked = app.create_user("locked", &["User"]).await;
    let reset = app.create_user("reset", &["User"]).await;
    let plain = app.create_user("plain", &["User"]).await;
    let admin = app.user_by_name("admin").await;
    {
        let mut conn = app.store().conn().await.unwrap();
        stored::set_auth_status(&mut conn, locked.id, AuthStatus::Locked, 2)
            .await
            .unwrap();
        stored::set_auth_status(&mut conn, reset.id, AuthStatus::PasswordReset, 2)
            .await
            .unwrap();
        stored::set_auth_status(&mut conn, outsider.id, AuthStatus::Locked, 2)
            .await
            .unwrap();
    }
    let everyone = [
        &manager, &boss, &outsider, &two, &three, &locked, &reset, &plain, &admin,
    ];
    for u in everyone {
        give_session(&app, u.id).await;
    }
    assert_counters_exact(&app, "before").await;

    let actor = auth::actor_for(&mut app.store().conn().await.unwrap(), &manager)
        .await
        .unwrap();
    let grant = actor.allow::<perm::EnableDisable>().unwrap();
    let flip = |filter: UserFilter, enabled: bool| {
        let (app, grant) = (&app, &grant);
        async move {
            users::mass_set_enabled_in_batches(
                app.store(),
                grant,
                &Ctx::cli(),
                &filter,
                enabled,
                serde_json::json!("story"),
                batch,
            )
            .await
            .unwrap()
        }
    };
    let all = UserFilter {
        view: Some(View::All),
        ..Default::default()
    };
    let done = flip(all, false).await;
    // boss and admin are guarded, the manager acts, the outsider is out of scope
    assert_eq!((done.affected, done.refused), (5, 2));
    for u in [&two, &three, &locked, &reset, &plain] {
        assert!(!app.user(u.id).await.enabled, "{} disabled", u.username);
        assert_eq!(live_sessions(&app, u.id).await, 0, "{}'s session ended", u.username);
    }
    for u in [&manager, &boss, &outsider, &admin] {
        assert!(app.user(u.id).await.enabled, "{} untouched", u.username);
        assert_eq!(live_sessions(&app, u.id).await, 1, "{}'s session kept", u.username);
    }
    assert_counters_exact(&app, "after the mass disable").await;
    assert_no_bypass(&app, "after the mass disable").await;

    // one at a time: the triggers count these
    {
        let mut conn = app.store().conn().await.unwrap();
        assert!(stored::set_enabled(&mut conn, plain.id, true, 3).await.unwrap());
        stored::set_auth_status(&mut conn, three.id, AuthStatus::Locked, 3)
            .await
            .unwrap();
        stored::set_auth_status(&mut conn, locked.id, AuthStatus::Active, 3)
            .await
            .unwrap();
        assert!(stored::delete(&mut conn, two.id).await.unwrap());
    }
    assert_counters_exact(&app, "after single changes").await;

    let disabled = UserFilter {
        view: Some(View::Disabled),
        ..Default::default()
    };
    let back = flip(disabled, true).await;
    // three, locked and reset; plain was enabled alone, two is gone
    assert_eq!((back.affected, back.refused), (3, 0));
    assert_counters_exact(&app, "after the mass enable").await;
    assert_no_bypass(&app, "after the mass enable").await;

    {
        let mut conn = app.store().conn().await.unwrap();
        assert!(stored::set_enabled(&mut conn, three.id, false, 4).await.unwrap());
        assert!(stored::delete(&mut conn, reset.id).await.unwrap());
    }
    assert_counters_exact(&app, "after a single disable and a delete").await;
}

#[tokio::test]
async fn mass_flip_counts_its_own_sqlite() {
    counters_story(TestApp::spawn().await, 2).await;
}

#[tokio::test]
async fn mass_flip_counts_its_own_postgres() {
    counters_story(TestApp::spawn_on(TestDb::postgres().await).await, 2).await;
}

#[tokio::test]
async fn mass_enable_disable_in_batches_sqlite() {
    // 10 users in batches of 3: three full batches and one of a single user
    mass_story(TestApp::spawn().await, 3).await;
}

#[tokio::test]
async fn mass_enable_disable_in_batches_postgres() {
    mass_story(TestApp::spawn_on(TestDb::postgres().await).await, 3).await;
}

#[tokio::test]
async fn mass_enable_disable_exact_batches_sqlite() {
    // batches of 5 then 7: the selection fills batches exactly, then one batch holds all
    mass_story(TestApp::spawn().await, 5).await;
}

#[tokio::test]
async fn mass_enable_disable_exact_batches_postgres() {
    mass_story(TestApp::spawn_on(TestDb::postgres().await).await, 5).await;
}

#[tokio::test]
async fn mass_disable_by_an_administrator_sqlite() {
    admin_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn mass_disable_by_an_administrator_postgres() {
    admin_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}
