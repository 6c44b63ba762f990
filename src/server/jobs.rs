//! Background work: the sandbox's webhook deliveries and delayed refunds, the payment
//! outbox and polling of stuck payments, notifications (in-app, push) and outgoing e-mail. One `tick` does a round of
//! each (tests call it with a chosen time); `spawn` runs it every two seconds.

use super::config::Config;
use super::state::AppState;
use std::sync::Arc;
use std::time::Duration;

/// One round of every background job at time `now`.
pub async fn tick(state: &AppState, now: i64) {
    payments_tick(state, now).await;
    if let Err(e) =
        crate::notifications::service::deliver_outbox(&state.pool, &state.config.public_url, now)
            .await
    {
        tracing::warn!(error = %e, "notifications");
    }
    let subject = match &state.config.smtp {
        Some(smtp) => format!("mailto:{}", smtp.from),
        None => "mailto:noreply@suz.local".to_owned(),
    };
    if let Err(e) = crate::notifications::push::deliver_due(
        &state.pool,
        &state.push_http,
        &state.vapid,
        &subject,
        now,
    )
    .await
    {
        tracing::warn!(error = %e, "web push");
    }
    if let Err(e) = crate::mail::deliver_pending(state, now).await {
        tracing::warn!(error = %e, "mail");
    }
}

/// The money part of [`tick`]: the embedded sandbox's expiries, refunds and webhooks, the
/// payment and refund outboxes and polling.
pub async fn payments_tick(state: &AppState, now: i64) {
    if let Some(sandbox) = &state.sandbox {
        if let Err(e) = crate::payments::sandbox::expire_due(sandbox, now).await {
            tracing::warn!(error = %e, "sandbox expiry");
        }
        if let Err(e) = crate::payments::sandbox::complete_due_refunds(sandbox, now).await {
            tracing::warn!(error = %e, "sandbox refunds");
        }
        if let Err(e) =
            crate::payments::sandbox::receipts::complete_due_receipts(sandbox, now).await
        {
            tracing::warn!(error = %e, "sandbox receipts");
        }
        if let Err(e) = crate::payments::sandbox::deliver_due(sandbox, now).await {
            tracing::warn!(error = %e, "sandbox webhooks");
        }
    }
    if let Err(e) = crate::payments::service::recover(state, now).await {
        tracing::warn!(error = %e, "payment recovery");
    }
    if let Err(e) = crate::refunds::service::recover(state, now).await {
        tracing::warn!(error = %e, "refund recovery");
    }
    if let Err(e) = crate::receipts::service::recover(state, now).await {
        tracing::warn!(error = %e, "receipt outbox");
    }
}

pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(2));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            tick(&state, crate::time::now()).await;
        }
    });
}

/// `suz sandbox-provider`: the sandbox payment provider as its own process, with its own
/// database (`SUZ_DATA_DIR`), sending webhooks to `SUZ_SANDBOX_WEBHOOK_URL`, sharing
/// `SUZ_PAYMENTS_SECRET` with the app (run the app with `SUZ_EMBEDDED_SANDBOX=0` and
/// `SUZ_PAYMENTS_URL=<this>/sandbox`).
pub async fn run_sandbox_provider() -> Result<(), String> {
    let config = Config::from_env()?;
    let secret = config
        .payments_secret
        .clone()
        .ok_or("SUZ_PAYMENTS_SECRET is required for a separate sandbox provider")?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
    let pool = super::db::connect(&config.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let sandbox = Arc::new(crate::payments::sandbox::Sandbox {
        pool,
        secret,
        public_url: format!("{}/sandbox", config.public_url),
        webhook_url: config.sandbox_webhook_url.clone(),
        http: crate::payments::http::HttpClient::default(),
        clock: crate::time::Clock::default(),
    });
    let worker = sandbox.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let now = crate::time::now();
            let _ = crate::payments::sandbox::expire_due(&worker, now).await;
            let _ = crate::payments::sandbox::complete_due_refunds(&worker, now).await;
            let _ = crate::payments::sandbox::receipts::complete_due_receipts(&worker, now).await;
            let _ = crate::payments::sandbox::deliver_due(&worker, now).await;
        }
    });
    let app =
        axum::Router::new().nest_service("/sandbox", crate::payments::sandbox::router(sandbox));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", config.listen))?;
    tracing::info!(
        "sandbox payment provider on http://{}/sandbox",
        config.listen
    );
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
