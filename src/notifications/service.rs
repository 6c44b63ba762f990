//! Delivery of outbox events: recipients and channels are worked out, and the in-app
//! notification, the e-mail and the push messages are written in the same transaction
//! that marks the event processed — so each reaches each recipient on each channel once,
//! however often the worker runs or restarts.

use super::api::NotificationItem;
use super::rules::{link, text, Channel, NotificationSettings, StaffEvent};
use crate::error::AppResult;
use crate::orders::status::OrderStatus;
use crate::server::db::write_tx;
use sqlx::{SqliteConnection, SqlitePool};

/// Events handled per transaction.
const BATCH: i64 = 100;

type OutboxRow = (
    i64,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// One person to notify and how.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recipient {
    key: String,
    staff: bool,
    email: Option<String>,
    channels: Vec<Channel>,
}

/// Delivers pending outbox events; returns how many were processed.
pub async fn deliver_outbox(pool: &SqlitePool, public_url: &str, now: i64) -> AppResult<usize> {
    let mut tx = write_tx(pool).await?;
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "select outbox_id, event, order_id, dialogue_id, staff_id, resident_id from outbox \
         where processed_at is null order by outbox_id limit ?",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (outbox_id, event, order_id, dialogue_id, staff_id, resident_id) in &rows {
        let (service, status, assignee) = about(&mut tx, *order_id, *dialogue_id).await?;
        let body = text(event, *order_id, &service, &status);
        for r in recipients(&mut tx, event, *staff_id, *resident_id, assignee).await? {
            let path = link(r.staff, *order_id, *dialogue_id);
            for channel in &r.channels {
                match channel {
                    Channel::App => {
                        sqlx::query(
                            "insert into notifications (recipient, outbox_id, event, order_id, dialogue_id, text, created_at) \
                             values (?, ?, ?, ?, ?, ?, ?) on conflict (outbox_id, recipient) do nothing",
                        )
                        .bind(&r.key)
                        .bind(outbox_id)
                        .bind(event)
                        .bind(order_id)
                        .bind(dialogue_id)
                        .bind(&body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Channel::Email => {
                        if let Some(to) = &r.email {
                            let mail = format!("{body}\n\nОткрыть: {public_url}{path}\n");
                            let key = format!("notification-{outbox_id}-{}", r.key);
                            crate::mail::enqueue(&mut tx, to, &body, &mail, &key, now).await?;
                        }
                    }
                    Channel::Push => {
                        let payload =
                            serde_json::json!({ "title": "СУЗ", "body": body, "url": path })
                                .to_string();
                        sqlx::query(
                            "insert into push_messages (subscription_id, outbox_id, payload, created_at) \
                             select ps.subscription_id, ?, ?, ? from push_subscriptions ps \
                             join sessions se on se.token_hash = ps.session_hash \
                             where ps.recipient = ? and se.expires_at > ? \
                             on conflict (outbox_id, subscription_id) do nothing",
                        )
                        .bind(outbox_id)
                        .bind(&payload)
                        .bind(now)
                        .bind(&r.key)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
        }
        sqlx::query("update outbox set processed_at = ? where outbox_id = ?")
            .bind(now)
            .bind(outbox_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// The service name, status label and assignee of the event's order or dialogue.
async fn about(
    tx: &mut SqliteConnection,
    order_id: Option<i64>,
    dialogue_id: Option<i64>,
) -> AppResult<(String, String, Option<i64>)> {
    if let Some(o) = order_id {
        let row: Option<(String, String, Option<i64>)> = sqlx::query_as(
            "select s.name, o.status, o.assignee_id from orders o join services s on s.service_id = o.service_id \
             where o.order_id = ?",
        )
        .bind(o)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((service, status, assignee)) = row {
            let label = OrderStatus::from_db(&status)
                .map(|s| s.label())
                .unwrap_or_default();
            return Ok((service, label.to_owned(), assignee));
        }
    }
    if let Some(d) = dialogue_id {
        let service: Option<String> = sqlx::query_scalar(
            "select s.name from dialogues d join services s on s.service_id = d.service_id where d.dialogue_id = ?",
        )
        .bind(d)
        .fetch_optional(&mut *tx)
        .await?;
        return Ok((service.unwrap_or_default(), String::new(), None));
    }
    Ok((String::new(), String::new(), None))
}

async fn recipients(
    tx: &mut SqliteConnection,
    event: &str,
    staff_id: Option<i64>,
    resident_id: Option<i64>,
    assignee: Option<i64>,
) -> AppResult<Vec<Recipient>> {
    let mut out = Vec::new();
    if let Some(r) = resident_id {
        // Residents hear about their own orders in the app and by push.
        out.push(Recipient {
            key: format!("r{r}"),
            staff: false,
            email: None,
            channels: vec![Channel::App, Channel::Push],
        });
    }
    let Some(kind) = StaffEvent::of_outbox(event) else {
        return Ok(out);
    };
    type StaffRow = (i64, String, String, String, bool);
    let staff: Vec<StaffRow> = if event == "dialogue_message" {
        sqlx::query_as(
            "select s.staff_id, s.email, r.notification_settings, r.orders_scope, r.clients_chat \
             from staff s join roles r on r.role_id = s.role_id where s.active = 1 and r.clients_chat = 1",
        )
        .fetch_all(&mut *tx)
        .await?
    } else if let Some(id) = staff_id {
        sqlx::query_as(
            "select s.staff_id, s.email, r.notification_settings, r.orders_scope, r.clients_chat \
             from staff s join roles r on r.role_id = s.role_id where s.active = 1 and s.staff_id = ?",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
    } else if event == "client_message" {
        // Nobody is assigned: whoever sees all orders and may answer hears of it.
        sqlx::query_as(
            "select s.staff_id, s.email, r.notification_settings, r.orders_scope, r.clients_chat \
             from staff s join roles r on r.role_id = s.role_id \
             where s.active = 1 and r.orders_scope = 'all' and r.orders_edit = 1",
        )
        .fetch_all(&mut *tx)
        .await?
    } else {
        Vec::new()
    };
    for (id, email, settings, scope, _) in staff {
        let settings = NotificationSettings::parse(&settings);
        // An order event reaches only those who may still see the order.
        if event != "dialogue_message" {
            let scope = crate::auth::permissions::OrdersScope::from_db(&scope);
            let sees = match scope {
                crate::auth::permissions::OrdersScope::All => true,
                crate::auth::permissions::OrdersScope::Assigned => assignee == Some(id),
                crate::auth::permissions::OrdersScope::None => false,
            };
            if !sees {
                continue;
            }
        }
        let channels: Vec<Channel> = Channel::ALL
            .into_iter()
            .filter(|c| settings.allows(kind, *c))
            .collect();
        if !channels.is_empty() {
            out.push(Recipient {
                key: format!("s{id}"),
                staff: true,
                email: Some(email),
                channels,
            });
        }
    }
    Ok(out)
}

/// The person's newest notifications.
pub async fn list(
    pool: &SqlitePool,
    recipient: &str,
    staff: bool,
) -> AppResult<Vec<NotificationItem>> {
    type Row = (i64, String, Option<i64>, Option<i64>, i64, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "select notification_id, text, order_id, dialogue_id, created_at, read_at from notifications \
         where recipient = ? order by notification_id desc limit 100",
    )
    .bind(recipient)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, text, order_id, dialogue_id, at, read_at)| NotificationItem {
                notification_id: id,
                text,
                at,
                read: read_at.is_some(),
                link: link(staff, order_id, dialogue_id),
            },
        )
        .collect())
}

pub async fn unread_count(pool: &SqlitePool, recipient: &str) -> AppResult<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from notifications where recipient = ? and read_at is null",
    )
    .bind(recipient)
    .fetch_one(pool)
    .await?)
}

/// Marks one notification read and returns where it leads (someone else's: not found).
pub async fn open(
    pool: &SqlitePool,
    recipient: &str,
    staff: bool,
    id: i64,
    now: i64,
) -> AppResult<String> {
    let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "select order_id, dialogue_id from notifications where notification_id = ? and recipient = ?",
    )
    .bind(id)
    .bind(recipient)
    .fetch_optional(pool)
    .await?;
    let (order_id, dialogue_id) = row.ok_or(crate::error::AppError::NotFound)?;
    sqlx::query(
        "update notifications set read_at = ? where notification_id = ? and read_at is null",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(link(staff, order_id, dialogue_id))
}

pub async fn read_all(pool: &SqlitePool, recipient: &str, now: i64) -> AppResult<()> {
    sqlx::query("update notifications set read_at = ? where recipient = ? and read_at is null")
        .bind(now)
        .bind(recipient)
        .execute(pool)
        .await?;
    Ok(())
}
