//! SQL for the catalog.

use super::api::CategoryTile;
use crate::error::AppResult;
use sqlx::SqlitePool;

pub async fn categories(pool: &SqlitePool) -> AppResult<Vec<CategoryTile>> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "select c.category_id, c.name, c.background, c.icon, count(s.service_id) from categories c \
         join services s on s.category_id = c.category_id and s.published = 1 \
         group by c.category_id order by c.position, c.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(category_id, name, background, icon, services)| CategoryTile {
                category_id,
                name,
                background,
                icon,
                services,
            },
        )
        .collect())
}
