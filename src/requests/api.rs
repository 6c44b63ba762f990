//! Server functions of the resident's requests.

use super::rules::{InvoiceState, Listed, RequestsSort};
use crate::catalog::form::{Answer, RawValues};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::status::OrderStatus;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service, crate::auth::session::require_resident, crate::server::state::app_state,
    crate::time::now,
};

/// A row of «Заявки».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    pub order_id: i64,
    pub status: OrderStatus,
    pub service_name: String,
    pub created_at: i64,
    pub total: Money,
    pub unread: bool,
}

impl Listed for RequestRow {
    fn order_id(&self) -> i64 {
        self.order_id
    }
    fn service_name(&self) -> &str {
        &self.service_name
    }
    fn unread(&self) -> bool {
        self.unread
    }
}

/// «Заявки» for the selected premises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestsList {
    pub sort: RequestsSort,
    /// The selected premises; `None` when the resident has none.
    pub address: Option<String>,
    pub rows: Vec<RequestRow>,
    /// Unread requests of these premises (whatever the search).
    pub unread: usize,
}

/// A line of the request's history as the resident sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEvent {
    pub at: i64,
    pub text: String,
    pub comment: String,
}

/// An invoice of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInvoice {
    pub invoice_id: i64,
    pub total: Money,
    pub state: InvoiceState,
}

/// A photo the resident attached to the order form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPhoto {
    pub upload_id: i64,
    pub file_name: String,
}

/// The request page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    pub order_id: i64,
    pub status: OrderStatus,
    pub service_id: i64,
    pub service_name: String,
    pub provider: String,
    pub address: String,
    pub created_at: i64,
    pub answers: Vec<Answer>,
    pub photos: Vec<RequestPhoto>,
    pub history: Vec<RequestEvent>,
    pub invoices: Vec<RequestInvoice>,
    pub rating: Option<u8>,
    pub rating_comment: String,
    /// «Возврат платежа».
    pub refund: crate::refunds::api::RefundOffer,
    /// Links to the registered fiscal receipts of the request.
    pub receipts: Vec<crate::receipts::model::ReceiptLink>,
}

/// What a submission created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub order_id: i64,
    /// A prepaid service: the invoice the resident goes on to pay.
    pub pay_invoice_id: Option<i64>,
}

/// «Заявки» of the selected premises, searched and sorted; a given `sort` is remembered.
#[server(prefix = "/api", endpoint = "my_requests")]
pub async fn my_requests(
    query: String,
    sort: Option<RequestsSort>,
) -> Result<RequestsList, AppError> {
    let me = require_resident()?;
    service::list(&app_state()?.pool, me.resident_id, &query, sort).await
}

/// Opens a request of the signed-in resident and marks it read.
#[server(prefix = "/api", endpoint = "open_request")]
pub async fn open_request(order_id: i64) -> Result<RequestView, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    service::open(&state.pool, me.resident_id, order_id, now()).await
}

/// Creates the order from the service card for the selected premises. `submit_key` is
/// made when the form opens: sending it twice returns the same order.
#[server(prefix = "/api", endpoint = "submit_request", input = Json)]
pub async fn submit_request(
    service_id: i64,
    values: RawValues,
    submit_key: String,
) -> Result<Submitted, AppError> {
    use crate::auth::rate_limit::RESIDENT_ORDERS;
    let me = require_resident()?;
    let state = app_state()?;
    let input = service::SubmitInput {
        service_id,
        values,
        submit_key,
    };
    let submit = service::submit(
        &state.pool,
        me.resident_id,
        input,
        state.config.utc_offset_minutes,
        now(),
    );
    let who = crate::auth::rate_limit::resident(&me);
    crate::auth::rate_limit::limited(&state.pool, RESIDENT_ORDERS, &who, submit).await
}

/// Rates a done request 1–5 with optional text; the resident may change it later.
#[server(prefix = "/api", endpoint = "rate_request")]
pub async fn rate_request(order_id: i64, stars: u8, comment: String) -> Result<(), AppError> {
    let me = require_resident()?;
    service::rate(
        &app_state()?.pool,
        me.resident_id,
        order_id,
        stars,
        &comment,
        now(),
    )
    .await
}
