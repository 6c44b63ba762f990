//! Server functions of the notification centre, push subscriptions and the roles'
//! notification settings.

use super::rules::NotificationSettings;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service,
    crate::auth::model::Viewer,
    crate::auth::permissions::Action,
    crate::auth::session::{current_viewer, require_staff},
    crate::live::server::recipient_of,
    crate::server::state::app_state,
    crate::time::now,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationItem {
    pub notification_id: i64,
    pub text: String,
    pub at: i64,
    pub read: bool,
    pub link: String,
}

/// A role and its notification settings (the role editor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleNotifications {
    pub role_id: i64,
    pub name: String,
    pub settings: NotificationSettings,
}

#[cfg(feature = "ssr")]
fn me() -> Result<(String, bool), AppError> {
    let viewer = current_viewer()?.ok_or(AppError::Unauthorized)?;
    Ok((recipient_of(&viewer), matches!(viewer, Viewer::Staff(_))))
}

/// Unread notifications of the signed-in person (the bell).
#[server(prefix = "/api", endpoint = "notification_count")]
pub async fn notification_count() -> Result<i64, AppError> {
    let (recipient, _) = me()?;
    service::unread_count(&app_state()?.pool, &recipient).await
}

#[server(prefix = "/api", endpoint = "my_notifications", output = Json)]
pub async fn my_notifications() -> Result<Vec<NotificationItem>, AppError> {
    let (recipient, staff) = me()?;
    service::list(&app_state()?.pool, &recipient, staff).await
}

/// Marks the notification read; returns the page it opens.
#[server(prefix = "/api", endpoint = "open_notification")]
pub async fn open_notification(notification_id: i64) -> Result<String, AppError> {
    let (recipient, staff) = me()?;
    service::open(
        &app_state()?.pool,
        &recipient,
        staff,
        notification_id,
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "read_all_notifications")]
pub async fn read_all_notifications() -> Result<(), AppError> {
    let (recipient, _) = me()?;
    service::read_all(&app_state()?.pool, &recipient, now()).await
}

/// The server's public VAPID key (the browser's `applicationServerKey`).
#[server(prefix = "/api", endpoint = "push_key")]
pub async fn push_key() -> Result<String, AppError> {
    me()?;
    Ok(app_state()?.vapid.public_base64url())
}

#[server(prefix = "/api", endpoint = "subscribe_push", input = Json)]
pub async fn subscribe_push(
    endpoint: String,
    p256dh: String,
    auth: String,
) -> Result<(), AppError> {
    use crate::auth::rate_limit::PUSH_SUBSCRIPTIONS;
    let (recipient, _) = me()?;
    let token = crate::auth::session::current_token().ok_or(AppError::Unauthorized)?;
    let session_hash = crate::auth::service::sha256_hex(&token);
    let state = app_state()?;
    let subscription = super::push::NewSubscription {
        recipient: &recipient,
        session_hash: &session_hash,
        endpoint: &endpoint,
        p256dh: &p256dh,
        auth: &auth,
        allow_http: state.config.push_allow_http,
    };
    let subscribe = super::push::subscribe(&state.pool, subscription, now());
    crate::auth::rate_limit::limited(&state.pool, PUSH_SUBSCRIPTIONS, &recipient, subscribe).await
}

#[server(prefix = "/api", endpoint = "unsubscribe_push", input = Json)]
pub async fn unsubscribe_push(endpoint: String) -> Result<(), AppError> {
    let (recipient, _) = me()?;
    super::push::unsubscribe(&app_state()?.pool, &recipient, &endpoint).await
}

/// Every role with its notification settings (administrators).
#[server(prefix = "/api", endpoint = "fetch_role_notifications", output = Json)]
pub async fn fetch_role_notifications() -> Result<Vec<RoleNotifications>, AppError> {
    require_staff(Action::Administer)?;
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("select role_id, name, notification_settings from roles order by name")
            .fetch_all(&app_state()?.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(role_id, name, json)| RoleNotifications {
            role_id,
            name,
            settings: NotificationSettings::parse(&json),
        })
        .collect())
}

#[server(prefix = "/api", endpoint = "save_role_notifications", input = Json)]
pub async fn save_role_notifications(
    role_id: i64,
    settings: NotificationSettings,
) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    crate::admin::service::audit_notifications(
        &app_state()?.pool,
        &me,
        role_id,
        settings.to_json(),
        now(),
    )
    .await
}
