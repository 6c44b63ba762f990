//! Outgoing e-mail. Messages are queued in the `emails` table inside the transaction of
//! the change that causes them (a receipt with its payment), then a worker sends each one
//! once: through SMTP when `SUZ_SMTP_HOST` is set, otherwise as an `.eml` file under
//! `<data>/mail-outbox/` (what a developer or a test can open).

use crate::error::AppResult;
use crate::server::config::SmtpConfig;
use crate::server::state::AppState;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::SqliteConnection;

/// Queues a message; the same `dedupe_key` is queued once.
pub async fn enqueue(
    conn: &mut SqliteConnection,
    to: &str,
    subject: &str,
    body: &str,
    dedupe_key: &str,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "insert into emails (to_address, subject, body, dedupe_key, created_at) values (?, ?, ?, ?, ?) \
         on conflict (dedupe_key) do nothing",
    )
    .bind(to)
    .bind(subject)
    .bind(body)
    .bind(dedupe_key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn message(from: &str, to: &str, subject: &str, body: &str) -> Result<Message, String> {
    Message::builder()
        .from(from.parse().map_err(|e| format!("from: {e}"))?)
        .to(to.parse().map_err(|e| format!("to: {e}"))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| e.to_string())
}

async fn send_smtp(smtp: &SmtpConfig, msg: Message) -> Result<(), String> {
    // Plain SMTP (a local relay); this build carries no TLS stack.
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).port(smtp.port);
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Sends what is queued; returns how many went out.
pub async fn deliver_pending(state: &AppState, now: i64) -> AppResult<usize> {
    let pending: Vec<(i64, String, String, String)> = sqlx::query_as(
        "select email_id, to_address, subject, body from emails where sent_at is null and attempts < 10 \
         order by email_id limit 50",
    )
    .fetch_all(&state.pool)
    .await?;
    let mut sent = 0;
    let from = state
        .config
        .smtp
        .as_ref()
        .map(|s| s.from.clone())
        .unwrap_or_else(|| "noreply@suz.local".into());
    for (id, to, subject, body) in pending {
        let outcome = match message(&from, &to, &subject, &body) {
            Err(e) => Err(e),
            Ok(msg) => match &state.config.smtp {
                Some(smtp) => send_smtp(smtp, msg).await,
                None => {
                    let dir = state.config.data_dir.join("mail-outbox");
                    let path = dir.join(format!("{id:08}.eml"));
                    async {
                        tokio::fs::create_dir_all(&dir).await?;
                        tokio::fs::write(&path, msg.formatted()).await
                    }
                    .await
                    .map_err(|e| e.to_string())
                }
            },
        };
        match outcome {
            Ok(()) => {
                sent += 1;
                sqlx::query(
                    "update emails set sent_at = ?, attempts = attempts + 1 where email_id = ?",
                )
                .bind(now)
                .bind(id)
                .execute(&state.pool)
                .await?;
            }
            Err(e) => {
                tracing::warn!(email_id = id, error = %e, "e-mail not sent, will retry");
                sqlx::query(
                    "update emails set attempts = attempts + 1, last_error = ? where email_id = ?",
                )
                .bind(&e)
                .bind(id)
                .execute(&state.pool)
                .await?;
            }
        }
    }
    Ok(sent)
}
