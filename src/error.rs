//! The one error type of the application. Users see a short Russian message; causes go
//! to the log only.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Войдите в систему")]
    Unauthorized,
    #[error("Недостаточно прав для этого действия")]
    Forbidden,
    #[error("Не найдено")]
    NotFound,
    /// Bad input: the message says what to fix.
    #[error("{0}")]
    Validation(String),
    /// A rule of the domain refuses the change (the message explains which).
    #[error("{0}")]
    Rule(String),
    /// Someone else changed the record first.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// A form with errors next to its fields: (field key, message).
    #[error("Проверьте поля формы")]
    Fields(Vec<(String, String)>),
    #[error("Внутренняя ошибка сервера. Попробуйте ещё раз позже")]
    Internal,
    #[error("Нет связи с сервером. Проверьте подключение и попробуйте ещё раз")]
    Transport,
}

impl AppError {
    pub fn validation(msg: impl Into<String>) -> Self {
        AppError::Validation(msg.into())
    }

    pub fn rule(msg: impl Into<String>) -> Self {
        AppError::Rule(msg.into())
    }

    /// Logs an internal cause and returns the opaque error users see.
    #[cfg(feature = "ssr")]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        AppError::Internal
    }

    /// The HTTP status that fits this error.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Validation(_) | AppError::Rule(_) | AppError::Fields(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::RateLimited(_) => 429,
            AppError::Internal | AppError::Transport => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::validation("Не все поля заполнены верно")
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Transport,
            other => {
                #[cfg(feature = "ssr")]
                tracing::error!(error = %other, "server function failure");
                #[cfg(not(feature = "ssr"))]
                let _ = other;
                AppError::Internal
            }
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => AppError::NotFound,
            other => AppError::internal(other),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::migrate::MigrateError> for AppError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        AppError::internal(e)
    }
}

/// Result alias used across the crate.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(feature = "ssr")]
pub trait DbResultExt<T> {
    /// Maps a violated unique constraint on `table.column` to a user-facing error.
    fn on_unique(self, column: &str, err: AppError) -> Result<T, AppError>;
}

#[cfg(feature = "ssr")]
impl<T> DbResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique(self, column: &str, err: AppError) -> Result<T, AppError> {
        match self {
            Err(sqlx::Error::Database(db))
                if db.is_unique_violation() && db.message().contains(column) =>
            {
                Err(err)
            }
            other => other.map_err(AppError::from),
        }
    }
}
