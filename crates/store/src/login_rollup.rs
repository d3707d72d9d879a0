//! Login attempts per hour and outcome, for the dashboard: read from
//! `login_attempt_hours` (migration 0012, kept by a trigger on
//! `login_attempts` in the attempt's own transaction), so a week costs a few
//! hundred rows whatever the number of attempts.

use muster_domain::Millis;
use sqlx::Row;

use crate::sql::{Sql, literal};
use crate::users::{Scope, effective_scope};
use crate::{Conn, Result};

pub const HOUR_MS: Millis = 3_600_000;

/// The outcomes a login attempt is counted under. A failure that locked the
/// account counts as `failure` and once more as `lockout`.
pub const OUTCOMES: [&str; 3] = ["success", "failure", "lockout"];

/// What a reason ends with when the failed attempt locked the account
/// (services::auth::record_failure writes it, for a wrong password or a wrong
/// second-factor code; the migration's trigger matches it).
pub const LOCKOUT_REASON_SUFFIX: &str = "account locked";

/// The attempts of one hour with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    /// The hour's first millisecond (UTC).
    pub hour: Millis,
    pub outcome: String,
    pub n: i64,
}

/// The attempts of the hours from `since` (rounded down to its hour) that
/// `scope` may see. Every organization, or one: the trigger-kept rows. Several
/// but not all: counted from `login_attempts` (a member of two would be
/// counted twice by adding their rows), with the members as they are now.
pub async fn hourly(conn: &mut Conn, scope: &Scope, since: Millis) -> Result<Vec<HourCount>> {
    let since = since - since.rem_euclid(HOUR_MS);
    let org = match effective_scope(conn, scope).await? {
        Scope::System => 0,
        Scope::Organizations(ids) => match ids.as_slice() {
            [] => return Ok(Vec::new()),
            [one] => *one,
            many => return counted(conn, Some(many), since).await,
        },
    };
    let mut sql = Sql::new("SELECT hour, outcome, n FROM login_attempt_hours WHERE hour >= ");
    sql.int(since)
        .push(" AND organization_id = ")
        .int(org)
        .push(" ORDER BY hour, outcome");
    rows_of(sql.query().fetch_all(&mut *conn).await?)
}

/// The same numbers counted from `login_attempts` itself: the attempts of the
/// members of `orgs` now (every attempt when `None`), from `since` on. The
/// path for a scope of several organizations, and the check of the rollup.
pub async fn counted(conn: &mut Conn, orgs: Option<&[i64]>, since: Millis) -> Result<Vec<HourCount>> {
    let since = since - since.rem_euclid(HOUR_MS);
    let mut members = Sql::new("");
    if let Some(orgs) = orgs {
        members.push(" AND user_id IN (SELECT user_id FROM user_organizations WHERE organization_id IN ");
        members.int_list(orgs).push(")");
    }
    let members = members.text;
    let mut sql = Sql::new("SELECT hour, outcome, COUNT(*) FROM (SELECT at - at % ");
    sql.int(HOUR_MS)
        .push(" AS hour, CASE WHEN success = 1 THEN 'success' ELSE 'failure' END AS outcome FROM login_attempts WHERE at >= ")
        .int(since)
        .push(&members)
        .push(" UNION ALL SELECT at - at % ")
        .int(HOUR_MS)
        .push(" AS hour, 'lockout' AS outcome FROM login_attempts WHERE at >= ")
        .int(since)
        .push(&members)
        .push(" AND success = 0 AND reason LIKE ")
        .push(&lockout_pattern())
        .push(") a GROUP BY hour, outcome ORDER BY hour, outcome");
    rows_of(sql.query().fetch_all(&mut *conn).await?)
}

/// `'%account locked'`, as the migration's trigger writes it.
fn lockout_pattern() -> String {
    literal(&format!("%{LOCKOUT_REASON_SUFFIX}"))
}

fn rows_of(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<HourCount>> {
    rows.iter()
        .map(|r| {
            Ok(HourCount {
                hour: r.try_get(0)?,
                outcome: r.try_get(1)?,
                n: r.try_get(2)?,
            })
        })
        .collect()
}

/// Count the rollup from scratch, after a bulk load that set its trigger
/// aside (`muster seed --login-attempts`).
pub async fn rebuild(conn: &mut Conn) -> Result<()> {
    sqlx::query("DELETE FROM login_attempt_hours")
        .execute(&mut *conn)
        .await?;
    let mut sql = Sql::new(
        "INSERT INTO login_attempt_hours (hour, organization_id, outcome, n) SELECT hour, org, outcome, COUNT(*) FROM (",
    );
    let mut first = true;
    for org in ["0", "m.organization_id"] {
        let join = if org == "0" {
            ""
        } else {
            " JOIN user_organizations m ON m.user_id = a.user_id"
        };
        for lockout in [false, true] {
            if !first {
                sql.push(" UNION ALL ");
            }
            first = false;
            let outcome = if lockout {
                "'lockout'"
            } else {
                "CASE WHEN a.success = 1 THEN 'success' ELSE 'failure' END"
            };
            sql.push(&format!(
                "SELECT a.at - a.at % {HOUR_MS} AS hour, CAST({org} AS BIGINT) AS org, {outcome} AS outcome \
                 FROM login_attempts a{join} WHERE 1 = 1"
            ));
            if lockout {
                sql.push(" AND a.success = 0 AND a.reason LIKE ")
                    .push(&lockout_pattern());
            }
        }
    }
    sql.push(") d GROUP BY hour, org, outcome");
    sql.query().execute(&mut *conn).await?;
    Ok(())
}
