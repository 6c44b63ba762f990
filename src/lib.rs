//! СУЗ: paid-services orders for property-management companies.
//! One crate, two builds: `ssr` (the axum server) and `hydrate` (the browser).

#![recursion_limit = "256"]

pub mod admin;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod chat;
pub mod error;
pub mod finance;
pub mod invoices;
pub mod live;
pub mod money;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod requests;
pub mod residents;
pub mod search;
pub mod time;
pub mod ui;
pub mod url;

#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
