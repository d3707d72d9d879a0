//! How many rows the next transaction of a long series takes (a mass
//! enable/disable, the mass reset job): on SQLite each transaction holds the
//! one writer for its whole length, and every sign-in, which writes, waits
//! for it. The same batch costs more on a loaded machine or a bigger table
//! (1,000 status flips took 300 ms instead of 50), so the size follows what
//! the last batch took: halved while one takes over twice the target, grown
//! toward the target (2 to 8 times) while one takes under half of it, between
//! a floor and a ceiling.
//! PostgreSQL locks only the batch's own rows: there the size stays at the
//! ceiling, as smaller batches would only cost commits (100-user batches made
//! a 27,000-user disable 3.7 times slower than one statement).

use std::time::Duration;

use muster_store::{Backend, Store};

/// The size of the next batch of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize {
    size: usize,
    floor: usize,
    ceiling: usize,
    target: Duration,
    adapts: bool,
}

impl BatchSize {
    /// A series on `backend` that starts with `first` rows a batch on SQLite,
    /// and keeps each batch near `target` there, within `floor..=ceiling`.
    pub fn new(backend: Backend, first: usize, floor: usize, ceiling: usize, target: Duration) -> BatchSize {
        let ceiling = ceiling.max(1);
        let floor = floor.clamp(1, ceiling);
        let adapts = backend == Backend::Sqlite;
        BatchSize {
            size: if adapts { first.clamp(floor, ceiling) } else { ceiling },
            floor,
            ceiling,
            target,
            adapts,
        }
    }

    pub fn get(&self) -> usize {
        self.size
    }

    /// The last batch held the writer for `took` and has committed: the next
    /// one is sized, and waits for the returned gap before it begins
    /// ([`Store::let_other_writers_in`]), so no series of a writer forgets it.
    pub fn committed<'s>(&mut self, took: Duration, store: &'s Store) -> impl Future<Output = ()> + 's {
        self.took(took);
        store.let_other_writers_in()
    }

    /// The last batch held the writer for `took`.
    fn took(&mut self, took: Duration) {
        if !self.adapts {
            return;
        }
        if took > 2 * self.target {
            self.size = (self.size / 2).max(self.floor);
        } else if took < self.target / 2 {
            // toward the target in one step rather than by doubling (each
            // batch costs a commit and a gap for waiting writers): a batch's
            // time is about proportional to its rows
            let factor = (self.target.as_micros() / took.as_micros().max(1)).clamp(2, 8);
            let factor = usize::try_from(factor).unwrap_or(2);
            self.size = self.size.saturating_mul(factor).min(self.ceiling);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn on_sqlite_a_slow_batch_halves_the_next_and_a_quick_one_grows_it_toward_the_target() {
        let mut b = BatchSize::new(Backend::Sqlite, 100, 25, 500, 50 * MS);
        assert_eq!(b.get(), 100);
        b.took(101 * MS);
        assert_eq!(b.get(), 50);
        b.took(300 * MS);
        b.took(300 * MS);
        assert_eq!(b.get(), 25, "never under the floor");
        b.took(60 * MS);
        assert_eq!(b.get(), 25, "near the target: kept");
        b.took(20 * MS);
        assert_eq!(b.get(), 50, "at 40% of the target: doubled");
        b.took(5 * MS);
        assert_eq!(b.get(), 400, "at a tenth of the target: 8 times at most");
        for _ in 0..10 {
            b.took(5 * MS);
        }
        assert_eq!(b.get(), 500, "never over the ceiling");
    }

    #[test]
    fn on_postgresql_the_size_stays_at_the_ceiling() {
        let mut b = BatchSize::new(Backend::Postgres, 100, 25, 500, 50 * MS);
        assert_eq!(b.get(), 500);
        b.took(10_000 * MS);
        assert_eq!(b.get(), 500);
    }

    #[test]
    fn bounds_out_of_order_still_give_a_size() {
        let b = BatchSize::new(Backend::Sqlite, 0, 0, 0, 50 * MS);
        assert_eq!(b.get(), 1);
        let b = BatchSize::new(Backend::Sqlite, 10, 300, 200, 50 * MS);
        assert_eq!(b.get(), 200);
    }
}
