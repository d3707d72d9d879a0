//! The whole state of the users grid, read from and written to the URL's
//! query string, so a grid can be bookmarked, shared and saved as a view.

use muster_domain::{Selection, SortDir, SortField, UserFilter, UserSort, View};

/// A column of the grid: its URL key, its header and the field it sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub key: &'static str,
    pub label: &'static str,
    pub sort: SortField,
}

pub const COLUMNS: [Column; 11] = [
    Column {
        key: "first_name",
        label: "First name",
        sort: SortField::FirstName,
    },
    Column {
        key: "last_name",
        label: "Last name",
        sort: SortField::LastName,
    },
    Column {
        key: "email",
        label: "Email",
        sort: SortField::Email,
    },
    Column {
        key: "username",
        label: "Username",
        sort: SortField::Username,
    },
    Column {
        key: "enabled",
        label: "Enabled",
        sort: SortField::Enabled,
    },
    Column {
        key: "status",
        label: "Status",
        sort: SortField::AuthStatus,
    },
    Column {
        key: "organizations",
        label: "Organizations",
        sort: SortField::Organizations,
    },
    Column {
        key: "roles",
        label: "Roles",
        sort: SortField::Roles,
    },
    Column {
        key: "created_at",
        label: "Created at",
        sort: SortField::CreatedAt,
    },
    Column {
        key: "updated_at",
        label: "Updated at",
        sort: SortField::UpdatedAt,
    },
    Column {
        key: "last_login",
        label: "Last login",
        sort: SortField::LastLoginAt,
    },
];

/// Shown when the URL names no columns.
const DEFAULT_COLUMNS: [&str; 9] = [
    "first_name",
    "last_name",
    "email",
    "username",
    "enabled",
    "status",
    "organizations",
    "roles",
    "created_at",
];

pub const PAGE_SIZES: [i64; 4] = [10, 25, 50, 100];
const DEFAULT_PAGE_SIZE: i64 = 25;

/// The grid: which users (a [`Selection`]) and how they are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridState {
    pub selection: Selection,
    /// The admin's own saved view this state came from, to highlight its tab.
    pub saved: Option<i64>,
    pub columns: Vec<&'static str>,
    pub page: i64,
    pub size: i64,
    /// Parts of the URL that could not be understood; they were ignored.
    pub problems: Vec<String>,
}

impl Default for GridState {
    fn default() -> Self {
        GridState::from_pairs(&[])
    }
}

impl GridState {
    /// Read the state from query pairs. Nothing here fails: what cannot be
    /// understood is ignored and named in `problems`. The selection is read
    /// by the domain's one parser of the query syntax.
    pub fn from_pairs(pairs: &[(String, String)]) -> GridState {
        let (selection, problems) = Selection::from_query(pairs);
        let mut s = GridState {
            selection,
            saved: None,
            columns: DEFAULT_COLUMNS.to_vec(),
            page: 1,
            size: DEFAULT_PAGE_SIZE,
            problems,
        };
        let mut columns = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "saved" => s.saved = v.parse().ok(),
                "col" => {
                    if let Some(c) = COLUMNS.iter().find(|c| c.key == v)
                        && !columns.contains(&c.key)
                    {
                        columns.push(c.key);
                    }
                }
                "page" => s.page = v.parse::<i64>().unwrap_or(1).max(1),
                "size" => {
                    let n = v.parse::<i64>().unwrap_or(DEFAULT_PAGE_SIZE);
                    s.size = if PAGE_SIZES.contains(&n) { n } else { DEFAULT_PAGE_SIZE };
                }
                _ => {}
            }
        }
        if !columns.is_empty() {
            // keep the grid's column order whatever order the URL gives
            s.columns = COLUMNS.iter().map(|c| c.key).filter(|k| columns.contains(k)).collect();
        }
        s
    }

    pub fn from_query(q: &str) -> GridState {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        GridState::from_pairs(&pairs)
    }

    /// The state as query pairs: the selection's, then columns and page
    /// size; `with_page` adds page and `saved`.
    pub fn pairs(&self, with_page: bool) -> Vec<(&'static str, String)> {
        let mut out = self.selection.to_query_pairs();
        if self.columns != DEFAULT_COLUMNS {
            for c in &self.columns {
                out.push(("col", (*c).to_owned()));
            }
        }
        if self.size != DEFAULT_PAGE_SIZE {
            out.push(("size", self.size.to_string()));
        }
        if with_page {
            if let Some(id) = self.saved {
                out.push(("saved", id.to_string()));
            }
            if self.page > 1 {
                out.push(("page", self.page.to_string()));
            }
        }
        out
    }

    /// The canonical query string of filters, sort, columns and page size
    /// (what a saved view stores).
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self.pairs(false)).unwrap_or_default()
    }

    /// The URL of this state, with page and saved view.
    pub fn href(&self) -> String {
        format!(
            "/admin/users?{}",
            serde_urlencoded::to_string(self.pairs(true)).unwrap_or_default()
        )
    }

    pub fn with_page(&self, page: i64) -> GridState {
        GridState { page, ..self.clone() }
    }

    /// Sort by one column: ascending first, descending when it already sorts ascending.
    pub fn sorted_by(&self, field: SortField) -> GridState {
        let dir = match self.selection.sort.0.first() {
            Some((f, SortDir::Asc)) if *f == field => SortDir::Desc,
            _ => SortDir::Asc,
        };
        let mut s = self.clone();
        s.selection.sort = UserSort(vec![(field, dir)]);
        s.page = 1;
        s
    }

    pub fn shows(&self, key: &str) -> bool {
        self.columns.contains(&key)
    }

    pub fn view(&self) -> View {
        self.selection.filter.view.unwrap_or_default()
    }

    pub fn sort(&self) -> &UserSort {
        &self.selection.sort
    }

    pub fn filter(&self) -> UserFilter {
        self.selection.filter.clone()
    }

    /// The value of one filter key of the query syntax, as a form field shows it.
    pub fn value(&self, key: &str) -> String {
        self.selection
            .to_query_pairs()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}

/// An active filter shown as a chip over the grid, with the URL that drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    pub key: &'static str,
    pub label: &'static str,
    /// The value as the query syntax spells it (`yes`, `locked`, an organization id…);
    /// the page turns it into words.
    pub value: String,
    pub remove_href: String,
}

/// The words of a chip's filter key; `None` for the keys that are no filter
/// an administrator set in the bar (the view is a tab, the sort a column head,
/// ids and exceptions come from ticked rows).
fn chip_label(key: &str) -> Option<&'static str> {
    Some(match key {
        "q" => "Search",
        "first_name" => "First name contains",
        "last_name" => "Last name contains",
        "email" => "Email contains",
        "username" => "Username contains",
        "email_is" => "Email is",
        "username_is" => "Username is",
        "enabled" => "Enabled",
        "two_factor" => "Two-factor",
        "status" => "Status",
        "role" => "Role",
        "org" => "Organization",
        "created_from" => "Created from",
        "created_to" => "Created to",
        "updated_from" => "Updated from",
        "updated_to" => "Updated to",
        _ => return None,
    })
}

/// A link of the pager: a page number, or a gap (`None`) between distant ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLink {
    pub number: Option<i64>,
    pub href: String,
    pub current: bool,
}

/// `4613` → `4,613`: how the confirmations and totals write a count.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl GridState {
    /// One chip per filter the selection holds (a status each), in the
    /// canonical order; removing one re-reads the other pairs through the
    /// domain's one parser of the query syntax.
    pub fn chips(&self) -> Vec<Chip> {
        let pairs = self.selection.to_query_pairs();
        pairs
            .iter()
            .enumerate()
            .filter_map(|(i, (key, value))| {
                let label = chip_label(key)?;
                let rest: Vec<(String, String)> = pairs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (k, v))| ((*k).to_owned(), v.clone()))
                    .collect();
                let mut without = self.clone();
                without.selection = Selection::from_query(&rest).0;
                without.page = 1;
                Some(Chip {
                    key,
                    label,
                    value: value.clone(),
                    remove_href: without.href(),
                })
            })
            .collect()
    }

    /// The pager's numbers: the first, the last, and two either side of the
    /// current page, with gaps between (`1 … 4 5 6 7 8 … 200`).
    pub fn page_links(&self, pages: i64) -> Vec<PageLink> {
        let near = |n: i64| n == 1 || n == pages || (n - self.page).abs() <= 2;
        let mut out = Vec::new();
        for n in 1..=pages {
            if near(n) {
                out.push(PageLink {
                    number: Some(n),
                    href: self.with_page(n).href(),
                    current: n == self.page,
                });
            } else if out.last().is_some_and(|l: &PageLink| l.number.is_some()) {
                out.push(PageLink {
                    number: None,
                    href: String::new(),
                    current: false,
                });
            }
        }
        out
    }

    /// The state as hidden form fields, without the keys the form itself asks
    /// for (`page`, `size`…), so a small form (go to page, page size) keeps the rest.
    pub fn hidden_fields(&self, except: &[&str]) -> Vec<(&'static str, String)> {
        let mut pairs = self.pairs(true);
        pairs.retain(|(k, _)| !except.contains(k));
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(q).unwrap()
    }

    #[test]
    fn round_trips_through_the_url() {
        let q = "view=all&q=jo&email=ex&enabled=no&status=locked&status=password_reset&role=User+Manager\
                 &org=2&created_from=2026-01-01&sort=-createdAt&col=username&col=email&size=50&page=3&saved=7";
        let s = GridState::from_pairs(&pairs(q));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.view(), View::All);
        assert_eq!(
            s.selection.filter.auth_statuses,
            vec![
                muster_domain::AuthStatus::Locked,
                muster_domain::AuthStatus::PasswordReset
            ]
        );
        assert_eq!(s.columns, vec!["email", "username"], "grid order, not URL order");
        assert_eq!((s.page, s.size, s.saved), (3, 50, Some(7)));
        let again = GridState::from_query(s.href().trim_start_matches("/admin/users?"));
        assert_eq!(again, s);
        let f = s.filter();
        assert_eq!(f.enabled, Some(false));
        assert_eq!(f.role.as_deref(), Some("User Manager"));
        assert_eq!(f.created_from, Some(1_767_225_600_000));
        assert!(!s.query().contains("page") && !s.query().contains("saved"));
    }

    #[test]
    fn nonsense_is_ignored_and_named() {
        let s = GridState::from_pairs(&pairs(
            "view=everyone&status=gone&sort=password&size=7&page=-2&created_to=yesterday&col=password_hash",
        ));
        assert_eq!(s.view(), View::Active);
        assert_eq!((s.page, s.size), (1, 25));
        assert_eq!(s.columns, DEFAULT_COLUMNS.to_vec());
        assert_eq!(s.problems.len(), 4, "{:?}", s.problems);
        assert_eq!(s.filter().created_to, None);
    }

    #[test]
    fn sorting_a_column_toggles_its_direction() {
        let s = GridState::default().sorted_by(SortField::LastName);
        assert_eq!(s.sort().to_param(), "lastName");
        assert_eq!(s.sorted_by(SortField::LastName).sort().to_param(), "-lastName");
        assert_eq!(s.sorted_by(SortField::Email).sort().to_param(), "email");
    }

    #[test]
    fn a_chip_per_filter_and_its_cross_drops_only_that_filter() {
        let s =
            GridState::from_query("view=all&q=smith&status=locked&status=password_reset&enabled=no&sort=email&size=50");
        let chips = s.chips();
        let keys: Vec<_> = chips.iter().map(|c| (c.key, c.value.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("q", "smith"),
                ("enabled", "no"),
                ("status", "locked"),
                ("status", "password_reset")
            ]
        );
        let without_locked = GridState::from_query(chips[2].remove_href.trim_start_matches("/admin/users?"));
        assert_eq!(
            without_locked.selection.filter.auth_statuses,
            vec![muster_domain::AuthStatus::PasswordReset]
        );
        assert_eq!(without_locked.selection.filter.search.as_deref(), Some("smith"));
        assert_eq!((without_locked.view(), without_locked.size), (View::All, 50));
        assert_eq!(without_locked.sort().to_param(), "email");
        assert!(GridState::from_query("view=disabled&sort=email").chips().is_empty());
    }

    #[test]
    fn the_pager_shows_the_ends_and_the_pages_near_the_current_one() {
        let numbers = |page: i64, pages: i64| -> Vec<Option<i64>> {
            GridState::default()
                .with_page(page)
                .page_links(pages)
                .iter()
                .map(|l| l.number)
                .collect()
        };
        assert_eq!(numbers(1, 1), [Some(1)]);
        assert_eq!(numbers(1, 4), [Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(
            numbers(6, 200),
            [
                Some(1),
                None,
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(8),
                None,
                Some(200)
            ]
        );
        assert_eq!(numbers(200, 200), [Some(1), None, Some(198), Some(199), Some(200)]);
    }

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4613), "4,613");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
