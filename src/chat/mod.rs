//! Chat: the order chat «Переписка с клиентом» (staff with «Заказы: редактирование» and
//! the resident) and pre-order dialogues («Чат с оператором, до оформления заявки»)
//! that staff with «Чат с клиентами» answer and turn into an order draft.

pub mod api;
pub mod components;
pub mod photos;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
