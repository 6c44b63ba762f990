//! Residents and their premises («Мои помещения»).

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod repo;
