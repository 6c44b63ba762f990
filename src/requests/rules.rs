//! Rules of the resident's requests, shared by the browser (what is offered) and the
//! server (what holds).

use crate::orders::status::OrderStatus;
use crate::search::{normalize, terms};
use serde::{Deserialize, Serialize};

/// The order of «Заявки», remembered per resident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestsSort {
    /// «Сначала непрочитанные»: unread first, then newest.
    #[default]
    Unread,
    Newest,
    Oldest,
}

impl RequestsSort {
    pub const ALL: [RequestsSort; 3] = [
        RequestsSort::Unread,
        RequestsSort::Newest,
        RequestsSort::Oldest,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RequestsSort::Unread => "Сначала непрочитанные",
            RequestsSort::Newest => "Сначала новые",
            RequestsSort::Oldest => "Сначала старые",
        }
    }

    pub fn as_db(self) -> &'static str {
        match self {
            RequestsSort::Unread => "unread",
            RequestsSort::Newest => "newest",
            RequestsSort::Oldest => "oldest",
        }
    }

    pub fn from_db(s: &str) -> RequestsSort {
        match s {
            "newest" => RequestsSort::Newest,
            "oldest" => RequestsSort::Oldest,
            _ => RequestsSort::Unread,
        }
    }
}

/// What the list needs of a request to search and sort it.
pub trait Listed {
    fn order_id(&self) -> i64;
    fn service_name(&self) -> &str;
    fn unread(&self) -> bool;
}

/// Whether a request matches the search box: by number (digits) or by service name.
pub fn matches(query: &str, row: &impl Listed) -> bool {
    let query = query.trim().trim_start_matches(['№', '#']).trim();
    if query.is_empty() {
        return true;
    }
    if query.chars().all(|c| c.is_ascii_digit()) {
        return row.order_id().to_string().starts_with(query);
    }
    let name = normalize(row.service_name());
    terms(query).iter().all(|t| name.contains(t.as_str()))
}

/// Sorts requests: newest/oldest by number (numbers grow with time), unread first.
pub fn sort(rows: &mut [impl Listed], sort: RequestsSort) {
    match sort {
        RequestsSort::Unread => rows.sort_by_key(|r| {
            (
                std::cmp::Reverse(r.unread()),
                std::cmp::Reverse(r.order_id()),
            )
        }),
        RequestsSort::Newest => rows.sort_by_key(|r| std::cmp::Reverse(r.order_id())),
        RequestsSort::Oldest => rows.sort_by_key(|r| r.order_id()),
    }
}

/// Unread: staff changed something the resident sees after the resident last opened it.
pub fn is_unread(resident_changed_at: i64, resident_seen_at: i64) -> bool {
    resident_changed_at > resident_seen_at
}

/// Longest rating text.
pub const MAX_RATING_TEXT: usize = 1000;

/// Whether the resident is offered to rate (or re-rate) the order.
pub fn may_rate(status: OrderStatus) -> bool {
    status == OrderStatus::Done
}

/// Why a rating is refused, if it is.
pub fn rating_error(status: OrderStatus, stars: u8, text: &str) -> Option<String> {
    if !may_rate(status) {
        return Some("Оценить можно только выполненную заявку".into());
    }
    if !(1..=5).contains(&stars) {
        return Some("Поставьте оценку от 1 до 5 звёзд".into());
    }
    if text.chars().count() > MAX_RATING_TEXT {
        return Some(format!("Отзыв не длиннее {MAX_RATING_TEXT} символов"));
    }
    crate::text::check_text(text).err()
}

/// An invoice as the resident sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceState {
    AwaitingPayment,
    Paid,
    Refunded,
    PartlyRefunded,
}

impl InvoiceState {
    pub fn label(self) -> &'static str {
        match self {
            InvoiceState::AwaitingPayment => "Ожидает оплаты",
            InvoiceState::Paid => "Оплачено",
            InvoiceState::Refunded => "Осуществлен возврат",
            InvoiceState::PartlyRefunded => "Осуществлен частичный возврат",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            InvoiceState::AwaitingPayment => "status waiting",
            InvoiceState::Paid => "status done",
            InvoiceState::Refunded | InvoiceState::PartlyRefunded => "status refund",
        }
    }

    /// The resident's view of an invoice: drafts and cancelled invoices are not shown.
    pub fn of(status: &str, total_kopecks: i64, refunded_kopecks: i64) -> Option<InvoiceState> {
        match status {
            "active" => Some(InvoiceState::AwaitingPayment),
            "paid" if refunded_kopecks <= 0 => Some(InvoiceState::Paid),
            "paid" if refunded_kopecks >= total_kopecks => Some(InvoiceState::Refunded),
            "paid" => Some(InvoiceState::PartlyRefunded),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(i64, &'static str, bool);
    impl Listed for Row {
        fn order_id(&self) -> i64 {
            self.0
        }
        fn service_name(&self) -> &str {
            self.1
        }
        fn unread(&self) -> bool {
            self.2
        }
    }

    #[test]
    fn searches_by_number_or_service_name() {
        let row = Row(1234, "Установка счётчиков воды", false);
        assert!(matches("", &row));
        assert!(matches("12", &row));
        assert!(matches("№1234", &row));
        assert!(!matches("34", &row));
        assert!(matches("СЧЕТЧИК", &row));
        assert!(matches("установка воды", &row));
        assert!(!matches("замок", &row));
    }

    #[test]
    fn sorts_three_ways() {
        let mut rows = vec![Row(1, "a", true), Row(3, "b", false), Row(2, "c", true)];
        let ids = |rows: &[Row]| rows.iter().map(|r| r.0).collect::<Vec<_>>();
        sort(&mut rows, RequestsSort::Unread);
        assert_eq!(ids(&rows), vec![2, 1, 3]);
        sort(&mut rows, RequestsSort::Newest);
        assert_eq!(ids(&rows), vec![3, 2, 1]);
        sort(&mut rows, RequestsSort::Oldest);
        assert_eq!(ids(&rows), vec![1, 2, 3]);
        for s in RequestsSort::ALL {
            assert_eq!(RequestsSort::from_db(s.as_db()), s);
        }
    }

    #[test]
    fn rating_only_for_done_orders_within_limits() {
        assert!(rating_error(OrderStatus::Done, 5, "Спасибо").is_none());
        assert!(rating_error(OrderStatus::InProgress, 5, "").is_some());
        assert!(rating_error(OrderStatus::Done, 0, "").is_some());
        assert!(rating_error(OrderStatus::Done, 6, "").is_some());
        assert!(rating_error(OrderStatus::Done, 3, &"я".repeat(1001)).is_some());
    }

    #[test]
    fn invoice_states_for_the_resident() {
        assert_eq!(InvoiceState::of("draft", 100, 0), None);
        assert_eq!(InvoiceState::of("cancelled", 100, 0), None);
        assert_eq!(
            InvoiceState::of("active", 100, 0),
            Some(InvoiceState::AwaitingPayment)
        );
        assert_eq!(InvoiceState::of("paid", 100, 0), Some(InvoiceState::Paid));
        assert_eq!(
            InvoiceState::of("paid", 100, 40),
            Some(InvoiceState::PartlyRefunded)
        );
        assert_eq!(
            InvoiceState::of("paid", 100, 100),
            Some(InvoiceState::Refunded)
        );
    }
}
