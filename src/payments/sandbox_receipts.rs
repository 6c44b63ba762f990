//! The sandbox provider's cloud cash register: receipts that come with payments and
//! refunds, and receipts sent on their own (the «Полный расчет» offsetting a prepayment).
//! Each is checked as a real provider checks it (the lines add up to the amount, every
//! line's amount is price × quantity, VAT codes known, a customer contact) and refused
//! with 400 otherwise; kept ones are registered a little later ([`REGISTER_DELAY_SECONDS`],
//! once their payment or refund has succeeded) with generated fiscal data, announced by a
//! signed webhook, listed by `GET /api/payments/{id}/receipts` and shown as a page at
//! `/sandbox/receipts/{id}`.

use super::{authorized, escape, new_id, page_html, refuse, schedule, write_tx, Sandbox};
use crate::money::Money;
use crate::payments::gateway::{
    CreateReceipt, FiscalData, ProviderReceipt, Receipt, ReceiptKind, ReceiptStatus, WebhookEvent,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;
use std::sync::Arc;

/// A kept receipt is registered this long after it came (and not before its payment or
/// refund succeeded).
pub const REGISTER_DELAY_SECONDS: i64 = 2;

/// What the sandbox keeps of a receipt (`sandbox_receipts.body`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    receipt: Receipt,
    amount: Money,
    #[serde(default)]
    fiscal: Option<FiscalData>,
}

/// Why the provider refuses a receipt for `amount`.
pub fn check(receipt: &Receipt, amount: Money) -> Result<(), String> {
    crate::receipts::rules::check(receipt, amount)
}

/// Keeps a checked receipt that came with a payment or a refund (in the caller's write
/// transaction). The same key keeps it once.
pub async fn keep(
    conn: &mut SqliteConnection,
    payment_id: &str,
    refund_id: Option<&str>,
    key: &str,
    receipt: &Receipt,
    amount: Money,
    t: i64,
) -> Result<(), sqlx::Error> {
    let body = Kept {
        receipt: receipt.clone(),
        amount,
        fiscal: None,
    };
    sqlx::query(
        "insert into sandbox_receipts (id, idempotency_key, payment_id, refund_id, kind, body, status, due_at, created_at) \
         values (?, ?, ?, ?, ?, ?, 'pending', ?, ?) on conflict (idempotency_key) do nothing",
    )
    .bind(new_id("rct"))
    .bind(key)
    .bind(payment_id)
    .bind(refund_id)
    .bind(receipt.kind.as_str())
    .bind(serde_json::to_string(&body).unwrap_or_default())
    .bind(t + REGISTER_DELAY_SECONDS)
    .bind(t)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    payment_id: Option<String>,
    refund_id: Option<String>,
    kind: String,
    body: String,
    status: String,
    failure: Option<String>,
    created_at: i64,
}

impl Row {
    fn kept(&self) -> Option<Kept> {
        serde_json::from_str(&self.body).ok()
    }

    fn view(&self) -> ProviderReceipt {
        ProviderReceipt {
            id: Some(self.id.clone()),
            payment_id: self.payment_id.clone(),
            refund_id: self.refund_id.clone(),
            kind: ReceiptKind::parse(&self.kind).unwrap_or(ReceiptKind::Prepayment),
            status: match self.status.as_str() {
                "succeeded" => ReceiptStatus::Registered,
                "canceled" => ReceiptStatus::Failed,
                _ => ReceiptStatus::Pending,
            },
            fiscal: self.kept().and_then(|k| k.fiscal),
            failure: self.failure.clone(),
        }
    }
}

const COLUMNS: &str = "id, payment_id, refund_id, kind, body, status, failure, created_at";

async fn load<'e>(db: impl sqlx::SqliteExecutor<'e>, id: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from sandbox_receipts where id = ?"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Digits derived from the receipt's id: stable fiscal numbers for the demo.
fn digits(id: &str, salt: &str, n: usize) -> String {
    let hash = Sha256::digest(format!("{salt}:{id}").as_bytes());
    hash.iter()
        .map(|b| char::from(b'0' + b % 10))
        .take(n)
        .collect()
}

fn fiscal(sb: &Sandbox, id: &str, number: i64, t: i64) -> FiscalData {
    FiscalData {
        fn_number: Some(format!("7380{}", digits(id, "fn", 12))),
        fiscal_document: Some(number.to_string()),
        fiscal_sign: Some(digits(id, "fp", 10).trim_start_matches('0').to_owned() + "1"),
        fiscal_number: Some(number.to_string()),
        ofd: Some("ОФД песочницы".into()),
        url: Some(format!("{}/receipts/{id}", sb.public_url)),
        qr_url: None,
        registered_at: Some(t),
    }
}

/// Registers kept receipts whose time has come and whose payment or refund succeeded
/// (those of failed ones are cancelled), and announces each by webhook.
pub async fn complete_due_receipts(sb: &Sandbox, t: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from sandbox_receipts where status = 'pending' and due_at <= ? order by due_at limit 50"
    ))
    .bind(t)
    .fetch_all(&sb.pool)
    .await?;
    let mut done = 0;
    for row in due {
        let mut tx = write_tx(&sb.pool).await?;
        let basis: Option<String> = match (&row.refund_id, &row.payment_id) {
            (Some(refund), _) => {
                sqlx::query_scalar("select status from sandbox_refunds where id = ?")
                    .bind(refund)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            (None, Some(payment)) => {
                sqlx::query_scalar("select status from sandbox_payments where id = ?")
                    .bind(payment)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            (None, None) => None,
        };
        match basis.as_deref() {
            Some("succeeded") => {
                let number: i64 = sqlx::query_scalar(
                    "select count(*) + 1 from sandbox_receipts where status = 'succeeded'",
                )
                .fetch_one(&mut *tx)
                .await?;
                let Some(mut kept) = row.kept() else {
                    continue;
                };
                kept.fiscal = Some(fiscal(sb, &row.id, number, t));
                let changed = sqlx::query(
                    "update sandbox_receipts set status = 'succeeded', body = ? where id = ? and status = 'pending'",
                )
                .bind(serde_json::to_string(&kept).unwrap_or_default())
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() == 1 {
                    done += 1;
                    if let Some(now) = load(&mut *tx, &row.id).await? {
                        let event = WebhookEvent {
                            event_id: new_id("evt"),
                            payment: None,
                            refund: None,
                            receipt: Some(now.view()),
                            reread: false,
                        };
                        schedule(&mut tx, &event, t + 1, false).await?;
                    }
                }
            }
            Some("failed") | None => {
                sqlx::query(
                    "update sandbox_receipts set status = 'canceled', failure = 'платёж или возврат не прошёл' \
                     where id = ? and status = 'pending'",
                )
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
            }
            // Still under way: registered once it succeeds.
            Some(_) => {}
        }
        tx.commit().await?;
    }
    Ok(done)
}

/// `POST /api/receipts`: a receipt on its own, for a succeeded payment.
pub async fn api_create(
    State(sb): State<Arc<Sandbox>>,
    headers: HeaderMap,
    Json(req): Json<CreateReceipt>,
) -> Response {
    if !authorized(&sb, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "bad api key");
    }
    if let Err(m) = check(&req.receipt, req.prepaid) {
        return refuse(StatusCode::BAD_REQUEST, &m);
    }
    match create(&sb, &req).await {
        Ok(Ok(r)) => Json(r.view()).into_response(),
        Ok(Err(m)) => refuse(StatusCode::BAD_REQUEST, m),
        Err(e) => {
            tracing::error!(error = %e, "sandbox: create receipt");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn create(
    sb: &Sandbox,
    req: &CreateReceipt,
) -> Result<Result<Row, &'static str>, sqlx::Error> {
    let mut tx = write_tx(&sb.pool).await?;
    let existing: Option<String> =
        sqlx::query_scalar("select id from sandbox_receipts where idempotency_key = ?")
            .bind(&req.idempotency_key)
            .fetch_optional(&mut *tx)
            .await?;
    if existing.is_none() {
        let paid: Option<(String, i64)> =
            sqlx::query_as("select status, amount_kopecks from sandbox_payments where id = ?")
                .bind(&req.payment_id)
                .fetch_optional(&mut *tx)
                .await?;
        match paid {
            None => return Ok(Err("Нет такого платежа")),
            Some((status, _)) if status != "succeeded" => {
                return Ok(Err("Платёж не завершён: зачесть нечего"))
            }
            Some((_, amount)) if req.prepaid.kopecks() > amount => {
                return Ok(Err("Зачёт больше суммы платежа"))
            }
            Some(_) => {}
        }
        keep(
            &mut tx,
            &req.payment_id,
            None,
            &req.idempotency_key,
            &req.receipt,
            req.prepaid,
            sb.clock.now(),
        )
        .await?;
    }
    let id: String =
        sqlx::query_scalar("select id from sandbox_receipts where idempotency_key = ?")
            .bind(&req.idempotency_key)
            .fetch_one(&mut *tx)
            .await?;
    let row = load(&mut *tx, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(Ok(row))
}

/// `GET /api/payments/{id}/receipts`: a payment's receipts, its refunds' included.
pub async fn api_list(
    State(sb): State<Arc<Sandbox>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&sb, &headers) {
        return refuse(StatusCode::UNAUTHORIZED, "bad api key");
    }
    let rows: Result<Vec<Row>, sqlx::Error> = sqlx::query_as(&format!(
        "select {COLUMNS} from sandbox_receipts where payment_id = ? order by created_at, id"
    ))
    .bind(&id)
    .fetch_all(&sb.pool)
    .await;
    match rows {
        Ok(rows) => Json(rows.iter().map(Row::view).collect::<Vec<_>>()).into_response(),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

fn kind_title(kind: ReceiptKind) -> &'static str {
    match kind {
        ReceiptKind::Refund => "Возврат прихода",
        _ => "Приход",
    }
}

fn mode_label(mode: crate::payments::gateway::PaymentMode) -> &'static str {
    match mode {
        crate::payments::gateway::PaymentMode::FullPrepayment => "Предоплата 100%",
        crate::payments::gateway::PaymentMode::FullPayment => "Полный расчет",
    }
}

/// `GET /receipts/{id}`: a registered receipt as the ОФД would show it.
pub async fn page(State(sb): State<Arc<Sandbox>>, Path(id): Path<String>) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            page_html("Чек не найден", "<h1>Чек не найден</h1>"),
        )
            .into_response()
    };
    let Ok(Some(row)) = load(&sb.pool, &id).await else {
        return not_found();
    };
    let (Some(kept), "succeeded") = (row.kept(), row.status.as_str()) else {
        return not_found();
    };
    let f = kept.fiscal.clone().unwrap_or_default();
    let lines: String = kept
        .receipt
        .lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}<br><small>{} · {}</small></td><td>{} {} × {}</td><td>{}</td></tr>",
                escape(&l.name),
                mode_label(l.mode),
                escape(&l.vat_code),
                escape(&l.quantity.normalize().to_string()),
                escape(&l.unit),
                escape(&l.price.to_string()),
                escape(&l.amount.to_string()),
            )
        })
        .collect();
    let offset = if kept.receipt.kind == ReceiptKind::Offset {
        format!(
            "<p>Зачет предоплаты: {}</p>",
            escape(&kept.amount.to_string())
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Кассовый чек · {}</h1><p class=\"hint\">№ {} · {}</p>\
         <table class=\"lines\">{lines}</table><p class=\"amount\">Итого {}</p>{offset}\
         <p>СНО: {}</p><p>Покупатель: {}</p>\
         <p>ФН {} · ФД {} · ФП {}</p><p class=\"hint\">{}</p>",
        kind_title(kept.receipt.kind),
        escape(&row.id),
        crate::time::format_datetime(f.registered_at.unwrap_or(row.created_at), 180),
        escape(&kept.amount.to_string()),
        kept.receipt.taxation.label(),
        escape(
            kept.receipt
                .email
                .as_deref()
                .or(kept.receipt.phone.as_deref())
                .unwrap_or("")
        ),
        escape(f.fn_number.as_deref().unwrap_or("")),
        escape(f.fiscal_document.as_deref().unwrap_or("")),
        escape(f.fiscal_sign.as_deref().unwrap_or("")),
        escape(f.ofd.as_deref().unwrap_or("")),
    );
    page_html("Кассовый чек", &body).into_response()
}
