//! Refunds on the server. Every check runs inside one write transaction (SQLite's
//! `BEGIN IMMEDIATE` serialises writers, the row-level protection here), so parallel
//! refunds of one invoice can never add up to more than was paid. The provider is called
//! after commit with the refund's idempotency key; results arrive by webhook or polling.

use super::api::{
    RefundForm, RefundInfo, RefundLineView, RefundOffer, RefundState, RefundsBlock, RequestInfo,
    RequestState,
};
use super::rules::{self, RefundLineInput, RefundableLine, RequestFacts};
use crate::auth::model::StaffUser;
use crate::error::{AppError, AppResult, DbResultExt};
use crate::invoices::service::{history, HistoryLine};
use crate::money::Money;
use crate::orders::service::{editable_order, enqueue, tell_resident, visible_order};
use crate::orders::status::OrderStatus;
use crate::payments::gateway::{CreateRefund, GatewayError, ProviderRefund, RefundStatus};
use crate::server::db::{stored_json, write_tx};
use crate::server::state::AppState;
use rust_decimal::Decimal;
use sqlx::{SqliteConnection, SqlitePool};
use std::str::FromStr;

/// A refund without a provider id this long after its last try is sent again.
pub const RESEND_AFTER_SECONDS: i64 = 20;
/// A processing refund this long is asked about.
pub const POLL_AFTER_SECONDS: i64 = 60;

/// What refunds that did not fail took back of the invoice line `$l` (an SQL alias), in
/// kopecks: one definition for every query that needs it.
macro_rules! line_refunded {
    ($l:literal) => {
        concat!(
            "coalesce((select sum(rl.amount_kopecks) from refund_lines rl join refunds r on r.refund_id = rl.refund_id \
             where rl.line_id = ", $l, ".line_id and r.state <> 'failed'), 0)"
        )
    };
}
pub(crate) use line_refunded;

/// The JSON object fields of a [`RefundableRow`] for the invoice line `$l`.
macro_rules! refundable_line_fields {
    ($l:literal) => {
        concat!(
            "'line_id', ",
            $l,
            ".line_id, 'name', ",
            $l,
            ".name, 'unit', ",
            $l,
            ".unit, \
             'quantity', ",
            $l,
            ".quantity, 'unit_price_kopecks', ",
            $l,
            ".unit_price_kopecks, \
             'amount_kopecks', ",
            $l,
            ".amount_kopecks, 'refunded_kopecks', ",
            crate::refunds::service::line_refunded!($l)
        )
    };
}

pub(crate) use refundable_line_fields;

/// An invoice line as read in a JSON object built with [`refundable_line_fields`].
#[derive(serde::Deserialize)]
pub(crate) struct RefundableRow {
    pub line_id: i64,
    pub name: String,
    pub unit: String,
    pub quantity: String,
    pub unit_price_kopecks: i64,
    pub amount_kopecks: i64,
    pub refunded_kopecks: i64,
}

impl RefundableRow {
    pub fn line(&self) -> RefundableLine {
        RefundableLine {
            line_id: self.line_id,
            name: self.name.clone(),
            unit: self.unit.clone(),
            quantity: Decimal::from_str(&self.quantity).unwrap_or(Decimal::ONE),
            unit_price: Money::from_kopecks(self.unit_price_kopecks),
            amount: Money::from_kopecks(self.amount_kopecks),
            refunded: Money::from_kopecks(self.refunded_kopecks),
        }
    }
}

/// Lines of a paid invoice with what is already refunded (failed refunds excluded).
async fn lines_of(conn: &mut SqliteConnection, invoice_id: i64) -> AppResult<Vec<RefundableLine>> {
    let rows: Vec<(i64, String, String, String, i64, i64, i64)> = sqlx::query_as(concat!(
        "select l.line_id, l.name, l.unit, l.quantity, l.unit_price_kopecks, l.amount_kopecks, ",
        line_refunded!("l"),
        " from invoice_lines l where l.invoice_id = ? order by l.line_id"
    ))
    .bind(invoice_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(line_id, name, unit, q, price, amount, refunded)| RefundableLine {
                line_id,
                name,
                unit,
                quantity: Decimal::from_str(&q).unwrap_or(Decimal::ONE),
                unit_price: Money::from_kopecks(price),
                amount: Money::from_kopecks(amount),
                refunded: Money::from_kopecks(refunded),
            },
        )
        .collect())
}

/// The succeeded card payment of an invoice paid in the app: (payment id, provider id).
async fn card_payment(
    conn: &mut SqliteConnection,
    invoice_id: i64,
) -> AppResult<Option<(i64, String)>> {
    Ok(sqlx::query_as(
        "select p.payment_id, p.provider_payment_id from payments p join invoices i on i.invoice_id = p.invoice_id \
         where p.invoice_id = ? and p.status = 'succeeded' and i.status = 'paid' and i.paid_method in ('card', 'sbp') \
         and p.provider_payment_id is not null order by p.payment_id desc limit 1",
    )
    .bind(invoice_id)
    .fetch_optional(conn)
    .await?)
}

/// The first invoice paid by card that still has money to return, of an order's card-paid
/// lines (in invoice order).
fn card_invoice(lines: &[CardLineRow]) -> Option<i64> {
    let mut ids: Vec<i64> = lines.iter().map(|l| l.invoice_id).collect();
    ids.dedup();
    ids.into_iter().find(|&id| {
        let of_invoice: Vec<RefundableLine> = lines
            .iter()
            .filter(|l| l.invoice_id == id)
            .map(|l| l.line.line())
            .collect();
        !rules::refundable(&of_invoice).is_zero()
    })
}

/// Everything the resident could still get back on an order.
async fn order_refundable(conn: &mut SqliteConnection, order_id: i64) -> AppResult<Money> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "select invoice_id from invoices where order_id = ? and status = 'paid' and paid_method in ('card', 'sbp')",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut sum = Money::ZERO;
    for id in ids {
        sum = sum
            .checked_add(rules::refundable(&lines_of(conn, id).await?))
            .unwrap_or(sum);
    }
    Ok(sum)
}

/// Keeps the list's «Возврат» column current: red while a request waits, plain while
/// processing, green once money is back.
pub async fn update_order_mark(
    conn: &mut SqliteConnection,
    order_id: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "update orders set \
           refund_state = case \
             when exists (select 1 from refund_requests where order_id = ?1 and state = 'requested') then 'requested' \
             when exists (select 1 from refunds where order_id = ?1 and state = 'processing') then 'processing' \
             when exists (select 1 from refunds where order_id = ?1 and state = 'succeeded') then 'succeeded' \
             else null end, \
           refund_kopecks = coalesce((select amount_kopecks from refund_requests where order_id = ?1 and state = 'requested'), \
             (select coalesce(sum(amount_kopecks), 0) from refunds where order_id = ?1 and state <> 'failed')), \
           updated_at = ?2 \
         where order_id = ?1",
    )
    .bind(order_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn form(pool: &SqlitePool, staff: &StaffUser, invoice_id: i64) -> AppResult<RefundForm> {
    let mut conn = pool.acquire().await?;
    let order_id: i64 = sqlx::query_scalar("select order_id from invoices where invoice_id = ?")
        .bind(invoice_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    editable_order(&mut conn, staff, order_id).await?;
    let lines = lines_of(&mut conn, invoice_id).await?;
    Ok(RefundForm {
        invoice_id,
        refundable: rules::refundable(&lines),
        lines,
    })
}

pub struct RefundInput {
    pub invoice_id: i64,
    pub full: bool,
    pub lines: Vec<RefundLineInput>,
    pub reason: String,
    pub request_id: Option<i64>,
    pub key: String,
}

/// The refusal of a refund form whose key already made a refund of another invoice.
fn key_reused() -> AppError {
    AppError::Conflict(
        "Эта форма возврата уже использована для другого счёта. Закройте её и откройте возврат снова"
            .into(),
    )
}

pub async fn create(
    state: &AppState,
    staff: &StaffUser,
    input: RefundInput,
    now: i64,
) -> AppResult<i64> {
    if !(8..=64).contains(&input.key.len()) {
        return Err(AppError::validation("Форма устарела, откройте её снова"));
    }
    if let Some(e) = rules::reason_error(&input.reason) {
        return Err(AppError::Fields(vec![("reason".into(), e)]));
    }
    let mut tx = write_tx(&state.pool).await?;
    let order_id: i64 = sqlx::query_scalar("select order_id from invoices where invoice_id = ?")
        .bind(input.invoice_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let order = editable_order(&mut tx, staff, order_id).await?;
    // A double click or a retried request finds the refund it made; the same key sent for
    // another invoice is a stale or forged form, refused without touching anything.
    let existing: Option<(i64, i64)> =
        sqlx::query_as("select refund_id, invoice_id from refunds where idempotency_key = ?")
            .bind(&input.key)
            .fetch_optional(&mut *tx)
            .await?;
    match existing {
        Some((id, invoice)) if invoice == input.invoice_id => return Ok(id),
        Some(_) => return Err(key_reused()),
        None => {}
    }
    let payment = card_payment(&mut tx, input.invoice_id).await?;
    let lines = lines_of(&mut tx, input.invoice_id).await?;
    let left = rules::refundable(&lines);
    if let Some(e) = rules::staff_refund_error(
        crate::orders::repo::status(&order.status)?,
        payment.is_some(),
        left,
    ) {
        return Err(AppError::rule(e));
    }
    let Some((payment_id, _)) = payment else {
        return Err(AppError::NotFound);
    };
    if let Some(request_id) = input.request_id {
        let open: Option<i64> = sqlx::query_scalar(
            "select request_id from refund_requests where request_id = ? and order_id = ? and state = 'requested'",
        )
        .bind(request_id)
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_none() {
            return Err(AppError::rule("Этот запрос на возврат уже обработан"));
        }
    }
    let checked =
        rules::refund_lines(&lines, input.full, &input.lines).map_err(AppError::validation)?;
    let amount = rules::total(&checked);
    let refund_id: i64 = sqlx::query_scalar(
        "insert into refunds (order_id, invoice_id, payment_id, request_id, amount_kopecks, full, reason, state, \
         idempotency_key, staff_id, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, 'processing', ?, ?, ?, ?) \
         returning refund_id",
    )
    .bind(order_id)
    .bind(input.invoice_id)
    .bind(payment_id)
    .bind(input.request_id)
    .bind(amount.kopecks())
    .bind(input.full)
    .bind(input.reason.trim())
    .bind(&input.key)
    .bind(staff.staff_id)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .on_unique("refunds.idempotency_key", key_reused())?;
    for l in &checked {
        sqlx::query(
            "insert into refund_lines (refund_id, line_id, quantity, unit_price_kopecks, amount_kopecks) values (?, ?, ?, ?, ?)",
        )
        .bind(refund_id)
        .bind(l.line_id)
        .bind(l.quantity.to_string())
        .bind(l.unit_price.kopecks())
        .bind(l.amount.kopecks())
        .execute(&mut *tx)
        .await?;
    }
    if let Some(request_id) = input.request_id {
        sqlx::query("update refund_requests set state = 'processed', decided_by = ?, decided_at = ? where request_id = ?")
            .bind(staff.staff_id)
            .bind(now)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
    }
    let kind = if input.full {
        "полный"
    } else {
        "частичный"
    };
    history(
        &mut tx,
        HistoryLine {
            order_id,
            staff_id: Some(staff.staff_id),
            resident_id: None,
            kind: "Оформлен возврат",
            comment: &format!(
                "Счёт № {}: {kind} возврат {amount}. Причина: {}",
                input.invoice_id,
                input.reason.trim()
            ),
            visible_to_resident: false,
        },
        now,
    )
    .await?;
    update_order_mark(&mut tx, order_id, now).await?;
    crate::receipts::service::for_new_refund(&mut tx, refund_id, now).await?;
    tx.commit().await?;
    if let Err(e) = send(state, refund_id, now).await {
        tracing::warn!(refund_id, error = %e, "refund stays in the outbox");
    }
    Ok(refund_id)
}

/// Sends a refund to the provider (again, with the same key, after a cut-off try).
pub async fn send(state: &AppState, refund_id: i64, now: i64) -> AppResult<()> {
    #[derive(sqlx::FromRow)]
    struct Row {
        amount_kopecks: i64,
        idempotency_key: String,
        provider_payment_id: String,
        provider_refund_id: Option<String>,
        state: String,
        account_id: Option<i64>,
        invoice_id: i64,
    }
    let row: Option<Row> = sqlx::query_as(
        "select r.amount_kopecks, r.idempotency_key, p.provider_payment_id, r.provider_refund_id, r.state, p.account_id, \
         r.invoice_id from refunds r join payments p on p.payment_id = r.payment_id where r.refund_id = ?",
    )
    .bind(refund_id)
    .fetch_optional(&state.pool)
    .await?;
    let Some(Row {
        amount_kopecks: amount,
        idempotency_key: key,
        provider_payment_id: payment,
        provider_refund_id: provider_id,
        state: st,
        account_id,
        invoice_id,
    }) = row
    else {
        return Err(AppError::NotFound);
    };
    if st != "processing" || provider_id.is_some() {
        return Ok(());
    }
    let gateway = state.gateways.account(&state.pool, account_id).await?;
    let receipt = {
        let mut conn = state.pool.acquire().await?;
        crate::receipts::service::of_refund(&mut conn, refund_id).await?
    };
    let request = CreateRefund {
        payment_id: payment,
        amount: Money::from_kopecks(amount),
        idempotency_key: key,
        description: format!("Возврат по счёту № {invoice_id}"),
        receipt,
    };
    match gateway.refund(request).await {
        Ok(r) => {
            sqlx::query("update refunds set provider_refund_id = ?, updated_at = ? where refund_id = ? and provider_refund_id is null")
                .bind(&r.id)
                .bind(now)
                .bind(refund_id)
                .execute(&state.pool)
                .await?;
            if r.status != RefundStatus::Pending {
                apply(state, &r, now).await?;
            }
            Ok(())
        }
        Err(GatewayError::Refused(reason)) => {
            let mut tx = write_tx(&state.pool).await?;
            fail(&mut tx, refund_id, &reason, now).await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            sqlx::query("update refunds set updated_at = ? where refund_id = ?")
                .bind(now)
                .bind(refund_id)
                .execute(&state.pool)
                .await?;
            Err(AppError::internal(e))
        }
    }
}

async fn fail(
    conn: &mut SqliteConnection,
    refund_id: i64,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    let (order_id, amount): (i64, i64) =
        sqlx::query_as("select order_id, amount_kopecks from refunds where refund_id = ?")
            .bind(refund_id)
            .fetch_one(&mut *conn)
            .await?;
    let changed = sqlx::query(
        "update refunds set state = 'failed', failure = ?, updated_at = ? where refund_id = ? and state = 'processing'",
    )
    .bind(reason)
    .bind(now)
    .bind(refund_id)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 1 {
        crate::receipts::service::refund_settled(conn, refund_id, false, now).await?;
        history(
            conn,
            HistoryLine {
                order_id,
                staff_id: None,
                resident_id: None,
                kind: "Возврат не удался",
                comment: &format!("{}: {reason}", Money::from_kopecks(amount)),
                visible_to_resident: false,
            },
            now,
        )
        .await?;
        update_order_mark(conn, order_id, now).await?;
    }
    Ok(())
}

/// Applies the provider's word on a refund; final states never change again.
pub async fn apply(state: &AppState, r: &ProviderRefund, now: i64) -> AppResult<()> {
    let mut tx = write_tx(&state.pool).await?;
    let row: Option<(i64, i64, i64, i64, String, String)> = sqlx::query_as(
        "select r.refund_id, r.order_id, r.invoice_id, r.amount_kopecks, r.state, p.method from refunds r \
         join payments p on p.payment_id = r.payment_id where r.provider_refund_id = ?",
    )
    .bind(&r.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((refund_id, order_id, invoice_id, amount, st, method)) = row else {
        tracing::warn!(provider_refund_id = %r.id, "an event about an unknown refund");
        return Ok(());
    };
    if st != "processing" {
        return Ok(());
    }
    match r.status {
        RefundStatus::Pending => {}
        RefundStatus::Failed => fail(&mut tx, refund_id, "платёжная система отказала", now).await?,
        RefundStatus::Succeeded => {
            sqlx::query(
                "update refunds set state = 'succeeded', updated_at = ? where refund_id = ?",
            )
            .bind(now)
            .bind(refund_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "update invoices set refunded_kopecks = refunded_kopecks + ? where invoice_id = ?",
            )
            .bind(amount)
            .bind(invoice_id)
            .execute(&mut *tx)
            .await?;
            crate::finance::service::book_refund(&mut tx, refund_id, now).await?;
            crate::receipts::service::refund_settled(&mut tx, refund_id, true, now).await?;
            let amount = Money::from_kopecks(amount);
            history(
                &mut tx,
                HistoryLine {
                    order_id,
                    staff_id: None,
                    resident_id: None,
                    kind: "Осуществлен возврат",
                    comment: &format!(
                        "{amount} по счёту № {invoice_id} {}",
                        // СБП money goes back to the bank it came from.
                        if method == "sbp" {
                            "вернулись в банк плательщика (СБП)"
                        } else {
                            "вернулись на карту"
                        }
                    ),
                    visible_to_resident: true,
                },
                now,
            )
            .await?;
            let resident: i64 =
                sqlx::query_scalar("select resident_id from orders where order_id = ?")
                    .bind(order_id)
                    .fetch_one(&mut *tx)
                    .await?;
            tell_resident(&mut tx, "refund_completed", order_id, resident, now).await?;
            update_order_mark(&mut tx, order_id, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The outbox and the safety net for refunds.
pub async fn recover(state: &AppState, now: i64) -> AppResult<usize> {
    let unsent: Vec<i64> = sqlx::query_scalar(
        "select refund_id from refunds where state = 'processing' and provider_refund_id is null and updated_at <= ? limit 100",
    )
    .bind(now - RESEND_AFTER_SECONDS)
    .fetch_all(&state.pool)
    .await?;
    for id in &unsent {
        if let Err(e) = send(state, *id, now).await {
            tracing::warn!(refund_id = id, error = %e, "refund outbox: will retry");
        }
    }
    let open: Vec<(String, Option<i64>)> = sqlx::query_as(
        "select r.provider_refund_id, p.account_id from refunds r join payments p on p.payment_id = r.payment_id \
         where r.state = 'processing' and r.provider_refund_id is not null and r.updated_at <= ? limit 100",
    )
    .bind(now - POLL_AFTER_SECONDS)
    .fetch_all(&state.pool)
    .await?;
    for (id, account_id) in &open {
        let polled = match state.gateways.account(&state.pool, *account_id).await {
            Ok(g) => g.refund_status(id).await,
            Err(e) => {
                tracing::warn!(provider_refund_id = %id, error = %e, "no adapter for a refund's account");
                continue;
            }
        };
        match polled {
            Ok(r) if r.status != RefundStatus::Pending => {
                if let Err(e) = apply(state, &r, now).await {
                    tracing::warn!(provider_refund_id = %id, error = %e, "applying a polled refund");
                }
            }
            Ok(_) => {
                sqlx::query("update refunds set updated_at = ? where provider_refund_id = ?")
                    .bind(now)
                    .bind(id)
                    .execute(&state.pool)
                    .await?;
            }
            Err(e) => tracing::warn!(provider_refund_id = %id, error = %e, "polling a refund"),
        }
    }
    Ok(unsent.len() + open.len())
}

/// The refund requests of the order `o` as a JSON array of [`RequestRow`].
macro_rules! requests_json {
    () => {
        "(select json_group_array(json_object('request_id', q.request_id, 'full', q.full, \
            'amount_kopecks', q.amount_kopecks, 'reason', q.reason, 'state', q.state, \
            'reject_reason', q.reject_reason, 'created_at', q.created_at) order by q.request_id) \
          from refund_requests q where q.order_id = o.order_id)"
    };
}

#[derive(serde::Deserialize)]
struct RequestRow {
    request_id: i64,
    full: i64,
    amount_kopecks: i64,
    reason: String,
    state: String,
    reject_reason: String,
    created_at: i64,
}

impl From<RequestRow> for RequestInfo {
    fn from(r: RequestRow) -> Self {
        RequestInfo {
            request_id: r.request_id,
            full: r.full != 0,
            amount: Money::from_kopecks(r.amount_kopecks),
            reason: r.reason,
            state: RequestState::from_db(&r.state),
            reject_reason: r.reject_reason,
            created_at: r.created_at,
        }
    }
}

fn requests_from(json: &str) -> AppResult<Vec<RequestInfo>> {
    let rows: Vec<RequestRow> = stored_json(json)?;
    Ok(rows.into_iter().map(RequestInfo::from).collect())
}

async fn requests_of(conn: &mut SqliteConnection, order_id: i64) -> AppResult<Vec<RequestInfo>> {
    let json: Option<String> = sqlx::query_scalar(concat!(
        "select ",
        requests_json!(),
        " from orders o where o.order_id = ?"
    ))
    .bind(order_id)
    .fetch_optional(conn)
    .await?;
    json.map_or(Ok(Vec::new()), |j| requests_from(&j))
}

#[derive(serde::Deserialize)]
struct RefundRow {
    refund_id: i64,
    invoice_id: i64,
    amount_kopecks: i64,
    full: i64,
    reason: String,
    state: String,
    failure: Option<String>,
    full_name: String,
    created_at: i64,
    provider_refund_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct RefundLineRow {
    refund_id: i64,
    name: String,
    quantity: String,
    unit_price_kopecks: i64,
    amount_kopecks: i64,
}

#[derive(serde::Deserialize)]
struct CardLineRow {
    invoice_id: i64,
    #[serde(flatten)]
    line: RefundableRow,
}

/// The block's one row: requests, refunds, their lines and the lines of the invoices paid
/// by card, each a JSON array.
#[derive(sqlx::FromRow)]
struct BlockRow {
    requests: String,
    refunds: String,
    lines: String,
    card_lines: String,
}

pub async fn block(pool: &SqlitePool, staff: &StaffUser, order_id: i64) -> AppResult<RefundsBlock> {
    let mut conn = pool.acquire().await?;
    let order = visible_order(&mut conn, staff, order_id).await?;
    block_of(&mut conn, staff, &order).await
}

/// The block of an order the caller has found visible to this staff member.
pub async fn block_of(
    conn: &mut SqliteConnection,
    staff: &StaffUser,
    order: &crate::orders::service::OrderAccess,
) -> AppResult<RefundsBlock> {
    let order_id = order.order_id;
    let can_edit = staff
        .permissions
        .can_edit_order(staff.staff_id, order.assignee_id)
        && !order.is_draft;
    // One statement for the block (each is a round trip to the connection's thread).
    let block: BlockRow = sqlx::query_as(concat!(
        "select ",
        requests_json!(),
        " as requests, \
         (select json_group_array(json_object('refund_id', r.refund_id, 'invoice_id', r.invoice_id, \
            'amount_kopecks', r.amount_kopecks, 'full', r.full, 'reason', r.reason, 'state', r.state, \
            'failure', r.failure, 'full_name', s.full_name, 'created_at', r.created_at, \
            'provider_refund_id', r.provider_refund_id) order by r.refund_id) \
            from refunds r join staff s on s.staff_id = r.staff_id where r.order_id = o.order_id) as refunds, \
         (select json_group_array(json_object('refund_id', rl.refund_id, 'name', l.name, \
            'quantity', rl.quantity, 'unit_price_kopecks', rl.unit_price_kopecks, \
            'amount_kopecks', rl.amount_kopecks) order by l.line_id) \
            from refund_lines rl join invoice_lines l on l.line_id = rl.line_id \
            join refunds r on r.refund_id = rl.refund_id where r.order_id = o.order_id) as lines, \
         (select json_group_array(json_object('invoice_id', i.invoice_id, ",
        refundable_line_fields!("l"),
        ") order by i.invoice_id, l.line_id) \
            from invoices i join invoice_lines l on l.invoice_id = i.invoice_id \
            where i.order_id = o.order_id and i.status = 'paid' and i.paid_method in ('card', 'sbp')) as card_lines \
         from orders o where o.order_id = ?"
    ))
    .bind(order_id)
    .fetch_one(&mut *conn)
    .await?;
    let requests = requests_from(&block.requests)?;
    let rows: Vec<RefundRow> = stored_json(&block.refunds)?;
    let lines: Vec<RefundLineRow> = stored_json(&block.lines)?;
    let card_lines: Vec<CardLineRow> = stored_json(&block.card_lines)?;
    let refunds = rows
        .into_iter()
        .map(
            |RefundRow {
                 refund_id,
                 invoice_id,
                 amount_kopecks: amount,
                 full,
                 reason,
                 state,
                 failure,
                 full_name: staff_name,
                 created_at,
                 provider_refund_id,
             }| RefundInfo {
                refund_id,
                invoice_id,
                amount: Money::from_kopecks(amount),
                full: full != 0,
                reason,
                state: RefundState::from_db(&state),
                failure,
                staff_name,
                created_at,
                provider_refund_id,
                lines: lines
                    .iter()
                    .filter(|l| l.refund_id == refund_id)
                    .map(|l| RefundLineView {
                        name: l.name.clone(),
                        quantity: l.quantity.replace('.', ","),
                        unit_price: Money::from_kopecks(l.unit_price_kopecks),
                        amount: Money::from_kopecks(l.amount_kopecks),
                    })
                    .collect(),
            },
        )
        .collect();
    let status = crate::orders::repo::status(&order.status)?;
    let process_error = if !can_edit {
        Some("Нет права «Заказы: редактирование» для этого заказа".to_owned())
    } else if status != OrderStatus::InProgress {
        Some("Обработать возврат можно, когда заказ «В работе»".to_owned())
    } else {
        None
    };
    Ok(RefundsBlock {
        requests,
        refunds,
        process_error,
        can_edit,
        card_invoice_id: card_invoice(&card_lines),
    })
}

pub async fn reject(
    pool: &SqlitePool,
    staff: &StaffUser,
    request_id: i64,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    if let Some(e) = rules::reason_error(reason) {
        return Err(AppError::Fields(vec![("reason".into(), e)]));
    }
    let mut tx = write_tx(pool).await?;
    let row: Option<(i64, i64, String)> = sqlx::query_as(
        "select order_id, resident_id, state from refund_requests where request_id = ?",
    )
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (order_id, resident_id, st) = row.ok_or(AppError::NotFound)?;
    editable_order(&mut tx, staff, order_id).await?;
    if st != "requested" {
        return Err(AppError::rule("Этот запрос на возврат уже обработан"));
    }
    sqlx::query(
        "update refund_requests set state = 'rejected', reject_reason = ?, decided_by = ?, decided_at = ? where request_id = ?",
    )
    .bind(reason.trim())
    .bind(staff.staff_id)
    .bind(now)
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    history(
        &mut tx,
        HistoryLine {
            order_id,
            staff_id: Some(staff.staff_id),
            resident_id: None,
            kind: "Возврат отклонён",
            comment: reason.trim(),
            visible_to_resident: true,
        },
        now,
    )
    .await?;
    tell_resident(&mut tx, "refund_decided", order_id, resident_id, now).await?;
    update_order_mark(&mut tx, order_id, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn facts(conn: &mut SqliteConnection, order_id: i64) -> AppResult<RequestFacts> {
    let (refunds_allowed, rejected, open): (bool, i64, i64) = sqlx::query_as(
        "select s.refunds_allowed, \
           (select count(*) from refund_requests where order_id = o.order_id and state = 'rejected'), \
           (select count(*) from refund_requests where order_id = o.order_id and state = 'requested') \
         from orders o join services s on s.service_id = o.service_id where o.order_id = ?",
    )
    .bind(order_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(RequestFacts {
        refunds_allowed,
        refundable: order_refundable(conn, order_id).await?,
        rejected_before: rejected > 0,
        open_request: open > 0,
    })
}

/// «Возврат платежа» for the resident's request page.
pub async fn offer(conn: &mut SqliteConnection, order_id: i64) -> AppResult<RefundOffer> {
    let f = facts(conn, order_id).await?;
    let request = requests_of(conn, order_id).await?.pop();
    Ok(RefundOffer {
        refused: rules::request_error(f).map(str::to_owned),
        refundable: f.refundable,
        request,
    })
}

pub async fn request(
    pool: &SqlitePool,
    resident_id: i64,
    order_id: i64,
    full: bool,
    amount: &str,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let owner: Option<(Option<i64>,)> = sqlx::query_as(
        "select assignee_id from orders where order_id = ? and resident_id = ? and is_draft = 0",
    )
    .bind(order_id)
    .bind(resident_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (assignee,) = owner.ok_or(AppError::NotFound)?;
    let f = facts(&mut tx, order_id).await?;
    if let Some(e) = rules::request_error(f) {
        return Err(AppError::rule(e));
    }
    let amount = rules::request_amount(full, amount, f.refundable)
        .map_err(|e| AppError::Fields(vec![("amount".into(), e)]))?;
    if let Some(e) = rules::reason_error(reason) {
        return Err(AppError::Fields(vec![("reason".into(), e)]));
    }
    sqlx::query(
        "insert into refund_requests (order_id, resident_id, full, amount_kopecks, reason, state, created_at) \
         values (?, ?, ?, ?, ?, 'requested', ?)",
    )
    .bind(order_id)
    .bind(resident_id)
    .bind(full)
    .bind(amount.kopecks())
    .bind(reason.trim())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let kind = if full {
        "полный"
    } else {
        "частичный"
    };
    history(
        &mut tx,
        HistoryLine {
            order_id,
            staff_id: None,
            resident_id: Some(resident_id),
            kind: "Запрошен возврат",
            comment: &format!("{kind}, {amount}. Причина: {}", reason.trim()),
            visible_to_resident: true,
        },
        now,
    )
    .await?;
    enqueue(&mut tx, "refund_requested", order_id, assignee, None, now).await?;
    update_order_mark(&mut tx, order_id, now).await?;
    tx.commit().await?;
    Ok(())
}
