//! `POST /payments/webhook` (the default provider) and `POST /payments/webhook/{account}`
//! (a legal entity's own shop): the providers' notifications. The adapter checks each
//! (a signature, or the sender's network where the provider signs nothing); an event seen
//! before is acknowledged and ignored; where the adapter says so the object is re-read
//! from the provider's API before anything is applied; applying is idempotent.
//! The table of seen events keeps only what a replay could still reach: a signature is
//! valid for ±[`TOLERANCE_SECONDS`] around its time, so an event received longer than
//! [`REPLAY_WINDOW_SECONDS`] ago can no longer come back with a valid one. (A provider's
//! own retry is signed afresh; it is harmless because applying an event is idempotent.)

use super::gateway::signature::TOLERANCE_SECONDS;
use super::gateway::{GatewayError, WebhookEvent, WebhookRequest};
use super::service;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// How long a seen event is kept: the span of the signature times it could be replayed with.
pub const REPLAY_WINDOW_SECONDS: i64 = 2 * TOLERANCE_SECONDS;

/// The largest notification taken.
const MAX_BODY: usize = 256 * 1024;

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

pub async fn intake(State(state): State<AppState>, req: Request) -> Response {
    handle(&state, None, req).await
}

pub async fn intake_account(
    State(state): State<AppState>,
    Path(account): Path<String>,
    req: Request,
) -> Response {
    let Ok(account_id) = account.parse::<i64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let known: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("select account_id from payment_accounts where account_id = ?")
            .bind(account_id)
            .fetch_optional(&state.pool)
            .await;
    match known {
        Ok(Some(_)) => handle(&state, Some(account_id), req).await,
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn handle(state: &AppState, account_id: Option<i64>, req: Request) -> Response {
    let now = state.clock.now();
    let peer = crate::auth::session::client_ip(&req, state.config.trust_forwarded_for)
        .parse()
        .ok();
    let headers = req.headers().clone();
    let body: Bytes = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let gateway = match state.gateways.account(&state.pool, account_id).await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, account_id, "webhook: no adapter for the account");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
        peer,
        now,
    };
    let event = match gateway.verify_webhook(&request) {
        Ok(e) => e,
        Err(GatewayError::BadSignature) => {
            tracing::warn!(
                account_id,
                ?peer,
                "webhook with a bad signature or from a foreign address refused"
            );
            return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    // Only a verified request prunes, so strangers cannot make the server work.
    if let Err(e) = prune_seen(&state.pool, now).await {
        tracing::warn!(error = %e, "webhook: pruning seen events");
    }
    let seen: Result<Option<String>, sqlx::Error> =
        sqlx::query_scalar("select event_id from webhook_events where event_id = ?")
            .bind(&event.event_id)
            .fetch_optional(&state.pool)
            .await;
    match seen {
        Ok(Some(_)) => return gateway.webhook_ack(true).into_response(),
        Ok(None) => {}
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    let event = match reread(&*gateway, event).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "webhook: re-reading the object from the provider");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    if let Some(p) = &event.payment {
        if let Err(e) = service::apply(state, account_id, p, now).await {
            tracing::error!(error = %e, "webhook: applying a payment event");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if let Some(r) = &event.refund {
        if let Err(e) = crate::refunds::service::apply(state, r, now).await {
            tracing::error!(error = %e, "webhook: applying a refund event");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if let Some(r) = &event.receipt {
        if let Err(e) = crate::receipts::service::apply(state, account_id, r, now).await {
            tracing::error!(error = %e, "webhook: applying a receipt event");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let (kind, object) = match (&event.payment, &event.refund, &event.receipt) {
        (Some(p), _, _) => ("payment", p.id.clone()),
        (_, Some(r), _) => ("refund", r.id.clone()),
        (_, _, Some(r)) => ("receipt", r.id.clone().unwrap_or_default()),
        _ => ("other", String::new()),
    };
    let recorded = sqlx::query(
        "insert into webhook_events (event_id, provider, kind, object_id, received_at) values (?, ?, ?, ?, ?) \
         on conflict (event_id) do nothing",
    )
    .bind(&event.event_id)
    .bind(gateway.name())
    .bind(kind)
    .bind(object)
    .bind(now)
    .execute(&state.pool)
    .await;
    match recorded {
        Ok(_) => gateway.webhook_ack(false).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Replaces what the notification says by what the provider's API says, when the
/// adapter does not trust notifications as to state.
async fn reread(
    gateway: &dyn super::gateway::PaymentGateway,
    mut event: WebhookEvent,
) -> Result<WebhookEvent, GatewayError> {
    if !event.reread {
        return Ok(event);
    }
    if let Some(p) = &event.payment {
        event.payment = Some(gateway.payment(&p.id).await?);
    }
    if let Some(r) = &event.refund {
        event.refund = Some(gateway.refund_status(&r.id).await?);
    }
    Ok(event)
}
