//! The resident's requests on the server: every query is bounded to the signed-in
//! resident, so another resident's order is simply not found.

use super::api::{
    RequestEvent, RequestInvoice, RequestPhoto, RequestRow, RequestView, RequestsList, Submitted,
};
use super::rules::{self, InvoiceState, RequestsSort};
use crate::catalog::form::{check_form, Answer, RawValues, Strictness};
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::orders::status::OrderStatus;
use crate::orders::{repo as orders_repo, service as orders_service};
use crate::residents::repo::current_premises_id;
use crate::server::db::write_tx;
use sqlx::SqlitePool;

fn status(s: &str) -> AppResult<OrderStatus> {
    orders_repo::status(s)
}

pub async fn list(
    pool: &SqlitePool,
    resident_id: i64,
    query: &str,
    sort: Option<RequestsSort>,
) -> AppResult<RequestsList> {
    let sort = match sort {
        Some(s) => {
            sqlx::query("update residents set requests_sort = ? where resident_id = ?")
                .bind(s.as_db())
                .bind(resident_id)
                .execute(pool)
                .await?;
            s
        }
        None => {
            let saved: String =
                sqlx::query_scalar("select requests_sort from residents where resident_id = ?")
                    .bind(resident_id)
                    .fetch_one(pool)
                    .await?;
            RequestsSort::from_db(&saved)
        }
    };
    let Some(premises_id) = current_premises_id(pool, resident_id).await? else {
        return Ok(RequestsList {
            sort,
            address: None,
            rows: Vec::new(),
            unread: 0,
        });
    };
    let address: String = sqlx::query_scalar("select address from premises where premises_id = ?")
        .bind(premises_id)
        .fetch_one(pool)
        .await?;
    // A resident's requests for one premises are few: fetched whole (by the
    // (resident_id, premises_id, order_id) index), then searched and sorted here.
    let found: Vec<(i64, String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "select o.order_id, o.status, s.name, o.created_at, o.total_kopecks, o.resident_changed_at, o.resident_seen_at \
         from orders o join services s on s.service_id = o.service_id \
         where o.resident_id = ? and o.premises_id = ? and o.is_draft = 0",
    )
    .bind(resident_id)
    .bind(premises_id)
    .fetch_all(pool)
    .await?;
    let mut rows = Vec::with_capacity(found.len());
    for (order_id, st, service_name, created_at, total, changed, seen) in found {
        rows.push(RequestRow {
            order_id,
            status: status(&st)?,
            service_name,
            created_at,
            total: Money::from_kopecks(total),
            unread: rules::is_unread(changed, seen),
        });
    }
    let unread = rows.iter().filter(|r| r.unread).count();
    rows.retain(|r| rules::matches(query, r));
    rules::sort(&mut rows, sort);
    Ok(RequestsList {
        sort,
        address: Some(address),
        rows,
        unread,
    })
}

#[derive(sqlx::FromRow)]
struct RequestDbRow {
    order_id: i64,
    status: String,
    service_id: i64,
    service_name: String,
    provider: String,
    address: String,
    created_at: i64,
    answers: String,
    rating: Option<i64>,
    rating_comment: String,
}

/// The resident's own order, or «not found».
async fn own_order(
    conn: &mut sqlx::SqliteConnection,
    resident_id: i64,
    order_id: i64,
) -> AppResult<OrderStatus> {
    let st: Option<String> = sqlx::query_scalar(
        "select status from orders where order_id = ? and resident_id = ? and is_draft = 0",
    )
    .bind(order_id)
    .bind(resident_id)
    .fetch_optional(conn)
    .await?;
    status(&st.ok_or(AppError::NotFound)?)
}

pub async fn open(
    pool: &SqlitePool,
    resident_id: i64,
    order_id: i64,
    now: i64,
) -> AppResult<RequestView> {
    let row: Option<RequestDbRow> = sqlx::query_as(
        "select o.order_id, o.status, o.service_id, s.name as service_name, le.name as provider, p.address, \
         o.created_at, o.answers, o.rating, o.rating_comment \
         from orders o join services s on s.service_id = o.service_id \
         join legal_entities le on le.legal_entity_id = o.legal_entity_id \
         join premises p on p.premises_id = o.premises_id \
         where o.order_id = ? and o.resident_id = ? and o.is_draft = 0",
    )
    .bind(order_id)
    .bind(resident_id)
    .fetch_optional(pool)
    .await?;
    let row = row.ok_or(AppError::NotFound)?;
    // Opening marks it read: seen is never behind the last change the resident can see.
    // Written only when something was unread, so opening writes nothing (no live event).
    let _ = now;
    crate::chat::service::resident_read_order(pool, resident_id, order_id).await?;
    let history: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
        "select at, kind, to_status, comment from order_history \
         where order_id = ? and visible_to_resident = 1 order by history_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let history = history
        .into_iter()
        .map(|(at, kind, to_status, comment)| RequestEvent {
            at,
            text: event_text(&kind, to_status.as_deref()),
            comment,
        })
        .collect();
    let invoices: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "select invoice_id, total_kopecks, status, refunded_kopecks from invoices where order_id = ? order by invoice_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let invoices = invoices
        .into_iter()
        .filter_map(|(invoice_id, total, st, refunded)| {
            InvoiceState::of(&st, total, refunded).map(|state| RequestInvoice {
                invoice_id,
                total: Money::from_kopecks(total),
                state,
            })
        })
        .collect();
    let photos: Vec<(i64, String)> = sqlx::query_as(
        "select upload_id, file_name from uploads where order_id = ? order by upload_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    Ok(RequestView {
        order_id: row.order_id,
        status: status(&row.status)?,
        service_id: row.service_id,
        service_name: row.service_name,
        provider: row.provider,
        address: row.address,
        created_at: row.created_at,
        answers: serde_json::from_str::<Vec<Answer>>(&row.answers).unwrap_or_default(),
        photos: photos
            .into_iter()
            .map(|(upload_id, file_name)| RequestPhoto {
                upload_id,
                file_name,
            })
            .collect(),
        history,
        invoices,
        rating: row.rating.map(|r| r.clamp(1, 5) as u8),
        rating_comment: row.rating_comment,
        refund: {
            let mut conn = pool.acquire().await?;
            crate::refunds::service::offer(&mut conn, order_id).await?
        },
        receipts: {
            let mut conn = pool.acquire().await?;
            crate::receipts::service::links(&mut conn, order_id).await?
        },
    })
}

/// How a history line reads for the resident.
fn event_text(kind: &str, to_status: Option<&str>) -> String {
    match (kind, to_status.and_then(OrderStatus::from_db)) {
        ("created", _) => "Заявка создана".into(),
        ("status", Some(s)) => format!("Статус: {}", s.label()),
        (other, _) => other.to_owned(),
    }
}

pub struct SubmitInput {
    pub service_id: i64,
    pub values: RawValues,
    pub submit_key: String,
}

fn valid_submit_key(key: &str) -> bool {
    (8..=64).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub async fn submit(
    pool: &SqlitePool,
    resident_id: i64,
    input: SubmitInput,
    offset_minutes: i32,
    now: i64,
) -> AppResult<Submitted> {
    if !valid_submit_key(&input.submit_key) {
        return Err(AppError::validation(
            "Форма устарела, обновите страницу и отправьте ещё раз",
        ));
    }
    let premises_id = current_premises_id(pool, resident_id)
        .await?
        .ok_or_else(|| AppError::validation("Сначала выберите помещение в профиле"))?;
    let mut tx = write_tx(pool).await?;
    // A repeated submission (double tap, retried request) finds the order it created.
    let existing: Option<i64> =
        sqlx::query_scalar("select order_id from orders where resident_id = ? and submit_key = ?")
            .bind(resident_id)
            .bind(&input.submit_key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(order_id) = existing {
        let pay_invoice_id: Option<i64> = sqlx::query_scalar(
            "select invoice_id from invoices where order_id = ? and status = 'active' order by invoice_id limit 1",
        )
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
        return Ok(Submitted {
            order_id,
            pay_invoice_id,
        });
    }
    let service = crate::catalog::repo::orderable(&mut tx, input.service_id).await?;
    let checked = check_form(
        &service.fields,
        &input.values,
        Strictness::SubmitWithPhotos,
        offset_minutes,
        now,
    )
    .map_err(AppError::Fields)?;
    for (key, upload_id) in &checked.photos {
        let free: Option<i64> = sqlx::query_scalar(
            "select upload_id from uploads where upload_id = ? and resident_id = ? and order_id is null",
        )
        .bind(upload_id)
        .bind(resident_id)
        .fetch_optional(&mut *tx)
        .await?;
        if free.is_none() {
            return Err(AppError::Fields(vec![(
                key.clone(),
                "Фото не загрузилось, приложите его ещё раз".into(),
            )]));
        }
    }
    let answers = serde_json::to_string(&checked.answers).map_err(AppError::internal)?;
    let order_id: i64 = sqlx::query_scalar(
        "insert into orders (status, service_id, legal_entity_id, resident_id, premises_id, assignee_id, answers, \
         visit_at, created_at, updated_at, resident_changed_at, resident_seen_at, submit_key) \
         values ('waiting', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning order_id",
    )
    .bind(input.service_id)
    .bind(service.legal_entity_id)
    .bind(resident_id)
    .bind(premises_id)
    .bind(service.default_assignee_id)
    .bind(&answers)
    .bind(checked.visit_at)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(&input.submit_key)
    .fetch_one(&mut *tx)
    .await?;
    for (key, upload_id) in &checked.photos {
        sqlx::query("update uploads set order_id = ?, field_key = ? where upload_id = ?")
            .bind(order_id)
            .bind(key)
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "insert into order_history (order_id, at, resident_id, kind, to_status, to_assignee_id, visible_to_resident) \
         values (?, ?, ?, 'created', 'waiting', ?, 1)",
    )
    .bind(order_id)
    .bind(now)
    .bind(resident_id)
    .bind(service.default_assignee_id)
    .execute(&mut *tx)
    .await?;
    orders_service::enqueue(
        &mut tx,
        "new_order",
        order_id,
        service.default_assignee_id,
        None,
        now,
    )
    .await?;
    orders_repo::index_order(&mut tx, order_id).await?;
    // Prepaid services: the invoice is created and activated in the same transaction and
    // the resident goes straight to paying it.
    let pay_invoice_id = if service.prepaid {
        let answer = service
            .fields
            .iter()
            .find(|f| f.kind == crate::catalog::form::FieldKind::Number)
            .and_then(|f| checked.answers.iter().find(|a| a.key == f.key));
        let quantity = answer.and_then(|a| a.value.parse::<i64>().ok());
        // A number that would make an absurd invoice is refused next to its field, and the
        // order is not created (the transaction is dropped).
        crate::invoices::service::create_prepaid(
            &mut tx,
            order_id,
            input.service_id,
            resident_id,
            quantity,
            now,
        )
        .await
        .map_err(|e| match (e, answer) {
            (AppError::Validation(m), Some(a)) => AppError::Fields(vec![(a.key.clone(), m)]),
            (e, _) => e,
        })?
    } else {
        None
    };
    tx.commit().await?;
    Ok(Submitted {
        order_id,
        pay_invoice_id,
    })
}

pub async fn rate(
    pool: &SqlitePool,
    resident_id: i64,
    order_id: i64,
    stars: u8,
    comment: &str,
    now: i64,
) -> AppResult<()> {
    let comment = comment.trim();
    let mut tx = write_tx(pool).await?;
    let st = own_order(&mut tx, resident_id, order_id).await?;
    if let Some(e) = rules::rating_error(st, stars, comment) {
        return Err(AppError::rule(e));
    }
    sqlx::query(
        "update orders set rating = ?, rating_comment = ?, rated_at = ?, updated_at = ? \
         where order_id = ? and resident_id = ?",
    )
    .bind(i64::from(stars))
    .bind(comment)
    .bind(now)
    .bind(now)
    .bind(order_id)
    .bind(resident_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into order_history (order_id, at, resident_id, kind, comment) values (?, ?, ?, ?, ?)",
    )
    .bind(order_id)
    .bind(now)
    .bind(resident_id)
    .bind(format!("Оценка клиента: {stars} из 5"))
    .bind(comment)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
