//! The resident's side of orders: submitting a request from the service card, «Заявки»
//! (premises, search, sorts, unread), the request page, photos of the order form and the
//! rating.

pub mod api;
pub mod components;
pub mod photos;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
