//! How a SQLite connection waits for the one writer.
//!
//! SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50,
//! then 100 ms between attempts. A writer that has waited a while (a sign-in
//! behind an import) then looks only every 100 ms, and the short gaps a
//! batched writer leaves between its transactions (25 ms, see
//! [`crate::Store::let_other_writers_in`]) pass while it sleeps: measured on
//! the mixed-load bench, a sign-in waited 1.3 s during a CLI import of 4,000
//! users. This handler tries every millisecond instead, for the same total
//! time, so a waiting writer gets in at the next gap. An attempt costs a file
//! lock and a look at the WAL index: a few microseconds.
//!
//! sqlx has no hook for a busy handler, so it is installed through SQL: every
//! connection the process opens gets a function `muster_poll_busy(ms)`
//! (registered with `sqlite3_auto_extension`), which the pool's
//! `after_connect` calls where it used to set `PRAGMA busy_timeout`.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Once;
use std::time::Duration;

use libsqlite3_sys as ffi;

const POLL: Duration = Duration::from_millis(1);

/// The SQL that gives a connection this busy handler, waiting at most `ms` in all.
pub(crate) fn install_sql(ms: u32) -> String {
    format!("SELECT muster_poll_busy({ms})")
}

/// Register `muster_poll_busy` on every SQLite connection opened from now on.
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `add_function` has the entry point signature SQLite expects; registering
        // the same entry point twice is a no-op for SQLite and `Once` avoids it anyway.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(add_function)) };
        if rc != ffi::SQLITE_OK {
            tracing::warn!(
                rc,
                "SQLite's busy handler stays the default: registering muster_poll_busy failed"
            );
        }
    });
}

/// The auto-extension entry point: define `muster_poll_busy` on `db`.
unsafe extern "C" fn add_function(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened; the name is a static C string.
    // DIRECTONLY: callable from top-level SQL only, never from a trigger or a view.
    unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            c"muster_poll_busy".as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DIRECTONLY,
            std::ptr::null_mut(),
            Some(set_handler),
            None,
            None,
            None,
        )
    }
}

/// `muster_poll_busy(ms)`: install [`poll_busy`] on the calling connection; answers `ms`.
unsafe extern "C" fn set_handler(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    // SAFETY: SQLite passes `argc` values in `argv` and the context of this call; the
    // handler's argument is the limit itself (an integer in a pointer), never dereferenced.
    unsafe {
        let ms = if argc == 1 {
            ffi::sqlite3_value_int64(*argv).clamp(0, i64::from(i32::MAX))
        } else {
            0
        };
        let db = ffi::sqlite3_context_db_handle(ctx);
        ffi::sqlite3_busy_handler(db, Some(poll_busy), ms as usize as *mut c_void);
        ffi::sqlite3_result_int64(ctx, ms);
    }
}

/// Called by SQLite while another connection holds the lock: `count` earlier
/// calls for this lock; another try (1) after a millisecond, or give up (0,
/// SQLITE_BUSY) once about `limit` milliseconds have passed.
unsafe extern "C" fn poll_busy(limit: *mut c_void, count: c_int) -> c_int {
    let limit = limit as usize;
    if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
        return 0;
    }
    // SQLite calls this on the connection's own thread (sqlx's worker), which waits anyway
    std::thread::sleep(POLL);
    1
}
