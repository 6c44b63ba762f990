//! Orders: statuses and rules, the staff list and card, the resident's requests.

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod repo;
pub mod status;
