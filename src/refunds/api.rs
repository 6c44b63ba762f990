//! Server functions of refunds: the staff modal and «Возврат» block, the resident's
//! «Возврат платежа».

use super::rules::{RefundLineInput, RefundableLine};
use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service,
    crate::auth::permissions::Action,
    crate::auth::session::{require_resident, require_staff},
    crate::server::state::app_state,
    crate::time::now,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundState {
    Processing,
    Succeeded,
    Failed,
}

impl RefundState {
    pub fn from_db(s: &str) -> RefundState {
        match s {
            "succeeded" => RefundState::Succeeded,
            "failed" => RefundState::Failed,
            _ => RefundState::Processing,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RefundState::Processing => "Обрабатывается платёжной системой",
            RefundState::Succeeded => "Деньги возвращены",
            RefundState::Failed => "Не удался",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestState {
    Requested,
    Rejected,
    Processed,
}

impl RequestState {
    pub fn from_db(s: &str) -> RequestState {
        match s {
            "rejected" => RequestState::Rejected,
            "processed" => RequestState::Processed,
            _ => RequestState::Requested,
        }
    }
}

/// A resident's refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInfo {
    pub request_id: i64,
    pub full: bool,
    pub amount: Money,
    pub reason: String,
    pub state: RequestState,
    pub reject_reason: String,
    pub created_at: i64,
}

/// A line of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLineView {
    pub name: String,
    pub quantity: String,
    pub unit_price: Money,
    pub amount: Money,
}

/// A refund as «Подробнее» shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundInfo {
    pub refund_id: i64,
    pub invoice_id: i64,
    pub amount: Money,
    pub full: bool,
    pub reason: String,
    pub state: RefundState,
    pub failure: Option<String>,
    pub staff_name: String,
    pub created_at: i64,
    pub provider_refund_id: Option<String>,
    pub lines: Vec<RefundLineView>,
}

/// The «Возврат» block of the order card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundsBlock {
    pub requests: Vec<RequestInfo>,
    pub refunds: Vec<RefundInfo>,
    /// Why «Обработать» is refused now (the order must be «В работе»), if it is.
    pub process_error: Option<String>,
    pub can_edit: bool,
    /// The card-paid invoice a request is processed against.
    pub card_invoice_id: Option<i64>,
}

/// What the refund modal needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundForm {
    pub invoice_id: i64,
    pub lines: Vec<RefundableLine>,
    pub refundable: Money,
}

/// «Возврат платежа» as the resident sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundOffer {
    /// Why a request cannot be sent now, if it cannot.
    pub refused: Option<String>,
    pub refundable: Money,
    /// The latest request with its outcome.
    pub request: Option<RequestInfo>,
}

#[server(prefix = "/api", endpoint = "order_refunds")]
pub async fn order_refunds(order_id: i64) -> Result<RefundsBlock, AppError> {
    let staff = require_staff(Action::ViewAssignedOrders)?;
    service::block(&app_state()?.pool, &staff, order_id).await
}

#[server(prefix = "/api", endpoint = "refund_form")]
pub async fn fetch_refund_form(invoice_id: i64) -> Result<RefundForm, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    service::form(&app_state()?.pool, &staff, invoice_id).await
}

/// «Продолжить» in the refund modal. `key` is made when the modal opens: sending again
/// returns the same refund.
#[server(prefix = "/api", endpoint = "create_refund", input = Json)]
pub async fn create_refund(
    invoice_id: i64,
    full: bool,
    lines: Vec<RefundLineInput>,
    reason: String,
    request_id: Option<i64>,
    key: String,
) -> Result<i64, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    let state = app_state()?;
    let input = service::RefundInput {
        invoice_id,
        full,
        lines,
        reason,
        request_id,
        key,
    };
    service::create(&state, &staff, input, now()).await
}

/// «Отклонить» a resident's request, with a reason the resident sees.
#[server(prefix = "/api", endpoint = "reject_refund_request")]
pub async fn reject_refund_request(request_id: i64, reason: String) -> Result<(), AppError> {
    let staff = require_staff(Action::EditOrders)?;
    service::reject(&app_state()?.pool, &staff, request_id, &reason, now()).await
}

/// «Возврат платежа» → «Отправить».
#[server(prefix = "/api", endpoint = "request_refund")]
pub async fn request_refund(
    order_id: i64,
    full: bool,
    amount: String,
    reason: String,
) -> Result<(), AppError> {
    use crate::auth::rate_limit::{self, REFUND_REQUESTS};
    let me = require_resident()?;
    let pool = app_state()?.pool;
    let request = service::request(
        &pool,
        me.resident_id,
        order_id,
        full,
        &amount,
        &reason,
        now(),
    );
    rate_limit::limited(&pool, REFUND_REQUESTS, &rate_limit::resident(&me), request).await
}
