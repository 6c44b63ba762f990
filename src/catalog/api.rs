//! Server functions of the catalog «Сервис».

use super::form::FormField;
use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {super::repo, crate::auth::session::current_viewer, crate::server::state::app_state};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryTile {
    pub category_id: i64,
    pub name: String,
    pub background: String,
    pub icon: String,
    pub services: i64,
}

/// A service in a category list or in search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTile {
    pub service_id: i64,
    pub name: String,
    pub short_description: String,
    /// Cover image URL; empty shows the category's icon on its background.
    pub cover: String,
    pub background: String,
    pub icon: String,
    pub provider: String,
    /// The cheapest active item of the provider's price list linked to the service.
    pub min_price: Option<Money>,
}

/// A category with its services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryView {
    pub category_id: i64,
    pub name: String,
    pub background: String,
    pub icon: String,
    pub services: Vec<ServiceTile>,
}

/// A line of a service's prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceLine {
    pub name: String,
    pub unit: String,
    pub price: Money,
}

/// The service card with its order form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCard {
    pub tile: ServiceTile,
    pub category_id: i64,
    pub category_name: String,
    pub description: String,
    pub provider_is_partner: bool,
    pub prices: Vec<PriceLine>,
    pub fields: Vec<FormField>,
    /// «Возможность оплаты картой при создании заказа».
    pub prepaid: bool,
    /// «Чат с оператором, до оформления заявки».
    pub preorder_chat: bool,
}

#[cfg(feature = "ssr")]
fn require_viewer() -> Result<(), AppError> {
    match current_viewer()? {
        Some(_) => Ok(()),
        None => Err(AppError::Unauthorized),
    }
}

/// Categories with published services, in their configured order.
#[server(prefix = "/api", endpoint = "catalog_categories")]
pub async fn catalog_categories() -> Result<Vec<CategoryTile>, AppError> {
    require_viewer()?;
    repo::categories(&app_state()?.pool).await
}

/// A category and its published services.
#[server(prefix = "/api", endpoint = "category_services")]
pub async fn category_services(category_id: i64) -> Result<CategoryView, AppError> {
    require_viewer()?;
    repo::category(&app_state()?.pool, category_id).await
}

/// Published services whose name, category or order-form field labels match every word
/// (case, «ё» and one typo forgiven); services matching by name come first.
#[server(prefix = "/api", endpoint = "search_services")]
pub async fn search_services(query: String) -> Result<Vec<ServiceTile>, AppError> {
    require_viewer()?;
    repo::search(&app_state()?.pool, &query).await
}

/// A published service with its provider, prices and order form.
#[server(prefix = "/api", endpoint = "service_card")]
pub async fn fetch_service_card(service_id: i64) -> Result<ServiceCard, AppError> {
    require_viewer()?;
    repo::service_card(&app_state()?.pool, service_id).await
}
