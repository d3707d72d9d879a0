//! Names sort as people read them, on both databases: case and accents do not
//! count ("van Dijk" beside "Vance", not after "Zhang"), whichever path wrote
//! the user (create, profile change, seed, rows older than the keys), and a
//! page boundary does not reorder them.

use muster_domain::{
    AuthStatus, EmailAddress, PersonName, Role, SortDir, SortField, UserFilter, UserSort, Username, View,
};
use muster_store::seed::{self, SeedUser};
use muster_store::users::{self, NewUser, ProfileChange, Scope};
use muster_store::{Store, organizations};

use crate::both;

fn new_user(username: &str, last: &str, org: i64) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(&format!("{username}@example.com")).unwrap(),
        first_name: PersonName::parse("first_name", "Ann").unwrap(),
        last_name: PersonName::parse("last_name", last).unwrap(),
        enabled: true,
        auth_status: AuthStatus::Active,
        password_hash: "$argon2id$fake".into(),
        roles: vec![Role::User],
        organization_ids: vec![org],
    }
}

async fn last_names(store: &Store, dir: SortDir, limit: i64, offset: i64) -> Vec<String> {
    let mut c = store.conn().await.unwrap();
    let f = UserFilter {
        view: Some(View::All),
        ..UserFilter::default()
    };
    let sort = UserSort(vec![(SortField::LastName, dir)]);
    users::list(&mut c, &Scope::System, &f, &sort, limit, offset)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.last_name)
        .collect()
}

async fn names_sort_without_case_or_accents(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let org = organizations::create(&mut c, "Main", 1).await.unwrap().id;
    for (i, last) in ["Zhang", "van Dijk", "Åberg", "Vance", "émile", "Emil", "adams"]
        .iter()
        .enumerate()
    {
        users::insert(&mut c, &new_user(&format!("u{i}"), last, org), 1)
            .await
            .unwrap();
    }
    // a profile change writes the key again
    let zed = users::find_by_username(&mut c, "u0").await.unwrap().unwrap();
    let change = ProfileChange {
        username: Username::parse("u0").unwrap(),
        email: EmailAddress::parse("u0@example.com").unwrap(),
        first_name: PersonName::parse("first_name", "Ann").unwrap(),
        last_name: PersonName::parse("last_name", "Ørsted").unwrap(),
    };
    users::update_profile(&mut c, zed.id, &change, 2).await.unwrap();
    // the seed's bulk insert writes the keys too
    let id = seed::next_id(&mut c, "users").await.unwrap();
    let seeded = SeedUser {
        id,
        username: "seeded".into(),
        email: "seeded@example.com".into(),
        first_name: "Ann".into(),
        last_name: "VANCE-Smith".into(),
        enabled: true,
        auth_status: AuthStatus::Active,
        failed_login_count: 0,
        login_count: 0,
        last_login_at: None,
        created_at: 1,
        updated_at: 1,
        roles: vec![Role::User],
        organizations: vec![(org, "Main".into())],
    };
    seed::insert_users(&mut c, &[seeded], "$argon2id$fake").await.unwrap();
    drop(c);
    let expected = [
        "Åberg",
        "adams",
        "Emil",
        "émile",
        "van Dijk",
        "Vance",
        "VANCE-Smith",
        "Ørsted",
    ];
    assert_eq!(last_names(store, SortDir::Asc, 100, 0).await, expected);
    let mut reversed = expected.to_vec();
    reversed.reverse();
    assert_eq!(last_names(store, SortDir::Desc, 100, 0).await, reversed);
    // pages of three put together are the whole order
    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        paged.extend(last_names(store, SortDir::Asc, 3, offset).await);
    }
    assert_eq!(paged, expected);

    // rows written before the keys existed get them when the store starts
    let mut c = store.conn().await.unwrap();
    sqlx::query("UPDATE users SET first_name_key = NULL, last_name_key = NULL")
        .execute(&mut *c)
        .await
        .unwrap();
    drop(c);
    store.migrate().await.unwrap();
    let mut c = store.conn().await.unwrap();
    assert_eq!(users::fill_name_keys(&mut c).await.unwrap(), 0, "nothing left to fill");
    drop(c);
    assert_eq!(last_names(store, SortDir::Asc, 100, 0).await, expected);
}
both!(names_sort_without_case_or_accents);
