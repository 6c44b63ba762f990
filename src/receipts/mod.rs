//! Fiscal receipts under 54-ФЗ: «Предоплата 100%» and «Полный расчет» with card and СБП
//! payments, the «Полный расчет» offsetting a prepayment once the order is done, «Возврат
//! прихода» with refunds, and cash recorded as the partner's own register's business.

pub mod api;
pub mod components;
pub mod model;
#[cfg(feature = "ssr")]
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
