//! Server functions of the catalog.

use crate::error::AppError;
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

/// Categories with published services, in their configured order.
#[server(prefix = "/api", endpoint = "catalog_categories")]
pub async fn catalog_categories() -> Result<Vec<CategoryTile>, AppError> {
    if current_viewer()?.is_none() {
        return Err(AppError::Unauthorized);
    }
    repo::categories(&app_state()?.pool).await
}
