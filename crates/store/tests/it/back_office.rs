//! Stories of the back-office's store functions: saved views (one default
//! per admin, private to their owner) and a mass disable that ends the
//! sessions of exactly the users it selects.

use muster_domain::{AuthStatus, EmailAddress, PersonName, Role, UserFilter, Username, View};
use muster_store::users::{self, NewUser, Scope};
use muster_store::{Store, organizations, saved_views, sessions};

use crate::both;

fn new_user(name: &str, org: i64) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        first_name: PersonName::parse("first_name", name).unwrap(),
        last_name: PersonName::parse("last_name", name).unwrap(),
        enabled: true,
        auth_status: AuthStatus::Active,
        password_hash: "$argon2id$fake".into(),
        roles: vec![Role::Administrator],
        organization_ids: vec![org],
    }
}

async fn saved_views_one_default_per_owner(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap();
    let a = users::insert(&mut c, &new_user("a", org.id), 1).await.unwrap();
    let b = users::insert(&mut c, &new_user("b", org.id), 1).await.unwrap();
    let v1 = saved_views::insert(&mut c, a, "Locked", "view=all&status=locked", 2)
        .await
        .unwrap();
    let v2 = saved_views::insert(&mut c, a, "Disabled", "view=disabled", 2)
        .await
        .unwrap();
    let vb = saved_views::insert(&mut c, b, "Locked", "view=all", 2).await.unwrap();
    assert!(saved_views::name_taken(&mut c, a, "LOCKED", 0).await.unwrap());
    assert!(!saved_views::name_taken(&mut c, a, "LOCKED", v1).await.unwrap());
    let names: Vec<String> = saved_views::list(&mut c, a)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["Disabled", "Locked"]);

    saved_views::set_default(&mut c, a, Some(v1), 3).await.unwrap();
    saved_views::set_default(&mut c, b, Some(vb), 3).await.unwrap();
    saved_views::set_default(&mut c, a, Some(v2), 4).await.unwrap();
    let defaults: Vec<i64> = saved_views::list(&mut c, a)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.is_default)
        .map(|v| v.id)
        .collect();
    assert_eq!(defaults, [v2]);
    assert_eq!(
        saved_views::get_default(&mut c, b).await.unwrap().unwrap().id,
        vb,
        "b's untouched"
    );
    saved_views::set_default(&mut c, a, None, 5).await.unwrap();
    assert!(saved_views::get_default(&mut c, a).await.unwrap().is_none());

    // another owner's view is not found, not renamed, not deleted
    assert!(saved_views::get(&mut c, b, v1).await.unwrap().is_none());
    assert!(!saved_views::rename(&mut c, b, v1, "Mine", 6).await.unwrap());
    assert!(!saved_views::delete(&mut c, b, v1).await.unwrap());
    assert!(saved_views::rename(&mut c, a, v1, "Locked out", 6).await.unwrap());
    assert!(saved_views::delete(&mut c, a, v2).await.unwrap());
    assert_eq!(saved_views::list(&mut c, a).await.unwrap()[0].name, "Locked out");
    // a deleted user takes their views along
    users::delete(&mut c, b).await.unwrap();
    assert!(saved_views::list(&mut c, b).await.unwrap().is_empty());
}
both!(saved_views_one_default_per_owner);

async fn mass_disable_ends_the_sessions_it_selects(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap();
    let other = organizations::create(&mut c, "Other", 1).await.unwrap();
    let actor = users::insert(&mut c, &new_user("actor", org.id), 1).await.unwrap();
    let x = users::insert(&mut c, &new_user("x", org.id), 1).await.unwrap();
    let y = users::insert(&mut c, &new_user("y", org.id), 1).await.unwrap();
    let out = users::insert(&mut c, &new_user("out", other.id), 1).await.unwrap();
    for (i, u) in [actor, x, y, out].into_iter().enumerate() {
        let s = sessions::Session {
            id_hash: format!("h{i}"),
            user_id: u,
            csrf_token: "t".into(),
            created_at: 1,
            expires_at: i64::MAX,
        };
        sessions::create(&mut c, &s, "", "").await.unwrap();
    }
    let scope = Scope::Organizations(vec![org.id]);
    let f = UserFilter {
        view: Some(View::Active),
        exclude_ids: vec![y],
        ..Default::default()
    };
    // the selection is taken first and applied in batches (here of one user)
    let ids = users::mass_enabled_selection(&mut c, &scope, &f, false, actor, &[])
        .await
        .unwrap();
    assert_eq!(ids, [x]);
    let changed = users::set_enabled_batch(&mut c, &scope, &ids, false, &[], 2)
        .await
        .unwrap();
    assert_eq!(changed, [x]);
    assert_eq!(sessions::delete_for_users(&mut c, &changed).await.unwrap(), 1);
    // applied again, a batch changes no one: it checks the state anew
    let again = users::set_enabled_batch(&mut c, &scope, &ids, false, &[], 3)
        .await
        .unwrap();
    assert!(again.is_empty());
    // a batch re-checks the scope: a user outside it is never changed
    let outside = users::set_enabled_batch(&mut c, &scope, &[out], false, &[], 3)
        .await
        .unwrap();
    assert!(outside.is_empty());
    for (u, live) in [(actor, 1), (x, 0), (y, 1), (out, 1)] {
        assert_eq!(sessions::count_for_user(&mut c, u).await.unwrap(), live, "user {u}");
    }
    assert!(!users::get(&mut c, x).await.unwrap().unwrap().enabled);
    assert!(users::get(&mut c, out).await.unwrap().unwrap().enabled);
}
both!(mass_disable_ends_the_sessions_it_selects);
