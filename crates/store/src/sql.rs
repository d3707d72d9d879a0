//! A small builder for SQL made at run time with `$n` placeholders, which
//! both SQLite and PostgreSQL understand through the `Any` driver.

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Any, Arguments};

#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Null,
}

#[derive(Debug, Default, Clone)]
pub struct Sql {
    pub text: String,
    args: Vec<Arg>,
    /// Where each placeholder sits in `text` (start, end); text is only ever appended to.
    marks: Vec<(usize, usize)>,
    /// A value is written into `text` ([`Sql::int`], [`Sql::int_list`]): see [`Sql::query`].
    values_in_text: bool,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
            marks: Vec::new(),
            values_in_text: false,
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Append a placeholder bound to `arg`.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        let start = self.text.len();
        self.text.push_str(&format!("${n}"));
        self.marks.push((start, self.text.len()));
        self
    }

    /// The bound values, in placeholder order (`$1` first).
    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// The statement with each placeholder replaced by `literal(value)`, for a
    /// statement that takes no parameters (PostgreSQL's `COPY`).
    pub fn inlined(&self, literal: impl Fn(&Arg) -> String) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        let mut at = 0;
        for ((start, end), arg) in self.marks.iter().zip(&self.args) {
            out.push_str(&self.text[at..*start]);
            out.push_str(&literal(arg));
            at = *end;
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// An integer, written into the text (see [`Sql::int_list`] for why).
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.values_in_text = true;
        self.text.push_str(&v.to_string());
        self
    }

    pub fn str(&mut self, v: impl Into<String>) -> &mut Self {
        self.bind(Arg::Text(v.into()))
    }

    /// `(…, …)` of integers, written into the text; callers make sure the
    /// list is not empty. Integers are never placeholders: SQLite finds a
    /// `$n` parameter by a linear search of the names, so preparing
    /// `id IN ($1 … $10000)` costs 10,000² string compares (measured: 90% of
    /// a 10,000-user mass reset); and a literal `LIMIT 25` informs the
    /// planner. An `i64` cannot carry anything but digits and a sign.
    pub fn int_list(&mut self, values: &[i64]) -> &mut Self {
        self.values_in_text = true;
        self.text.reserve(values.len() * 8 + 2);
        self.text.push('(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.text.push_str(&v.to_string());
        }
        self.push(")")
    }

    pub fn arguments(&self) -> AnyArguments {
        let mut a = AnyArguments::default();
        for arg in &self.args {
            // Adding a value to AnyArguments cannot fail for these types.
            let _ = match arg {
                Arg::Text(v) => a.add(v.clone()),
                Arg::Null => a.add(Option::<i64>::None),
            };
        }
        a
    }

    /// The statement, kept in the connection's statement cache only if its
    /// text can recur. sqlx caches 100 prepared statements per connection by
    /// their text, and on SQLite each holds its compiled program in the
    /// process: an `IN` list of 10,000 ids compiles to ~30,000 instructions
    /// (≈ 0.7 MB with the text, which sqlx and SQLite each keep), and a cursor
    /// (`id > 41234`) or a timestamp makes a new text every time. Such
    /// statements, never run twice, filled each connection's cache (the
    /// SQLite/PostgreSQL gap in the mixed load, docs/memory.md "Third pass");
    /// preparing them once per run is what happens anyway.
    pub fn query(&self) -> Query<'_, Any, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text.clone()), self.arguments()).persistent(!self.values_in_text)
    }

    /// [`Sql::query`] for rows read into `O`.
    pub fn query_as<O>(&self) -> QueryAs<'_, Any, O, AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(sqlx::AssertSqlSafe(self.text.clone()), self.arguments()).persistent(!self.values_in_text)
    }

    /// [`Sql::query`] for a single column.
    pub fn query_scalar<O>(&self) -> QueryScalar<'_, Any, O, AnyArguments>
    where
        (O,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.text.clone()), self.arguments())
            .persistent(!self.values_in_text)
    }
}

/// A standard SQL string literal (quotes doubled), for bulk loads of data
/// muster generated itself: binding thousands of parameters per statement is
/// slower than the insert (sqlx resolves `$n` names per parameter), while a
/// literal is parsed once by the database. Never used for user input.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_contains(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Execute;

    /// Whether sqlx keeps the statement in the connection's cache.
    fn kept<'q>(q: &impl Execute<'q, Any>) -> bool {
        q.persistent()
    }

    #[test]
    fn only_a_text_without_values_in_it_is_kept_prepared() {
        let mut placeholders = Sql::new("SELECT id FROM users WHERE username = ");
        placeholders.str("ann");
        assert!(kept(&placeholders.query()));
        assert!(kept(&placeholders.query_scalar::<i64>()));

        let mut ids = Sql::new("DELETE FROM sessions WHERE user_id IN ");
        ids.int_list(&[1, 2, 3]);
        assert!(!kept(&ids.query()));
        assert!(!kept(&ids.query_as::<(i64, String)>()));

        let mut cursor = Sql::new("SELECT id FROM users WHERE id > ");
        cursor.int(41_234);
        assert!(!kept(&cursor.query_scalar::<i64>()));
    }
}
