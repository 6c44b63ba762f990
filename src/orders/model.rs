//! Order data as the staff screens see it.

use super::filter::Cursor;
use super::rules::OrderFacts;
use super::status::OrderStatus;
use crate::catalog::form::Answer;
use crate::money::Money;
use serde::{Deserialize, Serialize};

/// «Возврат» state shown in the list: green succeeded, red requested, plain processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundMark {
    Requested,
    Processing,
    Succeeded,
}

impl RefundMark {
    pub fn from_db(s: &str) -> Option<RefundMark> {
        match s {
            "requested" => Some(RefundMark::Requested),
            "processing" => Some(RefundMark::Processing),
            "succeeded" => Some(RefundMark::Succeeded),
            _ => None,
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            RefundMark::Requested => "money red",
            RefundMark::Processing => "money",
            RefundMark::Succeeded => "money green",
        }
    }
}

/// A row of the staff orders list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRow {
    pub order_id: i64,
    pub status: OrderStatus,
    /// Past the service's SLA (to take into work, or to finish).
    pub overdue: bool,
    pub service_name: String,
    pub client_name: String,
    pub address: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// «Сумма»: all invoices of the order.
    pub total: Money,
    /// Green «Сумма»: every invoice paid.
    pub all_paid: bool,
    /// «Затраты»
    pub costs: Money,
    /// «Возврат»
    pub refund: Money,
    pub refund_mark: Option<RefundMark>,
    /// «Оценка»
    pub rating: Option<u8>,
    pub unread_client_messages: i64,
    pub assignee_name: Option<String>,
}

/// One page of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPage {
    pub rows: Vec<OrderRow>,
    /// Set when there are more rows after this page.
    pub next: Option<Cursor>,
}

/// Choices for the list's filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FilterOptions {
    pub services: Vec<(i64, String)>,
    pub staff: Vec<(i64, String)>,
    pub legal_entities: Vec<(i64, String)>,
}

/// The order card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCard {
    pub order_id: i64,
    pub version: i64,
    pub status: OrderStatus,
    pub service_name: String,
    pub provider_name: String,
    pub client_name: String,
    /// Masked until the order is «В работе»; the full number comes from `reveal_phone`.
    pub phone_masked: String,
    pub address: String,
    pub visit_at: Option<i64>,
    pub answers: Vec<Answer>,
    pub created_at: i64,
    pub updated_at: i64,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub rating: Option<u8>,
    pub rating_text: Option<String>,
    pub total: Money,
    /// «Затраты»: partner commission + acquiring fees.
    pub costs: Money,
    /// The viewer may open «Взаиморасчеты» (the costs link).
    pub finance: bool,
    pub facts: OrderFacts,
    /// The viewer may change this order.
    pub can_edit: bool,
    /// Staff who may be made responsible.
    pub assignees: Vec<(i64, String)>,
    pub attachments: Vec<Attachment>,
    /// Photos the resident attached to the order form.
    pub client_photos: Vec<crate::requests::api::RequestPhoto>,
    pub is_draft: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Attachment {
    pub attachment_id: i64,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub uploaded_by: String,
    pub uploaded_by_id: i64,
    pub created_at: i64,
}

impl Attachment {
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// A line of «История».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub who: String,
    pub what: String,
    pub comment: String,
}

/// An internal note of «Комментарии».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub comment_id: i64,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}
