//! `muster seed`: realistic fake users (names, statuses in realistic
//! proportions, organizations, roles, owned records) for demos and
//! benchmarks. One Argon2 hash serves every seeded user.

use indicatif::ProgressBar;
use muster_domain::{AuthStatus, Role};
use muster_store::seed::{self, SeedUser};
use muster_store::{Store, organizations};

use crate::clock;
use crate::error::AppResult;

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Amelia",
    "Noah",
    "Olivia",
    "Liam",
    "Emma",
    "Mateo",
    "Sofia",
    "Lucas",
    "Mia",
    "Hugo",
    "Chloe",
    "Yuki",
    "Hana",
    "Wei",
    "Li",
    "Aarav",
    "Ananya",
    "Omar",
    "Fatima",
    "Lars",
    "Ingrid",
    "Pierre",
    "Camille",
    "Giulia",
    "Marco",
    "Anna",
    "Jan",
    "Eva",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Tanaka",
    "Suzuki",
    "Wang",
    "Chen",
    "Patel",
    "Sharma",
    "Haddad",
    "Larsen",
    "Dubois",
    "Rossi",
    "Novak",
    "Kowalski",
    "Muller",
    "Schmidt",
    "O'Brien",
    "van Dijk",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "corp.example", "mail.example"];
const KINDS: &[&str] = &["contact", "task", "opportunity", "account", "lead"];
const ORGS: &[&str] = &["Main", "Europe", "Americas", "Asia"];

/// splitmix64: fast, deterministic, good enough for fake data (never for secrets).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[usize::try_from(self.below(xs.len() as u64)).unwrap_or(0)]
    }

    /// true with probability `per_mille`/1000
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

pub struct SeedReport {
    pub users: i64,
    pub records: i64,
}

pub async fn run(
    store: &Store,
    users: i64,
    records: i64,
    password_hash: &str,
    show_progress: bool,
) -> AppResult<SeedReport> {
    let now = clock::now();
    let mut conn = store.conn().await?;
    let mut orgs = Vec::new();
    for name in ORGS {
        let o = match organizations::find_by_name(&mut conn, name).await? {
            Some(o) => o,
            None => organizations::create(&mut conn, name, now).await?,
        };
        orgs.push((o.id, o.name));
    }
    // The first administrator sees the whole demo: add them to every seeded organization.
    if let Some(admin) = muster_store::users::find_by_username(&mut conn, "admin").await? {
        let mut ids = muster_store::users::organization_ids(&mut conn, admin.id).await?;
        ids.extend(orgs.iter().map(|(id, _)| *id));
        ids.sort_unstable();
        ids.dedup();
        muster_store::users::set_organizations(&mut conn, admin.id, &ids).await?;
    }
    let first_id = seed::next_id(&mut conn, "users").await?;
    drop(conn);

    let bar = if show_progress {
        crate::progress::bar(
            u64::try_from(users + records).unwrap_or(0),
            "users",
            crate::progress::Counting::Items("rows"),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut rng = Rng(0x5EED ^ u64::try_from(first_id).unwrap_or(0));
    let five_years = 5 * 365 * 86_400_000_i64;
    const BATCH: i64 = 500;
    // Into a (nearly) empty database, build the indexes once at the end.
    let defer = users >= 10_000 && first_id <= users / 10;
    let mut id = first_id;
    let end = first_id + users;
    // The same users, in the same order, whichever way they are written.
    let mut user_batch = |rng: &mut Rng| {
        if id >= end {
            return None;
        }
        let n = BATCH.min(end - id);
        let mut batch = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for _ in 0..n {
            batch.push(fake_user(rng, id, now, five_years, &orgs));
            id += 1;
        }
        bar.inc(u64::try_from(n).unwrap_or(0));
        Some(batch)
    };
    let (first_record, rid) = if store.backend == muster_store::Backend::Postgres {
        // COPY on a connection of its own, in one transaction (seed::PgLoad)
        let mut load = seed::PgLoad::begin(store).await?;
        let deferred = if defer { Some(load.defer_indexes().await?) } else { None };
        load.users(password_hash, || user_batch(&mut rng)).await?;
        bar.set_message("records");
        let first_record = load.next_id("records").await?;
        let mut records = RecordBatches::new(first_record, records, first_id, users, &orgs, now, five_years);
        load.records(|| records.next(&mut rng, &bar)).await?;
        if let Some(deferred) = deferred {
            bar.set_message("indexes");
            load.restore_indexes(deferred).await?;
        }
        load.commit().await?;
        (first_record, records.rid)
    } else {
        // One transaction: a seed that fails leaves nothing half-done (and no index missing).
        let mut tx = store.begin().await?;
        // random-order index keys thrash SQLite's default 2 MB page cache
        sqlx::query("PRAGMA cache_size = -262144").execute(&mut *tx).await?;
        let deferred = if defer {
            Some(seed::defer_indexes(&mut tx, store.backend).await?)
        } else {
            None
        };
        while let Some(batch) = user_batch(&mut rng) {
            seed::insert_users(&mut tx, &batch, password_hash).await?;
        }
        bar.set_message("records");
        let first_record = seed::next_id(&mut tx, "records").await?;
        let mut records = RecordBatches::new(first_record, records, first_id, users, &orgs, now, five_years);
        while let Some(batch) = records.next(&mut rng, &bar) {
            seed::insert_records(&mut tx, &batch).await?;
        }
        if let Some(deferred) = deferred {
            bar.set_message("indexes");
            seed::restore_indexes(&mut tx, deferred).await?;
        }
        tx.commit().await?;
        (first_record, records.rid)
    };
    bar.finish_and_clear();
    seed::fix_sequences(store).await?;
    // what was made, not what was asked for
    Ok(SeedReport {
        users: id - first_id,
        records: rid - first_record,
    })
}

/// Records in batches of 2,000, each owned by a random seeded user.
struct RecordBatches<'a> {
    rid: i64,
    end: i64,
    first_user: i64,
    users: i64,
    orgs: &'a [(i64, String)],
    now: i64,
    span: i64,
}

impl<'a> RecordBatches<'a> {
    fn new(
        first_record: i64,
        records: i64,
        first_user: i64,
        users: i64,
        orgs: &'a [(i64, String)],
        now: i64,
        span: i64,
    ) -> Self {
        RecordBatches {
            rid: first_record,
            end: first_record + records,
            first_user,
            users,
            orgs,
            now,
            span,
        }
    }

    fn next(&mut self, rng: &mut Rng, bar: &ProgressBar) -> Option<Vec<seed::SeedRecord>> {
        if self.rid >= self.end || self.users <= 0 {
            return None;
        }
        let n = 2000.min(self.end - self.rid);
        let mut batch = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for _ in 0..n {
            let owner = self.first_user + i64::try_from(rng.below(u64::try_from(self.users).unwrap_or(1))).unwrap_or(0);
            // the owner's first organization, as fake_user made it
            let org = self.orgs[usize::try_from(owner % 4).unwrap_or(0)].0;
            let kind = rng.pick(KINDS);
            let at = self.now - i64::try_from(rng.below(u64::try_from(self.span).unwrap_or(1))).unwrap_or(0);
            let rid = self.rid;
            batch.push((rid, kind, format!("{} #{rid}", capitalize(kind)), owner, org, at));
            self.rid += 1;
        }
        bar.inc(u64::try_from(n).unwrap_or(0));
        Some(batch)
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn fake_user(rng: &mut Rng, id: i64, now: i64, span: i64, orgs: &[(i64, String)]) -> SeedUser {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let slug = |s: &str| s.to_lowercase().replace(['\'', ' '], "");
    let username = format!("{}.{}{}", slug(first), slug(last), id);
    let email = format!("{}.{}.{}@{}", slug(first), slug(last), id, rng.pick(DOMAINS));
    let created_at = now - i64::try_from(rng.below(u64::try_from(span).unwrap_or(1))).unwrap_or(0);
    let updated_at = created_at + i64::try_from(rng.below(u64::try_from(now - created_at).unwrap_or(1))).unwrap_or(0);
    let enabled = !rng.chance(80);
    let auth_status = match rng.below(1000) {
        0..30 => AuthStatus::Locked,
        30..50 => AuthStatus::PasswordReset,
        _ => AuthStatus::Active,
    };
    let roles = match rng.below(1000) {
        0..5 => vec![Role::Administrator],
        5..35 => vec![Role::UserManager],
        _ => vec![Role::User],
    };
    // id % 4 picks the first organization, so records can find it again; 10% belong to a second one
    let primary = usize::try_from(id % 4).unwrap_or(0);
    let mut organizations = vec![orgs[primary].clone()];
    if rng.chance(100) {
        let other = (primary + 1 + usize::try_from(rng.below(3)).unwrap_or(0)) % orgs.len();
        organizations.push(orgs[other].clone());
    }
    organizations.sort_by(|a, b| a.1.cmp(&b.1));
    let never = rng.chance(150);
    SeedUser {
        id,
        username,
        email,
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        enabled,
        auth_status,
        failed_login_count: if auth_status == AuthStatus::Locked {
            10
        } else {
            i64::try_from(rng.below(3)).unwrap_or(0)
        },
        login_count: if never {
            0
        } else {
            i64::try_from(rng.below(2000)).unwrap_or(0)
        },
        last_login_at: if never { None } else { Some(updated_at) },
        created_at,
        updated_at,
        roles,
        organizations,
    }
}
