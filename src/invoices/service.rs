//! Invoices on the server: every rule of `rules` checked inside one write transaction,
//! every change written to «История», the order's «Сумма» kept current.

use super::api::{InvoiceView, InvoicesBlock, LineView};
use super::rules::{
    self, action_error, new_invoice_error, Discount, InvoiceAction, InvoiceFacts, InvoiceStatus,
    Line, LineInput, PaidMethod, PriceItem,
};
use crate::auth::model::StaffUser;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::orders::service::{editable_order, tell_resident, touch_for_resident, visible_order};
use crate::server::db::{stored_json, write_tx};
use rust_decimal::Decimal;
use sqlx::{SqliteConnection, SqlitePool};
use std::str::FromStr;

fn status_of(s: &str) -> AppResult<InvoiceStatus> {
    InvoiceStatus::from_db(s)
        .ok_or_else(|| AppError::internal(format!("unknown invoice status {s}")))
}

/// Active items of the price list of the order's provider.
pub async fn provider_items(
    conn: &mut SqliteConnection,
    order_id: i64,
) -> AppResult<Vec<PriceItem>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "select pi.price_item_id, pi.name, pi.unit, pi.price_kopecks from price_items pi \
         join orders o on o.legal_entity_id = pi.legal_entity_id \
         where o.order_id = ? and pi.active = 1 order by pi.name",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(price_item_id, name, unit, price)| PriceItem {
            price_item_id,
            name,
            unit,
            price: Money::from_kopecks(price),
        })
        .collect())
}

pub async fn price_items(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
) -> AppResult<Vec<PriceItem>> {
    let mut conn = pool.acquire().await?;
    editable_order(&mut conn, staff, order_id).await?;
    provider_items(&mut conn, order_id).await
}

/// Whether a card payment of the invoice has started and not ended.
async fn payment_in_progress(conn: &mut SqliteConnection, invoice_id: i64) -> AppResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from payments where invoice_id = ? and status in ('new', 'pending')",
    )
    .bind(invoice_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

async fn statuses(conn: &mut SqliteConnection, order_id: i64) -> AppResult<Vec<InvoiceStatus>> {
    let rows: Vec<String> = sqlx::query_scalar("select status from invoices where order_id = ?")
        .bind(order_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|s| status_of(s)).collect()
}

/// Keeps «Сумма» (all invoices but cancelled) and its green mark (all of them paid) current.
pub async fn recompute_order(
    conn: &mut SqliteConnection,
    order_id: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "update orders set \
           total_kopecks = (select coalesce(sum(total_kopecks), 0) from invoices where order_id = ?1 and status <> 'cancelled'), \
           all_paid = (select count(*) > 0 and sum(status <> 'paid') = 0 from invoices where order_id = ?1 and status <> 'cancelled'), \
           updated_at = ?2 \
         where order_id = ?1",
    )
    .bind(order_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A line in «История».
pub struct HistoryLine<'a> {
    pub order_id: i64,
    pub staff_id: Option<i64>,
    pub resident_id: Option<i64>,
    pub kind: &'a str,
    pub comment: &'a str,
    pub visible_to_resident: bool,
}

pub async fn history(
    conn: &mut SqliteConnection,
    line: HistoryLine<'_>,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "insert into order_history (order_id, at, staff_id, resident_id, kind, comment, visible_to_resident) \
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(line.order_id)
    .bind(now)
    .bind(line.staff_id)
    .bind(line.resident_id)
    .bind(line.kind)
    .bind(line.comment)
    .bind(line.visible_to_resident)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_invoice(
    conn: &mut SqliteConnection,
    order_id: i64,
    lines: &[Line],
    staff_id: Option<i64>,
    now: i64,
) -> AppResult<(i64, Money)> {
    let total = rules::total(lines).ok_or_else(|| AppError::validation("Слишком большая сумма"))?;
    let invoice_id: i64 = sqlx::query_scalar(
        "insert into invoices (order_id, status, total_kopecks, created_at, created_by) values (?, 'draft', ?, ?, ?) \
         returning invoice_id",
    )
    .bind(order_id)
    .bind(total.kopecks())
    .bind(now)
    .bind(staff_id)
    .fetch_one(&mut *conn)
    .await?;
    for l in lines {
        let (kind, value) = l.discount.to_db();
        // The receipt's VAT rate and payment subject come from the price item, as the name
        // and price do.
        sqlx::query(
            "insert into invoice_lines (invoice_id, price_item_id, name, unit, unit_price_kopecks, quantity, \
             discount_kind, discount_value, amount_kopecks, vat_code, payment_subject) \
             select ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             coalesce((select vat_code from price_items where price_item_id = ?2), 'none'), \
             coalesce((select payment_subject from price_items where price_item_id = ?2), 'service')",
        )
        .bind(invoice_id)
        .bind(l.price_item_id)
        .bind(&l.name)
        .bind(&l.unit)
        .bind(l.unit_price.kopecks())
        .bind(l.quantity.to_string())
        .bind(kind)
        .bind(value)
        .bind(l.amount.kopecks())
        .execute(&mut *conn)
        .await?;
    }
    Ok((invoice_id, total))
}

pub async fn create(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
    inputs: &[LineInput],
    now: i64,
) -> AppResult<i64> {
    let mut tx = write_tx(pool).await?;
    let order = editable_order(&mut tx, staff, order_id).await?;
    let order_status = crate::orders::repo::status(&order.status)?;
    if let Some(e) = new_invoice_error(order_status, &statuses(&mut tx, order_id).await?) {
        return Err(AppError::rule(e));
    }
    let items = provider_items(&mut tx, order_id).await?;
    let lines = rules::check_lines(&items, inputs).map_err(AppError::validation)?;
    let (invoice_id, total) =
        insert_invoice(&mut tx, order_id, &lines, Some(staff.staff_id), now).await?;
    history(
        &mut tx,
        HistoryLine {
            order_id,
            staff_id: Some(staff.staff_id),
            resident_id: None,
            kind: "Создан счёт",
            comment: &format!("Счёт № {invoice_id} на {total}"),
            visible_to_resident: false,
        },
        now,
    )
    .await?;
    recompute_order(&mut tx, order_id, now).await?;
    tx.commit().await?;
    Ok(invoice_id)
}

async fn activate(
    conn: &mut SqliteConnection,
    invoice_id: i64,
    order_id: i64,
    resident_id: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query("update invoices set status = 'active', activated_at = ? where invoice_id = ? and status = 'draft'")
        .bind(now)
        .bind(invoice_id)
        .execute(&mut *conn)
        .await?;
    tell_resident(conn, "invoice_issued", order_id, resident_id, now).await
}

pub async fn act(
    pool: &SqlitePool,
    staff: &StaffUser,
    invoice_id: i64,
    action: InvoiceAction,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let row: Option<(i64, String, Option<String>, i64)> = sqlx::query_as(
        "select order_id, status, paid_method, total_kopecks from invoices where invoice_id = ?",
    )
    .bind(invoice_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (order_id, status, method, total) = row.ok_or(AppError::NotFound)?;
    let order = editable_order(&mut tx, staff, order_id).await?;
    let facts = InvoiceFacts {
        status: status_of(&status)?,
        paid_method: method.as_deref().and_then(PaidMethod::from_db),
        payment_in_progress: payment_in_progress(&mut tx, invoice_id).await?,
    };
    if let Some(e) = action_error(action, facts) {
        return Err(AppError::rule(e));
    }
    let closed = matches!(
        crate::orders::repo::status(&order.status)?,
        crate::orders::status::OrderStatus::Done | crate::orders::status::OrderStatus::Cancelled
    );
    if closed && action == InvoiceAction::Activate {
        return Err(AppError::rule("Заказ закрыт: счёт выставить нельзя"));
    }
    let total = Money::from_kopecks(total);
    let what = match action {
        InvoiceAction::Activate => {
            activate(&mut tx, invoice_id, order_id, order.resident_id, now).await?;
            "Счёт выставлен в ЛК"
        }
        InvoiceAction::MarkPaid => {
            sqlx::query(
                "update invoices set status = 'paid', paid_method = 'cash', paid_at = ? where invoice_id = ?",
            )
            .bind(now)
            .bind(invoice_id)
            .execute(&mut *tx)
            .await?;
            crate::finance::service::book_cash_payment(&mut tx, invoice_id, now).await?;
            crate::receipts::service::cash_paid(&mut tx, invoice_id, now).await?;
            touch_for_resident(&mut tx, order_id, now).await?;
            "Счёт отмечен как оплаченный"
        }
        InvoiceAction::Cancel => {
            sqlx::query(
                "update invoices set status = 'cancelled', cancelled_at = ?, cancelled_by = ? where invoice_id = ?",
            )
            .bind(now)
            .bind(staff.staff_id)
            .bind(invoice_id)
            .execute(&mut *tx)
            .await?;
            if facts.status != InvoiceStatus::Draft {
                touch_for_resident(&mut tx, order_id, now).await?;
            }
            if facts.status == InvoiceStatus::Paid {
                crate::finance::service::book_cash_cancel(&mut tx, invoice_id, now).await?;
            }
            "Счёт отменён"
        }
    };
    let visible = facts.status != InvoiceStatus::Draft || action == InvoiceAction::Activate;
    history(
        &mut tx,
        HistoryLine {
            order_id,
            staff_id: Some(staff.staff_id),
            resident_id: None,
            kind: what,
            comment: &format!("Счёт № {invoice_id} на {total}"),
            visible_to_resident: visible,
        },
        now,
    )
    .await?;
    recompute_order(&mut tx, order_id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The invoice of a prepaid service, created and activated at submission: the service's
/// cheapest linked price item, times the first number the form asked for (or 1).
/// `None` when the service has no price to invoice.
pub async fn create_prepaid(
    conn: &mut SqliteConnection,
    order_id: i64,
    service_id: i64,
    resident_id: i64,
    quantity: Option<i64>,
    now: i64,
) -> AppResult<Option<i64>> {
    let item: Option<(i64, String, String, i64)> = sqlx::query_as(
        "select pi.price_item_id, pi.name, pi.unit, pi.price_kopecks from service_prices sp \
         join price_items pi on pi.price_item_id = sp.price_item_id \
         join services s on s.service_id = sp.service_id \
         where sp.service_id = ? and pi.active = 1 and pi.legal_entity_id = s.legal_entity_id \
         order by pi.price_kopecks, pi.price_item_id limit 1",
    )
    .bind(service_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((price_item_id, name, unit, price)) = item else {
        return Ok(None);
    };
    let item = PriceItem {
        price_item_id,
        name,
        unit,
        price: Money::from_kopecks(price),
    };
    let line = rules::prepaid_line(&item, quantity).map_err(AppError::validation)?;
    let (invoice_id, total) = insert_invoice(conn, order_id, &[line], None, now).await?;
    activate(conn, invoice_id, order_id, resident_id, now).await?;
    history(
        conn,
        HistoryLine {
            order_id,
            staff_id: None,
            resident_id: Some(resident_id),
            kind: "Счёт выставлен в ЛК",
            comment: &format!("Счёт № {invoice_id} на {total} (предоплата)"),
            visible_to_resident: true,
        },
        now,
    )
    .await?;
    recompute_order(conn, order_id, now).await?;
    Ok(Some(invoice_id))
}

#[derive(serde::Deserialize)]
struct InvoiceRow {
    invoice_id: i64,
    status: String,
    paid_method: Option<String>,
    total_kopecks: i64,
    refunded_kopecks: i64,
    created_at: i64,
    paid_at: Option<i64>,
    /// 1 while a payment of it is under way (see [`payment_in_progress`]).
    in_progress: i64,
}

#[derive(serde::Deserialize)]
struct LineRow {
    invoice_id: i64,
    discount_kind: String,
    discount_value: String,
    #[serde(flatten)]
    line: crate::refunds::service::RefundableRow,
}

/// The block's one row: the order's provider and its invoices and their lines as JSON.
#[derive(sqlx::FromRow)]
struct BlockRow {
    provider: String,
    invoices: String,
    lines: String,
}

pub async fn block(
    pool: &SqlitePool,
    staff: &StaffUser,
    order_id: i64,
) -> AppResult<InvoicesBlock> {
    let mut conn = pool.acquire().await?;
    let order = visible_order(&mut conn, staff, order_id).await?;
    block_of(&mut conn, staff, &order).await
}

/// The block of an order the caller has found visible to this staff member.
pub async fn block_of(
    conn: &mut SqliteConnection,
    staff: &StaffUser,
    order: &crate::orders::service::OrderAccess,
) -> AppResult<InvoicesBlock> {
    let order_id = order.order_id;
    let can_edit = staff
        .permissions
        .can_edit_order(staff.staff_id, order.assignee_id)
        && !order.is_draft;
    // One statement for the block (each is a round trip to the connection's thread).
    let block: BlockRow = sqlx::query_as(concat!(
        "select le.name as provider, \
         (select json_group_array(json_object('invoice_id', i.invoice_id, 'status', i.status, \
            'paid_method', i.paid_method, 'total_kopecks', i.total_kopecks, \
            'refunded_kopecks', i.refunded_kopecks, 'created_at', i.created_at, 'paid_at', i.paid_at, \
            'in_progress', exists (select 1 from payments p where p.invoice_id = i.invoice_id \
                                   and p.status in ('new', 'pending'))) order by i.invoice_id) \
            from invoices i where i.order_id = o.order_id) as invoices, \
         (select json_group_array(json_object('invoice_id', l.invoice_id, \
            'discount_kind', l.discount_kind, 'discount_value', l.discount_value, ",
        crate::refunds::service::refundable_line_fields!("l"),
") order by l.line_id) \
            from invoice_lines l join invoices i on i.invoice_id = l.invoice_id \
            where i.order_id = o.order_id) as lines \
         from orders o join legal_entities le on le.legal_entity_id = o.legal_entity_id where o.order_id = ?"
    ))
    .bind(order_id)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<InvoiceRow> = stored_json(&block.invoices)?;
    let lines: Vec<LineRow> = stored_json(&block.lines)?;
    let order_status = crate::orders::repo::status(&order.status)?;
    let mut invoices = Vec::with_capacity(rows.len());
    let mut statuses = Vec::with_capacity(rows.len());
    for r in rows {
        let status = status_of(&r.status)?;
        statuses.push(status);
        let facts = InvoiceFacts {
            status,
            paid_method: r.paid_method.as_deref().and_then(PaidMethod::from_db),
            payment_in_progress: r.in_progress != 0,
        };
        let actions = InvoiceAction::ALL
            .into_iter()
            .map(|a| {
                let refused = if can_edit {
                    action_error(a, facts).map(str::to_owned)
                } else {
                    Some("Нет права «Заказы: редактирование» для этого заказа".to_owned())
                };
                (a, refused)
            })
            .collect();
        let refund_refused = if !can_edit {
            Some("Нет права «Заказы: редактирование» для этого заказа".to_owned())
        } else {
            let card = status == InvoiceStatus::Paid
                && facts.paid_method.is_some_and(PaidMethod::by_provider);
            let left = if card {
                crate::refunds::rules::refundable(
                    &lines
                        .iter()
                        .filter(|l| l.invoice_id == r.invoice_id)
                        .map(|l| l.line.line())
                        .collect::<Vec<_>>(),
                )
            } else {
                Money::ZERO
            };
            crate::refunds::rules::staff_refund_error(order_status, card, left).map(str::to_owned)
        };
        invoices.push(InvoiceView {
            refund_refused,
            invoice_id: r.invoice_id,
            status,
            paid_method: facts.paid_method,
            total: Money::from_kopecks(r.total_kopecks),
            refunded: Money::from_kopecks(r.refunded_kopecks),
            created_at: r.created_at,
            paid_at: r.paid_at,
            lines: lines
                .iter()
                .filter(|l| l.invoice_id == r.invoice_id)
                .map(|l| LineView {
                    name: l.line.name.clone(),
                    unit: l.line.unit.clone(),
                    unit_price: Money::from_kopecks(l.line.unit_price_kopecks),
                    quantity: Decimal::from_str(&l.line.quantity).unwrap_or(Decimal::ONE),
                    discount: Discount::from_db(&l.discount_kind, &l.discount_value),
                    amount: Money::from_kopecks(l.line.amount_kopecks),
                })
                .collect(),
            actions,
        });
    }
    let new_invoice_error = if !can_edit {
        Some("Нет права «Заказы: редактирование» для этого заказа".to_owned())
    } else {
        new_invoice_error(order_status, &statuses).map(str::to_owned)
    };
    Ok(InvoicesBlock {
        invoices,
        new_invoice_error,
        can_edit,
        provider: block.provider,
    })
}
