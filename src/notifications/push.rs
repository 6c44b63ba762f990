//! Web Push: the server's VAPID keys (generated on first start and kept), browsers'
//! subscriptions (bound to the session that made them), and the sender that posts each
//! queued message, encrypted for the subscription (RFC 8291) and signed (RFC 8292),
//! retrying with back-off. A push service answering 404 or 410 means the subscription is
//! gone: it is removed.

use super::webpush::{encrypt, vapid_authorization, VapidKeys};
use crate::error::{AppError, AppResult};
use crate::payments::http::HttpClient;
use sqlx::SqlitePool;

/// Attempts before a message is given up.
const MAX_ATTEMPTS: i64 = 8;
/// How long a claimed message waits before another round may try it again.
const CLAIM_SECONDS: i64 = 120;

/// The server's VAPID keys: stored in `app_meta`, made on first start.
pub async fn vapid_keys(pool: &SqlitePool) -> AppResult<VapidKeys> {
    let fresh = VapidKeys::generate();
    sqlx::query(
        "insert into app_meta (meta_key, meta_value) values ('vapid_private_key', ?) on conflict (meta_key) do nothing",
    )
    .bind(fresh.private_base64url())
    .execute(pool)
    .await?;
    let stored: String =
        sqlx::query_scalar("select meta_value from app_meta where meta_key = 'vapid_private_key'")
            .fetch_one(pool)
            .await?;
    VapidKeys::from_private_base64url(&stored).map_err(AppError::internal)
}

/// Checks what a browser sent as its subscription: push services are reached over
/// HTTPS (plain HTTP only when configured, for a local push service in tests).
pub fn check_subscription(
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    allow_http: bool,
) -> Result<(), String> {
    let bad = || "Браузер прислал неполную подписку на уведомления".to_owned();
    let scheme_ok =
        endpoint.starts_with("https://") || (allow_http && endpoint.starts_with("http://"));
    if !scheme_ok || endpoint.len() > 2000 {
        return Err(bad());
    }
    if p256dh.len() < 80 || p256dh.len() > 100 || auth.len() < 16 || auth.len() > 30 {
        return Err(bad());
    }
    Ok(())
}

/// What a browser sent as its push subscription.
pub struct NewSubscription<'a> {
    pub recipient: &'a str,
    /// SHA-256 of the session that subscribes: pushes stop when it ends.
    pub session_hash: &'a str,
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
    pub allow_http: bool,
}

/// Keeps a browser's subscription for the person. If the endpoint belonged to someone
/// else (another person signed in on this browser), nothing queued for them goes out.
pub async fn subscribe(pool: &SqlitePool, s: NewSubscription<'_>, now: i64) -> AppResult<()> {
    check_subscription(s.endpoint, s.p256dh, s.auth, s.allow_http).map_err(AppError::Validation)?;
    let mut tx = crate::server::db::write_tx(pool).await?;
    sqlx::query(
        "delete from push_messages where sent_at is null and subscription_id in \
         (select subscription_id from push_subscriptions where endpoint = ? and recipient <> ?)",
    )
    .bind(s.endpoint)
    .bind(s.recipient)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into push_subscriptions (recipient, session_hash, endpoint, p256dh, auth, created_at) \
         values (?, ?, ?, ?, ?, ?) on conflict (endpoint) do update set recipient = excluded.recipient, \
         session_hash = excluded.session_hash, p256dh = excluded.p256dh, auth = excluded.auth",
    )
    .bind(s.recipient)
    .bind(s.session_hash)
    .bind(s.endpoint)
    .bind(s.p256dh)
    .bind(s.auth)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unsubscribe(pool: &SqlitePool, recipient: &str, endpoint: &str) -> AppResult<()> {
    sqlx::query("delete from push_subscriptions where recipient = ? and endpoint = ?")
        .bind(recipient)
        .bind(endpoint)
        .execute(pool)
        .await?;
    Ok(())
}

type PendingRow = (i64, i64, String, String, String, String, i64);

/// Sends due push messages, all at once (one slow push service holds up nobody else);
/// returns how many the push services accepted. Each message is claimed before it is
/// sent, so overlapping rounds or processes never send it twice.
pub async fn deliver_due(
    pool: &SqlitePool,
    http: &HttpClient,
    keys: &VapidKeys,
    subject: &str,
    now: i64,
) -> AppResult<usize> {
    let due: Vec<PendingRow> = sqlx::query_as(
        "select m.push_id, m.subscription_id, m.payload, s.endpoint, s.p256dh, s.auth, m.attempts \
         from push_messages m join push_subscriptions s on s.subscription_id = m.subscription_id \
         where m.sent_at is null and m.attempts < ? and m.next_attempt_at <= ? order by m.push_id limit 50",
    )
    .bind(MAX_ATTEMPTS)
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::new();
    for row in due {
        let got = sqlx::query(
            "update push_messages set next_attempt_at = ? \
             where push_id = ? and sent_at is null and next_attempt_at <= ?",
        )
        .bind(now + CLAIM_SECONDS)
        .bind(row.0)
        .bind(now)
        .execute(pool)
        .await?;
        if got.rows_affected() == 1 {
            claimed.push(row);
        }
    }
    let sends = claimed.into_iter().map(|row| async move {
        let (push_id, subscription_id, payload, endpoint, p256dh, auth, attempts) = row;
        let outcome = async {
            let body = encrypt(payload.as_bytes(), &p256dh, &auth)?;
            let authorization = vapid_authorization(keys, &endpoint, subject, now)?;
            let headers = [
                ("authorization", authorization),
                ("content-encoding", "aes128gcm".to_owned()),
                ("content-type", "application/octet-stream".to_owned()),
                ("ttl", "86400".to_owned()),
                ("urgency", "normal".to_owned()),
            ];
            http.send(http::Method::POST, &endpoint, &headers, body)
                .await
        }
        .await;
        (push_id, subscription_id, attempts, outcome)
    });
    let mut sent = 0;
    for (push_id, subscription_id, attempts, outcome) in futures::future::join_all(sends).await {
        match outcome {
            Ok((status, _)) if status.is_success() => {
                sent += 1;
                sqlx::query(
                    "update push_messages set sent_at = ?, attempts = attempts + 1 where push_id = ?",
                )
                .bind(now)
                .bind(push_id)
                .execute(pool)
                .await?;
            }
            Ok((status, _))
                if status == http::StatusCode::NOT_FOUND || status == http::StatusCode::GONE =>
            {
                sqlx::query("delete from push_subscriptions where subscription_id = ?")
                    .bind(subscription_id)
                    .execute(pool)
                    .await?;
            }
            other => {
                let error = match other {
                    Ok((status, _)) => format!("push service answered {status}"),
                    Err(e) => e,
                };
                tracing::warn!(push_id, error = %error, "push not delivered, will retry");
                let backoff = 30i64 << attempts.clamp(0, 10);
                sqlx::query(
                    "update push_messages set attempts = attempts + 1, last_error = ?, next_attempt_at = ? \
                     where push_id = ?",
                )
                .bind(&error)
                .bind(now + backoff)
                .bind(push_id)
                .execute(pool)
                .await?;
            }
        }
    }
    Ok(sent)
}
