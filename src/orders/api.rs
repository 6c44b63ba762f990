//! Server functions for orders.

use super::status::OrderStatus;
use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::repo,
    crate::auth::permissions::Action,
    crate::auth::session::{require_resident, require_staff},
    crate::server::state::app_state,
};

/// Which staff list: «Все» or «Назначенные мне».
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListScope {
    All,
    Mine,
}

/// A row of the staff orders list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRow {
    pub order_id: i64,
    pub status: OrderStatus,
    pub service_name: String,
    pub client_name: String,
    pub address: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub total: Money,
    pub assignee_name: Option<String>,
}

/// The newest orders the caller may see in the chosen list.
#[server(prefix = "/api", endpoint = "staff_orders")]
pub async fn staff_orders(scope: ListScope) -> Result<Vec<OrderRow>, AppError> {
    let staff = match scope {
        ListScope::All => require_staff(Action::ViewAllOrders)?,
        ListScope::Mine => require_staff(Action::ViewAssignedOrders)?,
    };
    let assignee = (scope == ListScope::Mine).then_some(staff.staff_id);
    repo::latest_orders(&app_state()?.pool, assignee, 50).await
}

/// A row of the resident's «Заявки».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    pub order_id: i64,
    pub status: OrderStatus,
    pub service_name: String,
    pub created_at: i64,
    pub total: Money,
}

/// The signed-in resident's requests for the selected premises.
#[server(prefix = "/api", endpoint = "my_requests")]
pub async fn my_requests() -> Result<Vec<RequestRow>, AppError> {
    let me = require_resident()?;
    let pool = app_state()?.pool;
    let Some(premises_id) =
        crate::residents::repo::current_premises_id(&pool, me.resident_id).await?
    else {
        return Ok(Vec::new());
    };
    repo::resident_requests(&pool, me.resident_id, premises_id).await
}
