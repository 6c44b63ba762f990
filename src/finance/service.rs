//! The ledger and settlements on the server. Money events are booked by the services that
//! move the money, inside their own transactions, under a unique event key: a replayed
//! webhook, a retry or a double click finds the entry and books nothing.

use super::api::{
    AcquiringRateView, CommissionTermView, Difference, EntityTerms, EntryView, OrderFinance,
    OrderLine, PeriodEntity, PeriodReport, Reconciliation, Totals,
};
use super::rules::{self, CommissionTerm, FeeRate, Period, Split};
use crate::admin::service::legal_entity_exists;
use crate::auth::model::StaffUser;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::server::db::write_tx;
use rust_decimal::Decimal;
use sqlx::{SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::sync::atomic::{AtomicI32, Ordering};

static OFFSET: AtomicI32 = AtomicI32::new(crate::time::DEFAULT_UTC_OFFSET_MINUTES);

/// The time zone settlement months follow (set once from the configuration at start).
pub fn set_zone(offset_minutes: i32) {
    OFFSET.store(offset_minutes, Ordering::Relaxed);
}

pub fn zone() -> i32 {
    OFFSET.load(Ordering::Relaxed)
}

/// `YYYY-MM-DD` of a timestamp in the settlement zone.
pub fn day_of(ts: i64) -> String {
    let t = crate::time::LocalDateTime::from_unix(ts, zone());
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

fn too_big() -> AppError {
    AppError::internal("an amount out of range in a settlement")
}

fn decimal(s: &str) -> AppResult<Decimal> {
    Decimal::from_str(s).map_err(|_| AppError::internal(format!("a bad percent {s}")))
}

/// The commission term of an entity in force on a day.
async fn term_at(
    conn: &mut SqliteConnection,
    entity: i64,
    day: &str,
) -> AppResult<(Option<i64>, CommissionTerm)> {
    let row: Option<(i64, String, i64, i64)> = sqlx::query_as(
        "select term_id, percent, min_kopecks, fixed_kopecks from commission_terms \
         where legal_entity_id = ? and effective_from <= ? order by effective_from desc limit 1",
    )
    .bind(entity)
    .bind(day)
    .fetch_optional(conn)
    .await?;
    match row {
        Some((id, percent, min, fixed)) => Ok((
            Some(id),
            CommissionTerm {
                percent: decimal(&percent)?,
                minimum: Money::from_kopecks(min),
                fixed: Money::from_kopecks(fixed),
            },
        )),
        None => Ok((None, CommissionTerm::NONE)),
    }
}

async fn term_by_id(conn: &mut SqliteConnection, term_id: i64) -> AppResult<CommissionTerm> {
    let (percent, min, fixed): (String, i64, i64) = sqlx::query_as(
        "select percent, min_kopecks, fixed_kopecks from commission_terms where term_id = ?",
    )
    .bind(term_id)
    .fetch_one(conn)
    .await?;
    Ok(CommissionTerm {
        percent: decimal(&percent)?,
        minimum: Money::from_kopecks(min),
        fixed: Money::from_kopecks(fixed),
    })
}

/// The acquiring fee rate of a method in force on a day.
async fn rate_at(
    conn: &mut SqliteConnection,
    method: &str,
    day: &str,
) -> AppResult<(Option<i64>, FeeRate)> {
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "select rate_id, percent, fixed_kopecks from acquiring_rates \
         where method = ? and effective_from <= ? order by effective_from desc limit 1",
    )
    .bind(method)
    .bind(day)
    .fetch_optional(conn)
    .await?;
    match row {
        Some((id, percent, fixed)) => Ok((
            Some(id),
            FeeRate {
                percent: decimal(&percent)?,
                fixed: Money::from_kopecks(fixed),
            },
        )),
        None => Ok((None, FeeRate::NONE)),
    }
}

/// The month an entry made at `at` is settled in: its own month, or the first month
/// after the entity's last closed one.
async fn period_for(conn: &mut SqliteConnection, entity: i64, at: i64) -> AppResult<Period> {
    let own = Period::of(at, zone());
    let last: Option<String> =
        sqlx::query_scalar("select max(period) from settlement_periods where legal_entity_id = ?")
            .bind(entity)
            .fetch_one(conn)
            .await?;
    Ok(match last.as_deref().and_then(Period::parse) {
        Some(closed) if closed >= own => closed.next(),
        _ => own,
    })
}

struct NewEntry<'a> {
    kind: &'a str,
    event_key: String,
    order_id: i64,
    invoice_id: i64,
    payment_id: Option<i64>,
    refund_id: Option<i64>,
    split: Split,
    term_id: Option<i64>,
    rate_id: Option<i64>,
    provider_fee: Option<Money>,
}

/// Books an entry once and keeps the order's «Затраты» current. Returns whether it was
/// new.
async fn book(conn: &mut SqliteConnection, e: NewEntry<'_>, at: i64) -> AppResult<bool> {
    let entity: i64 = sqlx::query_scalar("select legal_entity_id from orders where order_id = ?")
        .bind(e.order_id)
        .fetch_one(&mut *conn)
        .await?;
    let period = period_for(conn, entity, at).await?;
    let s = e.split;
    let done = sqlx::query(
        "insert into ledger_entries (kind, event_key, legal_entity_id, order_id, invoice_id, payment_id, refund_id, at, \
         period, adjustment, amount_kopecks, surcharge_kopecks, fee_kopecks, commission_kopecks, payout_kopecks, term_id, \
         rate_id, provider_fee_kopecks) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         on conflict (event_key) do nothing",
    )
    .bind(e.kind)
    .bind(&e.event_key)
    .bind(entity)
    .bind(e.order_id)
    .bind(e.invoice_id)
    .bind(e.payment_id)
    .bind(e.refund_id)
    .bind(at)
    .bind(period.to_string())
    .bind(period != Period::of(at, zone()))
    .bind(s.amount.kopecks())
    .bind(s.surcharge.kopecks())
    .bind(s.fee.kopecks())
    .bind(s.commission.kopecks())
    .bind(s.payout.kopecks())
    .bind(e.term_id)
    .bind(e.rate_id)
    .bind(e.provider_fee.map(Money::kopecks))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let costs = s.fee.checked_add(s.commission).ok_or_else(too_big)?;
    sqlx::query("update orders set costs_kopecks = costs_kopecks + ? where order_id = ?")
        .bind(costs.kopecks())
        .bind(e.order_id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// A card or СБП payment the provider confirmed: `received` is what the provider says was
/// paid, `provider_fee` what it kept. The acquiring rate is the one of the payment's method.
pub async fn book_card_payment(
    conn: &mut SqliteConnection,
    payment_id: i64,
    received: Money,
    provider_fee: Option<Money>,
    now: i64,
) -> AppResult<bool> {
    let (order_id, invoice_id, surcharge, entity, method): (i64, i64, i64, i64, String) =
        sqlx::query_as(
            "select p.order_id, p.invoice_id, p.commission_kopecks, o.legal_entity_id, p.method from payments p \
             join orders o on o.order_id = p.order_id where p.payment_id = ?",
        )
        .bind(payment_id)
        .fetch_one(&mut *conn)
        .await?;
    let day = day_of(now);
    let (term_id, term) = term_at(conn, entity, &day).await?;
    let (rate_id, rate) = rate_at(conn, &method, &day).await?;
    let surcharge = Money::from_kopecks(surcharge).min(received);
    let split = rules::card_payment(received, surcharge, &term, &rate).ok_or_else(too_big)?;
    book(
        conn,
        NewEntry {
            kind: "card_payment",
            event_key: format!("payment:{payment_id}"),
            order_id,
            invoice_id,
            payment_id: Some(payment_id),
            refund_id: None,
            split,
            term_id,
            rate_id,
            provider_fee,
        },
        now,
    )
    .await
}

/// An invoice marked paid in cash («Отметить как оплаченный»).
pub async fn book_cash_payment(
    conn: &mut SqliteConnection,
    invoice_id: i64,
    now: i64,
) -> AppResult<bool> {
    let (order_id, total, entity): (i64, i64, i64) = sqlx::query_as(
        "select i.order_id, i.total_kopecks, o.legal_entity_id from invoices i \
         join orders o on o.order_id = i.order_id where i.invoice_id = ?",
    )
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?;
    let day = day_of(now);
    let (term_id, term) = term_at(conn, entity, &day).await?;
    let (rate_id, rate) = rate_at(conn, "cash", &day).await?;
    let split =
        rules::cash_payment(Money::from_kopecks(total), &term, &rate).ok_or_else(too_big)?;
    book(
        conn,
        NewEntry {
            kind: "cash_payment",
            event_key: format!("cash:{invoice_id}"),
            order_id,
            invoice_id,
            payment_id: None,
            refund_id: None,
            split,
            term_id,
            rate_id,
            provider_fee: None,
        },
        now,
    )
    .await
}

/// A cash-paid invoice cancelled: its cash entry reversed (in the current open period).
pub async fn book_cash_cancel(
    conn: &mut SqliteConnection,
    invoice_id: i64,
    now: i64,
) -> AppResult<bool> {
    type Row = (i64, i64, i64, i64, i64, i64, Option<i64>, Option<i64>);
    let row: Option<Row> = sqlx::query_as(
        "select order_id, amount_kopecks, surcharge_kopecks, fee_kopecks, commission_kopecks, payout_kopecks, \
         term_id, rate_id from ledger_entries where event_key = ?",
    )
    .bind(format!("cash:{invoice_id}"))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((order_id, amount, surcharge, fee, commission, payout, term_id, rate_id)) = row else {
        return Ok(false);
    };
    let m = Money::from_kopecks;
    let split = rules::reverse(&Split {
        amount: m(amount),
        surcharge: m(surcharge),
        fee: m(fee),
        commission: m(commission),
        payout: m(payout),
    })
    .ok_or_else(too_big)?;
    book(
        conn,
        NewEntry {
            kind: "cash_cancel",
            event_key: format!("cash-cancel:{invoice_id}"),
            order_id,
            invoice_id,
            payment_id: None,
            refund_id: None,
            split,
            term_id,
            rate_id,
            provider_fee: None,
        },
        now,
    )
    .await
}

/// A refund the provider completed. The commission is recomputed under the term of the
/// refunded payment.
pub async fn book_refund(conn: &mut SqliteConnection, refund_id: i64, now: i64) -> AppResult<bool> {
    let (order_id, invoice_id, payment_id, amount): (i64, i64, i64, i64) = sqlx::query_as(
        "select order_id, invoice_id, payment_id, amount_kopecks from refunds where refund_id = ?",
    )
    .bind(refund_id)
    .fetch_one(&mut *conn)
    .await?;
    let paid: Option<(Option<i64>,)> =
        sqlx::query_as("select term_id from ledger_entries where event_key = ?")
            .bind(format!("payment:{payment_id}"))
            .fetch_optional(&mut *conn)
            .await?;
    let (term_id, term) = match paid {
        Some((Some(id),)) => (Some(id), term_by_id(conn, id).await?),
        Some((None,)) => (None, CommissionTerm::NONE),
        None => {
            let entity: i64 =
                sqlx::query_scalar("select legal_entity_id from orders where order_id = ?")
                    .bind(order_id)
                    .fetch_one(&mut *conn)
                    .await?;
            term_at(conn, entity, &day_of(now)).await?
        }
    };
    let kept: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_kopecks - surcharge_kopecks), 0) from ledger_entries \
         where payment_id = ? and kind in ('card_payment', 'refund')",
    )
    .bind(payment_id)
    .fetch_one(&mut *conn)
    .await?;
    let amount = Money::from_kopecks(amount);
    let kept = Money::from_kopecks(kept).max(amount);
    let split = rules::refund(amount, kept, &term).ok_or_else(too_big)?;
    book(
        conn,
        NewEntry {
            kind: "refund",
            event_key: format!("refund:{refund_id}"),
            order_id,
            invoice_id,
            payment_id: Some(payment_id),
            refund_id: Some(refund_id),
            split,
            term_id,
            rate_id: None,
            provider_fee: None,
        },
        now,
    )
    .await
}

/// Books money events that happened before the ledger existed (or were missed): paid
/// invoices, succeeded card payments and refunds without an entry. Idempotent.
pub async fn backfill(pool: &SqlitePool) -> AppResult<usize> {
    let mut n = 0;
    let payments: Vec<(i64, i64, Option<i64>, i64)> = sqlx::query_as(
        "select p.payment_id, p.amount_kopecks, p.fee_kopecks, p.updated_at from payments p \
         where p.status = 'succeeded' and not exists \
         (select 1 from ledger_entries e where e.event_key = 'payment:' || p.payment_id)",
    )
    .fetch_all(pool)
    .await?;
    let cash: Vec<(i64, i64)> = sqlx::query_as(
        "select i.invoice_id, coalesce(i.paid_at, i.created_at) from invoices i \
         where i.paid_method = 'cash' and i.paid_at is not null and not exists \
         (select 1 from ledger_entries e where e.event_key = 'cash:' || i.invoice_id)",
    )
    .fetch_all(pool)
    .await?;
    let cancels: Vec<(i64, i64)> = sqlx::query_as(
        "select i.invoice_id, i.cancelled_at from invoices i \
         where i.paid_method = 'cash' and i.status = 'cancelled' and i.cancelled_at is not null and not exists \
         (select 1 from ledger_entries e where e.event_key = 'cash-cancel:' || i.invoice_id)",
    )
    .fetch_all(pool)
    .await?;
    let refunds: Vec<(i64, i64)> = sqlx::query_as(
        "select r.refund_id, r.updated_at from refunds r where r.state = 'succeeded' and not exists \
         (select 1 from ledger_entries e where e.event_key = 'refund:' || r.refund_id) order by r.refund_id",
    )
    .fetch_all(pool)
    .await?;
    if payments.is_empty() && cash.is_empty() && cancels.is_empty() && refunds.is_empty() {
        return Ok(0);
    }
    let mut tx = write_tx(pool).await?;
    for (id, amount, fee, at) in payments {
        n += usize::from(
            book_card_payment(
                &mut tx,
                id,
                Money::from_kopecks(amount),
                fee.map(Money::from_kopecks),
                at,
            )
            .await?,
        );
    }
    for (id, at) in cash {
        n += usize::from(book_cash_payment(&mut tx, id, at).await?);
    }
    for (id, at) in cancels {
        n += usize::from(book_cash_cancel(&mut tx, id, at).await?);
    }
    for (id, at) in refunds {
        n += usize::from(book_refund(&mut tx, id, at).await?);
    }
    tx.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------- reports

const TOTALS_SQL: &str = "count(*), \
    coalesce(sum(case when kind = 'card_payment' then amount_kopecks else 0 end), 0), \
    coalesce(sum(case when kind in ('cash_payment', 'cash_cancel') then amount_kopecks else 0 end), 0), \
    coalesce(sum(case when kind = 'refund' then -amount_kopecks else 0 end), 0), \
    coalesce(sum(fee_kopecks), 0), coalesce(sum(commission_kopecks), 0), coalesce(sum(payout_kopecks), 0), \
    coalesce(sum(adjustment), 0), \
    coalesce(sum(case when kind = 'card_payment' and exists (select 1 from payments p \
      where p.payment_id = ledger_entries.payment_id and p.method = 'sbp') then amount_kopecks else 0 end), 0)";

type TotalsRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
/// The legal entity, then [`TotalsRow`].
type EntityTotalsRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

fn totals_of(r: TotalsRow) -> Totals {
    let m = Money::from_kopecks;
    Totals {
        entries: r.0,
        card: m(r.1),
        cash: m(r.2),
        refunded: m(r.3),
        fees: m(r.4),
        commission: m(r.5),
        payout: m(r.6),
        adjustments: r.7,
        sbp: m(r.8),
    }
}

async fn closed_info(
    conn: &mut SqliteConnection,
    entity: i64,
    period: Period,
) -> AppResult<Option<(i64, String, Totals)>> {
    type Row = (i64, String, i64, i64, i64, i64, i64, i64, i64);
    let row: Option<Row> = sqlx::query_as(
        "select sp.closed_at, s.full_name, sp.entries, sp.card_kopecks, sp.cash_kopecks, sp.refunded_kopecks, \
         sp.fee_kopecks, sp.commission_kopecks, sp.payout_kopecks from settlement_periods sp \
         join staff s on s.staff_id = sp.closed_by where sp.legal_entity_id = ? and sp.period = ?",
    )
    .bind(entity)
    .bind(period.to_string())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        (
            r.0,
            r.1,
            totals_of((r.2, r.3, r.4, r.5, r.6, r.7, r.8, 0, 0)),
        )
    }))
}

/// «Взаиморасчеты» for a month: every legal entity with its totals.
pub async fn period_overview(pool: &SqlitePool, period: Period) -> AppResult<Vec<PeriodEntity>> {
    let mut conn = pool.acquire().await?;
    let entities: Vec<(i64, String, String)> = sqlx::query_as(
        "select legal_entity_id, name, kind from legal_entities order by kind desc, name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let rows: Vec<EntityTotalsRow> = sqlx::query_as(&format!(
        "select legal_entity_id, {TOTALS_SQL} from ledger_entries where period = ? group by legal_entity_id"
    ))
    .bind(period.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(entities.len());
    for (id, name, kind) in entities {
        let totals = rows
            .iter()
            .find(|r| r.0 == id)
            .map(|r| totals_of((r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9)))
            .unwrap_or_default();
        let closed = closed_info(&mut conn, id, period).await?;
        out.push(PeriodEntity {
            legal_entity_id: id,
            name,
            partner: kind == "partner",
            totals,
            closed_at: closed.as_ref().map(|c| c.0),
            closed_by: closed.map(|c| c.1),
        });
    }
    Ok(out)
}

async fn entity_totals(
    conn: &mut SqliteConnection,
    entity: i64,
    period: Period,
) -> AppResult<Totals> {
    let r: TotalsRow = sqlx::query_as(&format!(
        "select {TOTALS_SQL} from ledger_entries where period = ? and legal_entity_id = ?"
    ))
    .bind(period.to_string())
    .bind(entity)
    .fetch_one(conn)
    .await?;
    Ok(totals_of(r))
}

pub const ORDERS_PAGE: i64 = 50;

/// One entity's month: totals, whether it is closed, and its orders page by page (keyset
/// on the order number).
pub async fn period_report(
    pool: &SqlitePool,
    entity: i64,
    period: Period,
    after_order: Option<i64>,
) -> AppResult<PeriodReport> {
    let mut conn = pool.acquire().await?;
    let name: String =
        sqlx::query_scalar("select name from legal_entities where legal_entity_id = ?")
            .bind(entity)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(AppError::NotFound)?;
    let totals = entity_totals(&mut conn, entity, period).await?;
    let closed = closed_info(&mut conn, entity, period).await?;
    let orders = order_lines(&mut conn, entity, period, after_order, ORDERS_PAGE).await?;
    let next_after = (orders.len() as i64 == ORDERS_PAGE)
        .then(|| orders.last().map(|o| o.order_id))
        .flatten();
    let close_refusal = close_refusal(&mut conn, entity, period, crate::time::now()).await?;
    Ok(PeriodReport {
        legal_entity_id: entity,
        name,
        period: period.to_string(),
        totals,
        closed_at: closed.as_ref().map(|c| c.0),
        closed_by: closed.map(|c| c.1),
        close_refusal,
        orders,
        next_after,
    })
}

type OrderLineRow = (i64, String, String, i64, i64, i64, i64, i64, i64, i64);

/// Orders of an entity's month with their sums, from `after_order` on, `limit` of them.
pub async fn order_lines(
    conn: &mut SqliteConnection,
    entity: i64,
    period: Period,
    after_order: Option<i64>,
    limit: i64,
) -> AppResult<Vec<OrderLine>> {
    let rows: Vec<OrderLineRow> = sqlx::query_as(
        "select e.order_id, s.name, r.full_name, \
         sum(case when e.kind = 'card_payment' then e.amount_kopecks else 0 end), \
         sum(case when e.kind in ('cash_payment', 'cash_cancel') then e.amount_kopecks else 0 end), \
         sum(case when e.kind = 'refund' then -e.amount_kopecks else 0 end), \
         sum(e.fee_kopecks), sum(e.commission_kopecks), sum(e.payout_kopecks), \
         sum(e.adjustment) \
         from ledger_entries e join orders o on o.order_id = e.order_id \
         join services s on s.service_id = o.service_id join residents r on r.resident_id = o.resident_id \
         where e.period = ? and e.legal_entity_id = ? and e.order_id > ? \
         group by e.order_id order by e.order_id limit ?",
    )
    .bind(period.to_string())
    .bind(entity)
    .bind(after_order.unwrap_or(0))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    let m = Money::from_kopecks;
    Ok(rows
        .into_iter()
        .map(|r| OrderLine {
            order_id: r.0,
            service_name: r.1,
            client_name: r.2,
            card: m(r.3),
            cash: m(r.4),
            refunded: m(r.5),
            fees: m(r.6),
            commission: m(r.7),
            payout: m(r.8),
            adjustment: r.9 > 0,
        })
        .collect())
}

type EntryRow = (
    i64,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    bool,
    Option<String>,
);

/// Every entry of an order (all months), with the order's invoice check.
pub async fn order_finance(pool: &SqlitePool, order_id: i64) -> AppResult<OrderFinance> {
    let mut conn = pool.acquire().await?;
    let head: Option<(String, String, i64, i64)> = sqlx::query_as(
        "select s.name, le.name, o.legal_entity_id, o.costs_kopecks from orders o \
         join services s on s.service_id = o.service_id \
         join legal_entities le on le.legal_entity_id = o.legal_entity_id where o.order_id = ? and o.is_draft = 0",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (service_name, entity_name, entity, costs) = head.ok_or(AppError::NotFound)?;
    let rows: Vec<EntryRow> = sqlx::query_as(
        "select e.entry_id, e.kind, e.invoice_id, e.payment_id, e.refund_id, e.at, e.period, e.amount_kopecks, \
         e.fee_kopecks, e.commission_kopecks, e.payout_kopecks, e.surcharge_kopecks, e.provider_fee_kopecks, \
         p.card_mask, e.adjustment, p.method from ledger_entries e left join payments p on p.payment_id = e.payment_id \
         where e.order_id = ? order by e.entry_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let m = Money::from_kopecks;
    let entries = rows
        .into_iter()
        .map(|r| EntryView {
            entry_id: r.0,
            kind: r.1,
            invoice_id: r.2,
            payment_id: r.3,
            refund_id: r.4,
            at: r.5,
            adjustment: r.14,
            period: r.6,
            amount: m(r.7),
            fee: m(r.8),
            commission: m(r.9),
            payout: m(r.10),
            surcharge: m(r.11),
            provider_fee: r.12.map(m),
            card_mask: r.13,
            method: r.15,
        })
        .collect();
    let differences = invoice_differences(&mut conn, Scope::Order(order_id)).await?;
    let (invoiced, paid, open, cancelled) = invoice_sums(&mut conn, order_id).await?;
    Ok(OrderFinance {
        order_id,
        service_name,
        legal_entity_id: entity,
        entity_name,
        costs: m(costs),
        invoiced,
        paid,
        open,
        cancelled,
        entries,
        differences,
    })
}

/// invoiced, paid (by the ledger), open and cancelled sums of an order's invoices.
async fn invoice_sums(
    conn: &mut SqliteConnection,
    order_id: i64,
) -> AppResult<(Money, Money, Money, Money)> {
    let (invoiced, open, cancelled): (i64, i64, i64) = sqlx::query_as(
        "select coalesce(sum(total_kopecks), 0), \
         coalesce(sum(case when status = 'active' then total_kopecks else 0 end), 0), \
         coalesce(sum(case when status = 'cancelled' then total_kopecks else 0 end), 0) \
         from invoices where order_id = ? and status <> 'draft'",
    )
    .bind(order_id)
    .fetch_one(&mut *conn)
    .await?;
    let paid: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_kopecks - surcharge_kopecks), 0) from ledger_entries \
         where order_id = ? and kind <> 'refund'",
    )
    .bind(order_id)
    .fetch_one(conn)
    .await?;
    let m = Money::from_kopecks;
    Ok((m(invoiced), m(paid), m(open), m(cancelled)))
}

enum Scope {
    Order(i64),
    Period(i64, Period),
}

/// Invoices whose money in the ledger differs from their status: a paid invoice must
/// have received its total exactly once (net of a cancelled cash payment), an open or
/// cancelled one nothing; the refunds it shows must be the refunds booked.
async fn invoice_differences(
    conn: &mut SqliteConnection,
    scope: Scope,
) -> AppResult<Vec<Difference>> {
    let (filter, a, b) = match scope {
        Scope::Order(id) => ("i.order_id = ?1 and ?2 = ?2", id, String::new()),
        Scope::Period(entity, p) => (
            "i.order_id in (select order_id from ledger_entries where legal_entity_id = ?1 and period = ?2)",
            entity,
            p.to_string(),
        ),
    };
    let rows: Vec<(i64, i64, String, i64, i64, i64, i64)> = sqlx::query_as(&format!(
        "select i.order_id, i.invoice_id, i.status, i.total_kopecks, i.refunded_kopecks, \
         coalesce((select sum(e.amount_kopecks - e.surcharge_kopecks) from ledger_entries e \
                   where e.invoice_id = i.invoice_id and e.kind <> 'refund'), 0) as paid, \
         coalesce((select -sum(e.amount_kopecks) from ledger_entries e \
                   where e.invoice_id = i.invoice_id and e.kind = 'refund'), 0) as refunded \
         from invoices i where {filter} and i.status <> 'draft' order by i.order_id, i.invoice_id"
    ))
    .bind(a)
    .bind(b)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for (order_id, invoice_id, status, total, shown_refunded, paid, refunded) in rows {
        let m = Money::from_kopecks;
        let expected = if status == "paid" { total } else { 0 };
        if paid != expected {
            out.push(Difference {
                order_id,
                text: if status == "paid" {
                    format!(
                        "Счёт № {invoice_id} оплачен на {}, а получено {}",
                        m(total),
                        m(paid)
                    )
                } else {
                    format!(
                        "По счёту № {invoice_id} без оплаты получено {}: верните деньги или проверьте счёт",
                        m(paid)
                    )
                },
            });
        }
        if refunded != shown_refunded {
            out.push(Difference {
                order_id,
                text: format!(
                    "Счёт № {invoice_id}: возвращено {} по книге, {} по счёту",
                    m(refunded),
                    m(shown_refunded)
                ),
            });
        }
    }
    Ok(out)
}

/// The reconciliation of an entity's month.
pub async fn reconcile(
    pool: &SqlitePool,
    entity: i64,
    period: Period,
) -> AppResult<Reconciliation> {
    let mut conn = pool.acquire().await?;
    let totals = entity_totals(&mut conn, entity, period).await?;
    let mut differences = invoice_differences(&mut conn, Scope::Period(entity, period)).await?;
    let (invoiced, open, cancelled): (i64, i64, i64) = sqlx::query_as(
        "select coalesce(sum(total_kopecks), 0), \
         coalesce(sum(case when status = 'active' then total_kopecks else 0 end), 0), \
         coalesce(sum(case when status = 'cancelled' then total_kopecks else 0 end), 0) \
         from invoices where status <> 'draft' and order_id in \
         (select order_id from ledger_entries where legal_entity_id = ? and period = ?)",
    )
    .bind(entity)
    .bind(period.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let paid: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_kopecks - surcharge_kopecks), 0) from ledger_entries \
         where kind <> 'refund' and order_id in \
         (select order_id from ledger_entries where legal_entity_id = ? and period = ?)",
    )
    .bind(entity)
    .bind(period.to_string())
    .fetch_one(&mut *conn)
    .await?;
    // Card payments the provider confirmed within the month but the ledger lacks.
    let (start, end) = (period.start(zone()), period.end(zone()));
    let unbooked: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select p.order_id, p.payment_id, p.amount_kopecks from payments p join orders o on o.order_id = p.order_id \
         where o.legal_entity_id = ? and p.status = 'succeeded' and p.updated_at >= ? and p.updated_at < ? \
         and not exists (select 1 from ledger_entries e where e.event_key = 'payment:' || p.payment_id)",
    )
    .bind(entity)
    .bind(start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await?;
    for (order_id, payment_id, amount) in unbooked {
        differences.push(Difference {
            order_id,
            text: format!(
                "Платёж {payment_id} на {} прошёл, но не проведён",
                Money::from_kopecks(amount)
            ),
        });
    }
    let unbooked_refunds: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select r.order_id, r.refund_id, r.amount_kopecks from refunds r join orders o on o.order_id = r.order_id \
         where o.legal_entity_id = ? and r.state = 'succeeded' and r.updated_at >= ? and r.updated_at < ? \
         and not exists (select 1 from ledger_entries e where e.event_key = 'refund:' || r.refund_id)",
    )
    .bind(entity)
    .bind(start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await?;
    for (order_id, refund_id, amount) in unbooked_refunds {
        differences.push(Difference {
            order_id,
            text: format!(
                "Возврат {refund_id} на {} завершён, но не проведён",
                Money::from_kopecks(amount)
            ),
        });
    }
    let fee_gaps: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "select order_id, payment_id, fee_kopecks, provider_fee_kopecks from ledger_entries \
         where legal_entity_id = ? and period = ? and kind = 'card_payment' and provider_fee_kopecks <> fee_kopecks",
    )
    .bind(entity)
    .bind(period.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for (order_id, payment_id, fee, provider) in fee_gaps {
        differences.push(Difference {
            order_id,
            text: format!(
                "Платёж {payment_id}: эквайринг по тарифу {}, платёжная система удержала {}",
                Money::from_kopecks(fee),
                Money::from_kopecks(provider)
            ),
        });
    }
    // Fiscal receipts: every payment and refund has its receipt, every done prepaid order
    // its «Полный расчет».
    differences.extend(
        crate::receipts::service::differences(&mut conn, entity, &period.to_string()).await?,
    );
    if let Some((_, _, frozen)) = closed_info(&mut conn, entity, period).await? {
        // The confirmed row keeps neither the adjustments count nor the СБП part.
        let now = Totals {
            adjustments: 0,
            sbp: Money::ZERO,
            ..totals.clone()
        };
        if frozen != now {
            differences.push(Difference {
                order_id: 0,
                text: "Итоги закрытого периода отличаются от подтверждённых".into(),
            });
        }
    }
    let m = Money::from_kopecks;
    Ok(Reconciliation {
        invoiced: m(invoiced),
        paid: m(paid),
        open: m(open),
        cancelled: m(cancelled),
        totals,
        differences,
    })
}

/// Why an entity's month cannot be confirmed now, if it cannot: the one check behind the
/// greyed-out button and the refusal of the server.
async fn close_refusal(
    conn: &mut SqliteConnection,
    entity: i64,
    period: Period,
    now: i64,
) -> AppResult<Option<String>> {
    let (closed, open_before, later): (bool, Option<String>, bool) = sqlx::query_as(
        "select exists (select 1 from settlement_periods where legal_entity_id = ?1 and period = ?2), \
         (select min(period) from ledger_entries e where legal_entity_id = ?1 and period < ?2 and not exists \
          (select 1 from settlement_periods sp where sp.legal_entity_id = e.legal_entity_id and sp.period = e.period)), \
         exists (select 1 from settlement_periods where legal_entity_id = ?1 and period > ?2)",
    )
    .bind(entity)
    .bind(period.to_string())
    .fetch_one(conn)
    .await?;
    Ok(rules::close_error(
        period,
        Period::of(now, zone()),
        closed,
        open_before.as_deref().and_then(Period::parse),
        later,
    ))
}

/// Confirms (freezes) an entity's month.
pub async fn close_period(
    pool: &SqlitePool,
    staff: &StaffUser,
    entity: i64,
    period: Period,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    if !legal_entity_exists(&mut tx, entity).await? {
        return Err(AppError::NotFound);
    }
    if let Some(e) = close_refusal(&mut tx, entity, period, now).await? {
        return Err(AppError::rule(e));
    }
    let t = entity_totals(&mut tx, entity, period).await?;
    sqlx::query(
        "insert into settlement_periods (legal_entity_id, period, closed_at, closed_by, entries, card_kopecks, \
         cash_kopecks, refunded_kopecks, fee_kopecks, commission_kopecks, payout_kopecks) \
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(entity)
    .bind(period.to_string())
    .bind(now)
    .bind(staff.staff_id)
    .bind(t.entries)
    .bind(t.card.kopecks())
    .bind(t.cash.kopecks())
    .bind(t.refunded.kopecks())
    .bind(t.fees.kopecks())
    .bind(t.commission.kopecks())
    .bind(t.payout.kopecks())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- terms and rates

pub async fn terms(pool: &SqlitePool) -> AppResult<(Vec<EntityTerms>, Vec<AcquiringRateView>)> {
    let entities: Vec<(i64, String, String)> = sqlx::query_as(
        "select legal_entity_id, name, kind from legal_entities order by kind desc, name",
    )
    .fetch_all(pool)
    .await?;
    let rows: Vec<(i64, i64, String, i64, i64, String)> = sqlx::query_as(
        "select term_id, legal_entity_id, percent, min_kopecks, fixed_kopecks, effective_from \
         from commission_terms order by legal_entity_id, effective_from desc",
    )
    .fetch_all(pool)
    .await?;
    let today = day_of(crate::time::now());
    let out = entities
        .into_iter()
        .map(|(id, name, kind)| {
            let mine: Vec<_> = rows.iter().filter(|r| r.1 == id).collect();
            let current = mine.iter().find(|r| r.5 <= today).map(|r| r.0);
            EntityTerms {
                legal_entity_id: id,
                name,
                partner: kind == "partner",
                terms: mine
                    .iter()
                    .map(|r| CommissionTermView {
                        term_id: r.0,
                        percent: r.2.replace('.', ","),
                        minimum: Money::from_kopecks(r.3),
                        fixed: Money::from_kopecks(r.4),
                        effective_from: r.5.clone(),
                        current: Some(r.0) == current,
                    })
                    .collect(),
            }
        })
        .collect();
    let rates: Vec<(i64, String, String, i64, String)> = sqlx::query_as(
        "select rate_id, method, percent, fixed_kopecks, effective_from from acquiring_rates \
         order by method, effective_from desc",
    )
    .fetch_all(pool)
    .await?;
    let mut current: Vec<(String, i64)> = Vec::new();
    for r in &rates {
        if r.4 <= today && !current.iter().any(|c| c.0 == r.1) {
            current.push((r.1.clone(), r.0));
        }
    }
    let rates = rates
        .into_iter()
        .map(|r| AcquiringRateView {
            rate_id: r.0,
            current: current.iter().any(|c| c.1 == r.0),
            method: r.1,
            percent: r.2.replace('.', ","),
            fixed: Money::from_kopecks(r.3),
            effective_from: r.4,
        })
        .collect();
    Ok((out, rates))
}

/// What a new term or rate says, checked: fields keyed for the form.
pub struct TermInput {
    pub percent: String,
    pub minimum: String,
    pub fixed: String,
    pub effective_from: String,
}

struct CheckedTerm {
    percent: Decimal,
    minimum: Money,
    fixed: Money,
    day: String,
}

fn check_term(input: &TermInput, today: &str) -> AppResult<CheckedTerm> {
    let mut errors = Vec::new();
    let percent = rules::parse_percent(&input.percent)
        .map_err(|e| errors.push(("percent".to_owned(), e.to_owned())))
        .ok();
    let amount = |s: &str, key: &str, errors: &mut Vec<(String, String)>| -> Option<Money> {
        if s.trim().is_empty() {
            return Some(Money::ZERO);
        }
        match Money::parse(s) {
            Ok(m) if !m.is_negative() => Some(m),
            Ok(_) => {
                errors.push((key.to_owned(), "Сумма не может быть отрицательной".into()));
                None
            }
            Err(e) => {
                errors.push((key.to_owned(), e.to_string()));
                None
            }
        }
    };
    let minimum = amount(&input.minimum, "minimum", &mut errors);
    let fixed = amount(&input.fixed, "fixed", &mut errors);
    let day = match rules::parse_day(&input.effective_from) {
        Some(d) if d.as_str() >= today => Some(d),
        Some(_) => {
            errors.push((
                "effective_from".into(),
                "Условия действуют с сегодняшнего дня или позже: прошлое уже рассчитано".into(),
            ));
            None
        }
        None => {
            errors.push((
                "effective_from".into(),
                "Укажите дату начала действия".into(),
            ));
            None
        }
    };
    match (percent, minimum, fixed, day) {
        (Some(percent), Some(minimum), Some(fixed), Some(day)) if errors.is_empty() => {
            Ok(CheckedTerm {
                percent,
                minimum,
                fixed,
                day,
            })
        }
        _ => Err(AppError::Fields(errors)),
    }
}

/// Adds a commission term for an entity from a day (today or later; the same day
/// replaces the one set for it).
pub async fn add_term(
    pool: &SqlitePool,
    staff: &StaffUser,
    entity: i64,
    input: TermInput,
    now: i64,
) -> AppResult<()> {
    let t = check_term(&input, &day_of(now))?;
    let mut tx = write_tx(pool).await?;
    if !legal_entity_exists(&mut tx, entity).await? {
        return Err(AppError::NotFound);
    }
    let used: i64 = sqlx::query_scalar(
        "select count(*) from ledger_entries e join commission_terms t on t.term_id = e.term_id \
         where t.legal_entity_id = ? and t.effective_from = ?",
    )
    .bind(entity)
    .bind(&t.day)
    .fetch_one(&mut *tx)
    .await?;
    if used > 0 {
        return Err(AppError::rule(
            "Условия на этот день уже применены к платежам: выберите следующий день",
        ));
    }
    sqlx::query(
        "insert into commission_terms (legal_entity_id, percent, min_kopecks, fixed_kopecks, effective_from, created_by, created_at) \
         values (?, ?, ?, ?, ?, ?, ?) on conflict (legal_entity_id, effective_from) do update set \
         percent = excluded.percent, min_kopecks = excluded.min_kopecks, fixed_kopecks = excluded.fixed_kopecks, \
         created_by = excluded.created_by, created_at = excluded.created_at",
    )
    .bind(entity)
    .bind(t.percent.to_string())
    .bind(t.minimum.kopecks())
    .bind(t.fixed.kopecks())
    .bind(&t.day)
    .bind(staff.staff_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds an acquiring rate for a method from a day.
pub async fn add_rate(
    pool: &SqlitePool,
    staff: &StaffUser,
    method: &str,
    input: TermInput,
    now: i64,
) -> AppResult<()> {
    if !rules::RATE_METHODS.contains(&method) {
        return Err(AppError::validation("Неизвестный способ оплаты"));
    }
    let t = check_term(&input, &day_of(now))?;
    let mut tx = write_tx(pool).await?;
    let used: i64 = sqlx::query_scalar(
        "select count(*) from ledger_entries e join acquiring_rates r on r.rate_id = e.rate_id \
         where r.method = ? and r.effective_from = ?",
    )
    .bind(method)
    .bind(&t.day)
    .fetch_one(&mut *tx)
    .await?;
    if used > 0 {
        return Err(AppError::rule(
            "Тариф на этот день уже применён к платежам: выберите следующий день",
        ));
    }
    sqlx::query(
        "insert into acquiring_rates (method, percent, fixed_kopecks, effective_from, created_by, created_at) \
         values (?, ?, ?, ?, ?, ?) on conflict (method, effective_from) do update set \
         percent = excluded.percent, fixed_kopecks = excluded.fixed_kopecks, \
         created_by = excluded.created_by, created_at = excluded.created_at",
    )
    .bind(method)
    .bind(t.percent.to_string())
    .bind(t.fixed.kopecks())
    .bind(&t.day)
    .bind(staff.staff_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Demo terms: each partner leaves 10 % (at least 50 ₽), card and СБП acquiring as the
/// sandbox charges them, cash free. Only where nothing is set yet (СБП's rate also where
/// only it is missing: demo data from before СБП).
pub async fn seed_demo(pool: &SqlitePool) -> AppResult<()> {
    let now = crate::time::now();
    sqlx::query(
        "insert into acquiring_rates (method, percent, fixed_kopecks, effective_from, created_at) \
         select 'sbp', ?, 0, '2020-01-01', ? where not exists (select 1 from acquiring_rates where method = 'sbp')",
    )
    .bind(crate::payments::sandbox::sbp_fee_percent().to_string())
    .bind(now)
    .execute(pool)
    .await?;
    let any: i64 = sqlx::query_scalar(
        "select (select count(*) from commission_terms) + (select count(*) from acquiring_rates where method <> 'sbp')",
    )
    .fetch_one(pool)
    .await?;
    if any > 0 {
        return Ok(());
    }
    let mut tx = write_tx(pool).await?;
    sqlx::query(
        "insert into commission_terms (legal_entity_id, percent, min_kopecks, fixed_kopecks, effective_from, created_at) \
         select legal_entity_id, '10', 5000, 0, '2020-01-01', ? from legal_entities where kind = 'partner'",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into acquiring_rates (method, percent, fixed_kopecks, effective_from, created_at) \
         values ('card', ?, 0, '2020-01-01', ?), ('cash', '0', 0, '2020-01-01', ?)",
    )
    .bind(crate::payments::sandbox::fee_percent().to_string())
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
