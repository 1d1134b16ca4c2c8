//! Prepared SQLite statements driven through the raw handle of sqlx's connection, for the log's
//! INSERT: prepared once and kept (sqlx's path re-bound every row through owned copies), their
//! texts bound in place (`SQLITE_STATIC`) instead of copied three times (sqlx's owned
//! arguments, its channel to the connection's thread, SQLite's own copy, freed again when the
//! bindings are cleared). BEGIN and COMMIT too, on the same thread (`insert`).
//!
//! Unsafe code, as the allocator's (`common/alloc.rs`) and the vectored writes' (`iovec.rs`):
//! plain calls of SQLite's C API, each made while sqlx's connection is locked to this thread
//! (a `LockedSqliteHandle`), so no other thread uses it meanwhile.

#![expect(
    unsafe_code,
    reason = "SQLite's C API, on the connection sqlx locked for this thread"
)]

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

/// A statement prepared on one connection. It must be dropped (finalized) before sqlx closes
/// that connection, while no other statement runs on it: sqlx refuses to close a connection
/// that still has statements (it panics).
pub(super) struct Statement {
    db: NonNull<ffi::sqlite3>,
    statement: NonNull<ffi::sqlite3_stmt>,
}

// SAFETY: SQLite (in sqlx's multi-thread mode) lets a connection and its statements move
// between threads, used by one at a time; every use goes through the connection's lock (as
// sqlx's own statement handles, which are `Send` too).
unsafe impl Send for Statement {}

/// SQLite's error code and message, worded as sqlx words a database error.
#[derive(Debug)]
pub(super) struct SqliteFailure {
    code: c_int,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "error returned from database: (code: {}) {}",
            self.code, self.message
        )
    }
}

impl Statement {
    pub(super) fn prepare(
        handle: &mut LockedSqliteHandle<'_>,
        sql: &CStr,
    ) -> Result<Self, SqliteFailure> {
        let db = handle.as_raw_handle();
        let mut statement = ptr::null_mut();
        // SAFETY: `db` is open and locked to this thread; `sql` is NUL-terminated (length -1:
        // read up to the NUL); `statement` is a valid out-pointer.
        let code = unsafe {
            ffi::sqlite3_prepare_v2(
                db.as_ptr(),
                sql.as_ptr(),
                -1,
                &mut statement,
                ptr::null_mut(),
            )
        };
        match NonNull::new(statement) {
            Some(statement) if code == ffi::SQLITE_OK => Ok(Self { db, statement }),
            _ => Err(failure(db, code)),
        }
    }

    /// Whether the statement belongs to `handle`'s connection.
    pub(super) fn is_on(&self, handle: &mut LockedSqliteHandle<'_>) -> bool {
        self.db == handle.as_raw_handle()
    }

    /// The statement's parameters, to bind values that live for `'v` and run it; cleared when
    /// the returned value drops, so that no binding outlives its value. `handle` proves the
    /// connection is locked to this thread meanwhile.
    pub(super) fn bind<'s, 'v>(
        &'s mut self,
        handle: &'s mut LockedSqliteHandle<'_>,
    ) -> Bindings<'s, 'v> {
        debug_assert!(self.is_on(handle));
        Bindings {
            statement: self,
            values: PhantomData,
        }
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on this connection, is finalized once, here, and
        // is dropped while the connection is locked (`Store::close`) or idle.
        unsafe { ffi::sqlite3_finalize(self.statement.as_ptr()) };
    }
}

/// A statement's parameters while values that live for `'v` are bound to it by reference.
pub(super) struct Bindings<'s, 'v> {
    statement: &'s mut Statement,
    values: PhantomData<&'v str>,
}

impl<'v> Bindings<'_, 'v> {
    /// Binds parameter `index` (from 1) to `text`, by reference.
    pub(super) fn text(&mut self, index: c_int, text: &'v str) -> Result<(), SqliteFailure> {
        // SAFETY: the statement is live and its connection locked; `text` outlives the
        // binding (cleared on drop, before 'v ends), so SQLITE_STATIC (no copy) holds.
        let code = unsafe {
            ffi::sqlite3_bind_text64(
                self.raw(),
                index,
                text.as_ptr().cast(),
                text.len() as u64,
                ffi::SQLITE_STATIC(),
                ffi::SQLITE_UTF8 as u8,
            )
        };
        self.check(code)
    }

    pub(super) fn integer(&mut self, index: c_int, value: i64) -> Result<(), SqliteFailure> {
        // SAFETY: the statement is live and its connection locked; an integer is copied.
        let code = unsafe { ffi::sqlite3_bind_int64(self.raw(), index, value) };
        self.check(code)
    }

    pub(super) fn real(&mut self, index: c_int, value: f64) -> Result<(), SqliteFailure> {
        // SAFETY: the statement is live and its connection locked; a double is copied.
        let code = unsafe { ffi::sqlite3_bind_double(self.raw(), index, value) };
        self.check(code)
    }

    /// `bind`s `value` to parameter `index`, or NULL for `None`.
    pub(super) fn optional<T>(
        &mut self,
        index: c_int,
        value: Option<T>,
        bind: impl FnOnce(&mut Self, c_int, T) -> Result<(), SqliteFailure>,
    ) -> Result<(), SqliteFailure> {
        match value {
            Some(value) => bind(self, index, value),
            None => self.null(index),
        }
    }

    fn null(&mut self, index: c_int) -> Result<(), SqliteFailure> {
        // SAFETY: the statement is live and its connection locked.
        let code = unsafe { ffi::sqlite3_bind_null(self.raw(), index) };
        self.check(code)
    }

    /// Runs the statement (one that returns no rows) and makes it ready to run again;
    /// returns the rows it changed.
    pub(super) fn execute(&mut self) -> Result<u64, SqliteFailure> {
        // SAFETY: the statement is live, its parameters bound, its connection locked.
        let code = unsafe { ffi::sqlite3_step(self.raw()) };
        // SAFETY: as above. Reset keeps the bindings (the next row overwrites them all), and
        // after an error it keeps the connection's message, read below.
        let reset = unsafe { ffi::sqlite3_reset(self.raw()) };
        if code != ffi::SQLITE_DONE {
            return Err(failure(self.statement.db, code));
        }
        self.check(reset)?;
        // SAFETY: the connection is open and locked to this thread.
        let changed = unsafe { ffi::sqlite3_changes64(self.statement.db.as_ptr()) };
        Ok(changed.max(0) as u64)
    }

    fn raw(&self) -> *mut ffi::sqlite3_stmt {
        self.statement.statement.as_ptr()
    }

    fn check(&self, code: c_int) -> Result<(), SqliteFailure> {
        if code == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(failure(self.statement.db, code))
        }
    }
}

impl Drop for Bindings<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the statement is live and its connection still locked (the handle is
        // borrowed for as long as this value); clearing drops the references to the values.
        unsafe { ffi::sqlite3_clear_bindings(self.raw()) };
    }
}

/// The connection's last error, for `code`.
fn failure(db: NonNull<ffi::sqlite3>, code: c_int) -> SqliteFailure {
    // SAFETY: the connection is open and locked; the message is a NUL-terminated string owned
    // by SQLite, copied before any other call on the connection.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) };
    SqliteFailure {
        code,
        message: message.to_string_lossy().into_owned(),
    }
}
