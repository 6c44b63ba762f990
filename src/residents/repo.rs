//! SQL for residents' premises.

use super::api::PremisesItem;
use crate::error::{AppError, AppResult};
use sqlx::SqlitePool;

pub async fn premises_of(pool: &SqlitePool, resident_id: i64) -> AppResult<Vec<PremisesItem>> {
    let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "select p.premises_id, p.address, r.current_premises_id from resident_premises rp \
         join premises p on p.premises_id = rp.premises_id \
         join residents r on r.resident_id = rp.resident_id \
         where rp.resident_id = ? order by p.address",
    )
    .bind(resident_id)
    .fetch_all(pool)
    .await?;
    let current = current_premises(&rows);
    Ok(rows
        .into_iter()
        .map(|(premises_id, address, _)| PremisesItem {
            premises_id,
            address,
            selected: Some(premises_id) == current,
        })
        .collect())
}

/// The chosen premises, or the first one when none is chosen (or the choice is stale).
fn current_premises(rows: &[(i64, String, Option<i64>)]) -> Option<i64> {
    let chosen = rows.first().and_then(|r| r.2);
    match chosen {
        Some(id) if rows.iter().any(|r| r.0 == id) => Some(id),
        _ => rows.first().map(|r| r.0),
    }
}

/// The premises the resident's lists follow.
pub async fn current_premises_id(pool: &SqlitePool, resident_id: i64) -> AppResult<Option<i64>> {
    let items = premises_of(pool, resident_id).await?;
    Ok(items
        .into_iter()
        .find(|p| p.selected)
        .map(|p| p.premises_id))
}

pub async fn select_premises(
    pool: &SqlitePool,
    resident_id: i64,
    premises_id: i64,
) -> AppResult<()> {
    let owned: Option<(i64,)> = sqlx::query_as(
        "select premises_id from resident_premises where resident_id = ? and premises_id = ?",
    )
    .bind(resident_id)
    .bind(premises_id)
    .fetch_optional(pool)
    .await?;
    if owned.is_none() {
        return Err(AppError::NotFound);
    }
    sqlx::query("update residents set current_premises_id = ? where resident_id = ?")
        .bind(premises_id)
        .bind(resident_id)
        .execute(pool)
        .await?;
    Ok(())
}
