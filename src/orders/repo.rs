//! SQL for orders.

use super::api::{OrderRow, RequestRow};
use super::status::OrderStatus;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use sqlx::SqlitePool;

type OrderTuple = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
);

fn status(s: &str) -> AppResult<OrderStatus> {
    OrderStatus::from_db(s).ok_or_else(|| AppError::internal(format!("unknown order status {s}")))
}

/// Newest non-draft orders, optionally only those assigned to one staff member.
pub async fn latest_orders(
    pool: &SqlitePool,
    assignee: Option<i64>,
    limit: i64,
) -> AppResult<Vec<OrderRow>> {
    let rows: Vec<OrderTuple> = sqlx::query_as(
        "select o.order_id, o.status, s.name, r.full_name, p.address, o.created_at, o.updated_at, \
         o.total_kopecks, a.full_name from orders o \
         join services s on s.service_id = o.service_id \
         join residents r on r.resident_id = o.resident_id \
         join premises p on p.premises_id = o.premises_id \
         left join staff a on a.staff_id = o.assignee_id \
         where o.is_draft = 0 and (?1 is null or o.assignee_id = ?1) \
         order by o.order_id desc limit ?2",
    )
    .bind(assignee)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(
            |(
                order_id,
                st,
                service_name,
                client_name,
                address,
                created_at,
                updated_at,
                total,
                assignee_name,
            )| {
                Ok(OrderRow {
                    order_id,
                    status: status(&st)?,
                    service_name,
                    client_name,
                    address,
                    created_at,
                    updated_at,
                    total: Money::from_kopecks(total),
                    assignee_name,
                })
            },
        )
        .collect()
}

pub async fn resident_requests(
    pool: &SqlitePool,
    resident_id: i64,
    premises_id: i64,
) -> AppResult<Vec<RequestRow>> {
    let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        "select o.order_id, o.status, s.name, o.created_at, o.total_kopecks from orders o \
         join services s on s.service_id = o.service_id \
         where o.resident_id = ? and o.premises_id = ? and o.is_draft = 0 \
         order by o.order_id desc limit 200",
    )
    .bind(resident_id)
    .bind(premises_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(order_id, st, service_name, created_at, total)| {
            Ok(RequestRow {
                order_id,
                status: status(&st)?,
                service_name,
                created_at,
                total: Money::from_kopecks(total),
            })
        })
        .collect()
}
