//! Payments on the server. A payment row is written before the provider is called (the
//! outbox), with an idempotency key the provider honours; results arrive by webhook, by
//! polling, or when the payer returns, and are applied once: a payment in a final state
//! never changes again, so replayed, repeated or reordered events are harmless.

use super::api::{email_ok, PayScreen, PaymentOutcome, PaymentResult, SavedCard, Started};
use super::gateway::{
    CreatePayment, GatewayError, PayMethod, PaymentGateway, ProviderPayment, ProviderStatus,
};
use crate::error::{AppError, AppResult};
use crate::invoices::rules::payer_commission;
use crate::invoices::service::{history, recompute_order, HistoryLine};
use crate::money::Money;
use crate::orders::service::enqueue;
use crate::server::db::write_tx;
use crate::server::state::AppState;
use sqlx::SqlitePool;
use std::sync::Arc;

/// A payment still `new` this long after its last try is sent to the provider again.
pub const RETRY_NEW_AFTER_SECONDS: i64 = 20;
/// A payment `pending` this long is asked about (a webhook may have been lost).
pub const POLL_PENDING_AFTER_SECONDS: i64 = 60;
/// A payment under way is offered again instead of starting another within this time.
pub const REUSE_PAYMENT_SECONDS: i64 = 30 * 60;

pub struct PayChoice {
    pub method: PayMethod,
    pub email: String,
    pub card_id: Option<i64>,
    pub save_card: bool,
}

struct InvoiceToPay {
    invoice_id: i64,
    order_id: i64,
    status: String,
    total: Money,
    service_name: String,
    order_cancelled: bool,
}

async fn invoice_of(
    conn: &mut sqlx::SqliteConnection,
    resident_id: i64,
    invoice_id: i64,
) -> AppResult<InvoiceToPay> {
    let row: Option<(i64, i64, String, i64, String, String)> = sqlx::query_as(
        "select i.invoice_id, i.order_id, i.status, i.total_kopecks, s.name, o.status from invoices i \
         join orders o on o.order_id = i.order_id join services s on s.service_id = o.service_id \
         where i.invoice_id = ? and o.resident_id = ? and i.status <> 'draft'",
    )
    .bind(invoice_id)
    .bind(resident_id)
    .fetch_optional(conn)
    .await?;
    let (invoice_id, order_id, status, total, service_name, order_status) =
        row.ok_or(AppError::NotFound)?;
    Ok(InvoiceToPay {
        invoice_id,
        order_id,
        status,
        total: Money::from_kopecks(total),
        service_name,
        order_cancelled: order_status == "cancelled",
    })
}

fn payable(invoice: &InvoiceToPay) -> AppResult<()> {
    if invoice.order_cancelled {
        return Err(AppError::rule("Заявка отменена, оплачивать счёт не нужно"));
    }
    match invoice.status.as_str() {
        "active" => Ok(()),
        "paid" => Err(AppError::rule("Счёт уже оплачен")),
        _ => Err(AppError::rule("Счёт отменён, оплачивать его не нужно")),
    }
}

fn amounts(state: &AppState, total: Money) -> AppResult<(Money, Money)> {
    let commission = payer_commission(total, state.config.payer_commission_percent)
        .ok_or_else(|| AppError::validation("Слишком большая сумма"))?;
    let with = total
        .checked_add(commission)
        .ok_or_else(|| AppError::validation("Слишком большая сумма"))?;
    Ok((commission, with))
}

pub async fn screen(state: &AppState, resident_id: i64, invoice_id: i64) -> AppResult<PayScreen> {
    let mut conn = state.pool.acquire().await?;
    let invoice = invoice_of(&mut conn, resident_id, invoice_id).await?;
    payable(&invoice)?;
    let (commission, total) = amounts(state, invoice.total)?;
    let email: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("select receipt_email, email from residents where resident_id = ?")
            .bind(resident_id)
            .fetch_optional(&mut *conn)
            .await?;
    let email = email
        .and_then(|(receipt, own)| receipt.or(own))
        .unwrap_or_default();
    drop(conn);
    Ok(PayScreen {
        invoice_id: invoice.invoice_id,
        order_id: invoice.order_id,
        service_name: invoice.service_name,
        amount: invoice.total,
        commission,
        total,
        email,
        cards: cards(&state.pool, resident_id).await?,
    })
}

pub async fn start(
    state: &AppState,
    resident_id: i64,
    invoice_id: i64,
    choice: PayChoice,
    now: i64,
) -> AppResult<Started> {
    let email = choice.email.trim().to_owned();
    if !email_ok(&email) {
        return Err(AppError::Fields(vec![(
            "email".into(),
            "Проверьте e-mail: на него придёт чек".into(),
        )]));
    }
    // The provider is read before the write transaction: it takes a connection of its own.
    let entity: Option<i64> = sqlx::query_scalar(
        "select o.legal_entity_id from invoices i join orders o on o.order_id = i.order_id where i.invoice_id = ?",
    )
    .bind(invoice_id)
    .fetch_optional(&state.pool)
    .await?;
    let (account_id, gateway) = state
        .gateways
        .for_entity(&state.pool, entity.ok_or(AppError::NotFound)?)
        .await?;
    let mut tx = write_tx(&state.pool).await?;
    let invoice = invoice_of(&mut tx, resident_id, invoice_id).await?;
    payable(&invoice)?;
    // A payment under way is offered again: parallel or repeated requests pay once.
    let current: Option<(i64, Option<String>)> = sqlx::query_as(
        "select payment_id, confirmation_url from payments where invoice_id = ? and status in ('new', 'pending') \
         and created_at > ? order by payment_id desc limit 1",
    )
    .bind(invoice_id)
    .bind(now - REUSE_PAYMENT_SECONDS)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((payment_id, _)) = current {
        tx.commit().await?;
        let redirect_url = dispatch(state, payment_id, now).await?;
        return Ok(Started {
            payment_id,
            order_id: invoice.order_id,
            redirect_url,
        });
    }
    if choice.method == PayMethod::Sbp && (choice.card_id.is_some() || choice.save_card) {
        return Err(AppError::validation(
            "Сохранённая карта и сохранение карты — только для оплаты картой",
        ));
    }
    let token: Option<String> = match choice.card_id {
        Some(card_id) => Some(
            sqlx::query_scalar(
                "select token from saved_cards where card_id = ? and resident_id = ? and provider = ? and removed_at is null",
            )
            .bind(card_id)
            .bind(resident_id)
            .bind(gateway.name())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AppError::validation("Эта карта больше не сохранена, выберите другую"))?,
        ),
        None => None,
    };
    let (commission, amount) = amounts(state, invoice.total)?;
    let payment_id: i64 = sqlx::query_scalar(
        "insert into payments (invoice_id, order_id, resident_id, provider, account_id, method, idempotency_key, \
         amount_kopecks, commission_kopecks, status, card_token, save_card, receipt_email, created_at, updated_at) \
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?) returning payment_id",
    )
    .bind(invoice_id)
    .bind(invoice.order_id)
    .bind(resident_id)
    .bind(gateway.name())
    .bind(account_id)
    .bind(choice.method.as_str())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(amount.kopecks())
    .bind(commission.kopecks())
    .bind(&token)
    .bind(choice.save_card && token.is_none())
    .bind(&email)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("update residents set receipt_email = ? where resident_id = ?")
        .bind(&email)
        .bind(resident_id)
        .execute(&mut *tx)
        .await?;
    crate::receipts::service::for_new_payment(&mut tx, payment_id, now).await?;
    tx.commit().await?;
    let redirect_url = dispatch(state, payment_id, now).await?;
    Ok(Started {
        payment_id,
        order_id: invoice.order_id,
        redirect_url,
    })
}

#[derive(sqlx::FromRow)]
struct DispatchRow {
    idempotency_key: String,
    amount_kopecks: i64,
    order_id: i64,
    invoice_id: i64,
    card_token: Option<String>,
    save_card: bool,
    status: String,
    confirmation_url: Option<String>,
    resident_id: i64,
    method: String,
    account_id: Option<i64>,
}

/// Sends a `new` payment to the provider (again, with the same idempotency key, if an
/// earlier try was cut off). Returns the provider's page while the card is still to be
/// entered.
pub async fn dispatch(state: &AppState, payment_id: i64, now: i64) -> AppResult<Option<String>> {
    let row: DispatchRow = sqlx::query_as(
        "select idempotency_key, amount_kopecks, order_id, invoice_id, card_token, save_card, status, confirmation_url, \
         resident_id, method, account_id from payments where payment_id = ?",
    )
    .bind(payment_id)
    .fetch_one(&state.pool)
    .await?;
    let DispatchRow {
        idempotency_key: key,
        amount_kopecks: amount,
        order_id,
        invoice_id,
        card_token,
        save_card,
        status,
        confirmation_url: url,
        resident_id,
        method,
        account_id,
    } = row;
    if status != "new" {
        return Ok(url.filter(|_| status == "pending"));
    }
    let gateway = state.gateways.account(&state.pool, account_id).await?;
    let receipt = {
        let mut conn = state.pool.acquire().await?;
        crate::receipts::service::of_payment(&mut conn, payment_id).await?
    };
    let request = CreatePayment {
        amount: Money::from_kopecks(amount),
        description: format!("Оплата счёта № {invoice_id} по заявке № {order_id}"),
        idempotency_key: key,
        return_url: format!(
            "{}/requests/{order_id}?payment={payment_id}",
            state.config.public_url
        ),
        card_token,
        save_card,
        method: PayMethod::parse(&method).unwrap_or_default(),
        payment_ref: payment_id,
        invoice_ref: invoice_id,
        order_ref: order_id,
        receipt,
        customer_key: Some(format!("resident-{resident_id}")),
    };
    let created = gateway.create_payment(request).await;
    let p = match created {
        Ok(p) => p,
        Err(GatewayError::Refused(reason)) => {
            tracing::warn!(payment_id, %reason, "provider refused a payment");
            let mut tx = write_tx(&state.pool).await?;
            sqlx::query(
                "update payments set status = 'failed', failure = ?, updated_at = ? where payment_id = ? and status = 'new'",
            )
            .bind(&reason)
            .bind(now)
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Err(AppError::rule(
                "Платёжная система отказала. Попробуйте другую карту",
            ));
        }
        Err(e) => {
            tracing::warn!(payment_id, error = %e, "provider unavailable; the payment stays in the outbox");
            sqlx::query(
                "update payments set attempts = attempts + 1, updated_at = ? where payment_id = ?",
            )
            .bind(now)
            .bind(payment_id)
            .execute(&state.pool)
            .await?;
            return Err(AppError::rule(
                "Платёжная система не ответила. Попробуйте ещё раз через минуту",
            ));
        }
    };
    let mut tx = write_tx(&state.pool).await?;
    sqlx::query(
        "update payments set provider_payment_id = ?, status = 'pending', confirmation_url = ?, attempts = attempts + 1, \
         updated_at = ? where payment_id = ? and status = 'new'",
    )
    .bind(&p.id)
    .bind(&p.confirmation_url)
    .bind(now)
    .bind(payment_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if p.status.is_final() {
        apply(state, account_id, &p, now).await?;
        return Ok(None);
    }
    Ok(p.confirmation_url)
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    payment_id: i64,
    invoice_id: i64,
    order_id: i64,
    resident_id: i64,
    status: String,
    save_card: bool,
    receipt_email: Option<String>,
    amount_kopecks: i64,
    method: String,
}

/// Applies what the provider says about a payment. Final states are never left, so a
/// replayed, repeated or late event changes nothing.
///
/// `account_id` is the account the news came through (`None`: the default provider): a
/// notification to one shop's address never touches another shop's payments.
pub async fn apply(
    state: &AppState,
    account_id: Option<i64>,
    p: &ProviderPayment,
    now: i64,
) -> AppResult<()> {
    let gateway = state.gateways.account(&state.pool, account_id).await?;
    let mut tx = write_tx(&state.pool).await?;
    let row: Option<PaymentRow> = sqlx::query_as(
        "select payment_id, invoice_id, order_id, resident_id, status, save_card, receipt_email, amount_kopecks, method \
         from payments where provider = ? and account_id is ? and provider_payment_id = ?",
    )
    .bind(gateway.name())
    .bind(account_id)
    .bind(&p.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(PaymentRow {
        payment_id,
        invoice_id,
        order_id,
        resident_id,
        status,
        save_card,
        receipt_email: email,
        amount_kopecks: amount,
        method,
    }) = row
    else {
        // Not ours yet (its creation is still being recorded): the provider retries.
        tracing::warn!(provider_payment_id = %p.id, "an event about an unknown payment");
        return Err(AppError::NotFound);
    };
    if !matches!(status.as_str(), "new" | "pending") {
        return Ok(());
    }
    let amount = Money::from_kopecks(amount);
    let sbp = method == PayMethod::Sbp.as_str();
    match p.status {
        ProviderStatus::Pending | ProviderStatus::RequiresConfirmation => {
            sqlx::query(
                "update payments set status = 'pending', updated_at = ? where payment_id = ?",
            )
            .bind(now)
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
        }
        ProviderStatus::Failed => {
            let reason = p
                .failure
                .clone()
                .unwrap_or_else(|| "платёж отклонён".into());
            sqlx::query("update payments set status = 'failed', failure = ?, updated_at = ? where payment_id = ?")
                .bind(&reason)
                .bind(now)
                .bind(payment_id)
                .execute(&mut *tx)
                .await?;
            crate::receipts::service::payment_settled(&mut tx, payment_id, false, now).await?;
            history(
                &mut tx,
                HistoryLine {
                    order_id,
                    staff_id: None,
                    resident_id: Some(resident_id),
                    kind: if sbp {
                        "Оплата через СБП не прошла"
                    } else {
                        "Оплата картой не прошла"
                    },
                    comment: &format!("Счёт № {invoice_id}: {reason}"),
                    visible_to_resident: true,
                },
                now,
            )
            .await?;
        }
        ProviderStatus::Succeeded => {
            let amount_matches = p.amount == amount;
            if !amount_matches {
                tracing::error!(payment_id, provider = %p.amount, ours = %amount, "paid amount differs");
            }
            sqlx::query(
                "update payments set status = 'succeeded', fee_kopecks = ?, card_mask = ?, updated_at = ? where payment_id = ?",
            )
            .bind(p.fee.map(Money::kopecks))
            .bind(&p.card_mask)
            .bind(now)
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
            // The money arrived whatever becomes of the invoice: it is booked.
            crate::finance::service::book_card_payment(&mut tx, payment_id, p.amount, p.fee, now)
                .await?;
            if let (true, Some(token), Some(mask)) = (save_card, &p.card_token, &p.card_mask) {
                sqlx::query(
                    "insert into saved_cards (resident_id, provider, token, mask, created_at) values (?, ?, ?, ?, ?) \
                     on conflict (resident_id, provider, token) do nothing",
                )
                .bind(resident_id)
                .bind(gateway.name())
                .bind(token)
                .bind(mask)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            // A payment whose amount differs from what was asked never pays the invoice.
            let paid = sqlx::query(
                "update invoices set status = 'paid', paid_method = ?, paid_at = ? \
                 where invoice_id = ? and status = 'active' and ?",
            )
            .bind(&method)
            .bind(now)
            .bind(invoice_id)
            .bind(amount_matches)
            .execute(&mut *tx)
            .await?;
            // Money taken is fiscalised whatever becomes of the invoice.
            crate::receipts::service::payment_settled(&mut tx, payment_id, true, now).await?;
            let paid_with = if sbp {
                "СБП".to_owned()
            } else {
                format!("карта {}", p.card_mask.clone().unwrap_or_default())
            };
            if paid.rows_affected() == 1 {
                history(
                    &mut tx,
                    HistoryLine {
                        order_id,
                        staff_id: None,
                        resident_id: Some(resident_id),
                        kind: if sbp {
                            "Счёт оплачен через СБП"
                        } else {
                            "Счёт оплачен картой"
                        },
                        comment: &format!("Счёт № {invoice_id} на {amount}, {paid_with}"),
                        visible_to_resident: true,
                    },
                    now,
                )
                .await?;
                let assignee: Option<i64> =
                    sqlx::query_scalar("select assignee_id from orders where order_id = ?")
                        .bind(order_id)
                        .fetch_one(&mut *tx)
                        .await?;
                enqueue(&mut tx, "invoice_paid", order_id, assignee, None, now).await?;
                recompute_order(&mut tx, order_id, now).await?;
                if let Some(to) = email.filter(|e| !e.is_empty()) {
                    let body = format!(
                        "Оплата прошла успешно.\n\nЗаявка № {order_id}\nСчёт № {invoice_id}\nСумма: {amount}\nОплачено: {paid_with}\n\
                         Платёж в платёжной системе: {}\nДата: {}\n\nСпасибо!",
                        p.id,
                        crate::time::format_datetime(now, state.config.utc_offset_minutes)
                    );
                    crate::mail::enqueue(
                        &mut tx,
                        &to,
                        &format!("Чек: оплата заявки № {order_id}"),
                        &body,
                        &format!("receipt-{payment_id}"),
                        now,
                    )
                    .await?;
                }
            } else {
                // Paid twice, or paid for an invoice cancelled meanwhile: money to return.
                history(
                    &mut tx,
                    HistoryLine {
                        order_id,
                        staff_id: None,
                        resident_id: Some(resident_id),
                        kind: "Оплата не зачтена: проверьте и верните деньги",
                        comment: &format!("Платёж {} на {amount} по счёту № {invoice_id}", p.id),
                        visible_to_resident: false,
                    },
                    now,
                )
                .await?;
                tracing::error!(
                    payment_id,
                    invoice_id,
                    "a payment succeeded for an invoice that is not awaiting payment"
                );
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The outbox and the safety net: re-sends payments the provider has not confirmed, and
/// asks about payments still pending (their webhook may be lost). Returns how many
/// payments it looked at.
pub async fn recover(state: &AppState, now: i64) -> AppResult<usize> {
    let stale_new: Vec<i64> = sqlx::query_scalar(
        "select payment_id from payments where status = 'new' and updated_at <= ? order by payment_id limit 100",
    )
    .bind(now - RETRY_NEW_AFTER_SECONDS)
    .fetch_all(&state.pool)
    .await?;
    for id in &stale_new {
        if let Err(e) = dispatch(state, *id, now).await {
            tracing::warn!(payment_id = id, error = %e, "payment outbox: will retry");
        }
    }
    // Payments that never reached the provider within the payment's lifetime are given up.
    sqlx::query(
        "update payments set status = 'cancelled', failure = 'время на оплату истекло', updated_at = ? \
         where status = 'new' and created_at < ?",
    )
    .bind(now)
    .bind(now - REUSE_PAYMENT_SECONDS - POLL_PENDING_AFTER_SECONDS)
    .execute(&state.pool)
    .await?;
    let stale_pending: Vec<(String, Option<i64>)> = sqlx::query_as(
        "select provider_payment_id, account_id from payments where status = 'pending' and provider_payment_id is not null \
         and updated_at <= ? order by payment_id limit 100",
    )
    .bind(now - POLL_PENDING_AFTER_SECONDS)
    .fetch_all(&state.pool)
    .await?;
    for (id, account_id) in &stale_pending {
        let polled = match gateway_of(state, *account_id).await {
            Ok(g) => g.payment(id).await,
            Err(e) => {
                tracing::warn!(provider_payment_id = %id, error = %e, "no adapter for a payment's account");
                continue;
            }
        };
        match polled {
            Ok(p) if p.status.is_final() => {
                if let Err(e) = apply(state, *account_id, &p, now).await {
                    tracing::warn!(provider_payment_id = %id, error = %e, "applying a polled payment");
                }
            }
            Ok(_) => {
                sqlx::query("update payments set updated_at = ? where provider_payment_id = ?")
                    .bind(now)
                    .bind(id)
                    .execute(&state.pool)
                    .await?;
            }
            Err(e) => tracing::warn!(provider_payment_id = %id, error = %e, "polling a payment"),
        }
    }
    Ok(stale_new.len() + stale_pending.len())
}

async fn gateway_of(
    state: &AppState,
    account_id: Option<i64>,
) -> AppResult<Arc<dyn PaymentGateway>> {
    state.gateways.account(&state.pool, account_id).await
}

pub async fn result(
    state: &AppState,
    resident_id: i64,
    payment_id: i64,
    now: i64,
) -> AppResult<PaymentResult> {
    #[derive(sqlx::FromRow)]
    struct Row {
        status: String,
        provider_payment_id: Option<String>,
        failure: Option<String>,
        account_id: Option<i64>,
        method: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "select status, provider_payment_id, failure, account_id, method from payments where payment_id = ? and resident_id = ?",
    )
    .bind(payment_id)
    .bind(resident_id)
    .fetch_optional(&state.pool)
    .await?;
    let Row {
        mut status,
        provider_payment_id: provider_id,
        mut failure,
        account_id,
        method,
    } = row.ok_or(AppError::NotFound)?;
    if status == "pending" {
        if let Some(id) = provider_id {
            let gateway = gateway_of(state, account_id).await?;
            if let Ok(p) = gateway.payment(&id).await {
                if p.status.is_final() {
                    apply(state, account_id, &p, now).await?;
                    let again: (String, Option<String>) =
                        sqlx::query_as("select status, failure from payments where payment_id = ?")
                            .bind(payment_id)
                            .fetch_one(&state.pool)
                            .await?;
                    (status, failure) = again;
                }
            }
        }
    }
    Ok(match status.as_str() {
        "succeeded" => PaymentResult {
            outcome: PaymentOutcome::Succeeded,
            message: "Оплата прошла. Чек отправлен на e-mail".into(),
        },
        "failed" | "cancelled" => PaymentResult {
            outcome: PaymentOutcome::Failed,
            message: format!(
                "Оплата не прошла: {}. {}",
                failure.unwrap_or_else(|| "платёж отклонён".into()),
                if method == "sbp" {
                    "Попробуйте ещё раз или оплатите картой"
                } else {
                    "Попробуйте ещё раз или другую карту"
                }
            ),
        },
        _ => PaymentResult {
            outcome: PaymentOutcome::Processing,
            message: "Платёж обрабатывается…".into(),
        },
    })
}

pub async fn cards(pool: &SqlitePool, resident_id: i64) -> AppResult<Vec<SavedCard>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select card_id, mask from saved_cards where resident_id = ? and removed_at is null order by card_id",
    )
    .bind(resident_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(card_id, mask)| SavedCard { card_id, mask })
        .collect())
}

pub async fn remove_card(
    pool: &SqlitePool,
    resident_id: i64,
    card_id: i64,
    now: i64,
) -> AppResult<()> {
    let done = sqlx::query(
        "update saved_cards set removed_at = ? where card_id = ? and resident_id = ? and removed_at is null",
    )
    .bind(now)
    .bind(card_id)
    .bind(resident_id)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}
