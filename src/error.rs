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
    /// The request body is larger than this endpoint takes (the message names the limit).
    #[error("{0}")]
    TooLarge(String),
    /// A state-changing request that did not come from the app's own pages.
    #[error("Запрос отклонён: он отправлен не со страницы приложения. Обновите страницу и попробуйте ещё раз")]
    CrossSite,
    /// A request body of a kind this endpoint does not take.
    #[error("Неподдерживаемый формат запроса")]
    UnsupportedMediaType,
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
            AppError::Forbidden | AppError::CrossSite => 403,
            AppError::NotFound => 404,
            AppError::Validation(_) | AppError::Rule(_) | AppError::Fields(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::RateLimited(_) => 429,
            AppError::TooLarge(_) => 413,
            AppError::UnsupportedMediaType => 415,
            AppError::Internal | AppError::Transport => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // A body that does not decode into the function's arguments is the caller's
            // mistake (or an attack): a warning at most, never an internal error.
            ServerFnErrorErr::Args(cause)
            | ServerFnErrorErr::MissingArg(cause)
            | ServerFnErrorErr::Deserialization(cause) => {
                #[cfg(feature = "ssr")]
                tracing::warn!(cause = %truncated(&cause, 200), "request body refused");
                if cause.contains("length limit exceeded") {
                    AppError::TooLarge(too_large_message(MAX_SERVER_FN_BODY_BYTES))
                } else {
                    AppError::validation("Не все поля заполнены верно")
                }
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

/// The largest body a server function takes (uploads have their own routes and limits).
pub const MAX_SERVER_FN_BODY_BYTES: usize = 1024 * 1024;

/// «Запрос слишком большой: не больше 1 МБ» for a limit in bytes.
pub fn too_large_message(limit: usize) -> String {
    const MB: usize = 1024 * 1024;
    let tenths = limit * 10 / MB;
    let shown = if tenths.is_multiple_of(10) {
        format!("{} МБ", tenths / 10)
    } else {
        format!("{},{} МБ", tenths / 10, tenths % 10)
    };
    format!("Запрос слишком большой: не больше {shown}")
}

/// At most `max` characters of attacker-controlled text, for the log.
#[cfg(feature = "ssr")]
fn truncated(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
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
