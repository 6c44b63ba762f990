//! Order statuses (seed §4).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// «Ожидание»
    Waiting,
    /// «В работе»
    InProgress,
    /// «Выполнено»
    Done,
    /// «Отменено»
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Waiting,
        OrderStatus::InProgress,
        OrderStatus::Done,
        OrderStatus::Cancelled,
    ];

    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Waiting => "Ожидание",
            OrderStatus::InProgress => "В работе",
            OrderStatus::Done => "Выполнено",
            OrderStatus::Cancelled => "Отменено",
        }
    }

    pub fn as_db(self) -> &'static str {
        match self {
            OrderStatus::Waiting => "waiting",
            OrderStatus::InProgress => "in_progress",
            OrderStatus::Done => "done",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn from_db(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_db() == s)
    }

    /// Done and Cancelled are final for status changes.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Done | OrderStatus::Cancelled)
    }

    /// CSS class of the status badge.
    pub fn css(self) -> &'static str {
        match self {
            OrderStatus::Waiting => "status waiting",
            OrderStatus::InProgress => "status in-progress",
            OrderStatus::Done => "status done",
            OrderStatus::Cancelled => "status cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_spelling_round_trips() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_db(s.as_db()), Some(s));
        }
        assert_eq!(OrderStatus::from_db("unknown"), None);
    }

    #[test]
    fn only_done_and_cancelled_are_final() {
        assert!(!OrderStatus::Waiting.is_final());
        assert!(!OrderStatus::InProgress.is_final());
        assert!(OrderStatus::Done.is_final());
        assert!(OrderStatus::Cancelled.is_final());
    }
}
