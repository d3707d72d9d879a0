use muster_domain::{
    AuthStatus, EmailAddress, Error as DomainError, PersonName, Role, SortDir, SortField, UserFilter, UserSort,
    Username, View,
};
use muster_store::users::{self, NewUser, Scope};
use muster_store::{Error, Store, audit, login_attempts, organizations, records, sessions, settings};

use crate::both;

fn new_user(name: &str, org: i64) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: EmailAddress::parse(&format!("{name}@example.com")).unwrap(),
        first_name: PersonName::parse("first_name", &format!("F{name}")).unwrap(),
        last_name: PersonName::parse("last_name", &format!("L{name}")).unwrap(),
        enabled: true,
        auth_status: AuthStatus::Active,
        password_hash: "$argon2id$fake".into(),
        roles: vec![Role::User],
        organization_ids: vec![org],
    }
}

/// No view, then each built-in view.
fn built_in_views() -> Vec<UserFilter> {
    let mut filters = vec![UserFilter::default()];
    for view in [View::Active, View::Disabled, View::CannotLogin] {
        filters.push(UserFilter {
            view: Some(view),
            ..Default::default()
        });
    }
    filters
}

async fn users_are_unique_regardless_of_case(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap();
    assert!(matches!(
        organizations::create(&mut c, "main", 1).await,
        Err(Error::Domain(DomainError::Conflict { .. }))
    ));
    let id = users::insert(&mut c, &new_user("JDoe", org.id), 10).await.unwrap();
    let u = users::get(&mut c, id).await.unwrap().unwrap();
    assert_eq!(u.username, "JDoe");
    assert_eq!(u.roles, vec![Role::User]);
    assert_eq!(u.organizations, vec!["Main".to_owned()]);
    assert_eq!(users::find_by_username(&mut c, "jdoe").await.unwrap().unwrap().id, id);
    assert_eq!(
        users::find_by_email(&mut c, "JDOE@EXAMPLE.COM")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );

    let mut dup = new_user("jdoe", org.id);
    dup.email = EmailAddress::parse("JDoe@Example.com").unwrap();
    match users::insert(&mut c, &dup, 11).await {
        Err(Error::Domain(DomainError::Invalid(f))) => {
            let fields: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, vec!["username", "email"]);
        }
        other => panic!("expected a conflict per field, got {other:?}"),
    }
    assert_eq!(users::count_all(&mut c).await.unwrap(), 1);
}
both!(users_are_unique_regardless_of_case);

async fn filters_views_sort_and_scope(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let main = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let other = organizations::create(&mut c, "Other", 1).await.unwrap().id;
    let mut ids = Vec::new();
    for (i, name) in ["alice", "bob", "carol", "dave", "erin"].iter().enumerate() {
        ids.push(
            users::insert(&mut c, &new_user(name, main), 100 + i as i64)
                .await
                .unwrap(),
        );
    }
    let outsider = users::insert(&mut c, &new_user("zed", other), 200).await.unwrap();
    users::set_enabled(&mut c, ids[1], false, 300).await.unwrap(); // bob disabled
    users::set_auth_status(&mut c, ids[2], AuthStatus::Locked, 300)
        .await
        .unwrap(); // carol locked
    users::set_auth_status(&mut c, ids[3], AuthStatus::PasswordReset, 300)
        .await
        .unwrap(); // dave reset
    users::set_roles(&mut c, ids[4], &[Role::Administrator, Role::User])
        .await
        .unwrap();

    let scope = Scope::Organizations(vec![main]);
    let names = |us: Vec<users::User>| us.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let view = |v| UserFilter {
        view: Some(v),
        ..Default::default()
    };
    let sort = UserSort::default();
    let all = users::list(&mut c, &scope, &view(View::All), &sort, 100, 0)
        .await
        .unwrap();
    assert_eq!(
        names(all),
        ["alice", "bob", "carol", "dave", "erin"],
        "the other organization is out of scope"
    );
    let active = users::list(&mut c, &scope, &view(View::Active), &sort, 100, 0)
        .await
        .unwrap();
    assert_eq!(names(active), ["alice", "carol", "dave", "erin"]);
    let disabled = users::list(&mut c, &scope, &view(View::Disabled), &sort, 100, 0)
        .await
        .unwrap();
    assert_eq!(names(disabled), ["bob"]);
    let cannot = users::list(&mut c, &scope, &view(View::CannotLogin), &sort, 100, 0)
        .await
        .unwrap();
    assert_eq!(names(cannot), ["carol", "dave"]);
    assert_eq!(users::count(&mut c, &scope, &view(View::CannotLogin)).await.unwrap(), 2);
    assert_eq!(users::count(&mut c, &Scope::System, &view(View::All)).await.unwrap(), 6);

    let search = UserFilter {
        search: Some("AR".into()),
        ..Default::default()
    };
    assert_eq!(
        names(users::list(&mut c, &scope, &search, &sort, 100, 0).await.unwrap()),
        ["carol"]
    );
    // LIKE wildcards in a search are literal
    let wild = UserFilter {
        search: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(users::count(&mut c, &scope, &wild).await.unwrap(), 0);
    let by_role = UserFilter {
        role: Some("Administrator".into()),
        ..Default::default()
    };
    assert_eq!(
        names(users::list(&mut c, &scope, &by_role, &sort, 100, 0).await.unwrap()),
        ["erin"]
    );
    let statuses = UserFilter {
        auth_statuses: vec![AuthStatus::Locked],
        ..Default::default()
    };
    assert_eq!(users::count(&mut c, &scope, &statuses).await.unwrap(), 1);
    let exact = UserFilter {
        email: Some("ALICE@example.com".into()),
        ..Default::default()
    };
    assert_eq!(users::count(&mut c, &scope, &exact).await.unwrap(), 1);
    let created = UserFilter {
        created_from: Some(102),
        created_to: Some(103),
        ..Default::default()
    };
    assert_eq!(
        names(users::list(&mut c, &scope, &created, &sort, 100, 0).await.unwrap()),
        ["carol", "dave"]
    );

    let desc = UserSort(vec![(SortField::Username, SortDir::Desc)]);
    let page = users::list(&mut c, &scope, &UserFilter::default(), &desc, 2, 1)
        .await
        .unwrap();
    assert_eq!(names(page), ["dave", "carol"]);
    let by_roles = UserSort(vec![
        (SortField::Roles, SortDir::Asc),
        (SortField::Username, SortDir::Asc),
    ]);
    let first = users::list(&mut c, &scope, &UserFilter::default(), &by_roles, 1, 0)
        .await
        .unwrap();
    assert_eq!(names(first), ["erin"], "'Administrator, User' sorts before 'User'");

    // mass disable: set-based, skips the actor and the already disabled, stays in scope
    let n = users::mass_set_enabled(&mut c, &scope, &view(View::All), false, ids[0], &[], 400)
        .await
        .unwrap();
    assert_eq!(n, 3, "carol, dave, erin");
    assert!(users::get(&mut c, ids[0]).await.unwrap().unwrap().enabled);
    assert!(users::get(&mut c, outsider).await.unwrap().unwrap().enabled);
    let except = UserFilter {
        exclude_ids: vec![ids[2]],
        ..Default::default()
    };
    let n = users::mass_set_enabled(&mut c, &scope, &except, true, ids[0], &[], 500)
        .await
        .unwrap();
    assert_eq!(n, 3, "bob, dave, erin; carol left out");
    assert!(!users::get(&mut c, ids[2]).await.unwrap().unwrap().enabled);
}
both!(filters_views_sort_and_scope);

async fn lockout_counts_atomically_and_only_active_users(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let id = users::insert(&mut c, &new_user("target", org), 1).await.unwrap();
    for n in 1..3 {
        assert_eq!(
            users::record_failed_login(&mut c, id, 3, 10).await.unwrap(),
            Some((n, AuthStatus::Active))
        );
    }
    assert_eq!(
        users::record_failed_login(&mut c, id, 3, 10).await.unwrap(),
        Some((3, AuthStatus::Locked))
    );
    assert_eq!(
        users::record_failed_login(&mut c, id, 3, 10).await.unwrap(),
        None,
        "not counted once locked"
    );
    let hash = users::get(&mut c, id).await.unwrap().unwrap().password_hash;
    assert!(
        !users::record_successful_login(&mut c, id, &hash, 20).await.unwrap(),
        "no sign-in while locked"
    );
    users::set_auth_status(&mut c, id, AuthStatus::Active, 30)
        .await
        .unwrap();
    let u = users::get(&mut c, id).await.unwrap().unwrap();
    assert_eq!(
        (u.failed_login_count, u.auth_status),
        (0, AuthStatus::Active),
        "Activate clears the counter"
    );
    assert!(
        !users::record_successful_login(&mut c, id, "another hash", 40)
            .await
            .unwrap(),
        "hash changed meanwhile"
    );
    assert!(users::record_successful_login(&mut c, id, &hash, 40).await.unwrap());
    let u = users::get(&mut c, id).await.unwrap().unwrap();
    assert_eq!((u.login_count, u.last_login_at), (1, Some(40)));
    // limit 0: never locks
    for _ in 0..20 {
        users::record_failed_login(&mut c, id, 0, 50).await.unwrap();
    }
    assert_eq!(
        users::get(&mut c, id).await.unwrap().unwrap().auth_status,
        AuthStatus::Active
    );
    users::set_enabled(&mut c, id, false, 60).await.unwrap();
    assert_eq!(
        users::record_failed_login(&mut c, id, 3, 70).await.unwrap(),
        None,
        "disabled: not counted"
    );
}
both!(lockout_counts_atomically_and_only_active_users);

async fn sessions_expire_and_end_per_user(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let id = users::insert(&mut c, &new_user("s", org), 1).await.unwrap();
    for (h, exp) in [("a", 100), ("b", 1000), ("c", 1000)] {
        let s = sessions::Session {
            id_hash: h.into(),
            user_id: id,
            csrf_token: "t".into(),
            created_at: 1,
            expires_at: exp,
        };
        sessions::create(&mut c, &s, "127.0.0.1", "ua").await.unwrap();
    }
    assert!(sessions::get_seen(&mut c, "a", 200).await.unwrap().is_none(), "expired");
    let (b, seen) = sessions::get_seen(&mut c, "b", 200).await.unwrap().unwrap();
    assert_eq!((b.user_id, seen), (id, 1), "last seen when created");
    assert_eq!(sessions::delete_for_user(&mut c, id, Some("b")).await.unwrap(), 2);
    assert!(
        sessions::get_seen(&mut c, "b", 200).await.unwrap().is_some(),
        "the kept one"
    );
    users::set_enabled(&mut c, id, false, 2).await.unwrap();
    assert_eq!(sessions::delete_for_unusable_users(&mut c).await.unwrap(), 1);
}
both!(sessions_expire_and_end_per_user);

async fn records_block_a_delete_until_reassigned(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let owner = users::insert(&mut c, &new_user("owner", org), 1).await.unwrap();
    let heir = users::insert(&mut c, &new_user("heir", org), 1).await.unwrap();
    for (k, t) in [("contact", "A"), ("contact", "B"), ("task", "C")] {
        records::insert(&mut c, k, t, owner, org, 5).await.unwrap();
    }
    assert_eq!(
        records::counts_by_kind(&mut c, owner).await.unwrap(),
        vec![("contact".to_owned(), 2), ("task".to_owned(), 1)]
    );
    assert!(
        users::delete(&mut c, owner).await.is_err(),
        "the database refuses it too"
    );
    assert_eq!(records::reassign(&mut c, owner, heir, 6).await.unwrap(), 3);
    assert!(users::delete(&mut c, owner).await.unwrap());
    assert_eq!(records::list(&mut c, &[org], Some(heir), 10, 0).await.unwrap().len(), 3);
}
both!(records_block_a_delete_until_reassigned);

async fn settings_audit_and_attempts(store: &Store) {
    let mut c = store.conn().await.unwrap();
    settings::put(&mut c, "failed_login_limit", "5", 1).await.unwrap();
    settings::put(&mut c, "failed_login_limit", "7", 2).await.unwrap();
    assert_eq!(
        settings::all(&mut c).await.unwrap(),
        vec![("failed_login_limit".to_owned(), "7".to_owned())]
    );
    for (i, action) in ["user.enabled", "user.disabled", "user.enabled"].iter().enumerate() {
        let e = audit::Event {
            at: i as i64,
            actor_username: "Admin".into(),
            action: (*action).into(),
            target_id: Some(9),
            ..Default::default()
        };
        audit::insert(&mut c, &e).await.unwrap();
    }
    let f = audit::Filter {
        actor: Some("admin".into()),
        action: Some("user.enabled".into()),
        ..Default::default()
    };
    let events = audit::list(&mut c, &f, 10, 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![2, 0],
        "newest first"
    );
    let a = login_attempts::Attempt {
        at: 5,
        username: "x".into(),
        success: true,
        source: "api".into(),
        ..Default::default()
    };
    login_attempts::insert(&mut c, &a).await.unwrap();
    let f = login_attempts::Filter {
        success: Some(true),
        source: Some("api".into()),
        ..Default::default()
    };
    assert_eq!(login_attempts::list(&mut c, &f, 10, 0).await.unwrap().len(), 1);
    let f = login_attempts::Filter {
        success: Some(false),
        ..Default::default()
    };
    assert!(login_attempts::list(&mut c, &f, 10, 0).await.unwrap().is_empty());
}
both!(settings_audit_and_attempts);

async fn recent_web_failures_per_address(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let attempt = |at: i64, ip: &str, success: bool, source: &str| login_attempts::Attempt {
        at,
        username: "x".into(),
        success,
        source: source.into(),
        ip: ip.into(),
        ..Default::default()
    };
    for a in [
        attempt(10, "192.0.2.1", false, "web"),
        attempt(20, "192.0.2.1", false, "web"),
        attempt(30, "192.0.2.1", false, "web"),
        attempt(35, "192.0.2.1", true, "web"),
        attempt(36, "192.0.2.1", false, "api"),
        attempt(37, "192.0.2.2", false, "web"),
    ] {
        login_attempts::insert(&mut c, &a).await.unwrap();
    }
    let nth = |n: i64, since: i64| (n, since);
    let mut got = Vec::new();
    for (n, since) in [nth(1, 0), nth(3, 0), nth(4, 0), nth(2, 15), nth(3, 15), nth(0, 0)] {
        got.push(
            login_attempts::nth_recent_web_failure(&mut c, "192.0.2.1", since, n)
                .await
                .unwrap(),
        );
    }
    // only failed web attempts of this address, newest first, after `since`
    assert_eq!(got, vec![Some(30), Some(10), None, Some(20), None, None]);
}
both!(recent_web_failures_per_address);

/// `n` users named `prefix`0… in organization `org`; their ids in order.
async fn insert_users(c: &mut muster_store::Conn, prefix: &str, n: usize, org: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            users::insert(&mut *c, &new_user(&format!("{prefix}{i}"), org), 1)
                .await
                .unwrap(),
        );
    }
    ids
}

async fn counters_match_a_scan(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let ids = insert_users(&mut c, "u", 12, org).await;
    users::set_enabled(&mut c, ids[0], false, 2).await.unwrap();
    users::set_auth_status(&mut c, ids[1], AuthStatus::Locked, 2)
        .await
        .unwrap();
    users::set_auth_status(&mut c, ids[2], AuthStatus::PasswordReset, 2)
        .await
        .unwrap();
    users::record_failed_login(&mut c, ids[3], 1, 3).await.unwrap();
    let half = UserFilter {
        only_ids: Some(ids[4..8].to_vec()),
        ..Default::default()
    };
    users::mass_set_enabled(&mut c, &Scope::System, &half, false, 0, &[], 4)
        .await
        .unwrap();
    users::delete(&mut c, ids[11]).await.unwrap();
    users::delete(&mut c, ids[0]).await.unwrap();
    let mut filters = built_in_views();
    filters.push(UserFilter {
        auth_statuses: vec![AuthStatus::Locked],
        ..Default::default()
    });
    filters.push(UserFilter {
        enabled: Some(false),
        ..Default::default()
    });
    let expected = [10, 6, 4, 3, 2, 4];
    for (f, want) in filters.iter().zip(expected) {
        let fast = users::count(&mut c, &Scope::System, f).await.unwrap();
        // the same question with a condition the counters cannot answer: a real scan
        let scan_filter = UserFilter {
            created_to: Some(i64::MAX),
            ..f.clone()
        };
        let scan = users::count(&mut c, &Scope::System, &scan_filter).await.unwrap();
        assert_eq!((fast, scan), (want, want), "{f:?}");
        let scoped = users::count(&mut c, &Scope::Organizations(vec![org]), f).await.unwrap();
        assert_eq!(scoped, want, "a scope over every organization is the whole table");
    }
}
both!(counters_match_a_scan);

async fn organization_counters_match_a_scan(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let main = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let europe = organizations::create(&mut c, "Europe", 1).await.unwrap().id;
    let asia = organizations::create(&mut c, "Asia", 1).await.unwrap().id;
    let mut ids = Vec::new();
    for i in 0..10 {
        let org = if i % 2 == 0 { main } else { europe };
        ids.push(
            users::insert(&mut c, &new_user(&format!("m{i}"), org), 1)
                .await
                .unwrap(),
        );
    }
    // memberships change: joins, moves and leaves
    users::set_organizations(&mut c, ids[0], &[main, europe]).await.unwrap();
    users::set_organizations(&mut c, ids[1], &[main, europe, asia])
        .await
        .unwrap();
    users::set_organizations(&mut c, ids[2], &[asia]).await.unwrap();
    // statuses change one by one and in bulk
    users::set_enabled(&mut c, ids[0], false, 2).await.unwrap();
    users::set_auth_status(&mut c, ids[1], AuthStatus::Locked, 2)
        .await
        .unwrap();
    users::record_failed_login(&mut c, ids[3], 1, 3).await.unwrap();
    let some = UserFilter {
        only_ids: Some(ids[4..8].to_vec()),
        ..Default::default()
    };
    users::mass_set_enabled(&mut c, &Scope::Organizations(vec![main]), &some, false, 0, &[], 4)
        .await
        .unwrap();
    users::set_auth_status(&mut c, ids[5], AuthStatus::PasswordReset, 5)
        .await
        .unwrap();
    users::delete(&mut c, ids[9]).await.unwrap();
    users::delete(&mut c, ids[0]).await.unwrap();
    let mut filters = built_in_views();
    filters.push(UserFilter {
        auth_statuses: vec![AuthStatus::Locked, AuthStatus::PasswordReset],
        ..Default::default()
    });
    for scope in [vec![main], vec![europe], vec![asia], vec![main, europe]] {
        let scope = Scope::Organizations(scope);
        for f in &filters {
            let fast = users::count(&mut c, &scope, f).await.unwrap();
            let scan_filter = UserFilter {
                created_to: Some(i64::MAX),
                ..f.clone()
            };
            let scan = users::count(&mut c, &scope, &scan_filter).await.unwrap();
            let listed = users::list(&mut c, &scope, f, &UserSort::default(), 100, 0)
                .await
                .unwrap()
                .len();
            assert_eq!((fast, scan), (listed as i64, listed as i64), "{scope:?} {f:?}");
        }
    }
    let main_all = users::count(&mut c, &Scope::Organizations(vec![main]), &UserFilter::default())
        .await
        .unwrap();
    assert_eq!(main_all, 4, "m1, m4, m6 and m8: m2 moved to Asia, m0 was deleted");
}
both!(organization_counters_match_a_scan);

/// Every built-in view counted from the counters, by a scan and by listing,
/// per organization and for all: equal, or the counters drifted.
async fn assert_counts_match(c: &mut muster_store::Conn, scopes: &[Scope], when: &str) {
    for scope in scopes {
        for f in &built_in_views() {
            let fast = users::count(c, scope, f).await.unwrap();
            let scan_filter = UserFilter {
                created_to: Some(i64::MAX),
                ..f.clone()
            };
            let scan = users::count(c, scope, &scan_filter).await.unwrap();
            let listed = users::list(c, scope, f, &UserSort::default(), 100, 0)
                .await
                .unwrap()
                .len() as i64;
            assert_eq!((fast, scan), (listed, listed), "{when}: {scope:?} {f:?}");
        }
    }
}

/// A mass batch counts its change once, whoever counts it (SQLite: the batch
/// itself, its triggers standing aside; PostgreSQL: the statement triggers),
/// and a batch rolled back with its caller's transaction leaves the counters
/// (and on SQLite the triggers' flag) as they were.
async fn a_mass_batch_counts_once(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let main = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let other = organizations::create(&mut c, "Other", 1).await.unwrap().id;
    let ids = insert_users(&mut c, "b", 6, main).await;
    users::set_organizations(&mut c, ids[0], &[main, other]).await.unwrap();
    users::set_auth_status(&mut c, ids[1], AuthStatus::Locked, 2)
        .await
        .unwrap();
    users::set_auth_status(&mut c, ids[2], AuthStatus::PasswordReset, 2)
        .await
        .unwrap();
    let scopes = [
        Scope::System,
        Scope::Organizations(vec![main]),
        Scope::Organizations(vec![other]),
    ];
    assert_counts_match(&mut c, &scopes, "before").await;

    {
        let mut tx = sqlx::Connection::begin(&mut *c).await.unwrap();
        let changed = users::set_enabled_batch(&mut tx, &Scope::System, &ids, false, &[], 3)
            .await
            .unwrap();
        assert_eq!(changed.len(), 6);
        tx.rollback().await.unwrap();
    }
    let disabled = UserFilter {
        view: Some(View::Disabled),
        ..Default::default()
    };
    assert_eq!(users::count(&mut c, &Scope::System, &disabled).await.unwrap(), 0);
    assert_counts_match(&mut c, &scopes, "after a rolled-back batch").await;

    // in scope Other only ids[0] may change; then ids[..4] in two batches
    let changed = users::set_enabled_batch(&mut c, &Scope::Organizations(vec![other]), &ids, false, &[], 4)
        .await
        .unwrap();
    assert_eq!(changed, vec![ids[0]]);
    assert_counts_match(&mut c, &scopes, "after a scoped batch").await;
    for batch in [&ids[..2], &ids[2..4]] {
        users::set_enabled_batch(&mut c, &Scope::System, batch, false, &[], 5)
            .await
            .unwrap();
    }
    assert_eq!(users::count(&mut c, &Scope::System, &disabled).await.unwrap(), 4);
    assert_counts_match(&mut c, &scopes, "after two batches").await;

    // the triggers count single changes again
    users::set_enabled(&mut c, ids[1], true, 6).await.unwrap();
    users::set_auth_status(&mut c, ids[3], AuthStatus::Locked, 6)
        .await
        .unwrap();
    users::delete(&mut c, ids[0]).await.unwrap();
    assert_counts_match(&mut c, &scopes, "after single changes").await;
    let back = users::set_enabled_batch(&mut c, &Scope::System, &ids[1..], true, &[], 7)
        .await
        .unwrap();
    assert_eq!(back, vec![ids[2], ids[3]]);
    assert_counts_match(&mut c, &scopes, "after enabling back").await;
}
both!(a_mass_batch_counts_once);

async fn search_follows_every_change(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let main = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    let other = organizations::create(&mut c, "Other", 1).await.unwrap().id;
    let alice = users::insert(&mut c, &new_user("alice", main), 1).await.unwrap();
    let malice = users::insert(&mut c, &new_user("malice", other), 1).await.unwrap();
    users::insert(&mut c, &new_user("bob", main), 1).await.unwrap();
    let search = |s: &str, view: Option<View>| UserFilter {
        search: Some(s.into()),
        view,
        ..Default::default()
    };
    let names = |us: Vec<users::User>| us.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let sort = UserSort::default();
    let by_name = UserSort(vec![(SortField::Username, SortDir::Asc)]);
    // every way a search is read: the page in id order (the search table
    // joined to users), another order (`id IN` the search table), the count
    // and the capped count (the search table alone: a row left behind by a
    // delete or an old text would be counted there)
    let found = async |c: &mut muster_store::Conn, f: &UserFilter, scope: &Scope| {
        let listed = users::list(c, scope, f, &sort, 100, 0).await.unwrap();
        let n = users::count(c, scope, f).await.unwrap();
        assert_eq!(n, listed.len() as i64, "count and list agree for {f:?}");
        let capped = users::count_up_to(c, scope, f, 100).await.unwrap();
        assert_eq!((capped.n, capped.at_least), (n, false), "capped count for {f:?}");
        let mut other = names(users::list(c, scope, f, &by_name, 100, 0).await.unwrap());
        let listed = names(listed);
        other.sort_by_key(|u| listed.iter().position(|l| l == u));
        assert_eq!(other, listed, "both orders hold the same users for {f:?}");
        listed
    };
    // three letters or more (an index on SQLite), fewer (a scan), any case, with or without a view
    for (needle, want) in [
        ("LIC", vec!["alice", "malice"]),
        ("al", vec!["alice", "malice"]),
        ("bob@ex", vec!["bob"]),
    ] {
        assert_eq!(
            found(&mut c, &search(needle, None), &Scope::System).await,
            want,
            "{needle}"
        );
        assert_eq!(
            found(&mut c, &search(needle, Some(View::Active)), &Scope::System).await,
            want,
            "{needle}"
        );
    }
    assert_eq!(
        found(&mut c, &search("lice", None), &Scope::Organizations(vec![main])).await,
        ["alice"]
    );
    // a new name is found and the old one is not; quotes are literal
    let change = users::ProfileChange {
        username: Username::parse("alice").unwrap(),
        email: EmailAddress::parse("alice@example.com").unwrap(),
        first_name: PersonName::parse("first_name", "Ann \"Quote\"").unwrap(),
        last_name: PersonName::parse("last_name", "O'Hara").unwrap(),
    };
    users::update_profile(&mut c, alice, &change, 2).await.unwrap();
    assert_eq!(found(&mut c, &search("o'hara", None), &Scope::System).await, ["alice"]);
    assert_eq!(
        found(&mut c, &search("\"quote\"", None), &Scope::System).await,
        ["alice"]
    );
    assert_eq!(
        found(&mut c, &search("Falice", None), &Scope::System).await,
        Vec::<String>::new()
    );
    // a new username and a new email are found, the old ones are not
    let change = users::ProfileChange {
        username: Username::parse("numbat").unwrap(),
        email: EmailAddress::parse("wombat@example.org").unwrap(),
        first_name: PersonName::parse("first_name", "Ann \"Quote\"").unwrap(),
        last_name: PersonName::parse("last_name", "O'Hara").unwrap(),
    };
    assert_eq!(
        found(&mut c, &search("o'hara alice", None), &Scope::System).await,
        ["alice"]
    );
    users::update_profile(&mut c, alice, &change, 3).await.unwrap();
    assert_eq!(found(&mut c, &search("numbat", None), &Scope::System).await, ["numbat"]);
    assert_eq!(
        found(&mut c, &search("wombat@", None), &Scope::System).await,
        ["numbat"]
    );
    // ("o'hara alice": the old last name beside the old username)
    assert_eq!(
        found(&mut c, &search("o'hara alice", None), &Scope::System).await,
        Vec::<String>::new()
    );
    assert_eq!(found(&mut c, &search("alice@", None), &Scope::System).await, ["malice"]);
    assert_eq!(found(&mut c, &search("lice", None), &Scope::System).await, ["malice"]);
    let change = users::ProfileChange {
        username: Username::parse("alice").unwrap(),
        email: EmailAddress::parse("alice@example.com").unwrap(),
        ..change
    };
    users::update_profile(&mut c, alice, &change, 4).await.unwrap();
    // a deleted user is gone from the search
    users::delete(&mut c, malice).await.unwrap();
    assert_eq!(
        found(&mut c, &search("malice", None), &Scope::System).await,
        Vec::<String>::new()
    );
    assert_eq!(found(&mut c, &search("lice", None), &Scope::System).await, ["alice"]);
    if store.backend == muster_store::Backend::Postgres {
        // PostgreSQL's search table (migration 0020) holds each user's text, and no one else's
        let stale: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_search s FULL JOIN users u ON u.id = s.user_id \
             WHERE s.search_text IS DISTINCT FROM u.search_text",
        )
        .fetch_one(&mut *c)
        .await
        .unwrap();
        assert_eq!(stale, 0);
    }
}
both!(search_follows_every_change);

async fn a_bulk_load_sets_indexes_and_triggers_aside_and_restores_them(store: &Store) {
    use muster_store::seed;
    let mut tx = store.begin().await.unwrap();
    let org = organizations::create(&mut tx, "Main", 1).await.unwrap();
    let deferred = seed::defer_indexes(&mut tx, store.backend).await.unwrap();
    let batch: Vec<seed::SeedUser> = (1..=40)
        .map(|id| seed::SeedUser {
            id,
            username: format!("bulk{id}"),
            email: format!("bulk{id}@example.com"),
            first_name: "Bulk".into(),
            last_name: if id % 2 == 0 { "Even".into() } else { "Odd".into() },
            enabled: id % 4 != 0,
            auth_status: if id % 5 == 0 {
                AuthStatus::Locked
            } else {
                AuthStatus::Active
            },
            failed_login_count: 0,
            login_count: 0,
            last_login_at: None,
            created_at: 1,
            updated_at: 1,
            roles: vec![Role::User],
            organizations: vec![(org.id, org.name.clone())],
        })
        .collect();
    seed::insert_users(&mut tx, &batch, "$argon2id$fake").await.unwrap();
    seed::restore_indexes(&mut tx, deferred).await.unwrap();
    tx.commit().await.unwrap();
    seed::fix_sequences(store).await.unwrap();

    let mut c = store.conn().await.unwrap();
    let scope = Scope::Organizations(vec![org.id, 999]);
    let one = Scope::Organizations(vec![org.id]);
    let disabled = UserFilter {
        view: Some(View::Disabled),
        ..Default::default()
    };
    // counted from scratch at the end of the load
    assert_eq!(users::count(&mut c, &Scope::System, &disabled).await.unwrap(), 10);
    assert_eq!(users::count(&mut c, &one, &disabled).await.unwrap(), 10);
    // and the triggers are back: a change moves the counters and the search index
    users::set_enabled(&mut c, 1, false, 2).await.unwrap();
    assert_eq!(users::count(&mut c, &Scope::System, &disabled).await.unwrap(), 11);
    assert_eq!(users::count(&mut c, &one, &disabled).await.unwrap(), 11);
    assert_eq!(users::count(&mut c, &scope, &disabled).await.unwrap(), 11);
    let odd = UserFilter {
        search: Some("Bulk Odd".into()),
        ..Default::default()
    };
    assert_eq!(
        users::count(&mut c, &Scope::System, &odd).await.unwrap(),
        20,
        "indexed at the end of the load"
    );
    let new_id = users::insert(&mut c, &new_user("later", org.id), 3).await.unwrap();
    assert!(new_id > 40, "identity continues after the explicit ids");
    let later = UserFilter {
        search: Some("later".into()),
        ..Default::default()
    };
    assert_eq!(users::count(&mut c, &one, &later).await.unwrap(), 1);
}
both!(a_bulk_load_sets_indexes_and_triggers_aside_and_restores_them);
