//! Server functions for orders: thin — state, permission, parse, service.

use super::filter::{Cursor, OrderFilter};
use super::model::{Comment, FilterOptions, HistoryEntry, OrderCard, OrderPage};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::{repo, service},
    crate::auth::model::StaffUser,
    crate::auth::permissions::Action,
    crate::auth::session::{require_any_staff, require_staff},
    crate::server::state::app_state,
    crate::time::now,
};

/// Which staff list: «Все» or «Назначенные мне».
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListScope {
    All,
    Mine,
}

/// Rows per page of the staff list.
pub const PAGE_SIZE: i64 = 50;

/// The staff member allowed to read the list in this scope, and the assignee restriction.
#[cfg(feature = "ssr")]
pub fn list_access(scope: ListScope) -> Result<(StaffUser, Option<i64>), AppError> {
    let staff = match scope {
        ListScope::All => require_staff(Action::ViewAllOrders)?,
        ListScope::Mine => require_staff(Action::ViewAssignedOrders)?,
    };
    let only = (scope == ListScope::Mine).then_some(staff.staff_id);
    Ok((staff, only))
}

/// One page of the staff orders list.
#[server(prefix = "/api", endpoint = "list_orders", input = Json)]
pub async fn list_orders(
    scope: ListScope,
    filter: OrderFilter,
    after: Option<Cursor>,
) -> Result<OrderPage, AppError> {
    let (_, only_assignee) = list_access(scope)?;
    let state = app_state()?;
    let query = repo::ListQuery {
        filter,
        after,
        only_assignee,
        limit: PAGE_SIZE,
        utc_offset_minutes: state.config.utc_offset_minutes,
    };
    let (rows, next) = repo::list_orders(&state.pool, &query).await?;
    Ok(OrderPage { rows, next })
}

/// Choices for the list's filters.
#[server(prefix = "/api", endpoint = "order_filter_options")]
pub async fn order_filter_options() -> Result<FilterOptions, AppError> {
    let staff = require_staff(Action::ViewAssignedOrders)?;
    let mut options = repo::filter_options(&app_state()?.pool, None).await?;
    // «Назначенные мне» has no assignee filter, so it gets no staff list.
    if !staff.permissions.allows(Action::ViewAllOrders) {
        options.staff.clear();
    }
    Ok(options)
}

/// Everything one load of the order card page brings: the order, «Счет за услуги»,
/// «Возврат» and «Чеки».
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardPageData {
    pub card: OrderCard,
    pub invoices: crate::invoices::api::InvoicesBlock,
    pub refunds: crate::refunds::api::RefundsBlock,
    pub receipts: crate::receipts::model::ReceiptsBlock,
}

/// The order card page in one request: one check of the order, one connection, the blocks
/// read one after another on it (four requests and four checks before; each reload after
/// a live event or a change made on the card is one request now).
#[server(prefix = "/api", endpoint = "order_card_page")]
pub async fn order_card_page(order_id: i64) -> Result<CardPageData, AppError> {
    let staff = require_any_staff()?;
    let pool = app_state()?.pool;
    let mut conn = pool.acquire().await?;
    let order = service::visible_order(&mut conn, &staff, order_id).await?;
    // «Счет за услуги» and «Возврат» are for the orders section, as their own functions.
    if !staff.permissions.allows(Action::ViewAssignedOrders) {
        return Err(AppError::Forbidden);
    }
    Ok(CardPageData {
        card: service::card_of(&mut conn, &staff, &order).await?,
        invoices: crate::invoices::service::block_of(&mut conn, &staff, &order).await?,
        refunds: crate::refunds::service::block_of(&mut conn, &staff, &order).await?,
        receipts: crate::receipts::service::block_of(&mut conn, order_id).await?,
    })
}

/// The order card.
#[server(prefix = "/api", endpoint = "order_card")]
pub async fn fetch_order_card(order_id: i64) -> Result<OrderCard, AppError> {
    let staff = require_any_staff()?;
    service::card(&app_state()?.pool, &staff, order_id).await
}

/// «Сохранить» in «Состояние заказа».
#[server(prefix = "/api", endpoint = "change_order_state")]
pub async fn change_order_state(
    order_id: i64,
    version: i64,
    status: String,
    assignee_id: Option<String>,
    comment: String,
) -> Result<(), AppError> {
    let staff = require_staff(Action::EditOrders)?;
    let status = super::status::OrderStatus::from_db(&status)
        .ok_or_else(|| AppError::validation("Выберите статус"))?;
    let assignee_id = match assignee_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| AppError::validation("Выберите ответственного"))?,
        ),
    };
    let change = service::StateChange {
        order_id,
        version,
        status,
        assignee_id,
        comment,
    };
    service::change_state(&app_state()?.pool, &staff, change, now()).await
}

/// The client's phone (only while the order is in work); the view is recorded.
#[server(prefix = "/api", endpoint = "reveal_phone")]
pub async fn reveal_phone(order_id: i64) -> Result<String, AppError> {
    let staff = require_any_staff()?;
    service::reveal_phone(&app_state()?.pool, &staff, order_id, now()).await
}

/// «История».
#[server(prefix = "/api", endpoint = "order_history")]
pub async fn order_history(order_id: i64) -> Result<Vec<HistoryEntry>, AppError> {
    let staff = require_any_staff()?;
    let pool = app_state()?.pool;
    service::visible_order(&mut *pool.acquire().await?, &staff, order_id).await?;
    repo::history(&pool, order_id).await
}

/// «Комментарии» (internal).
#[server(prefix = "/api", endpoint = "order_comments")]
pub async fn order_comments(order_id: i64) -> Result<Vec<Comment>, AppError> {
    let staff = require_any_staff()?;
    let pool = app_state()?.pool;
    service::visible_order(&mut *pool.acquire().await?, &staff, order_id).await?;
    repo::comments(&pool, order_id).await
}

#[server(prefix = "/api", endpoint = "add_order_comment")]
pub async fn add_order_comment(order_id: i64, body: String) -> Result<(), AppError> {
    use crate::auth::rate_limit::{self, COMMENTS};
    let staff = require_staff(Action::EditOrders)?;
    let pool = app_state()?.pool;
    let add = service::add_comment(&pool, &staff, order_id, &body, now());
    rate_limit::limited(&pool, COMMENTS, &rate_limit::staff(&staff), add).await
}
