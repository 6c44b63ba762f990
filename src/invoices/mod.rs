//! «Счет за услуги»: invoices built from the provider's price list, their actions
//! («Активировать в ЛК», «Отметить как оплаченный», «Отменить») and the invoice modal.

pub mod api;
pub mod components;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
