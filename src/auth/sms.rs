//! Text messages to residents (one-time codes). A real gateway implements `SmsSender`;
//! the default writes to the log, and in demo mode also to the `/dev/sms` page.

use crate::error::AppResult;
use sqlx::SqlitePool;
use std::future::Future;
use std::pin::Pin;

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = AppResult<()>> + Send + 'a>>;

pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// Writes messages to the log only.
pub struct LogSmsSender;

impl SmsSender for LogSmsSender {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(phone, text, "sms");
            Ok(())
        })
    }
}

/// Demo mode: the log, plus the `dev_sms` table that `/dev/sms` shows.
pub struct DemoSmsSender {
    pub pool: SqlitePool,
}

impl SmsSender for DemoSmsSender {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(phone, text, "sms (demo)");
            sqlx::query("insert into dev_sms (phone, body, sent_at) values (?, ?, ?)")
                .bind(phone)
                .bind(text)
                .bind(crate::time::now())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }
}

/// The latest demo messages, newest first.
pub async fn recent_demo_messages(pool: &SqlitePool) -> AppResult<Vec<(String, String, i64)>> {
    Ok(
        sqlx::query_as(
            "select phone, body, sent_at from dev_sms order by dev_sms_id desc limit 50",
        )
        .fetch_all(pool)
        .await?,
    )
}
