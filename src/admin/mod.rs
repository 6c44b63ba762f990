//! «Администрирование»: roles and staff, legal entities and their price lists (with .xlsx
//! import and export), categories and services with the order-form builder, residents and
//! premises (with import), and the audit of every administrative change.

pub mod api;
pub mod components;
#[cfg(feature = "ssr")]
pub mod files;
#[cfg(feature = "ssr")]
pub mod payment_accounts;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
