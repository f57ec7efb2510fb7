//! What can go wrong in the store, in terms the domain can act on.

use tricircle_common::Error;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (duplicate region, routing or
    /// job key).
    #[error("unique constraint violated: {0}")]
    Duplicate(String),
    /// A foreign key refused the write or delete (unknown pod, pod in use).
    #[error("foreign key constraint violated: {0}")]
    ForeignKey(String),
    /// The row exists but is in a state that forbids the change.
    #[error("conflicting state: {0}")]
    State(String),
    /// The database cannot be reached or has no free connection.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A bad URL or an unusable path.
    #[error("{0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Anything else: a bug or a corrupt row.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Duplicate(db.message().to_string())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::ForeignKey(db.message().to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            _ => StoreError::Other(e),
        }
    }
}

/// The default translation for errors the domain does not handle itself:
/// the client learns that the database is away, never why.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                Error::unavailable("The gateway's database is unavailable; retry later.", e)
            }
            other => Error::internal(other),
        }
    }
}
