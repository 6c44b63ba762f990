//! The sandbox payment provider shipped with the project. It behaves like an acquirer:
//! an API for payments and refunds, its own hosted card page with test cards (success,
//! decline, a confirmation step), card tokens, an acquiring fee, refunds that complete
//! later, and webhooks signed with HMAC that arrive asynchronously, with retries, and
//! (by test card) lost, repeated or out of order. It keeps its own tables (`sandbox_*`)
//! and talks to the app only over HTTP, so it runs inside the app under `/sandbox` or
//! as a separate process (`suz sandbox-provider`).

use super::gateway::{
    signature, CreatePayment, CreateRefund, PayMethod, ProviderPayment, ProviderRefund,
    ProviderStatus, RefundStatus, WebhookEvent,
};
use super::http::HttpClient;
use crate::money::Money;
use axum::extract::{Form, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use rust_decimal::Decimal;
use sqlx::SqlitePool;
use std::sync::Arc;

#[path = "sandbox_receipts.rs"]
pub mod receipts;

/// Test cards of the hosted page.
pub mod cards {
    /// Paid.
    pub const SUCCESS: &str = "4242424242424242";
    /// Declined by the bank.
    pub const DECLINE: &str = "4000000000000002";
    /// Asks for a confirmation code (use 1234) before paying.
    pub const CONFIRM: &str = "4000000000003220";
    /// Paid, but every webhook about it is lost: only polling finds out.
    pub const LOST_WEBHOOKS: &str = "4000000000000077";
    /// Paid; webhooks come twice and a stale one arrives last.
    pub const REPEATED_WEBHOOKS: &str = "4000000000000101";
    /// The confirmation code of the sandbox.
    pub const CONFIRMATION_CODE: &str = "1234";
}

/// Test banks of the hosted СБП page (`/sbp/{id}`): the payer «chooses a bank» by the
/// button's `bank` value.
pub mod sbp_banks {
    /// «Сбербанк — оплатить»: paid.
    pub const PAY: &str = "sber";
    /// «Т-Банк — отклонить»: the payer's bank declines.
    pub const DECLINE: &str = "tbank";
    /// «ВТБ — оплатить, уведомление теряется»: paid, every webhook is lost.
    pub const LOST_WEBHOOKS: &str = "vtb";
    /// (value, button) in the page's order.
    pub const ALL: [(&str, &str); 3] = [
        (PAY, "Сбербанк — оплатить"),
        (DECLINE, "Т-Банк — отклонить"),
        (LOST_WEBHOOKS, "ВТБ — оплатить, уведомление теряется"),
    ];
}

/// The acquiring fee the sandbox keeps for a card payment, in percent of a payment.
pub fn fee_percent() -> Decimal {
    Decimal::new(22, 1)
}

/// The fee the sandbox keeps for an СБП payment, in percent (СБП is cheaper than cards).
pub fn sbp_fee_percent() -> Decimal {
    Decimal::new(4, 1)
}

/// The sandbox's fee of a payment method, in percent.
pub fn fee_percent_of(method: PayMethod) -> Decimal {
    match method {
        PayMethod::Card => fee_percent(),
        PayMethod::Sbp => sbp_fee_percent(),
    }
}

/// A payment not paid within this time expires (declined), like a real acquirer's.
pub const PAYMENT_TTL_SECONDS: i64 = 30 * 60;

const EXPIRED: &str = "Время на оплату истекло";

/// Declines payments left unpaid past [`PAYMENT_TTL_SECONDS`] (their webhooks follow).
pub async fn expire_due(sb: &Sandbox, t: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<String> = sqlx::query_scalar(
        "select id from sandbox_payments where status in ('pending', 'requires_confirmation') and created_at < ? limit 100",
    )
    .bind(t - PAYMENT_TTL_SECONDS)
    .fetch_all(&sb.pool)
    .await?;
    for id in &due {
        finish(sb, id, Outcome::Declined(EXPIRED), t).await?;
    }
    Ok(due.len())
}

/// The sandbox as a running service.
pub struct Sandbox {
    pub pool: SqlitePool,
    /// Shared with the app: API key and webhook signing secret.
    pub secret: String,
    /// Where payers' browsers reach the sandbox (for the hosted page).
    pub public_url: String,
    /// Where webhooks go.
    pub webhook_url: String,
    pub http: HttpClient,
    /// The provider's clock.
    pub clock: crate::time::Clock,
}

type Shared = Arc<Sandbox>;

pub fn router(sandbox: Shared) -> Router {
    Router::new()
        .route("/api/payments", post(api_create_payment))
        .route("/api/payments/{id}", get(api_payment))
        .route("/api/refunds", post(api_create_refund))
        .route("/api/refunds/{id}", get(api_refund))
        .route("/api/receipts", post(receipts::api_create))
        .route("/api/payments/{id}/receipts", get(receipts::api_list))
        .route("/receipts/{id}", get(receipts::page))
        .route("/pay/{id}", get(page).post(pay))
        .route("/pay/{id}/confirm", post(confirm))
        .route("/sbp/{id}", get(sbp_page).post(sbp_pay))
        .with_state(sandbox)
}

fn authorized(sandbox: &Sandbox, headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", sandbox.secret))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    amount_kopecks: i64,
    description: String,
    return_url: String,
    status: String,
    card_token: Option<String>,
    card_mask: Option<String>,
    save_card: bool,
    fee_kopecks: i64,
    failure: Option<String>,
    fault: String,
    created_at: i64,
    method: String,
}

impl PaymentRow {
    fn expired(&self, t: i64) -> bool {
        t - self.created_at > PAYMENT_TTL_SECONDS
    }

    fn status(&self) -> ProviderStatus {
        match self.status.as_str() {
            "succeeded" => ProviderStatus::Succeeded,
            "failed" => ProviderStatus::Failed,
            "requires_confirmation" => ProviderStatus::RequiresConfirmation,
            _ => ProviderStatus::Pending,
        }
    }

    fn method(&self) -> PayMethod {
        PayMethod::parse(&self.method).unwrap_or_default()
    }

    fn view(&self, public_url: &str) -> ProviderPayment {
        let status = self.status();
        let method = self.method();
        let page = match method {
            PayMethod::Card => "pay",
            PayMethod::Sbp => "sbp",
        };
        ProviderPayment {
            id: self.id.clone(),
            status,
            amount: Money::from_kopecks(self.amount_kopecks),
            confirmation_url: (!status.is_final())
                .then(|| format!("{public_url}/{page}/{}", self.id)),
            card_token: (status == ProviderStatus::Succeeded && self.save_card)
                .then(|| self.card_token.clone())
                .flatten(),
            card_mask: self.card_mask.clone(),
            fee: Some(Money::from_kopecks(self.fee_kopecks)),
            failure: self.failure.clone(),
            method,
        }
    }
}

async fn load<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    id: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, amount_kopecks, description, return_url, status, card_token, card_mask, save_card, \
         fee_kopecks, failure, fault, created_at, method from sandbox_payments where id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A write transaction that takes SQLite's write lock at its start (`BEGIN IMMEDIATE`, as
/// the app's [`crate::server::db::write_tx`]). A deferred one that reads first fails at
/// once with `SQLITE_BUSY` when another writer commits in between — under a burst of
/// refunds that answered 500 to most of them.
async fn write_tx(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

async fn api_create_payment(
    State(sb): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<CreatePayment>,
) -> Response {
    if !authorized(&sb, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "bad api key");
    }
    // СБП is a transfer from the payer's bank: no card is charged or remembered.
    if req.method == PayMethod::Sbp && (req.card_token.is_some() || req.save_card) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a card token or save_card with method sbp",
        );
    }
    // A receipt that comes with the payment is checked as a real provider checks it.
    if let Some(Err(m)) = req.receipt.as_ref().map(|r| receipts::check(r, req.amount)) {
        return refuse(StatusCode::BAD_REQUEST, &m);
    }
    match create_payment(&sb, req).await {
        Ok(p) => Json(p).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sandbox: create payment");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn create_payment(sb: &Sandbox, req: CreatePayment) -> Result<ProviderPayment, sqlx::Error> {
    // One write transaction: the same idempotency key returns the payment it created, and
    // a retry that races the first call waits for it and finds the payment as it ended
    // (a saved card's payment is never seen half-made, still pending).
    let id = new_id("pay");
    let t = sb.clock.now();
    let mut tx = write_tx(&sb.pool).await?;
    let inserted = sqlx::query(
        "insert into sandbox_payments (id, idempotency_key, amount_kopecks, description, return_url, status, \
         save_card, method, created_at, updated_at) values (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) \
         on conflict (idempotency_key) do nothing",
    )
    .bind(&id)
    .bind(&req.idempotency_key)
    .bind(req.amount.kopecks())
    .bind(&req.description)
    .bind(&req.return_url)
    .bind(req.save_card)
    .bind(req.method.as_str())
    .bind(t)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    let id = if inserted.rows_affected() == 0 {
        sqlx::query_scalar("select id from sandbox_payments where idempotency_key = ?")
            .bind(&req.idempotency_key)
            .fetch_one(&mut *tx)
            .await?
    } else {
        if let Some(receipt) = &req.receipt {
            let key = format!("{}:receipt", req.idempotency_key);
            receipts::keep(&mut tx, &id, None, &key, receipt, req.amount, t).await?;
        }
        if let Some(token) = req.card_token {
            // A saved card pays at once, without the page.
            let card: Option<String> =
                sqlx::query_scalar("select mask from sandbox_cards where token = ?")
                    .bind(&token)
                    .fetch_optional(&mut *tx)
                    .await?;
            let outcome = match card {
                Some(mask) => {
                    sqlx::query(
                        "update sandbox_payments set card_token = ?, card_mask = ? where id = ?",
                    )
                    .bind(&token)
                    .bind(&mask)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    Outcome::Paid
                }
                None => Outcome::Declined("Сохранённая карта не найдена"),
            };
            end_payment(&mut tx, sb, &id, outcome, t).await?;
        }
        id
    };
    let row = load(&mut *tx, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(row.view(&sb.public_url))
}

async fn api_payment(
    State(sb): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&sb, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "bad api key");
    }
    match load(&sb.pool, &id).await {
        Ok(Some(row)) => Json(row.view(&sb.public_url)).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no such payment"),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

enum Outcome {
    Paid,
    Declined(&'static str),
}

/// Ends a payment and schedules its webhooks, in one write transaction: of two calls that
/// race (a double submit, the expiry job), one ends the payment and only it sends webhooks.
async fn finish(sb: &Sandbox, id: &str, outcome: Outcome, t: i64) -> Result<(), sqlx::Error> {
    let mut tx = write_tx(&sb.pool).await?;
    end_payment(&mut tx, sb, id, outcome, t).await?;
    tx.commit().await
}

/// [`finish`] inside a write transaction the caller holds.
async fn end_payment(
    tx: &mut sqlx::SqliteConnection,
    sb: &Sandbox,
    id: &str,
    outcome: Outcome,
    t: i64,
) -> Result<(), sqlx::Error> {
    let row = load(&mut *tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    if row.status().is_final() {
        return Ok(());
    }
    match outcome {
        Outcome::Paid => {
            let fee = Money::from_kopecks(row.amount_kopecks)
                .checked_mul_decimal(fee_percent_of(row.method()) / Decimal::from(100))
                .unwrap_or(Money::ZERO);
            sqlx::query(
                "update sandbox_payments set status = 'succeeded', fee_kopecks = ?, updated_at = ? \
                 where id = ? and status in ('pending', 'requires_confirmation')",
            )
            .bind(fee.kopecks())
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Outcome::Declined(reason) => {
            sqlx::query(
                "update sandbox_payments set status = 'failed', failure = ?, updated_at = ? \
                 where id = ? and status in ('pending', 'requires_confirmation')",
            )
            .bind(reason)
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
    }
    let row = load(&mut *tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let event = WebhookEvent {
        event_id: new_id("evt"),
        payment: Some(row.view(&sb.public_url)),
        refund: None,
        receipt: None,
        reread: false,
    };
    match row.fault.as_str() {
        "lose_webhooks" => schedule(tx, &event, t + 1, true).await?,
        "repeat_webhooks" => {
            schedule(tx, &event, t + 1, false).await?;
            schedule(tx, &event, t + 3, false).await?;
            // A stale event about an earlier state arrives last.
            let mut stale = row.view(&sb.public_url);
            stale.status = ProviderStatus::Pending;
            let stale = WebhookEvent {
                event_id: new_id("evt"),
                payment: Some(stale),
                refund: None,
                receipt: None,
                reread: false,
            };
            schedule(tx, &stale, t + 5, false).await?;
        }
        _ => schedule(tx, &event, t + 1, false).await?,
    }
    Ok(())
}

async fn schedule(
    conn: &mut sqlx::SqliteConnection,
    event: &WebhookEvent,
    due: i64,
    dropped: bool,
) -> Result<(), sqlx::Error> {
    let body = serde_json::to_string(event).unwrap_or_default();
    sqlx::query(
        "insert into sandbox_webhooks (event_id, body, due_at, dropped) values (?, ?, ?, ?)",
    )
    .bind(&event.event_id)
    .bind(body)
    .bind(due)
    .bind(dropped)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Delivers due webhooks (signed), retrying failed deliveries with growing pauses.
/// Returns how many were delivered.
pub async fn deliver_due(sb: &Sandbox, t: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<(i64, String, i64)> = sqlx::query_as(
        "select id, body, attempts from sandbox_webhooks where delivered_at is null and dropped = 0 and due_at <= ? \
         order by due_at, id limit 50",
    )
    .bind(t)
    .fetch_all(&sb.pool)
    .await?;
    let mut delivered = 0;
    for (id, body, attempts) in due {
        let header = signature::sign(&sb.secret, t, body.as_bytes());
        let sent = sb
            .http
            .send(
                http::Method::POST,
                &sb.webhook_url,
                &[(signature::HEADER, header)],
                body.into_bytes(),
            )
            .await;
        match sent {
            Ok((status, _)) if status.is_success() => {
                delivered += 1;
                sqlx::query("update sandbox_webhooks set delivered_at = ?, attempts = attempts + 1 where id = ?")
                    .bind(t)
                    .bind(id)
                    .execute(&sb.pool)
                    .await?;
            }
            other => {
                tracing::warn!(?other, "sandbox: webhook not accepted, will retry");
                let pause = 2i64.pow((attempts as u32).min(9)).min(600);
                sqlx::query(
                    "update sandbox_webhooks set attempts = attempts + 1, due_at = ?, dropped = (attempts + 1 >= 12) where id = ?",
                )
                .bind(t + pause)
                .bind(id)
                .execute(&sb.pool)
                .await?;
            }
        }
    }
    Ok(delivered)
}

async fn api_create_refund(
    State(sb): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<CreateRefund>,
) -> Response {
    if !authorized(&sb, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "bad api key");
    }
    if let Some(Err(m)) = req.receipt.as_ref().map(|r| receipts::check(r, req.amount)) {
        return refuse(StatusCode::BAD_REQUEST, &m);
    }
    match create_refund(&sb, req).await {
        Ok(Ok(r)) => Json(r).into_response(),
        Ok(Err(msg)) => refuse(StatusCode::UNPROCESSABLE_ENTITY, msg),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn load_refund<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    id: &str,
) -> Result<Option<ProviderRefund>, sqlx::Error> {
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "select id, payment_id, status, amount_kopecks from sandbox_refunds where id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, payment_id, status, amount)| ProviderRefund {
        id,
        payment_id,
        status: match status.as_str() {
            "succeeded" => RefundStatus::Succeeded,
            "failed" => RefundStatus::Failed,
            _ => RefundStatus::Pending,
        },
        amount: Money::from_kopecks(amount),
    }))
}

/// Refunds are accepted at once and complete a little later ([`REFUND_DELAY_SECONDS`]).
pub const REFUND_DELAY_SECONDS: i64 = 5;

async fn create_refund(
    sb: &Sandbox,
    req: CreateRefund,
) -> Result<Result<ProviderRefund, &'static str>, sqlx::Error> {
    // One write transaction from the first read: the refundable rest it checks is still
    // the rest when the refund is written, and retries with one key find the first.
    let mut tx = write_tx(&sb.pool).await?;
    let existing: Option<String> =
        sqlx::query_scalar("select id from sandbox_refunds where idempotency_key = ?")
            .bind(&req.idempotency_key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = existing {
        tx.commit().await?;
        return Ok(load_refund(&sb.pool, &id).await?.ok_or("no such refund"));
    }
    let paid: Option<(i64, String)> =
        sqlx::query_as("select amount_kopecks, status from sandbox_payments where id = ?")
            .bind(&req.payment_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((amount, status)) = paid else {
        return Ok(Err("no such payment"));
    };
    if status != "succeeded" {
        return Ok(Err("payment not succeeded"));
    }
    let refunded: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_kopecks), 0) from sandbox_refunds where payment_id = ? and status <> 'failed'",
    )
    .bind(&req.payment_id)
    .fetch_one(&mut *tx)
    .await?;
    if req.amount.kopecks() <= 0 || refunded + req.amount.kopecks() > amount {
        return Ok(Err("amount exceeds the refundable rest"));
    }
    let id = new_id("rfd");
    let t = sb.clock.now();
    sqlx::query(
        "insert into sandbox_refunds (id, payment_id, idempotency_key, amount_kopecks, status, due_at, created_at) \
         values (?, ?, ?, ?, 'pending', ?, ?)",
    )
    .bind(&id)
    .bind(&req.payment_id)
    .bind(&req.idempotency_key)
    .bind(req.amount.kopecks())
    .bind(t + REFUND_DELAY_SECONDS)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    if let Some(receipt) = &req.receipt {
        let key = format!("{}:receipt", req.idempotency_key);
        let payment = &req.payment_id;
        receipts::keep(&mut tx, payment, Some(&id), &key, receipt, req.amount, t).await?;
    }
    tx.commit().await?;
    Ok(load_refund(&sb.pool, &id).await?.ok_or("no such refund"))
}

/// Completes refunds whose time has come and schedules their webhooks.
pub async fn complete_due_refunds(sb: &Sandbox, t: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<String> = sqlx::query_scalar(
        "select id from sandbox_refunds where status = 'pending' and due_at <= ? order by due_at limit 50",
    )
    .bind(t)
    .fetch_all(&sb.pool)
    .await?;
    for id in &due {
        // Completing and scheduling together: a refund completed by another run of this
        // job (another process) gets no second webhook.
        let mut tx = write_tx(&sb.pool).await?;
        let completed = sqlx::query(
            "update sandbox_refunds set status = 'succeeded' where id = ? and status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if completed.rows_affected() == 1 {
            if let Some(refund) = load_refund(&mut *tx, id).await? {
                let event = WebhookEvent {
                    event_id: new_id("evt"),
                    payment: None,
                    refund: Some(refund),
                    receipt: None,
                    reread: false,
                };
                schedule(&mut tx, &event, t + 1, false).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(due.len())
}

async fn api_refund(
    State(sb): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&sb, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "bad api key");
    }
    match load_refund(&sb.pool, &id).await {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no such refund"),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page_html(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;background:#eef2f7;margin:0;padding:1rem;color:#1c2430}}\
         main{{max-width:420px;margin:0 auto;background:#fff;border-radius:14px;padding:1.25rem}}\
         h1{{font-size:1.2rem}} label{{display:flex;flex-direction:column;gap:.3rem;margin:.7rem 0}}\
         input{{font-size:1.1rem;padding:.6rem;border:1px solid #cfd6e0;border-radius:8px}}\
         .row{{display:flex;gap:.75rem}} .row label{{flex:1}}\
         button{{width:100%;min-height:48px;font-size:1.05rem;border:0;border-radius:10px;background:#0a7d4f;color:#fff;margin-top:.8rem}}\
         .amount{{font-size:1.6rem;font-weight:700}} .err{{color:#c62828}} .hint{{color:#667;font-size:.85rem}}\
         </style></head><body><main><p class=\"hint\">Песочница платёжной системы · тестовый режим</p>{body}</main></body></html>"
    ))
}

fn no_such_payment() -> Response {
    (
        StatusCode::NOT_FOUND,
        page_html("Платёж не найден", "<h1>Платёж не найден</h1>"),
    )
        .into_response()
}

async fn page(State(sb): State<Shared>, Path(id): Path<String>) -> Response {
    match load(&sb.pool, &id).await {
        Ok(Some(row)) if row.method() == PayMethod::Sbp => {
            Redirect::to(&format!("{}/sbp/{id}", sb.public_url)).into_response()
        }
        Ok(Some(row)) => render_page(&row, None).into_response(),
        _ => no_such_payment(),
    }
}

fn render_page(row: &PaymentRow, error: Option<&str>) -> Html<String> {
    let amount = Money::from_kopecks(row.amount_kopecks);
    if row.status().is_final() {
        return page_html(
            "Оплата",
            &format!(
                "<h1>Платёж уже обработан</h1><p><a href=\"{}\">Вернуться в приложение</a></p>",
                escape(&row.return_url)
            ),
        );
    }
    if row.status() == ProviderStatus::RequiresConfirmation {
        return page_html(
            "Подтверждение",
            &format!(
                "<h1>Подтверждение платежа</h1><p class=\"amount\">{}</p>\
                 <form method=\"post\" action=\"{}/confirm\"><label>Код подтверждения из СМС банка\
                 <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required></label>\
                 {}<button type=\"submit\">Подтвердить</button></form>\
                 <p class=\"hint\">В песочнице код — {}</p>",
                escape(&amount.to_string()),
                escape(&row.id),
                error.map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default(),
                cards::CONFIRMATION_CODE,
            ),
        );
    }
    page_html(
        "Оплата картой",
        &format!(
            "<h1>{}</h1><p class=\"amount\">{}</p>\
             <form method=\"post\"><label>Номер карты<input name=\"number\" inputmode=\"numeric\" autocomplete=\"cc-number\" required></label>\
             <div class=\"row\"><label>Срок (ММ/ГГ)<input name=\"expiry\" placeholder=\"12/30\" autocomplete=\"cc-exp\" required></label>\
             <label>CVC<input name=\"cvc\" inputmode=\"numeric\" autocomplete=\"cc-csc\" required></label></div>\
             {}<button type=\"submit\">Оплатить {}</button></form>\
             <p class=\"hint\">Тестовые карты: {} — успешно; {} — отказ банка; {} — с подтверждением кодом {}; \
             {} — успешно, но уведомления теряются; {} — уведомления повторяются.</p>",
            escape(&row.description),
            escape(&amount.to_string()),
            error.map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default(),
            escape(&amount.to_string()),
            cards::SUCCESS,
            cards::DECLINE,
            cards::CONFIRM,
            cards::CONFIRMATION_CODE,
            cards::LOST_WEBHOOKS,
            cards::REPEATED_WEBHOOKS,
        ),
    )
}

#[derive(serde::Deserialize)]
struct CardForm {
    number: String,
    expiry: String,
    cvc: String,
}

/// Luhn check of a card number.
pub fn luhn_ok(digits: &str) -> bool {
    if !(12..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `MM/YY` not in the past (months counted from the Unix epoch, UTC).
fn expiry_ok(text: &str, t: i64) -> bool {
    let Some((m, y)) = text.trim().split_once('/') else {
        return false;
    };
    let (Ok(m), Ok(y)) = (m.trim().parse::<i64>(), y.trim().parse::<i64>()) else {
        return false;
    };
    if !(1..=12).contains(&m) {
        return false;
    }
    let year = if y < 100 { 2000 + y } else { y };
    let today = crate::time::LocalDateTime::from_unix(t, 0);
    (year, m) >= (today.year, i64::from(today.month))
}

async fn pay(
    State(sb): State<Shared>,
    Path(id): Path<String>,
    Form(card): Form<CardForm>,
) -> Response {
    let Ok(Some(row)) = load(&sb.pool, &id).await else {
        return no_such_payment();
    };
    let t = sb.clock.now();
    if row.expired(t) {
        let _ = finish(&sb, &id, Outcome::Declined(EXPIRED), t).await;
        return Redirect::to(&row.return_url).into_response();
    }
    if row.status().is_final() {
        return Redirect::to(&row.return_url).into_response();
    }
    if row.method() == PayMethod::Sbp {
        return Redirect::to(&format!("{}/sbp/{id}", sb.public_url)).into_response();
    }
    let number: String = card.number.chars().filter(|c| c.is_ascii_digit()).collect();
    if !luhn_ok(&number) {
        return render_page(&row, Some("Проверьте номер карты")).into_response();
    }
    if !expiry_ok(&card.expiry, t) {
        return render_page(&row, Some("Проверьте срок действия карты")).into_response();
    }
    let cvc_ok = card.cvc.trim().len() == 3 && card.cvc.trim().chars().all(|c| c.is_ascii_digit());
    if !cvc_ok {
        return render_page(&row, Some("CVC — три цифры с обратной стороны карты")).into_response();
    }
    let mask = format!("•••• {}", &number[number.len() - 4..]);
    let token = format!("card_{}", uuid::Uuid::new_v4().simple());
    let fault = match number.as_str() {
        cards::LOST_WEBHOOKS => "lose_webhooks",
        cards::REPEATED_WEBHOOKS => "repeat_webhooks",
        _ => "",
    };
    let saved = async {
        if row.save_card {
            sqlx::query("insert into sandbox_cards (token, mask, number_last4, created_at) values (?, ?, ?, ?)")
                .bind(&token)
                .bind(&mask)
                .bind(&number[number.len() - 4..])
                .bind(t)
                .execute(&sb.pool)
                .await?;
        }
        sqlx::query("update sandbox_payments set card_token = ?, card_mask = ?, fault = ?, updated_at = ? where id = ?")
            .bind(row.save_card.then_some(&token))
            .bind(&mask)
            .bind(fault)
            .bind(t)
            .bind(&id)
            .execute(&sb.pool)
            .await?;
        match number.as_str() {
            cards::DECLINE => finish(&sb, &id, Outcome::Declined("Банк отклонил платёж"), t).await,
            cards::CONFIRM => {
                sqlx::query("update sandbox_payments set status = 'requires_confirmation' where id = ?")
                    .bind(&id)
                    .execute(&sb.pool)
                    .await
                    .map(|_| ())
            }
            _ => finish(&sb, &id, Outcome::Paid, t).await,
        }
    }
    .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "sandbox: pay");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            page_html("Ошибка", "<h1>Ошибка, попробуйте ещё раз</h1>"),
        )
            .into_response();
    }
    if number == cards::CONFIRM {
        return Redirect::to(&format!("{}/pay/{id}", sb.public_url)).into_response();
    }
    Redirect::to(&row.return_url).into_response()
}

#[derive(serde::Deserialize)]
struct ConfirmForm {
    code: String,
}

async fn confirm(
    State(sb): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let Ok(Some(row)) = load(&sb.pool, &id).await else {
        return no_such_payment();
    };
    if row.expired(sb.clock.now()) {
        let _ = finish(&sb, &id, Outcome::Declined(EXPIRED), sb.clock.now()).await;
        return Redirect::to(&row.return_url).into_response();
    }
    if row.status() != ProviderStatus::RequiresConfirmation {
        return Redirect::to(&row.return_url).into_response();
    }
    if form.code.trim() != cards::CONFIRMATION_CODE {
        return render_page(&row, Some("Неверный код")).into_response();
    }
    if let Err(e) = finish(&sb, &id, Outcome::Paid, sb.clock.now()).await {
        tracing::error!(error = %e, "sandbox: confirm");
    }
    Redirect::to(&row.return_url).into_response()
}

/// What the СБП QR code of a payment carries: in the sandbox, the address of its page
/// (a real provider's is an НСПК link such as `https://qr.nspk.ru/…`).
pub fn sbp_payload(public_url: &str, id: &str) -> String {
    format!("{public_url}/sbp/{id}")
}

async fn sbp_page(State(sb): State<Shared>, Path(id): Path<String>) -> Response {
    match load(&sb.pool, &id).await {
        Ok(Some(row)) if row.method() == PayMethod::Sbp => {
            render_sbp_page(&sb, &row, None).into_response()
        }
        Ok(Some(_)) => Redirect::to(&format!("{}/pay/{id}", sb.public_url)).into_response(),
        _ => no_such_payment(),
    }
}

fn render_sbp_page(sb: &Sandbox, row: &PaymentRow, error: Option<&str>) -> Html<String> {
    if row.status().is_final() {
        return render_page(row, None);
    }
    let amount = escape(&Money::from_kopecks(row.amount_kopecks).to_string());
    let buttons: String = sbp_banks::ALL
        .iter()
        .map(|(value, label)| {
            format!("<button type=\"submit\" name=\"bank\" value=\"{value}\">{label}</button>")
        })
        .collect();
    page_html(
        "Оплата через СБП",
        &format!(
            "<h1>{}</h1><p class=\"amount\">{amount}</p>\
             <p>Оплата через Систему быстрых платежей. Отсканируйте QR-код камерой телефона \
             или выберите банк — перевод подтверждается в приложении банка.</p>\
             <p class=\"hint\">Ссылка QR-кода: <code data-testid=\"sbp-payload\">{}</code></p>\
             {}<form method=\"post\"><fieldset style=\"border:0;padding:0;margin:0\">\
             <legend>Тестовые банки</legend>{buttons}</fieldset></form>",
            escape(&row.description),
            escape(&sbp_payload(&sb.public_url, &row.id)),
            error
                .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", escape(e)))
                .unwrap_or_default(),
        ),
    )
}

#[derive(serde::Deserialize)]
struct BankForm {
    #[serde(default)]
    bank: String,
}

/// The payer «confirms the transfer in the bank's app»: a test bank decides the outcome.
async fn sbp_pay(
    State(sb): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<BankForm>,
) -> Response {
    let Ok(Some(row)) = load(&sb.pool, &id).await else {
        return no_such_payment();
    };
    if row.method() != PayMethod::Sbp {
        return Redirect::to(&format!("{}/pay/{id}", sb.public_url)).into_response();
    }
    let t = sb.clock.now();
    if row.expired(t) {
        let _ = finish(&sb, &id, Outcome::Declined(EXPIRED), t).await;
        return Redirect::to(&row.return_url).into_response();
    }
    if row.status().is_final() {
        return Redirect::to(&row.return_url).into_response();
    }
    let outcome = match form.bank.as_str() {
        sbp_banks::PAY | sbp_banks::LOST_WEBHOOKS => Outcome::Paid,
        sbp_banks::DECLINE => Outcome::Declined("Банк плательщика отклонил перевод"),
        _ => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                render_sbp_page(&sb, &row, Some("Выберите банк")),
            )
                .into_response()
        }
    };
    let fault = if form.bank == sbp_banks::LOST_WEBHOOKS {
        "lose_webhooks"
    } else {
        ""
    };
    let done = async {
        sqlx::query("update sandbox_payments set fault = ?, updated_at = ? where id = ?")
            .bind(fault)
            .bind(t)
            .bind(&id)
            .execute(&sb.pool)
            .await?;
        finish(&sb, &id, outcome, t).await
    }
    .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "sandbox: sbp pay");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            page_html("Ошибка", "<h1>Ошибка, попробуйте ещё раз</h1>"),
        )
            .into_response();
    }
    Redirect::to(&row.return_url).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_pass_the_luhn_check() {
        for n in [
            cards::SUCCESS,
            cards::DECLINE,
            cards::CONFIRM,
            cards::LOST_WEBHOOKS,
            cards::REPEATED_WEBHOOKS,
        ] {
            assert!(luhn_ok(n), "{n}");
        }
        assert!(!luhn_ok("4242424242424241"));
        assert!(!luhn_ok("4242"));
    }

    #[test]
    fn expiry_is_month_and_year_not_in_the_past() {
        let nov_2026 = 1_795_000_000; // 2026-11-19
        assert!(expiry_ok("11/26", nov_2026));
        assert!(expiry_ok("01/30", nov_2026));
        assert!(!expiry_ok("10/26", nov_2026));
        assert!(!expiry_ok("13/30", nov_2026));
        assert!(!expiry_ok("1230", nov_2026));
    }
}
