//! Server functions of receipts: the «Чеки» block of the staff order card. (The resident
//! sees the links to registered receipts on the request page, `requests::api::open_request`,
//! which answers only for the resident's own orders.)

use super::model::ReceiptsBlock;
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {super::service, crate::auth::session::require_any_staff, crate::server::state::app_state};

/// «Чеки» of an order: staff who can see the order (the card's own check).
#[server(prefix = "/api", endpoint = "order_receipts")]
pub async fn order_receipts(order_id: i64) -> Result<ReceiptsBlock, AppError> {
    let staff = require_any_staff()?;
    service::block(&app_state()?.pool, &staff, order_id).await
}
