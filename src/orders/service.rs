//! Order use cases: one transaction each — load, check rules and permissions, write,
//! record history, enqueue notifications.

use super::model::OrderCard;
use super::repo;
use super::rules::{self, OrderFacts};
use super::status::OrderStatus;
use crate::auth::model::StaffUser;
use crate::catalog::form::Answer;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::server::db::{stored_json, write_tx};
use sqlx::{SqliteConnection, SqlitePool};

/// What every permission decision about one order needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderAccess {
    pub order_id: i64,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub version: i64,
    pub is_draft: bool,
    pub resident_id: i64,
}

async fn access(conn: &mut SqliteConnection, order_id: i64) -> AppResult<Option<OrderAccess>> {
    Ok(sqlx::query_as(
        "select order_id, status, assignee_id, version, is_draft, resident_id from orders where order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(conn)
    .await?)
}

/// The order if this staff member may see it; otherwise «not found» (an assigned-only role
/// never learns that another order exists).
pub async fn visible_order(
    conn: &mut SqliteConnection,
    staff: &StaffUser,
    order_id: i64,
) -> AppResult<OrderAccess> {
    match access(conn, order_id).await? {
        Some(a)
            if staff
                .permissions
                .can_see_order(staff.staff_id, a.assignee_id) =>
        {
            Ok(a)
        }
        _ => Err(AppError::NotFound),
    }
}

/// The order if this staff member may change it.
pub async fn editable_order(
    conn: &mut SqliteConnection,
    staff: &StaffUser,
    order_id: i64,
) -> AppResult<OrderAccess> {
    let a = visible_order(conn, staff, order_id).await?;
    if !staff
        .permissions
        .can_edit_order(staff.staff_id, a.assignee_id)
    {
        return Err(AppError::Forbidden);
    }
    if a.is_draft {
        return Err(AppError::rule("Сначала оформите черновик как заказ"));
    }
    Ok(a)
}

/// The columns of [`OrderFacts`] for the order `o` joined with its service `s`: one
/// definition for the facts alone and for the card, which reads them in its own row.
macro_rules! facts_columns {
    () => {
        "(select count(*) from invoices where order_id = o.order_id and status <> 'cancelled') as invoices, \
         (select count(*) from invoices where order_id = o.order_id and status in ('draft', 'active')) as unpaid, \
         (select count(*) from attachments where order_id = o.order_id and deleted_at is null) as attachments_count, \
         s.require_attachment, \
         (select coalesce(sum(total_kopecks), 0) from invoices where order_id = o.order_id and status = 'paid' \
            and paid_method in ('card', 'sbp')) \
           - (select coalesce(sum(amount_kopecks), 0) from refunds where order_id = o.order_id and state <> 'failed') \
           as card_money_kept"
    };
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    invoices: i64,
    unpaid: i64,
    attachments_count: i64,
    require_attachment: bool,
    card_money_kept: i64,
}

impl From<FactsRow> for OrderFacts {
    fn from(r: FactsRow) -> Self {
        OrderFacts {
            invoices: r.invoices as u32,
            unpaid_invoices: r.unpaid as u32,
            attachments: r.attachments_count as u32,
            require_attachment: r.require_attachment,
            card_money_kept: r.card_money_kept,
        }
    }
}

/// Invoices and attachments as the status rules see them.
pub async fn facts(conn: &mut SqliteConnection, order_id: i64) -> AppResult<OrderFacts> {
    let row: FactsRow = sqlx::query_as(concat!(
        "select ",
        facts_columns!(),
        " from orders o join services s on s.service_id = o.service_id where o.order_id = ?"
    ))
    .bind(order_id)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

#[derive(sqlx::FromRow)]
struct CardRow {
    order_id: i64,
    version: i64,
    status: String,
    service_name: String,
    provider_name: String,
    client_name: String,
    phone: String,
    address: String,
    visit_at: Option<i64>,
    answers: String,
    created_at: i64,
    updated_at: i64,
    assignee_id: Option<i64>,
    assignee_name: Option<String>,
    rating: Option<i64>,
    rating_comment: String,
    total_kopecks: i64,
    costs_kopecks: i64,
    is_draft: bool,
    #[sqlx(flatten)]
    facts: FactsRow,
    /// JSON arrays: the employees who can be assigned, the files, the resident's photos.
    assignees: String,
    attachments: String,
    photos: String,
}

pub async fn card(pool: &SqlitePool, staff: &StaffUser, order_id: i64) -> AppResult<OrderCard> {
    let mut conn = pool.acquire().await?;
    let a = visible_order(&mut conn, staff, order_id).await?;
    card_of(&mut conn, staff, &a).await
}

/// The card of an order the caller has found visible to this staff member.
pub async fn card_of(
    conn: &mut SqliteConnection,
    staff: &StaffUser,
    a: &OrderAccess,
) -> AppResult<OrderCard> {
    // One statement for the whole card: each statement is a round trip to the
    // connection's thread, which costs more than the reading itself.
    let row: CardRow = sqlx::query_as(concat!(
        "select o.order_id, o.version, o.status, s.name as service_name, le.name as provider_name, \
         r.full_name as client_name, r.phone, p.address, o.visit_at, o.answers, o.created_at, o.updated_at, \
         o.assignee_id, a.full_name as assignee_name, o.rating, o.rating_comment, o.total_kopecks, o.costs_kopecks, o.is_draft, ",
        facts_columns!(),
        ", (select json_group_array(json_array(st.staff_id, st.full_name) order by st.full_name) \
            from staff st join roles ro on ro.role_id = st.role_id \
            where st.active = 1 and ro.orders_scope <> 'none') as assignees, \
         (select json_group_array(json_object('attachment_id', f.attachment_id, 'file_name', f.file_name, \
            'content_type', f.content_type, 'size_bytes', f.size_bytes, 'uploaded_by', fs.full_name, \
            'uploaded_by_id', fs.staff_id, 'created_at', f.created_at) order by f.attachment_id) \
            from attachments f join staff fs on fs.staff_id = f.staff_id \
            where f.order_id = o.order_id and f.deleted_at is null) as attachments, \
         (select json_group_array(json_object('upload_id', u.upload_id, 'file_name', u.file_name) order by u.upload_id) \
            from uploads u where u.order_id = o.order_id) as photos \
         from orders o join services s on s.service_id = o.service_id \
         join legal_entities le on le.legal_entity_id = s.legal_entity_id \
         join residents r on r.resident_id = o.resident_id join premises p on p.premises_id = o.premises_id \
         left join staff a on a.staff_id = o.assignee_id where o.order_id = ?"
    ))
    .bind(a.order_id)
    .fetch_one(&mut *conn)
    .await?;
    let answers: Vec<Answer> = serde_json::from_str(&row.answers).unwrap_or_default();
    Ok(OrderCard {
        order_id: row.order_id,
        version: row.version,
        status: repo::status(&row.status)?,
        service_name: row.service_name,
        provider_name: row.provider_name,
        client_name: row.client_name,
        phone_masked: rules::mask_phone(&row.phone),
        address: row.address,
        visit_at: row.visit_at,
        answers,
        created_at: row.created_at,
        updated_at: row.updated_at,
        assignee_id: row.assignee_id,
        assignee_name: row.assignee_name,
        rating: row.rating.map(|r| r.clamp(1, 5) as u8),
        rating_text: Some(row.rating_comment),
        total: Money::from_kopecks(row.total_kopecks),
        costs: Money::from_kopecks(row.costs_kopecks),
        finance: staff
            .permissions
            .allows(crate::auth::permissions::Action::Finance),
        facts: row.facts.into(),
        can_edit: staff
            .permissions
            .can_edit_order(staff.staff_id, row.assignee_id),
        assignees: stored_json(&row.assignees)?,
        attachments: stored_json(&row.attachments)?,
        client_photos: stored_json(&row.photos)?,
        is_draft: row.is_draft,
    })
}

/// The change asked for in «Состояние заказа».
#[derive(Debug, Clone)]
pub struct StateChange {
    pub order_id: i64,
    /// The version the employee saw; a newer one means someone else saved first.
    pub version: i64,
    pub status: OrderStatus,
    pub assignee_id: Option<i64>,
    pub comment: String,
}

pub const CONFLICT_MESSAGE: &str =
    "Заказ изменён другим сотрудником. Обновите страницу и повторите";

/// Saves status and assignee with history and notifications; refuses what the rules refuse.
pub async fn change_state(
    pool: &SqlitePool,
    staff: &StaffUser,
    change: StateChange,
    now: i64,
) -> AppResult<()> {
    let comment = change.comment.trim().to_owned();
    if comment.chars().count() > 2000 {
        return Err(AppError::validation("Комментарий длиннее 2000 символов"));
    }
    let mut tx = write_tx(pool).await?;
    let current = editable_order(&mut tx, staff, change.order_id).await?;
    if current.version != change.version {
        return Err(AppError::Conflict(CONFLICT_MESSAGE.into()));
    }
    let from = repo::status(&current.status)?;
    let facts = facts(&mut tx, change.order_id).await?;
    if let Some(msg) = rules::status_change_error(from, change.status, &comment, &facts) {
        return Err(AppError::Rule(msg));
    }
    let status_changed = from != change.status;
    let assignee_changed = current.assignee_id != change.assignee_id;
    if !status_changed && !assignee_changed {
        return Err(AppError::validation("Измените статус или ответственного"));
    }
    if let Some(new_assignee) = change.assignee_id.filter(|_| assignee_changed) {
        let ok: Option<(i64,)> = sqlx::query_as(
            "select s.staff_id from staff s join roles r on r.role_id = s.role_id \
             where s.staff_id = ? and s.active = 1 and r.orders_scope <> 'none'",
        )
        .bind(new_assignee)
        .fetch_optional(&mut *tx)
        .await?;
        if ok.is_none() {
            return Err(AppError::validation(
                "Этого сотрудника нельзя назначить ответственным",
            ));
        }
    }
    let updated = sqlx::query(
        "update orders set status = ?, assignee_id = ?, version = version + 1, updated_at = ?, \
         resident_changed_at = case when ? then max(?, resident_seen_at + 1) else resident_changed_at end \
         where order_id = ? and version = ?",
    )
    .bind(change.status.as_db())
    .bind(change.assignee_id)
    .bind(now)
    .bind(status_changed)
    .bind(now)
    .bind(change.order_id)
    .bind(change.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(AppError::Conflict(CONFLICT_MESSAGE.into()));
    }
    if status_changed {
        sqlx::query(
            "insert into order_history (order_id, at, staff_id, kind, from_status, to_status, comment, visible_to_resident) \
             values (?, ?, ?, 'status', ?, ?, ?, 1)",
        )
        .bind(change.order_id)
        .bind(now)
        .bind(staff.staff_id)
        .bind(from.as_db())
        .bind(change.status.as_db())
        .bind(&comment)
        .execute(&mut *tx)
        .await?;
        enqueue(
            &mut tx,
            "status_changed",
            change.order_id,
            None,
            Some(current.resident_id),
            now,
        )
        .await?;
        if change.status == OrderStatus::Done {
            crate::receipts::service::order_done(&mut tx, change.order_id, now).await?;
            enqueue(
                &mut tx,
                "rating_requested",
                change.order_id,
                None,
                Some(current.resident_id),
                now,
            )
            .await?;
        }
    }
    if assignee_changed {
        sqlx::query(
            "insert into order_history (order_id, at, staff_id, kind, from_assignee_id, to_assignee_id, comment) \
             values (?, ?, ?, 'assignee', ?, ?, ?)",
        )
        .bind(change.order_id)
        .bind(now)
        .bind(staff.staff_id)
        .bind(current.assignee_id)
        .bind(change.assignee_id)
        .bind(if status_changed { "" } else { comment.as_str() })
        .execute(&mut *tx)
        .await?;
        if let Some(a) = change.assignee_id {
            enqueue(&mut tx, "assigned", change.order_id, Some(a), None, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Something the resident sees changed: the request becomes unread.
pub async fn touch_for_resident(
    conn: &mut SqliteConnection,
    order_id: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "update orders set resident_changed_at = max(?, resident_seen_at + 1) where order_id = ?",
    )
    .bind(now)
    .bind(order_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A change the resident sees: the notification event and the unread mark, together.
pub async fn tell_resident(
    conn: &mut SqliteConnection,
    event: &str,
    order_id: i64,
    resident_id: i64,
    now: i64,
) -> AppResult<()> {
    enqueue(&mut *conn, event, order_id, None, Some(resident_id), now).await?;
    touch_for_resident(conn, order_id, now).await
}

/// Writes a notification event to the outbox, in the caller's transaction.
pub async fn enqueue(
    conn: &mut SqliteConnection,
    event: &str,
    order_id: i64,
    staff_id: Option<i64>,
    resident_id: Option<i64>,
    now: i64,
) -> AppResult<()> {
    sqlx::query("insert into outbox (event, order_id, staff_id, resident_id, created_at) values (?, ?, ?, ?, ?)")
        .bind(event)
        .bind(order_id)
        .bind(staff_id)
        .bind(resident_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The client's phone, once the order is in work; every view is recorded.
pub async fn reveal_phone(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
    now: i64,
) -> AppResult<String> {
    let mut tx = write_tx(pool).await?;
    let a = visible_order(&mut tx, staff, order_id).await?;
    if !rules::phone_visible(repo::status(&a.status)?) {
        return Err(AppError::rule(
            "Телефон будет виден, когда заказ перейдёт в статус «В работе»",
        ));
    }
    let phone: String = sqlx::query_scalar("select phone from residents where resident_id = ?")
        .bind(a.resident_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("insert into phone_views (order_id, staff_id, at) values (?, ?, ?)")
        .bind(order_id)
        .bind(staff.staff_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(phone)
}

/// Adds an internal note («Комментарии»).
pub async fn add_comment(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
    body: &str,
    now: i64,
) -> AppResult<()> {
    let body = body.trim();
    if body.is_empty() {
        return Err(AppError::validation("Напишите комментарий"));
    }
    if body.chars().count() > 4000 {
        return Err(AppError::validation("Комментарий длиннее 4000 символов"));
    }
    crate::text::check_text(body).map_err(AppError::Validation)?;
    let mut tx = write_tx(pool).await?;
    editable_order(&mut tx, staff, order_id).await?;
    sqlx::query(
        "insert into order_comments (order_id, staff_id, body, created_at) values (?, ?, ?, ?)",
    )
    .bind(order_id)
    .bind(staff.staff_id)
    .bind(body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
