//! The server: start-up, the router, background jobs and graceful shutdown.

pub mod config;
pub mod db;
pub mod jobs;
pub mod security;
pub mod state;
pub mod storage;

use crate::app::{shell, App};
use crate::auth::sms::{DemoSmsSender, LogSmsSender, SmsSender};
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use config::Config;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use state::AppState;
use std::sync::Arc;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

/// Leptos options for the built site (no cargo-leptos needed at run time).
pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("suz")
        .site_root(config.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build()
}

/// Builds the state: database (migrated), text-message sender, demo data when asked.
pub async fn build_state(config: Config) -> Result<AppState, String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("data dir {}: {e}", config.data_dir.display()))?;
    let (tap, changes) = tokio::sync::mpsc::unbounded_channel();
    let pool = db::connect_watched(&config.database_url, Some(tap))
        .await
        .map_err(|e| format!("database: {e}"))?;
    let live: Arc<dyn crate::live::server::Bus> =
        Arc::new(crate::live::server::LocalBus::default());
    crate::live::server::spawn_dispatcher(pool.clone(), live.clone(), changes);
    let sms: Arc<dyn SmsSender> = if config.demo {
        Arc::new(DemoSmsSender { pool: pool.clone() })
    } else {
        Arc::new(LogSmsSender)
    };
    if config.demo {
        crate::demo::seed(&pool)
            .await
            .map_err(|e| format!("demo data: {e}"))?;
        crate::finance::service::seed_demo(&pool)
            .await
            .map_err(|e| format!("demo finance terms: {e}"))?;
    }
    crate::finance::service::set_zone(config.utc_offset_minutes);
    let booked = crate::finance::service::backfill(&pool)
        .await
        .map_err(|e| format!("ledger backfill: {e}"))?;
    if booked > 0 {
        tracing::info!(booked, "money events booked in the ledger");
    }
    let indexed = crate::orders::repo::index_missing(&pool)
        .await
        .map_err(|e| format!("search index: {e}"))?;
    if indexed > 0 {
        tracing::info!(indexed, "orders indexed for search");
    }
    // Exports cut off by a restart are not coming back.
    sqlx::query("update exports set state = 'failed' where state = 'running'")
        .execute(&pool)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let secret = payments_secret(&pool, &config).await?;
    let vapid = crate::notifications::push::vapid_keys(&pool)
        .await
        .map_err(|e| format!("web push keys: {e}"))?;
    let http = crate::payments::http::HttpClient::default();
    let default_gateway = Arc::new(crate::payments::sandbox_client::SandboxGateway {
        base_url: config.payments_url.clone(),
        secret: secret.clone(),
        http: http.clone(),
    });
    let gateways = Arc::new(crate::payments::accounts::Gateways::new(
        default_gateway,
        crate::payments::accounts::SecretBox::new(config.secrets_key.as_deref()),
        &config.public_url,
        http.clone(),
    ));
    let clock = crate::time::Clock::default();
    let sandbox = config.embedded_sandbox.then(|| {
        Arc::new(crate::payments::sandbox::Sandbox {
            pool: pool.clone(),
            secret,
            public_url: format!("{}/sandbox", config.public_url),
            webhook_url: config.sandbox_webhook_url.clone(),
            http,
            clock: clock.clone(),
        })
    });
    Ok(AppState {
        leptos_options: leptos_options(&config),
        config: Arc::new(config),
        pool,
        sms,
        gateways,
        sandbox,
        live,
        live_streams: Arc::default(),
        vapid: Arc::new(vapid),
        push_http: crate::payments::http::HttpClient::default(),
        clock,
    })
}

/// The secret shared with the payment provider: configured, or generated once and kept.
async fn payments_secret(pool: &sqlx::SqlitePool, config: &Config) -> Result<String, String> {
    if let Some(s) = &config.payments_secret {
        return Ok(s.clone());
    }
    let fresh = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    sqlx::query("insert into app_meta (meta_key, meta_value) values ('payments_secret', ?) on conflict (meta_key) do nothing")
        .bind(&fresh)
        .execute(pool)
        .await
        .map_err(|e| format!("database: {e}"))?;
    sqlx::query_scalar("select meta_value from app_meta where meta_key = 'payments_secret'")
        .fetch_one(pool)
        .await
        .map_err(|e| format!("database: {e}"))
}

/// The whole HTTP application for a state (also used by the HTTP tests).
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/staff/orders/{id}/files",
            post(crate::orders::files::upload).layer(DefaultBodyLimit::max(
                crate::orders::files::MAX_FILE_BYTES * crate::orders::files::MAX_FILES
                    + 1024 * 1024,
            )),
        )
        .route("/staff/files/{id}", get(crate::orders::files::download))
        .route(
            "/uploads",
            post(crate::requests::photos::upload).layer(DefaultBodyLimit::max(
                crate::requests::photos::MAX_PHOTO_BYTES + 64 * 1024,
            )),
        )
        .route("/uploads/{id}", get(crate::requests::photos::download))
        .route("/staff/exports/{id}", get(crate::orders::export::download))
        .route(
            "/staff/finance/export",
            get(crate::finance::export::download),
        )
        .route(
            "/staff/admin/entities/{id}/prices/import",
            post(crate::admin::files::import_prices).layer(DefaultBodyLimit::max(
                crate::admin::files::MAX_IMPORT_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/staff/admin/entities/{id}/prices/export",
            get(crate::admin::files::export_prices),
        )
        .route(
            "/staff/admin/residents/import",
            post(crate::admin::files::import_residents).layer(DefaultBodyLimit::max(
                crate::admin::files::MAX_IMPORT_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/staff/admin/services/{id}/cover",
            post(crate::admin::files::upload_cover).layer(DefaultBodyLimit::max(
                crate::admin::files::MAX_COVER_BYTES + 64 * 1024,
            )),
        )
        .route("/covers/{id}", get(crate::admin::files::cover))
        .route("/payments/webhook", post(crate::payments::webhook::intake))
        .route(
            "/payments/webhook/{account}",
            post(crate::payments::webhook::intake_account),
        )
        .route("/api/live", get(crate::live::server::stream))
        .route(
            "/api/chat/photos",
            post(crate::chat::photos::upload).layer(DefaultBodyLimit::max(
                crate::chat::photos::MAX_PHOTO_BYTES + 64 * 1024,
            )),
        )
        .route("/api/chat/photos/{id}", get(crate::chat::photos::download))
        .leptos_routes_with_context(&state, routes, || {}, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        });
    if state.config.demo {
        app = app.route("/dev/sms", get(dev_sms));
    }
    if let Some(sandbox) = &state.sandbox {
        app = app.nest_service(
            "/sandbox",
            crate::payments::sandbox::router(sandbox.clone()),
        );
    }
    let pkg_dir = format!("{}/pkg", state.config.site_root);
    let security = Arc::new(security::Security::from_config(&state.config));
    app.nest_service("/pkg", ServeDir::new(pkg_dir).precompressed_br().precompressed_gzip())
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Server functions take at most this much (upload routes set their own limits).
        .layer(DefaultBodyLimit::max(crate::error::MAX_SERVER_FN_BODY_BYTES))
        // Inside compression: it reads refusals' bodies to give them their status.
        .layer(axum::middleware::from_fn_with_state(security, security::guard))
        // Files that are archives already (.xlsx exports, .zip) go as they are: compressing
        // them again took a third of a 100,000-row export and saved nothing.
        // The fastest level: SSR pages are made per request, and brotli's default (4)
        // zeroed and filled large tables for each — a third of the page's CPU under load.
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest).compress_when(
            DefaultPredicate::new()
                .and(NotForContentType::const_new("application/vnd.openxmlformats"))
                .and(NotForContentType::const_new("application/zip")),
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::session::session_middleware))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query("select 1").execute(&state.pool).await {
        Ok(_) => (http::StatusCode::OK, "ok"),
        Err(_) => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        ),
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Demo mode only: the text messages that would have been sent — to this machine only
/// (a loopback peer, not relayed by a proxy).
async fn dev_sms(
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let headers = req.headers();
    let local = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|p| p.0.ip().is_loopback())
        && !headers.contains_key("x-forwarded-for")
        && !headers.contains_key("forwarded");
    if !local {
        return (http::StatusCode::NOT_FOUND, "Не найдено").into_response();
    }
    let messages = crate::auth::sms::recent_demo_messages(&state.pool)
        .await
        .unwrap_or_default();
    let rows: String = messages
        .iter()
        .map(|(phone, body, at)| {
            format!(
                "<tr><td>{}</td><td class=\"phone\">{}</td><td class=\"body\">{}</td></tr>",
                crate::time::format_datetime(*at, state.config.utc_offset_minutes),
                escape_html(phone),
                escape_html(body)
            )
        })
        .collect();
    Html(format!(
        "<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>СМС (демо)</title>\
         <meta http-equiv=\"refresh\" content=\"5\"></head><body style=\"font-family:sans-serif\">\
         <h1>Отправленные СМС (демо-режим)</h1><table border=\"1\" cellpadding=\"6\">\
         <tr><th>Время</th><th>Телефон</th><th>Текст</th></tr>{rows}</table></body></html>"
    ))
    .into_response()
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("SUZ_LOG_JSON").is_ok_and(|v| v == "1") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Periodic housekeeping: expired sessions and old sign-in attempts.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = crate::time::now();
            if let Err(e) = crate::auth::repo::delete_expired_sessions(&state.pool, now).await {
                tracing::warn!(error = %e, "session cleanup failed");
            }
            if let Err(e) = crate::auth::rate_limit::prune(&state.pool, now).await {
                tracing::warn!(error = %e, "attempt cleanup failed");
            }
            if let Err(e) = db::optimize(&state.pool, false).await {
                tracing::warn!(error = %e, "pragma optimize failed");
            }
        }
    });
}

/// The command line: `suz` serves; `suz generate-orders N` fills the configured database
/// (demo catalog included) with N more generated orders.
pub async fn main_entry() -> Result<(), String> {
    init_tracing();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None | Some("serve") => run().await,
        Some("generate-orders") => {
            let count: u64 = args
                .get(2)
                .and_then(|n| n.replace('_', "").parse().ok())
                .ok_or("usage: suz generate-orders N [SEED]")?;
            let seed: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1);
            let mut config = Config::from_env()?;
            config.demo = true;
            let state = build_state(config).await?;
            let started = std::time::Instant::now();
            let total = crate::orders::generate::generate_orders(&state.pool, count, seed)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "generated {count} orders in {:.1} s; the database now holds {total}",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Some("sandbox-provider") => jobs::run_sandbox_provider().await,
        Some("simulate-month") => simulate_month(&args).await,
        Some(other) => Err(format!(
            "unknown command {other}; use `suz`, `suz generate-orders N`, `suz simulate-month N [SEED] [YYYY-MM]` \
             or `suz sandbox-provider`"
        )),
    }
}

/// `suz simulate-month N [SEED] [YYYY-MM]`: N orders of a month (the previous one by
/// default) through the real services, on the configured database with the demo catalog,
/// the app and its sandbox served on a free local port; then the books are checked.
async fn simulate_month(args: &[String]) -> Result<(), String> {
    use crate::finance::rules::Period;
    let usage = "usage: suz simulate-month N [SEED] [YYYY-MM]";
    let count: u64 = args
        .get(2)
        .and_then(|n| n.replace('_', "").parse().ok())
        .ok_or(usage)?;
    let seed: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut config = Config::from_env()?;
    config.demo = true;
    config.embedded_sandbox = true;
    let period = match args.get(4) {
        Some(p) => Period::parse(p).ok_or(usage)?,
        None => Period::of(crate::time::now(), config.utc_offset_minutes).prev(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = build_state(config.with_address(addr)).await?;
    let app = router(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let outcome = crate::finance::simulate::run(&state, period, count, seed)
        .await
        .map_err(|e| format!("simulation: {e:?}"))?;
    let checked = crate::finance::simulate::check(&state)
        .await
        .map_err(|e| format!("check: {e:?}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "month": period.to_string(), "outcome": outcome, "books": checked }))
            .unwrap_or_default()
    );
    if checked.problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} differences in the books",
            checked.problems.len()
        ))
    }
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    let listen = config.listen;
    let state = build_state(config).await?;
    spawn_housekeeping(state.clone());
    jobs::spawn(state.clone());
    let pool = state.pool.clone();
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listen {listen}: {e}"))?;
    // No Nagle delay: a streamed answer's last small piece must not wait for an ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    tracing::info!("listening on http://{listen}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server: {e}"))?;
    pool.close().await;
    Ok(())
}
