//! Sign-in, sessions, roles and the permission check.

pub mod api;
pub mod components;
pub mod model;
pub mod permissions;

#[cfg(feature = "ssr")]
pub mod rate_limit;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod sms;
