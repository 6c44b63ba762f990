//! Orders: statuses and rules, the staff list and card, the resident's requests.

pub mod api;
pub mod card;
pub mod components;
pub mod drafts;
pub mod export;
pub mod files;
pub mod filter;
#[cfg(feature = "ssr")]
pub mod generate;
pub mod model;
pub mod new_order;
#[cfg(feature = "ssr")]
pub mod repo;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
pub mod status;
