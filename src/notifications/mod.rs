//! Notifications: events written to the outbox by every domain are delivered to the
//! people they concern — staff by their role's settings (events × channels), residents
//! about their own orders — through the in-app notification centre, e-mail and Web Push.
//! Each event reaches each recipient on each channel once.

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod push;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod webpush;
