//! Receipts on the server: written in the same transaction as the money event they
//! belong to, sent with the payment or refund (or on their own through the outbox), and
//! completed with the fiscal data the provider reports.
//!
//! - A card/СБП payment gets its receipt row when it is created: «Предоплата 100%» while
//!   the order is not «Выполнено», «Полный расчет» after. The receipt travels with the
//!   payment; it is «Отправлен» once the payment succeeded and dropped if it failed.
//! - A refund gets «Возврат прихода» with exactly its lines, sent with the refund, dropped
//!   if the refund fails.
//! - When the order reaches «Выполнено», every invoice paid by card/СБП with a prepayment
//!   receipt gets, once, the «Полный расчет» offsetting it (зачет предоплаты): what refunds
//!   left of the invoice's lines. It goes on its own through [`recover`] with its
//!   idempotency key, retried with growing pauses up to [`rules::MAX_ATTEMPTS`].
//! - Cash («Отметить как оплаченный») is recorded as an 'outside' receipt: the partner's
//!   own cash register issues it.
//! - A legal entity printing its receipts on its own register (`receipts_via =
//!   'own_register'`) gets the same rows in the state 'outside': nothing is sent, and
//!   reconciliation still sees every payment, refund and offset accounted for.

use super::model::{Kind, LineView, ReceiptLink, ReceiptView, ReceiptsBlock, State};
use super::rules::{self, SourceLine};
use crate::auth::model::StaffUser;
use crate::error::{AppError, AppResult};
use crate::finance::api::Difference;
use crate::invoices::rules::format_quantity;
use crate::money::Money;
use crate::payments::gateway::{
    CreateReceipt, GatewayError, PaymentMode, PaymentSubject, ProviderReceipt, Receipt,
    ReceiptKind, ReceiptLine, ReceiptStatus, Taxation,
};
use crate::server::db::{stored_json, write_tx};
use crate::server::state::AppState;
use rust_decimal::Decimal;
use sqlx::{SqliteConnection, SqlitePool};
use std::str::FromStr;

/// A receipt «Отправлен» this long without news is asked about (the provider's polling).
pub const POLL_AFTER_SECONDS: i64 = 30;

/// An invoice line: id, name, unit, quantity, price, amount, VAT code, subject.
type InvoiceLineRow = (i64, String, String, String, i64, i64, String, String);
/// A stored receipt line: name, unit, quantity, price, amount, VAT code, subject, mode.
type StoredLineRow = (String, String, String, i64, i64, String, String, String);
/// A prepayment receipt to offset: invoice, payment, state, taxation, e-mail, phone.
type PrepaidRow = (i64, i64, String, String, Option<String>, Option<String>);
/// A money event and its receipt: order, id, amount, receipt state, failure.
type EventReceiptRow = (i64, i64, i64, Option<String>, Option<String>);

fn decimal(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or(Decimal::ONE)
}

fn subject(s: &str) -> PaymentSubject {
    PaymentSubject::parse(s).unwrap_or(PaymentSubject::Service)
}

/// What a payment's receipts need to know about it.
#[derive(sqlx::FromRow)]
struct PaymentFacts {
    invoice_id: i64,
    order_id: i64,
    commission_kopecks: i64,
    amount_kopecks: i64,
    receipt_email: Option<String>,
    account_id: Option<i64>,
    provider: String,
    order_status: String,
    taxation: String,
    receipts_via: String,
    phone: String,
}

async fn payment_facts(conn: &mut SqliteConnection, payment_id: i64) -> AppResult<PaymentFacts> {
    sqlx::query_as(
        "select p.invoice_id, p.order_id, p.commission_kopecks, p.amount_kopecks, p.receipt_email, p.account_id, \
         p.provider, o.status as order_status, le.taxation, le.receipts_via, r.phone \
         from payments p join orders o on o.order_id = p.order_id \
         join legal_entities le on le.legal_entity_id = o.legal_entity_id \
         join residents r on r.resident_id = p.resident_id where p.payment_id = ?",
    )
    .bind(payment_id)
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)
}

fn taxation(s: &str) -> Taxation {
    Taxation::parse(s).unwrap_or(Taxation::UsnIncome)
}

/// The invoice's lines, as the receipt sees them.
async fn invoice_lines(
    conn: &mut SqliteConnection,
    invoice_id: i64,
) -> AppResult<Vec<(i64, SourceLine)>> {
    let rows: Vec<InvoiceLineRow> = sqlx::query_as(
        "select line_id, name, unit, quantity, unit_price_kopecks, amount_kopecks, vat_code, payment_subject \
         from invoice_lines where invoice_id = ? order by line_id",
    )
    .bind(invoice_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, unit, q, price, amount, vat, subj)| {
            (
                id,
                SourceLine {
                    name,
                    unit,
                    quantity: decimal(&q),
                    unit_price: Money::from_kopecks(price),
                    amount: Money::from_kopecks(amount),
                    vat_code: vat,
                    subject: subject(&subj),
                },
            )
        })
        .collect())
}

struct NewReceipt<'a> {
    order_id: i64,
    invoice_id: i64,
    payment_id: Option<i64>,
    refund_id: Option<i64>,
    kind: &'static str,
    state: &'static str,
    provider: &'a str,
    account_id: Option<i64>,
    taxation: &'a str,
    email: Option<String>,
    phone: Option<String>,
    total: Money,
    lines: Vec<ReceiptLine>,
}

async fn insert(conn: &mut SqliteConnection, r: NewReceipt<'_>, now: i64) -> AppResult<i64> {
    let id: i64 = sqlx::query_scalar(
        "insert into receipts (order_id, invoice_id, payment_id, refund_id, kind, state, provider, account_id, taxation, \
         customer_email, customer_phone, total_kopecks, idempotency_key, created_at, updated_at) \
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning receipt_id",
    )
    .bind(r.order_id)
    .bind(r.invoice_id)
    .bind(r.payment_id)
    .bind(r.refund_id)
    .bind(r.kind)
    .bind(r.state)
    .bind(r.provider)
    .bind(r.account_id)
    .bind(r.taxation)
    .bind(&r.email)
    .bind(&r.phone)
    .bind(r.total.kopecks())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    for (n, l) in r.lines.iter().enumerate() {
        sqlx::query(
            "insert into receipt_lines (receipt_id, position, name, unit, quantity, price_kopecks, amount_kopecks, \
             vat_code, payment_subject, payment_mode) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(n as i64 + 1)
        .bind(&l.name)
        .bind(&l.unit)
        .bind(l.quantity.normalize().to_string())
        .bind(l.price.kopecks())
        .bind(l.amount.kopecks())
        .bind(&l.vat_code)
        .bind(l.subject.as_str())
        .bind(l.mode.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// The receipt of a row, as sent to the provider.
async fn load_receipt(conn: &mut SqliteConnection, receipt_id: i64) -> AppResult<Receipt> {
    let (kind, tax, email, phone): (String, String, Option<String>, Option<String>) =
        sqlx::query_as(
            "select kind, taxation, customer_email, customer_phone from receipts where receipt_id = ?",
        )
        .bind(receipt_id)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<StoredLineRow> = sqlx::query_as(
        "select name, unit, quantity, price_kopecks, amount_kopecks, vat_code, payment_subject, payment_mode \
         from receipt_lines where receipt_id = ? order by position",
    )
    .bind(receipt_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Receipt {
        kind: ReceiptKind::parse(&kind)
            .ok_or_else(|| AppError::internal(format!("receipt {receipt_id} of kind {kind}")))?,
        taxation: taxation(&tax),
        email,
        phone,
        lines: rows
            .into_iter()
            .map(
                |(name, unit, q, price, amount, vat, subj, mode)| ReceiptLine {
                    name,
                    unit,
                    quantity: decimal(&q),
                    price: Money::from_kopecks(price),
                    amount: Money::from_kopecks(amount),
                    vat_code: vat,
                    subject: subject(&subj),
                    mode: PaymentMode::parse(&mode).unwrap_or(PaymentMode::FullPayment),
                },
            )
            .collect(),
    })
}

/// In the transaction that creates a payment: its receipt row («Предоплата 100%» before
/// the service is done, «Полный расчет» after).
pub async fn for_new_payment(
    conn: &mut SqliteConnection,
    payment_id: i64,
    now: i64,
) -> AppResult<()> {
    let p = payment_facts(conn, payment_id).await?;
    let (kind, mode) = rules::payment_kind(p.order_status == "done");
    let sources: Vec<SourceLine> = invoice_lines(conn, p.invoice_id)
        .await?
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let lines = rules::payment_lines(&sources, Money::from_kopecks(p.commission_kopecks), mode);
    let (email, phone) = rules::customer(p.receipt_email.as_deref(), Some(&p.phone));
    let tax = taxation(&p.taxation);
    let receipt = Receipt {
        kind,
        taxation: tax,
        email,
        phone,
        lines,
    };
    let amount = Money::from_kopecks(p.amount_kopecks);
    // What the provider would refuse is refused here, before any money moves.
    rules::check(&receipt, amount)
        .map_err(|e| AppError::rule(format!("Чек к оплате не сходится: {e}")))?;
    let outside = p.receipts_via == "own_register";
    insert(
        conn,
        NewReceipt {
            order_id: p.order_id,
            invoice_id: p.invoice_id,
            payment_id: Some(payment_id),
            refund_id: None,
            kind: kind.as_str(),
            state: if outside { "outside" } else { "to_send" },
            provider: &p.provider,
            account_id: p.account_id,
            taxation: tax.as_str(),
            email: receipt.email,
            phone: receipt.phone,
            total: amount,
            lines: receipt.lines,
        },
        now,
    )
    .await?;
    Ok(())
}

/// The receipt to register with a payment when it is sent to the provider.
pub async fn of_payment(
    conn: &mut SqliteConnection,
    payment_id: i64,
) -> AppResult<Option<Receipt>> {
    let id: Option<i64> = sqlx::query_scalar(
        "select receipt_id from receipts where payment_id = ? and kind in ('prepayment', 'full_payment') \
         and state in ('to_send', 'sent')",
    )
    .bind(payment_id)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => Ok(Some(load_receipt(conn, id).await?)),
        None => Ok(None),
    }
}

async fn drop_receipts(conn: &mut SqliteConnection, filter: &str, id: i64) -> AppResult<()> {
    sqlx::query(&format!(
        "delete from receipt_lines where receipt_id in (select receipt_id from receipts where {filter})"
    ))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!("delete from receipts where {filter}"))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A payment reached its final state (in the transaction applying it): its receipt is
/// sent with it, or dropped with a failed payment (no money, no receipt).
pub async fn payment_settled(
    conn: &mut SqliteConnection,
    payment_id: i64,
    succeeded: bool,
    now: i64,
) -> AppResult<()> {
    if succeeded {
        sqlx::query(
            "update receipts set state = 'sent', updated_at = ? where payment_id = ? \
             and kind in ('prepayment', 'full_payment') and state = 'to_send'",
        )
        .bind(now)
        .bind(payment_id)
        .execute(conn)
        .await?;
        Ok(())
    } else {
        drop_receipts(
            conn,
            "payment_id = ? and kind in ('prepayment', 'full_payment') and state in ('to_send', 'outside')",
            payment_id,
        )
        .await
    }
}

/// In the transaction that creates a refund: its «Возврат прихода» with exactly its lines.
pub async fn for_new_refund(
    conn: &mut SqliteConnection,
    refund_id: i64,
    now: i64,
) -> AppResult<()> {
    let (order_id, invoice_id, payment_id, amount): (i64, i64, i64, i64) = sqlx::query_as(
        "select order_id, invoice_id, payment_id, amount_kopecks from refunds where refund_id = ?",
    )
    .bind(refund_id)
    .fetch_one(&mut *conn)
    .await?;
    let p = payment_facts(conn, payment_id).await?;
    let paid: Option<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
        "select kind, customer_email, customer_phone, taxation from receipts where payment_id = ? \
         and kind in ('prepayment', 'full_payment')",
    )
    .bind(payment_id)
    .fetch_optional(&mut *conn)
    .await?;
    let offset: bool = sqlx::query_scalar(
        "select exists (select 1 from receipts where invoice_id = ? and kind = 'offset')",
    )
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?;
    let (paid_kind, email, phone, tax) = match paid {
        Some((k, e, ph, t)) => (
            ReceiptKind::parse(&k).unwrap_or(ReceiptKind::Prepayment),
            e,
            ph,
            taxation(&t),
        ),
        None => {
            let (e, ph) = rules::customer(p.receipt_email.as_deref(), Some(&p.phone));
            (
                rules::payment_kind(p.order_status == "done").0,
                e,
                ph,
                taxation(&p.taxation),
            )
        }
    };
    let mode = rules::refund_mode(paid_kind, offset);
    let rows: Vec<(String, String, String, i64, i64, String, String)> = sqlx::query_as(
        "select l.name, l.unit, rl.quantity, rl.unit_price_kopecks, rl.amount_kopecks, l.vat_code, l.payment_subject \
         from refund_lines rl join invoice_lines l on l.line_id = rl.line_id where rl.refund_id = ? order by l.line_id",
    )
    .bind(refund_id)
    .fetch_all(&mut *conn)
    .await?;
    let lines: Vec<ReceiptLine> = rows
        .into_iter()
        .map(|(name, unit, q, price, amount, vat, subj)| {
            rules::line(
                &SourceLine {
                    name,
                    unit,
                    quantity: decimal(&q),
                    unit_price: Money::from_kopecks(price),
                    amount: Money::from_kopecks(amount),
                    vat_code: vat,
                    subject: subject(&subj),
                },
                mode,
            )
        })
        .collect();
    let receipt = Receipt {
        kind: ReceiptKind::Refund,
        taxation: tax,
        email,
        phone,
        lines,
    };
    let amount = Money::from_kopecks(amount);
    rules::check(&receipt, amount)
        .map_err(|e| AppError::rule(format!("Чек возврата не сходится: {e}")))?;
    insert(
        conn,
        NewReceipt {
            order_id,
            invoice_id,
            payment_id: Some(payment_id),
            refund_id: Some(refund_id),
            kind: "refund",
            state: if p.receipts_via == "own_register" {
                "outside"
            } else {
                "to_send"
            },
            provider: &p.provider,
            account_id: p.account_id,
            taxation: tax.as_str(),
            email: receipt.email,
            phone: receipt.phone,
            total: amount,
            lines: receipt.lines,
        },
        now,
    )
    .await?;
    Ok(())
}

/// The receipt to register with a refund when it is sent to the provider.
pub async fn of_refund(conn: &mut SqliteConnection, refund_id: i64) -> AppResult<Option<Receipt>> {
    let id: Option<i64> = sqlx::query_scalar(
        "select receipt_id from receipts where refund_id = ? and state in ('to_send', 'sent')",
    )
    .bind(refund_id)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => Ok(Some(load_receipt(conn, id).await?)),
        None => Ok(None),
    }
}

/// A refund reached its final state (in the transaction applying it): its receipt is
/// sent, or dropped with a failed refund.
pub async fn refund_settled(
    conn: &mut SqliteConnection,
    refund_id: i64,
    succeeded: bool,
    now: i64,
) -> AppResult<()> {
    if succeeded {
        sqlx::query(
            "update receipts set state = 'sent', updated_at = ? where refund_id = ? and state = 'to_send'",
        )
        .bind(now)
        .bind(refund_id)
        .execute(conn)
        .await?;
        Ok(())
    } else {
        drop_receipts(
            conn,
            "refund_id = ? and state in ('to_send', 'outside')",
            refund_id,
        )
        .await
    }
}

/// The order reached «Выполнено» (in the status change's transaction): the «Полный
/// расчет» offsetting each prepayment, once.
pub async fn order_done(conn: &mut SqliteConnection, order_id: i64, now: i64) -> AppResult<()> {
    // Prepayment receipts of paid invoices that have no offset yet.
    let prepaid: Vec<PrepaidRow> = sqlx::query_as(
        "select r.invoice_id, r.payment_id, r.state, r.taxation, r.customer_email, r.customer_phone \
         from receipts r join invoices i on i.invoice_id = r.invoice_id join payments p on p.payment_id = r.payment_id \
         where r.order_id = ? and r.kind = 'prepayment' and r.state in ('sent', 'registered', 'outside') \
         and p.status = 'succeeded' and i.status = 'paid' and i.paid_method in ('card', 'sbp') \
         and not exists (select 1 from receipts o where o.invoice_id = r.invoice_id and o.kind = 'offset') \
         order by r.invoice_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for (invoice_id, payment_id, prepaid_state, tax, email, phone) in prepaid {
        let p = payment_facts(conn, payment_id).await?;
        let refunded: Vec<(i64, String, i64)> = sqlx::query_as(
            "select rl.line_id, rl.quantity, rl.amount_kopecks from refund_lines rl join refunds f on f.refund_id = rl.refund_id \
             where f.invoice_id = ? and f.state <> 'failed'",
        )
        .bind(invoice_id)
        .fetch_all(&mut *conn)
        .await?;
        let left: Vec<SourceLine> = invoice_lines(conn, invoice_id)
            .await?
            .into_iter()
            .filter_map(|(line_id, l)| {
                let mine = refunded.iter().filter(|r| r.0 == line_id);
                let q: Decimal = mine.clone().map(|r| decimal(&r.1)).sum();
                let a = Money::sum(mine.map(|r| Money::from_kopecks(r.2))).unwrap_or(Money::ZERO);
                rules::remaining(&l, q, a)
            })
            .collect();
        if left.is_empty() {
            // Everything was returned: nothing was delivered to settle.
            continue;
        }
        let lines = rules::offset_lines(&left, Money::from_kopecks(p.commission_kopecks));
        let Some(total) = Money::sum(lines.iter().map(|l| l.amount)) else {
            continue;
        };
        let outside = prepaid_state == "outside" || p.receipts_via == "own_register";
        insert(
            conn,
            NewReceipt {
                order_id,
                invoice_id,
                payment_id: Some(payment_id),
                refund_id: None,
                kind: "offset",
                state: if outside { "outside" } else { "to_send" },
                provider: &p.provider,
                account_id: p.account_id,
                taxation: &tax,
                email,
                phone,
                total,
                lines,
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// An invoice marked paid in cash: recorded as outside the system.
pub async fn cash_paid(conn: &mut SqliteConnection, invoice_id: i64, now: i64) -> AppResult<()> {
    let (order_id, total, tax): (i64, i64, String) = sqlx::query_as(
        "select i.order_id, i.total_kopecks, le.taxation from invoices i join orders o on o.order_id = i.order_id \
         join legal_entities le on le.legal_entity_id = o.legal_entity_id where i.invoice_id = ?",
    )
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "insert into receipts (order_id, invoice_id, kind, state, taxation, total_kopecks, idempotency_key, created_at, updated_at) \
         values (?, ?, 'outside', 'outside', ?, ?, ?, ?, ?) on conflict do nothing",
    )
    .bind(order_id)
    .bind(invoice_id)
    .bind(tax)
    .bind(total)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The receipt row a provider's report is about.
async fn find(
    conn: &mut SqliteConnection,
    provider: &str,
    account_id: Option<i64>,
    r: &ProviderReceipt,
) -> AppResult<Option<i64>> {
    if let Some(id) = &r.id {
        let found: Option<i64> = sqlx::query_scalar(
            "select receipt_id from receipts where provider = ? and account_id is ? and provider_receipt_id = ?",
        )
        .bind(provider)
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let found = match (r.kind, &r.refund_id, &r.payment_id) {
        (ReceiptKind::Refund, Some(refund), _) => {
            sqlx::query_scalar(
                "select r.receipt_id from receipts r join refunds f on f.refund_id = r.refund_id \
                 join payments p on p.payment_id = f.payment_id \
                 where f.provider_refund_id = ? and p.provider = ? and p.account_id is ?",
            )
            .bind(refund)
            .bind(provider)
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?
        }
        (kind, _, Some(payment)) if kind != ReceiptKind::Refund => {
            let kinds = if kind == ReceiptKind::Offset {
                "('offset')"
            } else {
                "('prepayment', 'full_payment')"
            };
            sqlx::query_scalar(&format!(
                "select r.receipt_id from receipts r join payments p on p.payment_id = r.payment_id \
                 where p.provider_payment_id = ? and p.provider = ? and p.account_id is ? and r.kind in {kinds}"
            ))
            .bind(payment)
            .bind(provider)
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?
        }
        _ => None,
    };
    Ok(found)
}

/// What the provider reports about a receipt (notification or polling). A registered
/// receipt never changes again.
pub async fn apply(
    state: &AppState,
    account_id: Option<i64>,
    receipt: &ProviderReceipt,
    now: i64,
) -> AppResult<()> {
    let gateway = state.gateways.account(&state.pool, account_id).await?;
    let mut tx = write_tx(&state.pool).await?;
    let Some(id) = find(&mut tx, gateway.name(), account_id, receipt).await? else {
        tracing::warn!(?receipt, "news about an unknown receipt");
        return Ok(());
    };
    match receipt.status {
        ReceiptStatus::Registered => {
            let f = receipt.fiscal.clone().unwrap_or_default();
            sqlx::query(
                "update receipts set state = 'registered', provider_receipt_id = coalesce(?, provider_receipt_id), \
                 fiscal_number = ?, fn_number = ?, fiscal_document = ?, fiscal_sign = ?, ofd = ?, url = ?, qr_url = ?, \
                 registered_at = ?, failure = null, updated_at = ? \
                 where receipt_id = ? and state in ('to_send', 'sent', 'failed')",
            )
            .bind(&receipt.id)
            .bind(&f.fiscal_number)
            .bind(&f.fn_number)
            .bind(&f.fiscal_document)
            .bind(&f.fiscal_sign)
            .bind(&f.ofd)
            .bind(&f.url)
            .bind(&f.qr_url)
            .bind(f.registered_at.unwrap_or(now))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        ReceiptStatus::Failed => {
            sqlx::query(
                "update receipts set state = 'failed', failure = ?, provider_receipt_id = coalesce(?, provider_receipt_id), \
                 updated_at = ? where receipt_id = ? and state in ('to_send', 'sent')",
            )
            .bind(receipt.failure.as_deref().unwrap_or("чек не зарегистрирован"))
            .bind(&receipt.id)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        ReceiptStatus::Pending => {
            sqlx::query(
                "update receipts set provider_receipt_id = coalesce(?, provider_receipt_id) where receipt_id = ?",
            )
            .bind(&receipt.id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A provider's refusal as staff read it: the message of a JSON `{"error": …}` body, or
/// the text itself.
fn reason(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            ["error", "description", "Message", "Details"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned))
        })
        .unwrap_or_else(|| text.to_owned())
        .chars()
        .take(500)
        .collect()
}

/// Sends one «Полный расчет» on its own.
async fn send_offset(state: &AppState, receipt_id: i64, now: i64) -> AppResult<()> {
    let (key, total, attempts, provider_payment, account_id): (
        String,
        i64,
        i64,
        Option<String>,
        Option<i64>,
    ) = sqlx::query_as(
        "select r.idempotency_key, r.total_kopecks, r.attempts, p.provider_payment_id, p.account_id \
         from receipts r join payments p on p.payment_id = r.payment_id where r.receipt_id = ?",
    )
    .bind(receipt_id)
    .fetch_one(&state.pool)
    .await?;
    let receipt = {
        let mut conn = state.pool.acquire().await?;
        load_receipt(&mut conn, receipt_id).await?
    };
    let gateway = state.gateways.account(&state.pool, account_id).await?;
    let request = CreateReceipt {
        payment_id: provider_payment.unwrap_or_default(),
        receipt,
        prepaid: Money::from_kopecks(total),
        idempotency_key: key,
    };
    let sent = gateway.send_receipt(request).await;
    let attempts = attempts + 1;
    match sent {
        Ok(r) => {
            sqlx::query(
                "update receipts set state = 'sent', provider_receipt_id = ?, failure = null, attempts = ?, updated_at = ? \
                 where receipt_id = ? and state in ('to_send', 'failed')",
            )
            .bind(&r.id)
            .bind(attempts)
            .bind(now)
            .bind(receipt_id)
            .execute(&state.pool)
            .await?;
            if r.status != ReceiptStatus::Pending {
                apply(state, account_id, &r, now).await?;
            }
        }
        Err(e) => {
            let (failed, text) = match &e {
                GatewayError::Refused(t) => (true, reason(t)),
                GatewayError::Unavailable(t) => (
                    attempts >= rules::MAX_ATTEMPTS,
                    format!("платёжная система не ответила ({})", reason(t)),
                ),
                other => (true, other.to_string()),
            };
            tracing::warn!(receipt_id, error = %e, "sending a receipt");
            sqlx::query(
                "update receipts set state = case when ? then 'failed' else state end, failure = ?, attempts = ?, \
                 updated_at = ? where receipt_id = ? and state in ('to_send', 'failed')",
            )
            .bind(failed)
            .bind(&text)
            .bind(attempts)
            .bind(now)
            .bind(receipt_id)
            .execute(&state.pool)
            .await?;
        }
    }
    Ok(())
}

/// The outbox: sends receipts due on their own, asks about receipts not yet registered,
/// retries failures. Returns how many it looked at.
pub async fn recover(state: &AppState, now: i64) -> AppResult<usize> {
    // «Полный расчет» to send, and failed ones to try again after a growing pause.
    let due: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select receipt_id, attempts, updated_at from receipts where kind = 'offset' \
         and state in ('to_send', 'failed') and attempts < ? order by receipt_id limit 100",
    )
    .bind(rules::MAX_ATTEMPTS)
    .fetch_all(&state.pool)
    .await?;
    let due: Vec<i64> = due
        .into_iter()
        .filter(|(_, attempts, at)| *attempts == 0 || now >= at + rules::retry_after(*attempts - 1))
        .map(|(id, _, _)| id)
        .collect();
    for id in &due {
        if let Err(e) = send_offset(state, *id, now).await {
            tracing::warn!(receipt_id = id, error = %e, "receipt outbox: will retry");
        }
    }
    // Receipts the provider has not reported on: asked about (a notification may be lost).
    let quiet: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "select distinct p.payment_id, p.provider_payment_id, p.account_id from receipts r \
         join payments p on p.payment_id = r.payment_id \
         where r.state = 'sent' and r.updated_at <= ? and p.provider_payment_id is not null limit 50",
    )
    .bind(now - POLL_AFTER_SECONDS)
    .fetch_all(&state.pool)
    .await?;
    for (payment_id, provider_id, account_id) in &quiet {
        let gateway = match state.gateways.account(&state.pool, *account_id).await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "no adapter for a receipt's account");
                continue;
            }
        };
        match gateway.receipts(provider_id).await {
            Ok(list) => {
                for r in &list {
                    if let Err(e) = apply(state, *account_id, r, now).await {
                        tracing::warn!(error = %e, "applying a polled receipt");
                    }
                }
            }
            Err(GatewayError::Unsupported(_)) => {}
            Err(e) => {
                tracing::warn!(provider_payment_id = %provider_id, error = %e, "polling receipts")
            }
        }
        sqlx::query("update receipts set updated_at = ? where payment_id = ? and state = 'sent'")
            .bind(now)
            .bind(payment_id)
            .execute(&state.pool)
            .await?;
    }
    Ok(due.len() + quiet.len())
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    receipt_id: i64,
    invoice_id: i64,
    refund_id: Option<i64>,
    kind: String,
    state: String,
    failure: Option<String>,
    total_kopecks: i64,
    attempts: i64,
    fn_number: Option<String>,
    fiscal_document: Option<String>,
    fiscal_sign: Option<String>,
    url: Option<String>,
    registered_at: Option<i64>,
    created_at: i64,
    /// Its lines: a JSON array of (name, unit, quantity, price, amount, VAT code).
    lines: String,
}

type LineTuple = (String, String, String, i64, i64, String);

async fn views(conn: &mut SqliteConnection, order_id: i64) -> AppResult<Vec<ReceiptView>> {
    // One statement, the lines in their receipt's row (each statement is a round trip to
    // the connection's thread).
    let rows: Vec<ViewRow> = sqlx::query_as(
        "select r.receipt_id, r.invoice_id, r.refund_id, r.kind, r.state, r.failure, r.total_kopecks, r.attempts, \
         r.fn_number, r.fiscal_document, r.fiscal_sign, r.url, r.registered_at, r.created_at, \
         (select json_group_array(json_array(l.name, l.unit, l.quantity, l.price_kopecks, l.amount_kopecks, \
            l.vat_code) order by l.position) from receipt_lines l where l.receipt_id = r.receipt_id) as lines \
         from receipts r where r.order_id = ? order by r.receipt_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let lines: Vec<LineTuple> = stored_json(&r.lines)?;
            Ok(ReceiptView {
                receipt_id: r.receipt_id,
                invoice_id: r.invoice_id,
                refund_id: r.refund_id,
                kind: Kind::from_db(&r.kind),
                state: State::from_db(&r.state),
                failure: r.failure,
                total: Money::from_kopecks(r.total_kopecks),
                attempts: r.attempts,
                fn_number: r.fn_number,
                fiscal_document: r.fiscal_document,
                fiscal_sign: r.fiscal_sign,
                url: r.url,
                registered_at: r.registered_at,
                created_at: r.created_at,
                lines: lines
                    .into_iter()
                    .map(|(name, unit, quantity, price, amount, vat_code)| LineView {
                        name,
                        quantity: format!("{} {}", format_quantity(decimal(&quantity)), unit),
                        price: Money::from_kopecks(price),
                        amount: Money::from_kopecks(amount),
                        vat_code,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// «Чеки» of an order, for staff who can see the order.
pub async fn block(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
) -> AppResult<ReceiptsBlock> {
    let mut conn = pool.acquire().await?;
    crate::orders::service::visible_order(&mut conn, staff, order_id).await?;
    block_of(&mut conn, order_id).await
}

/// The block of an order the caller has found visible to the viewer.
pub async fn block_of(conn: &mut SqliteConnection, order_id: i64) -> AppResult<ReceiptsBlock> {
    Ok(ReceiptsBlock {
        receipts: views(conn, order_id).await?,
    })
}

/// The registered receipts of an order, for its resident (the caller checked the order
/// is the resident's).
pub async fn links(conn: &mut SqliteConnection, order_id: i64) -> AppResult<Vec<ReceiptLink>> {
    let rows: Vec<(i64, String, i64, String, Option<i64>)> = sqlx::query_as(
        "select receipt_id, kind, total_kopecks, url, registered_at from receipts \
         where order_id = ? and state = 'registered' and url is not null order by receipt_id",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(receipt_id, kind, total, url, registered_at)| ReceiptLink {
                receipt_id,
                kind: Kind::from_db(&kind),
                total: Money::from_kopecks(total),
                url,
                registered_at,
            },
        )
        .collect())
}

/// The difference a payment's or refund's receipt makes, if it is missing or failed.
fn receipt_difference(
    order_id: i64,
    event: String,
    missing: &str,
    state: Option<String>,
    failure: Option<String>,
) -> Option<Difference> {
    let text = match state.as_deref() {
        None => format!("{event}: {missing}"),
        Some("failed") => format!(
            "{event}: чек не зарегистрирован ({})",
            failure.unwrap_or_default()
        ),
        _ => return None,
    };
    Some(Difference { order_id, text })
}

/// Reconciliation: every succeeded card/СБП payment and succeeded refund booked in the
/// entity's month has its receipt, not failed, and every done order's prepaid invoice has
/// its «Полный расчет».
pub async fn differences(
    conn: &mut SqliteConnection,
    entity: i64,
    period: &str,
) -> AppResult<Vec<Difference>> {
    let mut out = Vec::new();
    let payments: Vec<EventReceiptRow> = sqlx::query_as(
        "select p.order_id, p.payment_id, p.amount_kopecks, r.state, r.failure from payments p \
         left join receipts r on r.payment_id = p.payment_id and r.kind in ('prepayment', 'full_payment') \
         where p.status = 'succeeded' and exists (select 1 from ledger_entries e where e.event_key = 'payment:' || p.payment_id \
         and e.legal_entity_id = ? and e.period = ?) order by p.payment_id",
    )
    .bind(entity)
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    for (order_id, payment_id, amount, st, failure) in payments {
        let event = format!("Платёж {payment_id} на {}", Money::from_kopecks(amount));
        out.extend(receipt_difference(order_id, event, "нет чека", st, failure));
    }
    let refunds: Vec<EventReceiptRow> = sqlx::query_as(
        "select f.order_id, f.refund_id, f.amount_kopecks, r.state, r.failure from refunds f \
         left join receipts r on r.refund_id = f.refund_id \
         where f.state = 'succeeded' and exists (select 1 from ledger_entries e where e.event_key = 'refund:' || f.refund_id \
         and e.legal_entity_id = ? and e.period = ?) order by f.refund_id",
    )
    .bind(entity)
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    for (order_id, refund_id, amount, st, failure) in refunds {
        let event = format!("Возврат {refund_id} на {}", Money::from_kopecks(amount));
        out.extend(receipt_difference(
            order_id,
            event,
            "нет чека «Возврат прихода»",
            st,
            failure,
        ));
    }
    // Done orders whose prepayment (booked this month) has no «Полный расчет», or a failed one.
    let offsets: Vec<(i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "select r.order_id, r.invoice_id, o2.state, o2.failure from receipts r \
         join orders o on o.order_id = r.order_id join invoices i on i.invoice_id = r.invoice_id \
         join payments p on p.payment_id = r.payment_id \
         left join receipts o2 on o2.invoice_id = r.invoice_id and o2.kind = 'offset' \
         where r.kind = 'prepayment' and o.status = 'done' and p.status = 'succeeded' \
         and i.total_kopecks - i.refunded_kopecks > 0 \
         and exists (select 1 from ledger_entries e where e.event_key = 'payment:' || r.payment_id \
         and e.legal_entity_id = ? and e.period = ?) order by r.invoice_id",
    )
    .bind(entity)
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    for (order_id, invoice_id, st, failure) in offsets {
        match st.as_deref() {
            None => out.push(Difference {
                order_id,
                text: format!(
                    "Заказ выполнен, но чека «Полный расчет» по счёту № {invoice_id} нет"
                ),
            }),
            Some("failed") => out.push(Difference {
                order_id,
                text: format!(
                    "Чек «Полный расчет» по счёту № {invoice_id} не зарегистрирован ({})",
                    failure.unwrap_or_default()
                ),
            }),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_its_message() {
        assert_eq!(
            reason(r#"{"error":"Строка 1: неизвестная ставка НДС"}"#),
            "Строка 1: неизвестная ставка НДС"
        );
        assert_eq!(reason("bad gateway"), "bad gateway");
    }
}
