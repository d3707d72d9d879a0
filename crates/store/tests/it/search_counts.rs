//! A search's page and its capped total, on both databases (issue 11): a
//! count that stops at a cap says so and is otherwise exact, in every scope;
//! a page in id order (the trigram index walked in rowid order on SQLite)
//! holds the same users, in the same order, as the filter selects.

use muster_domain::{
    AuthStatus, EmailAddress, PersonName, Role, SortDir, SortField, UserFilter, UserSort, Username, View,
};
use muster_store::users::{self, Count, NewUser, Scope};
use muster_store::{Store, organizations};

use crate::both;

fn new_user(username: &str, last: &str, enabled: bool, orgs: Vec<i64>) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(&format!("{username}@example.com")).unwrap(),
        first_name: PersonName::parse("first_name", "Ann").unwrap(),
        last_name: PersonName::parse("last_name", last).unwrap(),
        enabled,
        auth_status: AuthStatus::Active,
        password_hash: "$argon2id$fake".into(),
        roles: vec![Role::User],
        organization_ids: orgs,
    }
}

fn search(needle: &str) -> UserFilter {
    UserFilter {
        view: Some(View::All),
        search: Some(needle.into()),
        ..UserFilter::default()
    }
}

async fn ids(store: &Store, scope: &Scope, f: &UserFilter, sort: &UserSort, limit: i64, offset: i64) -> Vec<i64> {
    let mut c = store.conn().await.unwrap();
    users::list(&mut c, scope, f, sort, limit, offset)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect()
}

async fn capped_counts_and_id_walks(store: &Store) {
    let mut c = store.conn().await.unwrap();
    let a = organizations::create(&mut c, "A", 1).await.unwrap().id;
    let b = organizations::create(&mut c, "B", 1).await.unwrap().id;
    // 9 Smiths (every third disabled, every other one in B only), 4 others
    for i in 0..9 {
        let orgs = if i % 2 == 0 { vec![b] } else { vec![a, b] };
        let u = new_user(&format!("s{i}"), "Goldsmith", i % 3 != 0, orgs);
        users::insert(&mut c, &u, 1).await.unwrap();
    }
    for i in 0..4 {
        users::insert(&mut c, &new_user(&format!("o{i}"), "Other", true, vec![a]), 1)
            .await
            .unwrap();
    }
    let disabled_smiths = UserFilter {
        view: Some(View::Disabled),
        ..search("smith")
    };
    let in_b = UserFilter {
        organization_id: Some(b),
        ..search("dsm")
    };
    let filters = [
        search("smith"),
        search("SMITH"),
        search("sm"),
        search("s"),
        search("nobody"),
        disabled_smiths,
        in_b,
        UserFilter {
            view: Some(View::Active),
            ..UserFilter::default()
        },
    ];
    let scopes = [
        Scope::System,
        Scope::Organizations(vec![a]),
        Scope::Organizations(vec![b]),
        Scope::Organizations(vec![a, b]),
        Scope::Organizations(vec![]),
    ];
    let by_id = |dir| UserSort(vec![(SortField::Id, dir)]);
    let by_username = UserSort(vec![(SortField::Username, SortDir::Asc)]);
    for f in &filters {
        for scope in &scopes {
            let exact = users::count(&mut c, scope, f).await.unwrap();
            for cap in [1, 3, 5, 100] {
                let got = users::count_up_to(&mut c, scope, f, cap).await.unwrap();
                let case = format!("{f:?} in {scope:?}, cap {cap}: {got:?}, exactly {exact}");
                if got.at_least {
                    assert_eq!(got.n, cap, "{case}");
                    assert!(exact > cap, "{case}");
                } else {
                    assert_eq!(got.n, exact, "{case}");
                }
                // a search over the whole table stops at the cap on both databases
                if *scope == Scope::System && f.search.is_some() && exact > cap {
                    assert_eq!(got, Count { n: cap, at_least: true }, "{case}");
                }
            }
            // the id walk holds what another order holds, in id order, either way, page by page
            let mut want = ids(store, scope, f, &by_username, 1000, 0).await;
            want.sort_unstable();
            assert_eq!(want.len() as i64, exact, "{f:?} in {scope:?}");
            assert_eq!(ids(store, scope, f, &by_id(SortDir::Asc), 1000, 0).await, want);
            let mut paged = Vec::new();
            for page in 0..7 {
                paged.extend(ids(store, scope, f, &by_id(SortDir::Asc), 2, page * 2).await);
            }
            assert_eq!(paged, want, "pages of 2, {f:?} in {scope:?}");
            want.reverse();
            assert_eq!(ids(store, scope, f, &by_id(SortDir::Desc), 1000, 0).await, want);
        }
    }
}

both!(capped_counts_and_id_walks);
