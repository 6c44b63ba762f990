//! Server functions of «Финансы»: every one needs the role switch «Финансы».

use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::rules::Period, super::service, crate::auth::permissions::Action,
    crate::auth::session::require_staff, crate::server::state::app_state, crate::time::now,
};

/// Sums of a set of ledger entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub entries: i64,
    /// «Получено картой и через СБП»: all money taken through the provider.
    pub card: Money,
    /// «из них через СБП»: the part of `card` paid through СБП.
    pub sbp: Money,
    /// «Получено наличными»
    pub cash: Money,
    /// «Возвращено»
    pub refunded: Money,
    /// «Эквайринг»
    pub fees: Money,
    /// «Комиссия»
    pub commission: Money,
    /// «К выплате партнёру»
    pub payout: Money,
    /// Entries settled here from an earlier, closed month.
    pub adjustments: i64,
}

impl Totals {
    /// card − refunded = fees + commission + payout, to the kopeck.
    pub fn balances(&self) -> bool {
        self.card.kopecks() - self.refunded.kopecks()
            == self.fees.kopecks() + self.commission.kopecks() + self.payout.kopecks()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodEntity {
    pub legal_entity_id: i64,
    pub name: String,
    pub partner: bool,
    pub totals: Totals,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinanceOverview {
    /// `YYYY-MM`
    pub period: String,
    pub label: String,
    pub prev: String,
    pub next: Option<String>,
    pub entities: Vec<PeriodEntity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub order_id: i64,
    pub service_name: String,
    pub client_name: String,
    pub card: Money,
    pub cash: Money,
    pub refunded: Money,
    pub fees: Money,
    pub commission: Money,
    pub payout: Money,
    pub adjustment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodReport {
    pub legal_entity_id: i64,
    pub name: String,
    pub period: String,
    pub totals: Totals,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    /// Why «Подтвердить и закрыть период» is refused, if it is.
    pub close_refusal: Option<String>,
    pub orders: Vec<OrderLine>,
    /// The cursor of the next page of orders.
    pub next_after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// 0 when the difference is about the whole period.
    pub order_id: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Invoices of the month's orders: invoiced = paid + open + cancelled.
    pub invoiced: Money,
    pub paid: Money,
    pub open: Money,
    pub cancelled: Money,
    pub totals: Totals,
    pub differences: Vec<Difference>,
}

impl Reconciliation {
    pub fn invoices_balance(&self) -> bool {
        self.invoiced.kopecks()
            == self.paid.kopecks() + self.open.kopecks() + self.cancelled.kopecks()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub entry_id: i64,
    /// card_payment, cash_payment, cash_cancel, refund
    pub kind: String,
    pub invoice_id: i64,
    pub payment_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub at: i64,
    pub period: String,
    pub adjustment: bool,
    pub amount: Money,
    pub surcharge: Money,
    pub fee: Money,
    pub commission: Money,
    pub payout: Money,
    pub provider_fee: Option<Money>,
    pub card_mask: Option<String>,
    /// The payment's method (`card`, `sbp`) of a payment's or refund's entry.
    pub method: Option<String>,
}

/// What a ledger entry's kind is called.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "card_payment" => "Оплата картой",
        "cash_payment" => "Оплата наличными",
        "cash_cancel" => "Отмена оплаты наличными",
        "refund" => "Возврат",
        _ => "Операция",
    }
}

/// What an entry is called, with the method of its payment (`sbp`, `card`) if it has one.
pub fn entry_label(kind: &str, method: Option<&str>) -> &'static str {
    match (kind, method) {
        ("card_payment", Some("sbp")) => "Оплата через СБП",
        ("refund", Some("sbp")) => "Возврат (СБП)",
        (kind, _) => kind_label(kind),
    }
}

impl EntryView {
    pub fn kind_label(&self) -> &'static str {
        entry_label(&self.kind, self.method.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFinance {
    pub order_id: i64,
    pub service_name: String,
    pub legal_entity_id: i64,
    pub entity_name: String,
    /// «Затраты»: commission + acquiring fees.
    pub costs: Money,
    pub invoiced: Money,
    pub paid: Money,
    pub open: Money,
    pub cancelled: Money,
    pub entries: Vec<EntryView>,
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionTermView {
    pub term_id: i64,
    pub percent: String,
    pub minimum: Money,
    pub fixed: Money,
    pub effective_from: String,
    /// In force today.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityTerms {
    pub legal_entity_id: i64,
    pub name: String,
    pub partner: bool,
    pub terms: Vec<CommissionTermView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquiringRateView {
    pub rate_id: i64,
    pub method: String,
    pub percent: String,
    pub fixed: Money,
    pub effective_from: String,
    pub current: bool,
}

pub fn method_label(method: &str) -> &'static str {
    match method {
        "card" => "Банковская карта",
        "sbp" => "СБП",
        "cash" => "Наличные",
        _ => "Другой способ",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinanceTerms {
    pub entities: Vec<EntityTerms>,
    pub rates: Vec<AcquiringRateView>,
    /// Today, `YYYY-MM-DD` (the earliest day a new term may start).
    pub today: String,
}

#[cfg(feature = "ssr")]
fn period_arg(period: &str) -> Result<Period, AppError> {
    Period::parse(period).ok_or_else(|| AppError::validation("Выберите месяц"))
}

/// «Взаиморасчеты» of a month (the current one when none is given).
#[server(prefix = "/api", endpoint = "fetch_finance_overview", output = Json)]
pub async fn fetch_finance_overview(period: Option<String>) -> Result<FinanceOverview, AppError> {
    require_staff(Action::Finance)?;
    let current = Period::of(now(), service::zone());
    let period = match period.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => period_arg(p)?,
        None => current,
    };
    let entities = service::period_overview(&app_state()?.pool, period).await?;
    Ok(FinanceOverview {
        period: period.to_string(),
        label: period.label(),
        prev: period.prev().to_string(),
        next: (period < current).then(|| period.next().to_string()),
        entities,
    })
}

#[server(prefix = "/api", endpoint = "fetch_period_report", output = Json)]
pub async fn fetch_period_report(
    legal_entity_id: i64,
    period: String,
    after: Option<i64>,
) -> Result<PeriodReport, AppError> {
    require_staff(Action::Finance)?;
    service::period_report(
        &app_state()?.pool,
        legal_entity_id,
        period_arg(&period)?,
        after,
    )
    .await
}

#[server(prefix = "/api", endpoint = "fetch_reconciliation", output = Json)]
pub async fn fetch_reconciliation(
    legal_entity_id: i64,
    period: String,
) -> Result<Reconciliation, AppError> {
    require_staff(Action::Finance)?;
    service::reconcile(&app_state()?.pool, legal_entity_id, period_arg(&period)?).await
}

#[server(prefix = "/api", endpoint = "fetch_order_finance", output = Json)]
pub async fn fetch_order_finance(order_id: i64) -> Result<OrderFinance, AppError> {
    require_staff(Action::Finance)?;
    service::order_finance(&app_state()?.pool, order_id).await
}

/// «Подтвердить и закрыть период»
#[server(prefix = "/api", endpoint = "close_settlement")]
pub async fn close_settlement(legal_entity_id: i64, period: String) -> Result<(), AppError> {
    let staff = require_staff(Action::Finance)?;
    service::close_period(
        &app_state()?.pool,
        &staff,
        legal_entity_id,
        period_arg(&period)?,
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "fetch_finance_terms", output = Json)]
pub async fn fetch_finance_terms() -> Result<FinanceTerms, AppError> {
    require_staff(Action::Finance)?;
    let (entities, rates) = service::terms(&app_state()?.pool).await?;
    Ok(FinanceTerms {
        entities,
        rates,
        today: service::day_of(now()),
    })
}

#[server(prefix = "/api", endpoint = "add_commission_term")]
pub async fn add_commission_term(
    legal_entity_id: i64,
    percent: String,
    minimum: String,
    fixed: String,
    effective_from: String,
) -> Result<(), AppError> {
    let staff = require_staff(Action::Finance)?;
    service::add_term(
        &app_state()?.pool,
        &staff,
        legal_entity_id,
        service::TermInput {
            percent,
            minimum,
            fixed,
            effective_from,
        },
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "add_acquiring_rate")]
pub async fn add_acquiring_rate(
    method: String,
    percent: String,
    fixed: String,
    effective_from: String,
) -> Result<(), AppError> {
    let staff = require_staff(Action::Finance)?;
    service::add_rate(
        &app_state()?.pool,
        &staff,
        &method,
        service::TermInput {
            percent,
            minimum: String::new(),
            fixed,
            effective_from,
        },
        now(),
    )
    .await
}

/// The export's address.
pub fn export_url(legal_entity_id: i64, period: &str) -> String {
    format!("/staff/finance/export?entity={legal_entity_id}&period={period}")
}
