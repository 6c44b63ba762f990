//! The service catalog «Сервис»: categories, services and their order forms.

pub mod api;
pub mod components;
pub mod form;
pub mod form_view;
#[cfg(feature = "ssr")]
pub mod repo;
