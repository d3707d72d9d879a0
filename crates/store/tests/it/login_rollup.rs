//! The per-hour rollup of login attempts (migration 0012) against a direct
//! count of `login_attempts`: every attempt, one organization, several, and
//! after a rebuild from scratch.

use muster_domain::{AuthStatus, EmailAddress, PersonName, Role, Username};
use muster_store::login_attempts::{self, Attempt};
use muster_store::login_rollup::{self, HOUR_MS, HourCount};
use muster_store::users::{self, NewUser, Scope};
use muster_store::{Store, organizations};

use crate::both;

fn new_user(name: &str, orgs: Vec<i64>) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        first_name: PersonName::parse("first_name", name).unwrap(),
        last_name: PersonName::parse("last_name", name).unwrap(),
        enabled: true,
        auth_status: AuthStatus::Active,
        password_hash: "$argon2id$fake".into(),
        roles: vec![Role::User],
        organization_ids: orgs,
    }
}

fn of(rows: &[HourCount], hour: i64, outcome: &str) -> i64 {
    rows.iter()
        .filter(|r| r.hour == hour && r.outcome == outcome)
        .map(|r| r.n)
        .sum()
}

async fn rollup_matches_a_direct_count(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let a = organizations::create(&mut c, "A", 1).await.unwrap().id;
    let b = organizations::create(&mut c, "B", 1).await.unwrap().id;
    let other = organizations::create(&mut c, "C", 1).await.unwrap().id;
    let ua = users::insert(&mut c, &new_user("ua", vec![a]), 1).await.unwrap();
    let ub = users::insert(&mut c, &new_user("ub", vec![b]), 1).await.unwrap();
    let uab = users::insert(&mut c, &new_user("uab", vec![a, b]), 1).await.unwrap();
    let uc = users::insert(&mut c, &new_user("uc", vec![other]), 1).await.unwrap();

    let h0 = 500_000 * HOUR_MS;
    let (h1, h2) = (h0 + HOUR_MS, h0 + 2 * HOUR_MS);
    let attempt = |at: i64, user: Option<i64>, success: bool, reason: &str| Attempt {
        at,
        username: "x".into(),
        user_id: user,
        success,
        source: "web".into(),
        reason: reason.into(),
        ..Attempt::default()
    };
    let all = [
        attempt(h0 - 1, Some(ua), true, ""), // before the window
        attempt(h0, Some(ua), true, ""),
        attempt(h0 + 10, Some(ua), false, "wrong password (1)"),
        attempt(h0 + 20, Some(uab), true, ""),
        attempt(h1, Some(uab), false, "wrong password (3); account locked"),
        attempt(h1 + 5, Some(ub), false, "wrong password (1)"),
        attempt(h1 + 6, None, false, "unknown user"),
        attempt(h2 + HOUR_MS - 1, Some(uc), true, ""),
        attempt(h2, Some(uc), false, "locked"),
    ];
    for x in &all {
        login_attempts::insert(&mut c, x).await.unwrap();
    }

    let system = login_rollup::hourly(&mut c, &Scope::System, h0).await.unwrap();
    assert_eq!(system, login_rollup::counted(&mut c, None, h0).await.unwrap());
    assert_eq!(of(&system, h0, "success"), 2);
    assert_eq!(of(&system, h0, "failure"), 1);
    assert_eq!(of(&system, h1, "failure"), 3, "the unknown user's too");
    assert_eq!(of(&system, h1, "lockout"), 1);
    assert_eq!(of(&system, h2, "success"), 1);
    assert_eq!(
        of(&system, h2, "failure"),
        1,
        "a refusal of a locked account is no new lockout"
    );
    assert_eq!(of(&system, h0 - HOUR_MS, "success"), 0, "outside the window");

    // every organization there is: the same as the system
    let every = Scope::Organizations(vec![a, b, other]);
    assert_eq!(login_rollup::hourly(&mut c, &every, h0).await.unwrap(), system);

    let only_a = login_rollup::hourly(&mut c, &Scope::Organizations(vec![a]), h0)
        .await
        .unwrap();
    assert_eq!(only_a, login_rollup::counted(&mut c, Some(&[a]), h0).await.unwrap());
    assert_eq!(of(&only_a, h0, "success"), 2);
    assert_eq!(of(&only_a, h1, "failure"), 1);
    assert_eq!(of(&only_a, h1, "lockout"), 1);
    assert_eq!(of(&only_a, h2, "success"), 0);

    // a member of both is counted once
    let a_and_b = login_rollup::hourly(&mut c, &Scope::Organizations(vec![a, b]), h0)
        .await
        .unwrap();
    assert_eq!(of(&a_and_b, h0, "success"), 2);
    assert_eq!(of(&a_and_b, h1, "failure"), 2);
    assert_eq!(of(&a_and_b, h1, "lockout"), 1);
    assert!(
        login_rollup::hourly(&mut c, &Scope::Organizations(vec![]), h0)
            .await
            .unwrap()
            .is_empty()
    );

    // counted from scratch (after a bulk load): the same rows
    login_rollup::rebuild(&mut c).await.unwrap();
    assert_eq!(login_rollup::hourly(&mut c, &Scope::System, h0).await.unwrap(), system);
    assert_eq!(
        login_rollup::hourly(&mut c, &Scope::Organizations(vec![a]), h0)
            .await
            .unwrap(),
        only_a
    );
    assert_eq!(
        of(
            &login_rollup::hourly(&mut c, &Scope::System, 0).await.unwrap(),
            h0 - HOUR_MS,
            "success"
        ),
        1
    );
}
both!(rollup_matches_a_direct_count);
