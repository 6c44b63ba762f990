//! The one application state, reached from handlers and server functions.

use super::config::Config;
use crate::auth::sms::SmsSender;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::SqlitePool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub sms: Arc<dyn SmsSender>,
    /// The payment providers: the default one and each legal entity's account.
    pub gateways: Arc<crate::payments::accounts::Gateways>,
    /// The sandbox provider, when it runs inside the app.
    pub sandbox: Option<Arc<crate::payments::sandbox::Sandbox>>,
    /// Live updates for open pages.
    pub live: Arc<dyn crate::live::server::Bus>,
    /// The live streams open per session in this process.
    pub live_streams: Arc<crate::live::server::StreamSlots>,
    /// The server's Web Push (VAPID) keys.
    pub vapid: Arc<crate::notifications::webpush::VapidKeys>,
    /// The client that posts to push services.
    pub push_http: crate::payments::http::HttpClient,
    /// The time webhooks are handled at (the system clock outside the month simulator).
    pub clock: crate::time::Clock,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The state inside a server function or a server-rendered component.
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| crate::error::AppError::internal("AppState missing from the Leptos context"))
}
