//! `suz simulate-month N [SEED] [YYYY-MM]`: a month of orders through the real services —
//! residents submit requests, staff take them and issue invoices from the price lists,
//! residents pay by card on the sandbox provider's hosted page (declines, lost, repeated
//! and late webhooks included) or pay cash, some invoices are cancelled or left unpaid,
//! some card payments are partly refunded, some cash payments are cancelled. The app and
//! its embedded sandbox must be served (webhooks travel over HTTP); their shared clock is
//! moved through the month. Then [`check`] proves the books balance to the kopeck.
//!
//! The provider is the embedded sandbox ([`Sandbox`]) for the command; the tests run the
//! same month against the contract fakes of ЮKassa and Т-Банк through [`run_with`] and
//! [`check_with`], with a [`Provider`] that delivers the fake's notifications and reads
//! its books.

use super::rules::Period;
use crate::auth::model::StaffUser;
use crate::catalog::form::{FieldKind, FormField};
use crate::error::{AppError, AppResult};
use crate::invoices::rules::{DiscountKind, InvoiceAction, LineInput};
use crate::money::Money;
use crate::orders::service::StateChange;
use crate::orders::status::OrderStatus;
use crate::payments::sandbox::cards;
use crate::payments::service::PayChoice;
use crate::refunds::rules::RefundLineInput;
use crate::refunds::service::RefundInput;
use crate::server::jobs::payments_tick;
use crate::server::state::AppState;
use serde::Serialize;

/// The payment provider's side of a simulated month.
#[async_trait::async_trait]
pub trait Provider: Sync {
    /// Sends the notifications the provider has waiting; called before the app's jobs run
    /// (the sandbox sends its own with the jobs).
    async fn deliver(&self);
    /// The provider's own books: succeeded payments, the fees it kept if it reports them
    /// per payment, succeeded refunds, in kopecks.
    async fn books(&self, state: &AppState) -> AppResult<(i64, Option<i64>, i64)>;
}

/// The embedded sandbox: its notifications go out with the app's jobs, its books are its
/// tables.
pub struct Sandbox;

#[async_trait::async_trait]
impl Provider for Sandbox {
    async fn deliver(&self) {}

    async fn books(&self, state: &AppState) -> AppResult<(i64, Option<i64>, i64)> {
        let (paid, fees): (i64, i64) = sqlx::query_as(
            "select coalesce(sum(amount_kopecks), 0), coalesce(sum(fee_kopecks), 0) from sandbox_payments where status = 'succeeded'",
        )
        .fetch_one(&state.pool)
        .await?;
        let refunded: i64 = sqlx::query_scalar(
            "select coalesce(sum(amount_kopecks), 0) from sandbox_refunds where status = 'succeeded'",
        )
        .fetch_one(&state.pool)
        .await?;
        Ok((paid, Some(fees), refunded))
    }
}

/// The provider's notifications, then the app's payment jobs.
async fn tick(state: &AppState, provider: &dyn Provider, at: i64) {
    provider.deliver().await;
    payments_tick(state, at).await;
    provider.deliver().await;
}

/// What happened in a simulated month.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Outcome {
    pub orders: u64,
    pub invoices: u64,
    pub card_payments: u64,
    pub declined_then_paid: u64,
    pub lost_webhooks: u64,
    pub repeated_webhooks: u64,
    pub cash_payments: u64,
    pub cash_cancelled: u64,
    pub left_unpaid: u64,
    pub invoices_cancelled: u64,
    pub refunds: u64,
    pub seconds: f64,
}

/// A small deterministic generator (PCG-style LCG), so a seed replays the same month.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

struct Service {
    service_id: i64,
    fields: Vec<FormField>,
}

fn values_for(fields: &[FormField], rng: &mut Rng, t: i64, offset: i32) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|f| {
            let v = match f.kind {
                FieldKind::Text | FieldKind::Multiline => "Заявка из симуляции месяца".to_owned(),
                FieldKind::Number => {
                    let lo = f.min.unwrap_or(1).max(1);
                    let hi = f.max.unwrap_or(lo + 3).max(lo);
                    (lo + rng.below((hi - lo + 1) as u64) as i64).to_string()
                }
                // A visit two days after the order (forms take a year ahead at most).
                FieldKind::DateTime => crate::catalog::form::datetime_local(t + 2 * 86_400, offset),
                FieldKind::Choice | FieldKind::MultiChoice => f.choices.first()?.clone(),
                FieldKind::Checkbox => "on".to_owned(),
                FieldKind::Photo => return None,
            };
            Some((f.key.clone(), v))
        })
        .collect()
}

async fn staff_member(state: &AppState) -> AppResult<StaffUser> {
    let id: i64 = sqlx::query_scalar(
        "select s.staff_id from staff s join roles r on r.role_id = s.role_id \
         where s.active = 1 and r.orders_scope = 'all' and r.orders_edit = 1 order by s.staff_id limit 1",
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| AppError::internal("no employee may edit all orders"))?;
    crate::auth::repo::staff_by_id(&state.pool, id)
        .await?
        .ok_or_else(|| AppError::internal("employee vanished"))
}

/// Pays on the sandbox's hosted page the way a browser does.
async fn pay_on_page(state: &AppState, url: &str, card: &str) -> AppResult<()> {
    let body = format!("number={card}&expiry=12%2F35&cvc=123");
    let (status, bytes) = state
        .push_http
        .send(
            http::Method::POST,
            url,
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body.into_bytes(),
        )
        .await
        .map_err(AppError::internal)?;
    if status != http::StatusCode::SEE_OTHER {
        return Err(AppError::internal(format!(
            "the hosted page answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    Ok(())
}

async fn card_payment(
    state: &AppState,
    resident: i64,
    invoice_id: i64,
    card: &str,
    t: i64,
) -> AppResult<()> {
    let started = crate::payments::service::start(
        state,
        resident,
        invoice_id,
        PayChoice {
            method: crate::payments::gateway::PayMethod::Card,
            email: "sim@example.com".into(),
            card_id: None,
            save_card: false,
        },
        t,
    )
    .await?;
    let url = started
        .redirect_url
        .ok_or_else(|| AppError::internal("no hosted page for a new card"))?;
    pay_on_page(state, &url, card).await
}

/// Runs a month of `orders` orders in `period` with the embedded sandbox.
pub async fn run(state: &AppState, period: Period, orders: u64, seed: u64) -> AppResult<Outcome> {
    run_with(state, &Sandbox, period, orders, seed).await
}

/// Runs a month of `orders` orders in `period` against `provider`.
pub async fn run_with(
    state: &AppState,
    provider: &dyn Provider,
    period: Period,
    orders: u64,
    seed: u64,
) -> AppResult<Outcome> {
    let started = std::time::Instant::now();
    let offset = state.config.utc_offset_minutes;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let staff = staff_member(state).await?;
    let residents: Vec<i64> = sqlx::query_scalar(
        "select r.resident_id from residents r where r.blocked = 0 \
         and exists (select 1 from resident_premises rp where rp.resident_id = r.resident_id) order by r.resident_id",
    )
    .fetch_all(&state.pool)
    .await?;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select s.service_id, s.form_fields from services s where s.published = 1 \
         and exists (select 1 from price_items p where p.legal_entity_id = s.legal_entity_id and p.active = 1) \
         order by s.service_id",
    )
    .fetch_all(&state.pool)
    .await?;
    let services: Vec<Service> = rows
        .into_iter()
        .filter_map(|(service_id, json)| {
            let fields: Vec<FormField> = serde_json::from_str(&json).ok()?;
            // A required photo cannot be simulated without an upload.
            (!fields
                .iter()
                .any(|f| f.required && f.kind == FieldKind::Photo))
            .then_some(Service { service_id, fields })
        })
        .collect();
    if residents.is_empty() || services.is_empty() {
        return Err(AppError::internal(
            "the catalog and residents are needed (demo data)",
        ));
    }
    let (start, end) = (period.start(offset), period.end(offset));
    let step = ((end - start) / orders.max(1) as i64).max(1);
    let mut out = Outcome::default();
    // Paid by card, to be partly refunded once the payment is through: (invoice, time due).
    let mut to_refund: Vec<(i64, i64)> = Vec::new();
    // Cash payments to cancel later.
    let mut to_cancel: Vec<(i64, i64)> = Vec::new();
    for i in 0..orders {
        let t = start + i as i64 * step + rng.below(step.max(2) as u64 / 2) as i64;
        state.clock.set(t);
        let resident = residents[rng.below(residents.len() as u64) as usize];
        let service = &services[rng.below(services.len() as u64) as usize];
        let submitted = crate::requests::service::submit(
            &state.pool,
            resident,
            crate::requests::service::SubmitInput {
                service_id: service.service_id,
                values: values_for(&service.fields, &mut rng, t, offset),
                submit_key: format!("sim-{seed}-{i}-{}", uuid::Uuid::new_v4().simple()),
            },
            offset,
            t,
        )
        .await?;
        let order_id = submitted.order_id;
        out.orders += 1;
        let version: i64 = sqlx::query_scalar("select version from orders where order_id = ?")
            .bind(order_id)
            .fetch_one(&state.pool)
            .await?;
        crate::orders::service::change_state(
            &state.pool,
            &staff,
            StateChange {
                order_id,
                version,
                status: OrderStatus::InProgress,
                assignee_id: Some(staff.staff_id),
                comment: String::new(),
            },
            t + 60,
        )
        .await?;
        // A prepaid service has its invoice already; otherwise staff issue one.
        let active: Option<i64> = sqlx::query_scalar(
            "select invoice_id from invoices where order_id = ? and status = 'active' limit 1",
        )
        .bind(order_id)
        .fetch_optional(&state.pool)
        .await?;
        let invoice_id = match active {
            Some(id) => id,
            None => {
                let mut conn = state.pool.acquire().await?;
                let items = crate::invoices::service::provider_items(&mut conn, order_id).await?;
                drop(conn);
                let n = 1 + rng.below(3) as usize;
                let lines: Vec<LineInput> = (0..n)
                    .map(|_| {
                        let item = &items[rng.below(items.len() as u64) as usize];
                        let discount = rng.below(10) == 0;
                        LineInput {
                            price_item_id: item.price_item_id,
                            quantity: ["1", "2", "1,5", "3"][rng.below(4) as usize].into(),
                            discount_kind: if discount {
                                DiscountKind::Percent
                            } else {
                                DiscountKind::None
                            },
                            discount_value: if discount {
                                "7,5".into()
                            } else {
                                String::new()
                            },
                        }
                    })
                    .collect();
                let id = crate::invoices::service::create(
                    &state.pool,
                    &staff,
                    order_id,
                    &lines,
                    t + 120,
                )
                .await?;
                crate::invoices::service::act(
                    &state.pool,
                    &staff,
                    id,
                    InvoiceAction::Activate,
                    t + 120,
                )
                .await?;
                id
            }
        };
        out.invoices += 1;
        let pay_at = t + 300;
        state.clock.set(pay_at);
        match rng.below(100) {
            0..=24 => {
                crate::invoices::service::act(
                    &state.pool,
                    &staff,
                    invoice_id,
                    InvoiceAction::MarkPaid,
                    pay_at,
                )
                .await?;
                out.cash_payments += 1;
                if rng.below(20) == 0 {
                    to_cancel.push((invoice_id, pay_at + 3 * 86_400));
                }
            }
            25..=79 => {
                let card = match rng.below(20) {
                    0 => {
                        // Declined first; the resident tries again with another card.
                        card_payment(state, resident, invoice_id, cards::DECLINE, pay_at).await?;
                        tick(state, provider, pay_at + 2).await;
                        state.clock.set(pay_at + 30);
                        out.declined_then_paid += 1;
                        cards::SUCCESS
                    }
                    1 => {
                        out.lost_webhooks += 1;
                        cards::LOST_WEBHOOKS
                    }
                    2 => {
                        out.repeated_webhooks += 1;
                        cards::REPEATED_WEBHOOKS
                    }
                    _ => cards::SUCCESS,
                };
                let at = state.clock.now();
                card_payment(state, resident, invoice_id, card, at).await?;
                out.card_payments += 1;
                if rng.below(7) == 0 {
                    to_refund.push((invoice_id, at + 86_400 + rng.below(5 * 86_400) as i64));
                }
            }
            80..=91 => out.left_unpaid += 1,
            _ => {
                crate::invoices::service::act(
                    &state.pool,
                    &staff,
                    invoice_id,
                    InvoiceAction::Cancel,
                    pay_at,
                )
                .await?;
                out.invoices_cancelled += 1;
            }
        }
        // Webhooks arrive in batches: late by up to a few orders' time.
        if i % 8 == 7 {
            tick(state, provider, pay_at + 1).await;
            out.refunds += due_refunds(state, &staff, &mut to_refund, pay_at, &mut rng).await?;
            out.cash_cancelled += due_cancels(state, &staff, &mut to_cancel, pay_at).await?;
        }
    }
    // The month ends; what was due is still done, webhooks and polling catch up.
    let mut t = end - 600;
    for _ in 0..12 {
        state.clock.set(t);
        tick(state, provider, t).await;
        out.refunds += due_refunds(state, &staff, &mut to_refund, t, &mut rng).await?;
        out.cash_cancelled += due_cancels(state, &staff, &mut to_cancel, t).await?;
        t += 120;
    }
    for (_, due) in to_refund.iter_mut().chain(to_cancel.iter_mut()) {
        *due = t;
    }
    out.refunds += due_refunds(state, &staff, &mut to_refund, t, &mut rng).await?;
    out.cash_cancelled += due_cancels(state, &staff, &mut to_cancel, t).await?;
    for _ in 0..12 {
        t += 120;
        state.clock.set(t);
        tick(state, provider, t).await;
    }
    state.clock.set(crate::time::now());
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// Partial refunds of card payments whose time has come (and whose payment is through).
async fn due_refunds(
    state: &AppState,
    staff: &StaffUser,
    queue: &mut Vec<(i64, i64)>,
    now: i64,
    rng: &mut Rng,
) -> AppResult<u64> {
    let mut done = 0;
    let mut keep = Vec::new();
    for (invoice_id, due) in queue.drain(..) {
        if due > now {
            keep.push((invoice_id, due));
            continue;
        }
        let paid: Option<String> = sqlx::query_scalar(
            "select status from invoices where invoice_id = ? and status = 'paid' and paid_method = 'card'",
        )
        .bind(invoice_id)
        .fetch_optional(&state.pool)
        .await?;
        if paid.is_none() {
            // Not through yet: try again at the next round.
            keep.push((invoice_id, due));
            continue;
        }
        let form = crate::refunds::service::form(&state.pool, staff, invoice_id).await?;
        let Some(line) = form.lines.iter().find(|l| !l.remaining().is_zero()) else {
            continue;
        };
        // Half the unit price of one unit back, or the whole invoice now and then.
        let full = rng.below(4) == 0;
        let half = Money::from_kopecks((line.unit_price.kopecks() / 2).max(1));
        let input = RefundInput {
            invoice_id,
            full,
            lines: if full {
                Vec::new()
            } else {
                vec![RefundLineInput {
                    line_id: line.line_id,
                    quantity: "1".into(),
                    unit_price: half.format_number(),
                }]
            },
            reason: "Часть работ не выполнена".into(),
            request_id: None,
            key: format!("simrefund-{invoice_id}"),
        };
        match crate::refunds::service::create(state, staff, input, now).await {
            Ok(_) => done += 1,
            Err(e) => tracing::warn!(invoice_id, error = %e, "simulated refund refused"),
        }
    }
    *queue = keep;
    Ok(done)
}

async fn due_cancels(
    state: &AppState,
    staff: &StaffUser,
    queue: &mut Vec<(i64, i64)>,
    now: i64,
) -> AppResult<u64> {
    let mut done = 0;
    let mut keep = Vec::new();
    for (invoice_id, due) in queue.drain(..) {
        if due > now {
            keep.push((invoice_id, due));
            continue;
        }
        crate::invoices::service::act(&state.pool, staff, invoice_id, InvoiceAction::Cancel, now)
            .await?;
        done += 1;
    }
    *queue = keep;
    Ok(done)
}

/// What the books say after a run, and everything that does not reconcile.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BooksCheck {
    pub periods: Vec<String>,
    pub card: i64,
    pub refunded: i64,
    pub fees: i64,
    pub commission: i64,
    pub payout: i64,
    /// The provider's own books: succeeded payments, their fees (if it reports them per
    /// payment) and succeeded refunds.
    pub provider_paid: i64,
    pub provider_fees: Option<i64>,
    pub provider_refunded: i64,
    pub problems: Vec<String>,
}

/// Reconciles every entity's every month in the ledger and compares the ledger with the
/// sandbox's books.
pub async fn check(state: &AppState) -> AppResult<BooksCheck> {
    check_with(state, &Sandbox).await
}

/// Reconciles every entity's every month in the ledger and compares the ledger with
/// `provider`'s books.
pub async fn check_with(state: &AppState, provider: &dyn Provider) -> AppResult<BooksCheck> {
    let pairs: Vec<(i64, String)> = sqlx::query_as(
        "select distinct legal_entity_id, period from ledger_entries order by period, legal_entity_id",
    )
    .fetch_all(&state.pool)
    .await?;
    let mut out = BooksCheck::default();
    for (entity, p) in pairs {
        let period =
            Period::parse(&p).ok_or_else(|| AppError::internal(format!("bad period {p}")))?;
        let r = super::service::reconcile(&state.pool, entity, period).await?;
        if !out.periods.contains(&p) {
            out.periods.push(p.clone());
        }
        if !r.totals.balances() {
            out.problems.push(format!(
                "{p}, юрлицо {entity}: карта − возвраты ≠ эквайринг + комиссия + выплата"
            ));
        }
        if !r.invoices_balance() {
            out.problems.push(format!(
                "{p}, юрлицо {entity}: выставлено ≠ оплачено + ожидает + отменено"
            ));
        }
        for d in r.differences {
            out.problems.push(format!(
                "{p}, юрлицо {entity}, заказ {}: {}",
                d.order_id, d.text
            ));
        }
        out.card += r.totals.card.kopecks();
        out.refunded += r.totals.refunded.kopecks();
        out.fees += r.totals.fees.kopecks();
        out.commission += r.totals.commission.kopecks();
        out.payout += r.totals.payout.kopecks();
    }
    let (paid, fees, refunded) = provider.books(state).await?;
    out.provider_paid = paid;
    out.provider_fees = fees;
    out.provider_refunded = refunded;
    if let Some(fees) = fees.filter(|f| *f != out.fees) {
        out.problems.push(format!(
            "платёжная система удержала {} эквайринга, по тарифу {}",
            Money::from_kopecks(fees),
            Money::from_kopecks(out.fees)
        ));
    }
    if paid != out.card {
        out.problems.push(format!(
            "платёжная система приняла {}, в книге {}",
            Money::from_kopecks(paid),
            Money::from_kopecks(out.card)
        ));
    }
    if refunded != out.refunded {
        out.problems.push(format!(
            "платёжная система вернула {}, в книге {}",
            Money::from_kopecks(refunded),
            Money::from_kopecks(out.refunded)
        ));
    }
    Ok(out)
}
