//! Chat storage and rules on the server: who may read and write which conversation,
//! unread counters, notifications, idempotent sending.

use super::api::{ChatMessage, ChatPhoto, DialogueRow};
use super::rules::check_message;
use crate::auth::model::StaffUser;
use crate::error::{AppError, AppResult};
use crate::orders::service::{editable_order, tell_resident, visible_order};
use crate::server::db::write_tx;
use sqlx::{SqliteConnection, SqlitePool};

/// Who writes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Staff(i64),
    Resident(i64),
}

impl Who {
    fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            Who::Staff(id) => (Some(id), None),
            Who::Resident(id) => (None, Some(id)),
        }
    }
    /// Keys are per author, so one person's key never matches another's message.
    fn key(self, key: &str) -> Option<String> {
        let key = key.trim();
        if key.is_empty() {
            return None;
        }
        Some(match self {
            Who::Staff(id) => format!("s{id}:{key}"),
            Who::Resident(id) => format!("r{id}:{key}"),
        })
    }
}

/// Which messages to show.
#[derive(Debug, Clone, Copy)]
pub enum Conversation {
    Order(i64),
    Dialogue(i64),
}

/// Messages shown at most (the newest).
const SHOWN: i64 = 300;

type MessageRow = (
    i64,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    Option<String>,
    Option<String>,
);

/// The conversation's messages, oldest first, as `me` sees them.
pub async fn messages(
    conn: &mut SqliteConnection,
    conversation: Conversation,
    me: Who,
) -> AppResult<Vec<ChatMessage>> {
    let (sql, id) = match conversation {
        Conversation::Order(id) => (
            "select m.message_id, m.staff_id, m.resident_id, m.body, m.created_at, s.full_name, r.full_name \
             from messages m left join staff s on s.staff_id = m.staff_id \
             left join residents r on r.resident_id = m.resident_id \
             where m.order_id = ? order by m.message_id desc limit ?",
            id,
        ),
        Conversation::Dialogue(id) => (
            "select m.message_id, m.staff_id, m.resident_id, m.body, m.created_at, s.full_name, r.full_name \
             from messages m left join staff s on s.staff_id = m.staff_id \
             left join residents r on r.resident_id = m.resident_id \
             where m.dialogue_id = ? order by m.message_id desc limit ?",
            id,
        ),
    };
    let mut rows: Vec<MessageRow> = sqlx::query_as(sql)
        .bind(id)
        .bind(SHOWN)
        .fetch_all(&mut *conn)
        .await?;
    rows.reverse();
    let first = rows.first().map(|r| r.0).unwrap_or(0);
    let photos_sql = match conversation {
        Conversation::Order(_) => {
            "select p.message_id, p.photo_id, p.file_name from message_photos p \
             join messages m on m.message_id = p.message_id where m.order_id = ? and m.message_id >= ? \
             order by p.photo_id"
        }
        Conversation::Dialogue(_) => {
            "select p.message_id, p.photo_id, p.file_name from message_photos p \
             join messages m on m.message_id = p.message_id where m.dialogue_id = ? and m.message_id >= ? \
             order by p.photo_id"
        }
    };
    let photos: Vec<(i64, i64, String)> = sqlx::query_as(photos_sql)
        .bind(id)
        .bind(first)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(message_id, staff_id, resident_id, body, at, staff_name, client_name)| {
                let mine = match me {
                    Who::Staff(s) => staff_id == Some(s),
                    Who::Resident(r) => resident_id == Some(r),
                };
                let from_client = resident_id.is_some();
                ChatMessage {
                    message_id,
                    mine,
                    from_client,
                    author: if from_client {
                        client_name.unwrap_or_else(|| "Клиент".into())
                    } else {
                        staff_name.unwrap_or_else(|| "Сотрудник".into())
                    },
                    body,
                    at,
                    photos: photos
                        .iter()
                        .filter(|p| p.0 == message_id)
                        .map(|p| ChatPhoto {
                            photo_id: p.1,
                            file_name: p.2.clone(),
                        })
                        .collect(),
                }
            },
        )
        .collect())
}

/// The newest client message among `messages`.
pub fn last_client_message(messages: &[ChatMessage]) -> i64 {
    messages
        .iter()
        .filter(|m| m.from_client)
        .map(|m| m.message_id)
        .max()
        .unwrap_or(0)
}

/// Staff read a conversation up to `last`: its counter (the order list's column, the
/// dialogue list's) keeps only newer client messages. Writes nothing when nothing was
/// unread (no needless live events).
pub async fn staff_read(pool: &SqlitePool, conversation: Conversation, last: i64) -> AppResult<()> {
    let (sql, id) = match conversation {
        Conversation::Order(id) => (
            "update orders set staff_read_message_id = ?1, unread_client_messages = \
             (select count(*) from messages where order_id = ?2 and resident_id is not null and message_id > ?1) \
             where order_id = ?2 and staff_read_message_id < ?1",
            id,
        ),
        Conversation::Dialogue(id) => (
            "update dialogues set staff_read_message_id = ?1, unread_for_staff = \
             (select count(*) from messages where dialogue_id = ?2 and resident_id is not null and message_id > ?1) \
             where dialogue_id = ?2 and staff_read_message_id < ?1",
            id,
        ),
    };
    sqlx::query(sql).bind(last).bind(id).execute(pool).await?;
    Ok(())
}

/// The resident has seen the request (its chat included).
pub async fn resident_read_order(
    pool: &SqlitePool,
    resident_id: i64,
    order_id: i64,
) -> AppResult<()> {
    sqlx::query(
        "update orders set resident_seen_at = resident_changed_at \
         where order_id = ? and resident_id = ? and resident_seen_at < resident_changed_at",
    )
    .bind(order_id)
    .bind(resident_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// A retried send whose first attempt was stored.
async fn already_sent(tx: &mut SqliteConnection, who: Who, key: &str) -> AppResult<bool> {
    let Some(k) = who.key(key) else {
        return Ok(false);
    };
    let seen: Option<i64> =
        sqlx::query_scalar("select message_id from messages where client_key = ?")
            .bind(k)
            .fetch_optional(tx)
            .await?;
    Ok(seen.is_some())
}

/// Stores the message and binds its photos; `Ok(None)` when the key was already used
/// (a retried send): nothing else must happen then.
#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut SqliteConnection,
    order_id: Option<i64>,
    dialogue_id: Option<i64>,
    who: Who,
    body: &str,
    key: &str,
    photos: &[i64],
    now: i64,
) -> AppResult<Option<i64>> {
    let body = check_message(body, photos.len()).map_err(AppError::Validation)?;
    let key = who.key(key);
    if let Some(k) = &key {
        let seen: Option<i64> =
            sqlx::query_scalar("select message_id from messages where client_key = ?")
                .bind(k)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_some() {
            return Ok(None);
        }
    }
    let (staff_id, resident_id) = who.ids();
    let message_id: i64 = sqlx::query_scalar(
        "insert into messages (order_id, dialogue_id, staff_id, resident_id, body, client_key, created_at) \
         values (?, ?, ?, ?, ?, ?, ?) returning message_id",
    )
    .bind(order_id)
    .bind(dialogue_id)
    .bind(staff_id)
    .bind(resident_id)
    .bind(&body)
    .bind(&key)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    for photo in photos {
        let bound = sqlx::query(
            "update message_photos set message_id = ? where photo_id = ? and message_id is null \
             and staff_id is ? and resident_id is ?",
        )
        .bind(message_id)
        .bind(photo)
        .bind(staff_id)
        .bind(resident_id)
        .execute(&mut *tx)
        .await?;
        if bound.rows_affected() != 1 {
            return Err(AppError::validation(
                "Фото не найдено. Загрузите его ещё раз",
            ));
        }
    }
    if let Some(d) = dialogue_id {
        let unread = if resident_id.is_some() { 1 } else { 0 };
        sqlx::query("update dialogues set updated_at = ?, unread_for_staff = unread_for_staff + ? where dialogue_id = ?")
            .bind(now)
            .bind(unread)
            .bind(d)
            .execute(&mut *tx)
            .await?;
    }
    Ok(Some(message_id))
}

async fn outbox(
    tx: &mut SqliteConnection,
    event: &str,
    order_id: Option<i64>,
    dialogue_id: Option<i64>,
    staff_id: Option<i64>,
    resident_id: Option<i64>,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "insert into outbox (event, order_id, dialogue_id, staff_id, resident_id, created_at) values (?, ?, ?, ?, ?, ?)",
    )
    .bind(event)
    .bind(order_id)
    .bind(dialogue_id)
    .bind(staff_id)
    .bind(resident_id)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Staff write in the order's chat (the role's edit permission and the order's scope).
pub async fn staff_send_order(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
    body: &str,
    key: &str,
    photos: &[i64],
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let order = editable_order(&mut tx, staff, order_id).await?;
    let who = Who::Staff(staff.staff_id);
    if insert(&mut tx, Some(order_id), None, who, body, key, photos, now)
        .await?
        .is_some()
    {
        tell_resident(&mut tx, "new_message", order_id, order.resident_id, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The resident writes in the chat of their request.
pub async fn resident_send_order(
    pool: &SqlitePool,
    resident_id: i64,
    order_id: i64,
    body: &str,
    key: &str,
    photos: &[i64],
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let assignee: Option<(Option<i64>,)> = sqlx::query_as(
        "select assignee_id from orders where order_id = ? and resident_id = ? and is_draft = 0",
    )
    .bind(order_id)
    .bind(resident_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (assignee,) = assignee.ok_or(AppError::NotFound)?;
    let who = Who::Resident(resident_id);
    if insert(&mut tx, Some(order_id), None, who, body, key, photos, now)
        .await?
        .is_some()
    {
        sqlx::query("update orders set unread_client_messages = unread_client_messages + 1 where order_id = ?")
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
        outbox(
            &mut tx,
            "client_message",
            Some(order_id),
            None,
            assignee,
            None,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A dialogue: its resident, service, premises and order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Dialogue {
    pub dialogue_id: i64,
    pub resident_id: i64,
    pub service_id: i64,
    pub premises_id: Option<i64>,
    pub order_id: Option<i64>,
    pub order_is_draft: Option<bool>,
}

pub async fn dialogue(conn: &mut SqliteConnection, dialogue_id: i64) -> AppResult<Dialogue> {
    let d: Option<Dialogue> = sqlx::query_as(
        "select d.dialogue_id, d.resident_id, d.service_id, d.premises_id, d.order_id, o.is_draft as order_is_draft \
         from dialogues d left join orders o on o.order_id = d.order_id where d.dialogue_id = ?",
    )
    .bind(dialogue_id)
    .fetch_optional(conn)
    .await?;
    d.ok_or(AppError::NotFound)
}

/// The resident's open dialogue about a service, started if there is none. Only for
/// services with «Чат с оператором, до оформления заявки».
pub async fn open_dialogue(
    pool: &SqlitePool,
    resident_id: i64,
    premises_id: Option<i64>,
    service_id: i64,
    now: i64,
) -> AppResult<i64> {
    let mut tx = write_tx(pool).await?;
    let chat: Option<bool> = sqlx::query_scalar(
        "select preorder_chat from services where service_id = ? and published = 1",
    )
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    match chat {
        None => return Err(AppError::NotFound),
        Some(false) => return Err(AppError::rule("У этой услуги нет чата с оператором")),
        Some(true) => {}
    }
    let open: Option<i64> = sqlx::query_scalar(
        "select d.dialogue_id from dialogues d left join orders o on o.order_id = d.order_id \
         where d.resident_id = ? and d.service_id = ? and (d.order_id is null or o.is_draft = 1) \
         order by d.dialogue_id desc limit 1",
    )
    .bind(resident_id)
    .bind(service_id)
    .fetch_optional(&mut *tx)
    .await?;
    let id = match open {
        Some(id) => id,
        None => sqlx::query_scalar(
            "insert into dialogues (resident_id, service_id, premises_id, created_at, updated_at) \
                 values (?, ?, ?, ?, ?) returning dialogue_id",
        )
        .bind(resident_id)
        .bind(service_id)
        .bind(premises_id)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?,
    };
    tx.commit().await?;
    Ok(id)
}

/// The message that tells why a dialogue takes no more messages, if it does not.
pub fn dialogue_closed(d: &Dialogue) -> Option<String> {
    match (d.order_id, d.order_is_draft) {
        (Some(o), Some(false)) => Some(format!("Диалог продолжается в заявке № {o}")),
        _ => None,
    }
}

/// Someone writes in a dialogue (access checked by the caller: its resident, or staff
/// with «Чат с клиентами»).
pub async fn send_dialogue(
    pool: &SqlitePool,
    who: Who,
    dialogue_id: i64,
    body: &str,
    key: &str,
    photos: &[i64],
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let d = dialogue(&mut tx, dialogue_id).await?;
    if let Who::Resident(r) = who {
        if r != d.resident_id {
            return Err(AppError::NotFound);
        }
    }
    if already_sent(&mut tx, who, key).await? {
        return Ok(());
    }
    if let Some(why) = dialogue_closed(&d) {
        return Err(AppError::Rule(why));
    }
    if insert(
        &mut tx,
        d.order_id,
        Some(dialogue_id),
        who,
        body,
        key,
        photos,
        now,
    )
    .await?
    .is_some()
    {
        match who {
            Who::Resident(_) => {
                outbox(
                    &mut tx,
                    "dialogue_message",
                    None,
                    Some(dialogue_id),
                    None,
                    None,
                    now,
                )
                .await?
            }
            Who::Staff(_) => {
                outbox(
                    &mut tx,
                    "dialogue_reply",
                    None,
                    Some(dialogue_id),
                    None,
                    Some(d.resident_id),
                    now,
                )
                .await?
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Turns a dialogue into an order draft for its resident, service and premises (once: a
/// second call returns the same draft). The dialogue's messages join the order's chat.
pub async fn dialogue_to_order(
    pool: &SqlitePool,
    staff: &StaffUser,
    dialogue_id: i64,
    now: i64,
) -> AppResult<i64> {
    let mut tx = write_tx(pool).await?;
    let d = dialogue(&mut tx, dialogue_id).await?;
    if let Some(o) = d.order_id {
        return Ok(o);
    }
    let premises: Option<i64> = sqlx::query_scalar(
        "select rp.premises_id from resident_premises rp join residents r using (resident_id) \
         where rp.resident_id = ?1 and r.blocked = 0 \
         order by rp.premises_id = ?2 desc, rp.premises_id = r.current_premises_id desc, rp.premises_id limit 1",
    )
    .bind(d.resident_id)
    .bind(d.premises_id)
    .fetch_optional(&mut *tx)
    .await?;
    let premises =
        premises.ok_or_else(|| AppError::rule("У клиента нет помещений, заказ оформить нельзя"))?;
    let entity: i64 =
        sqlx::query_scalar("select legal_entity_id from services where service_id = ?")
            .bind(d.service_id)
            .fetch_one(&mut *tx)
            .await?;
    let order_id: i64 = sqlx::query_scalar(
        "insert into orders (status, is_draft, service_id, legal_entity_id, resident_id, premises_id, answers, \
         created_at, updated_at, created_by_staff_id) values ('waiting', 1, ?, ?, ?, ?, '[]', ?, ?, ?) returning order_id",
    )
    .bind(d.service_id)
    .bind(entity)
    .bind(d.resident_id)
    .bind(premises)
    .bind(now)
    .bind(now)
    .bind(staff.staff_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("update dialogues set order_id = ?, updated_at = ? where dialogue_id = ?")
        .bind(order_id)
        .bind(now)
        .bind(dialogue_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update messages set order_id = ? where dialogue_id = ?")
        .bind(order_id)
        .bind(dialogue_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(order_id)
}

/// Dialogues for staff with «Чат с клиентами», newest activity first.
pub async fn dialogues(pool: &SqlitePool) -> AppResult<Vec<DialogueRow>> {
    type Row = (i64, String, String, i64, i64, Option<i64>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "select d.dialogue_id, r.full_name, s.name, d.updated_at, d.unread_for_staff, d.order_id, \
         (select body from messages m where m.dialogue_id = d.dialogue_id order by m.message_id desc limit 1) \
         from dialogues d join residents r on r.resident_id = d.resident_id \
         join services s on s.service_id = d.service_id \
         order by d.updated_at desc, d.dialogue_id desc limit 200",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(dialogue_id, client_name, service_name, updated_at, unread, order_id, last)| {
                DialogueRow {
                    dialogue_id,
                    client_name,
                    service_name,
                    updated_at,
                    unread,
                    order_id,
                    last_message: last.unwrap_or_default(),
                }
            },
        )
        .collect())
}

/// Staff who may see the order read its chat (the order must be visible to them).
pub async fn staff_order_messages(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
) -> AppResult<(Vec<ChatMessage>, bool)> {
    let mut conn = pool.acquire().await?;
    let order = visible_order(&mut conn, staff, order_id).await?;
    let list = messages(
        &mut conn,
        Conversation::Order(order_id),
        Who::Staff(staff.staff_id),
    )
    .await?;
    drop(conn);
    staff_read(
        pool,
        Conversation::Order(order_id),
        last_client_message(&list),
    )
    .await?;
    Ok((list, order.is_draft))
}
