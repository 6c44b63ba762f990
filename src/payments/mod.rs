//! Card payments: the provider trait, the sandbox provider and its adapter, the payment
//! outbox, webhook intake, polling of stuck payments, saved cards and the resident's
//! payment screen.

#[cfg(feature = "ssr")]
pub mod accounts;
pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod gateway;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod sandbox;
#[cfg(feature = "ssr")]
pub mod sandbox_client;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod tbank;
#[cfg(feature = "ssr")]
pub mod webhook;
#[cfg(feature = "ssr")]
pub mod yookassa;
