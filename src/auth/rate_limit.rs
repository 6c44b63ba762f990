//! Limits on failed sign-ins and on code requests, per account and per address, counted
//! in the database so that they hold across restarts and processes.

use crate::error::{AppError, AppResult};
use sqlx::SqlitePool;

/// At most `max` events under one key within `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

pub const PASSWORD_PER_ACCOUNT: Limit = Limit {
    max: 5,
    window_secs: 15 * 60,
};
pub const PASSWORD_PER_IP: Limit = Limit {
    max: 30,
    window_secs: 15 * 60,
};
pub const CODE_CHECK_PER_PHONE: Limit = Limit {
    max: 10,
    window_secs: 15 * 60,
};
pub const CODE_CHECK_PER_IP: Limit = Limit {
    max: 30,
    window_secs: 15 * 60,
};
pub const CODE_REQUEST_PER_PHONE: Limit = Limit {
    max: 5,
    window_secs: 60 * 60,
};
pub const CODE_REQUEST_PER_IP: Limit = Limit {
    max: 20,
    window_secs: 60 * 60,
};

/// Checks every limit and, when all allow it, counts one event under each key — in one
/// write transaction, so parallel requests cannot all pass the check before any counts.
/// Returns the ids of the events counted (see `forget`).
pub async fn hit(pool: &SqlitePool, keys: &[(&str, Limit)], now: i64) -> AppResult<Vec<i64>> {
    let mut tx = crate::server::db::write_tx(pool).await?;
    for (key, limit) in keys {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "select count(*), min(at) from auth_attempts where attempt_key = ? and at > ?",
        )
        .bind(key)
        .bind(now - limit.window_secs)
        .fetch_one(&mut *tx)
        .await?;
        if count >= limit.max {
            let retry_at = oldest.unwrap_or(now) + limit.window_secs;
            let minutes = ((retry_at - now).max(1) + 59) / 60;
            return Err(AppError::RateLimited(format!(
                "Слишком много попыток. Попробуйте через {minutes} мин."
            )));
        }
    }
    let mut ids = Vec::with_capacity(keys.len());
    for (key, _) in keys {
        let id: i64 = sqlx::query_scalar(
            "insert into auth_attempts (attempt_key, at) values (?, ?) returning auth_attempt_id",
        )
        .bind(key)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// Uncounts events counted by `hit` (a sign-in that succeeded is no failed attempt).
pub async fn forget(pool: &SqlitePool, ids: &[i64]) -> AppResult<()> {
    for id in ids {
        sqlx::query("delete from auth_attempts where auth_attempt_id = ?")
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Forgets the events under `key` (after a successful sign-in).
pub async fn clear(pool: &SqlitePool, key: &str) -> AppResult<()> {
    sqlx::query("delete from auth_attempts where attempt_key = ?")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes events older than a day.
pub async fn prune(pool: &SqlitePool, now: i64) -> AppResult<()> {
    sqlx::query("delete from auth_attempts where at < ?")
        .bind(now - 86_400)
        .execute(pool)
        .await?;
    Ok(())
}
