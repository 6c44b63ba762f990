//! Server functions of the resident profile.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {super::repo, crate::auth::session::require_resident, crate::server::state::app_state};

/// One of the resident's premises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PremisesItem {
    pub premises_id: i64,
    pub address: String,
    pub selected: bool,
}

/// The signed-in resident's premises; the selected one first chosen if none is.
#[server(prefix = "/api", endpoint = "my_premises")]
pub async fn my_premises() -> Result<Vec<PremisesItem>, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    repo::premises_of(&state.pool, me.resident_id).await
}

/// Chooses the current premises; lists follow the choice.
#[server(prefix = "/api", endpoint = "select_premises")]
pub async fn select_premises(premises_id: i64) -> Result<(), AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    repo::select_premises(&state.pool, me.resident_id, premises_id).await
}
