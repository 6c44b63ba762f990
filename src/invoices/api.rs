//! Server functions of «Счет за услуги» (staff).

use super::rules::{Discount, InvoiceAction, InvoiceStatus, LineInput, PaidMethod, PriceItem};
use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service, crate::auth::permissions::Action, crate::auth::session::require_staff,
    crate::server::state::app_state, crate::time::now,
};

/// A line of an invoice as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub name: String,
    pub unit: String,
    pub unit_price: Money,
    pub quantity: Decimal,
    pub discount: Discount,
    pub amount: Money,
}

/// An invoice in the order card, with the actions the employee may take now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceView {
    pub invoice_id: i64,
    pub status: InvoiceStatus,
    pub paid_method: Option<PaidMethod>,
    pub total: Money,
    pub refunded: Money,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub lines: Vec<LineView>,
    /// Each action with the reason it is refused (greyed out), if it is.
    pub actions: Vec<(InvoiceAction, Option<String>)>,
    /// Why «Возврат» is refused now, if it is.
    pub refund_refused: Option<String>,
}

/// «Счет за услуги» of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicesBlock {
    pub invoices: Vec<InvoiceView>,
    /// Why «+» is refused now, if it is.
    pub new_invoice_error: Option<String>,
    pub can_edit: bool,
    /// The provider whose price list the modal offers.
    pub provider: String,
}

#[server(prefix = "/api", endpoint = "order_invoices")]
pub async fn order_invoices(order_id: i64) -> Result<InvoicesBlock, AppError> {
    let staff = require_staff(Action::ViewAssignedOrders)?;
    service::block(&app_state()?.pool, &staff, order_id).await
}

/// The active items of the price list of the legal entity providing the ordered service.
#[server(prefix = "/api", endpoint = "invoice_price_items")]
pub async fn invoice_price_items(order_id: i64) -> Result<Vec<PriceItem>, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    service::price_items(&app_state()?.pool, &staff, order_id).await
}

/// Creates an invoice from the modal's lines («Сохранить»).
#[server(prefix = "/api", endpoint = "create_invoice", input = Json)]
pub async fn create_invoice(order_id: i64, lines: Vec<LineInput>) -> Result<i64, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    service::create(&app_state()?.pool, &staff, order_id, &lines, now()).await
}

/// «Действия»: «Активировать в ЛК», «Отметить как оплаченный», «Отменить».
#[server(prefix = "/api", endpoint = "invoice_action", input = Json)]
pub async fn apply_invoice_action(invoice_id: i64, action: InvoiceAction) -> Result<(), AppError> {
    let staff = require_staff(Action::EditOrders)?;
    service::act(&app_state()?.pool, &staff, invoice_id, action, now()).await
}
