//! «Финансы» → «Взаиморасчеты»: commission terms of partners, acquiring fees, the ledger
//! of money events, monthly settlements that freeze once confirmed, reconciliation, the
//! .xlsx export and a generator that simulates a month through the real services.

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod export;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod simulate;
