//! Refunds of card payments: staff-initiated (full, or per line with a lowered quantity
//! or unit price) and on a resident's request (approve by processing, or reject with a
//! reason); sent to the provider asynchronously and never beyond what was paid.

pub mod api;
pub mod components;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
