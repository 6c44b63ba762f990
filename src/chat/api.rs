//! Server functions of the chats.

use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service::{self, Conversation, Who},
    crate::auth::permissions::Action,
    crate::auth::rate_limit::{self, CHAT_MESSAGES},
    crate::auth::session::{require_resident, require_staff},
    crate::server::state::app_state,
    crate::time::now,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPhoto {
    pub photo_id: i64,
    pub file_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub message_id: i64,
    /// Written by whoever is looking.
    pub mine: bool,
    pub from_client: bool,
    pub author: String,
    pub body: String,
    pub at: i64,
    pub photos: Vec<ChatPhoto>,
}

/// A conversation as its reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatView {
    pub messages: Vec<ChatMessage>,
    /// Why the reader cannot write here, if they cannot.
    pub read_only: Option<String>,
}

/// A pre-order dialogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogueView {
    pub dialogue_id: i64,
    pub service_id: i64,
    pub service_name: String,
    pub client_name: String,
    pub order_id: Option<i64>,
    /// The order was submitted: the conversation goes on in its chat.
    pub order_submitted: bool,
    pub chat: ChatView,
    /// Staff only: why «Оформить заказ» is unavailable, if it is.
    pub convert_refused: Option<String>,
}

/// A line of the staff's «Чаты с клиентами».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogueRow {
    pub dialogue_id: i64,
    pub client_name: String,
    pub service_name: String,
    pub updated_at: i64,
    pub unread: i64,
    pub order_id: Option<i64>,
    pub last_message: String,
}

/// The order's chat for staff who see the order; reading it marks client messages read.
#[server(prefix = "/api", endpoint = "order_chat", output = Json)]
pub async fn order_chat(order_id: i64) -> Result<ChatView, AppError> {
    let staff = require_staff(Action::ViewAssignedOrders)?;
    let state = app_state()?;
    let (messages, is_draft) = service::staff_order_messages(&state.pool, &staff, order_id).await?;
    let read_only = if !staff.permissions.allows(Action::EditOrders) {
        Some("Писать клиенту можно с доступом «Заказы: редактирование»".to_owned())
    } else if is_draft {
        Some("Сначала оформите черновик как заказ".to_owned())
    } else {
        None
    };
    Ok(ChatView {
        messages,
        read_only,
    })
}

#[server(prefix = "/api", endpoint = "send_order_message", input = Json)]
pub async fn send_order_message(
    order_id: i64,
    body: String,
    key: String,
    photos: Vec<i64>,
) -> Result<(), AppError> {
    let staff = require_staff(Action::EditOrders)?;
    let state = app_state()?;
    let send =
        service::staff_send_order(&state.pool, &staff, order_id, &body, &key, &photos, now());
    rate_limit::limited(&state.pool, CHAT_MESSAGES, &rate_limit::staff(&staff), send).await
}

/// The request's chat for its resident (reading it marks the request read).
#[server(prefix = "/api", endpoint = "request_chat", output = Json)]
pub async fn request_chat(order_id: i64) -> Result<ChatView, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    let mut conn = state.pool.acquire().await?;
    let owned: Option<i64> = sqlx::query_scalar(
        "select order_id from orders where order_id = ? and resident_id = ? and is_draft = 0",
    )
    .bind(order_id)
    .bind(me.resident_id)
    .fetch_optional(&mut *conn)
    .await?;
    owned.ok_or(AppError::NotFound)?;
    let messages = service::messages(
        &mut conn,
        Conversation::Order(order_id),
        Who::Resident(me.resident_id),
    )
    .await?;
    drop(conn);
    service::resident_read_order(&state.pool, me.resident_id, order_id).await?;
    Ok(ChatView {
        messages,
        read_only: None,
    })
}

#[server(prefix = "/api", endpoint = "send_request_message", input = Json)]
pub async fn send_request_message(
    order_id: i64,
    body: String,
    key: String,
    photos: Vec<i64>,
) -> Result<(), AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    let send = service::resident_send_order(
        &state.pool,
        me.resident_id,
        order_id,
        &body,
        &key,
        &photos,
        now(),
    );
    rate_limit::limited(&state.pool, CHAT_MESSAGES, &rate_limit::resident(&me), send).await
}

/// Opens (or starts) the resident's dialogue with an operator about a service.
#[server(prefix = "/api", endpoint = "open_dialogue")]
pub async fn open_dialogue(service_id: i64) -> Result<i64, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    service::open_dialogue(
        &state.pool,
        me.resident_id,
        me.current_premises_id,
        service_id,
        now(),
    )
    .await
}

/// A dialogue for its resident or for staff with «Чат с клиентами».
#[server(prefix = "/api", endpoint = "fetch_dialogue", output = Json)]
pub async fn fetch_dialogue(dialogue_id: i64) -> Result<DialogueView, AppError> {
    use crate::auth::model::Viewer;
    let state = app_state()?;
    let viewer = crate::auth::session::current_viewer()?.ok_or(AppError::Unauthorized)?;
    let who = match &viewer {
        Viewer::Staff(s) if s.permissions.allows(Action::ClientsChat) => Who::Staff(s.staff_id),
        Viewer::Staff(_) => return Err(AppError::Forbidden),
        Viewer::Resident(r) => Who::Resident(r.resident_id),
    };
    let mut conn = state.pool.acquire().await?;
    let d = service::dialogue(&mut conn, dialogue_id).await?;
    if matches!(who, Who::Resident(r) if r != d.resident_id) {
        return Err(AppError::NotFound);
    }
    let (service_name, client_name): (String, String) = sqlx::query_as(
        "select s.name, r.full_name from services s, residents r where s.service_id = ? and r.resident_id = ?",
    )
    .bind(d.service_id)
    .bind(d.resident_id)
    .fetch_one(&mut *conn)
    .await?;
    let messages = service::messages(&mut conn, Conversation::Dialogue(dialogue_id), who).await?;
    drop(conn);
    if let Who::Staff(_) = who {
        let last = service::last_client_message(&messages);
        service::staff_read(&state.pool, Conversation::Dialogue(dialogue_id), last).await?;
    }
    let convert_refused = match &viewer {
        Viewer::Staff(s) if !s.permissions.allows(Action::EditOrders) => {
            Some("Оформить заказ можно с доступом «Заказы: редактирование»".to_owned())
        }
        _ => None,
    };
    Ok(DialogueView {
        dialogue_id,
        service_id: d.service_id,
        service_name,
        client_name,
        // A resident learns of the order once it is submitted, not of the draft.
        order_id: match who {
            Who::Resident(_) if d.order_is_draft != Some(false) => None,
            _ => d.order_id,
        },
        order_submitted: d.order_is_draft == Some(false),
        chat: ChatView {
            messages,
            read_only: service::dialogue_closed(&d),
        },
        convert_refused,
    })
}

#[server(prefix = "/api", endpoint = "send_dialogue_message", input = Json)]
pub async fn send_dialogue_message(
    dialogue_id: i64,
    body: String,
    key: String,
    photos: Vec<i64>,
) -> Result<(), AppError> {
    use crate::auth::model::Viewer;
    let state = app_state()?;
    let viewer = crate::auth::session::current_viewer()?;
    let who = match &viewer {
        Some(Viewer::Staff(s)) if s.permissions.allows(Action::ClientsChat) => {
            Who::Staff(s.staff_id)
        }
        Some(Viewer::Staff(_)) => return Err(AppError::Forbidden),
        Some(Viewer::Resident(r)) => Who::Resident(r.resident_id),
        None => return Err(AppError::Unauthorized),
    };
    let person = viewer.as_ref().map(rate_limit::person).unwrap_or_default();
    let send = service::send_dialogue(&state.pool, who, dialogue_id, &body, &key, &photos, now());
    rate_limit::limited(&state.pool, CHAT_MESSAGES, &person, send).await
}

/// «Чаты с клиентами».
#[server(prefix = "/api", endpoint = "staff_dialogues", output = Json)]
pub async fn staff_dialogues() -> Result<Vec<DialogueRow>, AppError> {
    require_staff(Action::ClientsChat)?;
    let state = app_state()?;
    service::dialogues(&state.pool).await
}

/// «Оформить заказ»: the dialogue becomes an order draft; returns the draft's number.
#[server(prefix = "/api", endpoint = "dialogue_to_order")]
pub async fn dialogue_to_order(dialogue_id: i64) -> Result<i64, AppError> {
    let staff = require_staff(Action::ClientsChat)?;
    if !staff.permissions.allows(Action::EditOrders) {
        return Err(AppError::Forbidden);
    }
    let state = app_state()?;
    service::dialogue_to_order(&state.pool, &staff, dialogue_id, now()).await
}
