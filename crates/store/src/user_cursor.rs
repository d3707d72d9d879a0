//! Reading every user a filter selects in keyset pages (`id > last ORDER BY
//! id LIMIT n`): each page costs the same however deep into the table it is,
//! and a reader holds one page in memory, never the whole result.

use muster_domain::UserFilter;

use crate::sql::Sql;
use crate::users::{COLUMNS, Scope, USERS, User, push_where_paged};
use crate::{Conn, Result};

/// The users after `after_id` (by id), at most `limit` of them.
pub async fn page_after(
    conn: &mut Conn,
    scope: &Scope,
    filter: &UserFilter,
    after_id: i64,
    limit: i64,
) -> Result<Vec<User>> {
    page_after_up_to(conn, scope, filter, after_id, i64::MAX, limit).await
}

/// [`page_after`] among the users up to id `up_to_id`: a selection fixed as a
/// filter and the highest id when it was made leaves out the users created since.
pub async fn page_after_up_to(
    conn: &mut Conn,
    scope: &Scope,
    filter: &UserFilter,
    after_id: i64,
    up_to_id: i64,
    limit: i64,
) -> Result<Vec<User>> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM {USERS}"));
    push_where_paged(
        &mut sql,
        crate::Backend::of(conn),
        scope,
        filter,
        muster_domain::SortField::Id,
    );
    sql.push(" AND id > ").int(after_id);
    if up_to_id < i64::MAX {
        sql.push(" AND id <= ").int(up_to_id);
    }
    sql.push(" ORDER BY id LIMIT ").int(limit);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(User::from_row).collect()
}

/// A position in the stream of users a filter selects. Each call to
/// [`Cursor::next_page`] takes a connection for one query only, so a long
/// export neither holds a connection nor keeps a read transaction open.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub scope: Scope,
    pub filter: UserFilter,
    /// The id of the last user returned; 0 before the first page.
    pub after_id: i64,
    pub page_size: i64,
}

impl Cursor {
    pub fn new(scope: Scope, filter: UserFilter, page_size: i64) -> Self {
        Cursor {
            scope,
            filter,
            after_id: 0,
            page_size: page_size.max(1),
        }
    }

    /// The next page, empty at the end.
    pub async fn next_page(&mut self, store: &crate::Store) -> Result<Vec<User>> {
        let mut conn = store.conn().await?;
        let users = page_after(&mut conn, &self.scope, &self.filter, self.after_id, self.page_size).await?;
        if let Some(last) = users.last() {
            self.after_id = last.id;
        }
        Ok(users)
    }
}
