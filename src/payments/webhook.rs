//! `POST /payments/webhook`: the provider's signed notifications. A bad or stale signature
//! is refused; an event seen before is acknowledged and ignored; applying is idempotent.
//! The table of seen events keeps only what a replay could still reach: a signature is
//! valid for ±[`TOLERANCE_SECONDS`] around its time, so an event received longer than
//! [`REPLAY_WINDOW_SECONDS`] ago can no longer come back with a valid one. (A provider's
//! own retry is signed afresh; it is harmless because applying an event is idempotent.)

use super::gateway::signature::TOLERANCE_SECONDS;
use super::gateway::GatewayError;
use super::service;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};

/// How long a seen event is kept: the span of the signature times it could be replayed with.
pub const REPLAY_WINDOW_SECONDS: i64 = 2 * TOLERANCE_SECONDS;

/// Forgets seen events that no valid signature can bring back.
pub async fn prune_seen(pool: &sqlx::SqlitePool, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from webhook_events where received_at < ?")
            .bind(now - REPLAY_WINDOW_SECONDS)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub async fn intake(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let event = match state.payments.verify_webhook(&headers, &body, now) {
        Ok(e) => e,
        Err(GatewayError::BadSignature) => {
            tracing::warn!("webhook with a bad signature refused");
            return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    // Only a validly signed request prunes, so strangers cannot make the server work.
    if let Err(e) = prune_seen(&state.pool, now).await {
        tracing::warn!(error = %e, "webhook: pruning seen events");
    }
    let seen: Result<Option<String>, sqlx::Error> =
        sqlx::query_scalar("select event_id from webhook_events where event_id = ?")
            .bind(&event.event_id)
            .fetch_optional(&state.pool)
            .await;
    match seen {
        Ok(Some(_)) => return (StatusCode::OK, "already processed").into_response(),
        Ok(None) => {}
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    if let Some(p) = &event.payment {
        if let Err(e) = service::apply(&state, p, now).await {
            tracing::error!(error = %e, "webhook: applying a payment event");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if let Some(r) = &event.refund {
        if let Err(e) = crate::refunds::service::apply(&state, r, now).await {
            tracing::error!(error = %e, "webhook: applying a refund event");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let (kind, object) = match (&event.payment, &event.refund) {
        (Some(p), _) => ("payment", p.id.clone()),
        (_, Some(r)) => ("refund", r.id.clone()),
        _ => ("other", String::new()),
    };
    let recorded = sqlx::query(
        "insert into webhook_events (event_id, provider, kind, object_id, received_at) values (?, ?, ?, ?, ?) \
         on conflict (event_id) do nothing",
    )
    .bind(&event.event_id)
    .bind(state.payments.name())
    .bind(kind)
    .bind(object)
    .bind(now)
    .execute(&state.pool)
    .await;
    match recorded {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
