//! Status and assignee rules (seed §4), pure and shared: the server enforces them, the
//! order card greys out what they refuse.

use super::status::OrderStatus;
use serde::{Deserialize, Serialize};

/// What the rules need to know about an order besides its status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFacts {
    /// Invoices that are not cancelled.
    pub invoices: u32,
    /// Of those, the ones not paid yet.
    pub unpaid_invoices: u32,
    /// Attachments that are not deleted.
    pub attachments: u32,
    /// The service option «Запретить закрывать заявку, если не приложен документ».
    pub require_attachment: bool,
    /// Money paid by card in the app and not (being) refunded, in kopecks.
    #[serde(default)]
    pub card_money_kept: i64,
}

/// Why a status change is refused, in Russian.
pub fn status_change_error(
    from: OrderStatus,
    to: OrderStatus,
    comment: &str,
    facts: &OrderFacts,
) -> Option<String> {
    if from == to {
        return None;
    }
    if from.is_final() {
        return Some(format!(
            "Заказ в статусе «{}»: статус больше не меняется",
            from.label()
        ));
    }
    match to {
        OrderStatus::Cancelled if comment.trim().is_empty() => {
            Some("Укажите причину отмены в поле «Комментарий»".into())
        }
        // The refund needs «В работе»; a cancelled order could never return the money.
        OrderStatus::Cancelled if facts.card_money_kept > 0 => Some(
            "Клиент оплатил картой: сначала верните деньги («Действия» → «Возврат»), затем отменяйте"
                .into(),
        ),
        OrderStatus::Done if facts.invoices == 0 => {
            Some("Нельзя выполнить заказ без счета за услуги".into())
        }
        OrderStatus::Done if facts.unpaid_invoices > 0 => {
            Some("Нельзя выполнить заказ: не все счета оплачены".into())
        }
        OrderStatus::Done if facts.require_attachment && facts.attachments == 0 => {
            Some("Приложите документ: без него эту услугу закрыть нельзя".into())
        }
        _ => None,
    }
}

/// The contact phone is shown only once the order is taken into work.
pub fn phone_visible(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::InProgress | OrderStatus::Done)
}

/// Masks a phone for display while it is hidden: `+7 900 ***-**-67`.
pub fn mask_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 {
        format!("+7 {} ***-**-{}", &digits[1..4], &digits[9..11])
    } else {
        "скрыт".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    fn paid() -> OrderFacts {
        OrderFacts {
            invoices: 1,
            unpaid_invoices: 0,
            attachments: 0,
            require_attachment: false,
            card_money_kept: 0,
        }
    }

    #[test]
    fn open_orders_move_freely_between_waiting_and_in_progress() {
        for (from, to) in [
            (Waiting, InProgress),
            (InProgress, Waiting),
            (Waiting, Waiting),
        ] {
            assert_eq!(
                status_change_error(from, to, "", &OrderFacts::default()),
                None,
                "{from:?}->{to:?}"
            );
        }
    }

    #[test]
    fn cancelling_needs_a_reason() {
        for from in [Waiting, InProgress] {
            let err = status_change_error(from, Cancelled, "  ", &OrderFacts::default());
            assert_eq!(
                err.as_deref(),
                Some("Укажите причину отмены в поле «Комментарий»")
            );
            assert_eq!(
                status_change_error(from, Cancelled, "Клиент отказался", &OrderFacts::default()),
                None
            );
        }
    }

    #[test]
    fn done_needs_paid_invoices() {
        let none = OrderFacts::default();
        assert!(status_change_error(InProgress, Done, "", &none)
            .unwrap()
            .contains("без счета"));
        let unpaid = OrderFacts {
            invoices: 2,
            unpaid_invoices: 1,
            ..paid()
        };
        assert!(status_change_error(InProgress, Done, "", &unpaid)
            .unwrap()
            .contains("не все счета оплачены"));
        assert_eq!(status_change_error(InProgress, Done, "", &paid()), None);
        assert_eq!(status_change_error(Waiting, Done, "", &paid()), None);
    }

    #[test]
    fn done_needs_a_document_when_the_service_says_so() {
        let facts = OrderFacts {
            require_attachment: true,
            ..paid()
        };
        assert!(status_change_error(InProgress, Done, "", &facts)
            .unwrap()
            .contains("Приложите документ"));
        let with_file = OrderFacts {
            attachments: 1,
            ..facts
        };
        assert_eq!(status_change_error(InProgress, Done, "", &with_file), None);
    }

    #[test]
    fn done_and_cancelled_are_final() {
        for from in [Done, Cancelled] {
            for to in OrderStatus::ALL.into_iter().filter(|t| *t != from) {
                let err = status_change_error(from, to, "причина", &paid());
                assert!(
                    err.unwrap().contains("больше не меняется"),
                    "{from:?}->{to:?}"
                );
            }
            assert_eq!(status_change_error(from, from, "", &paid()), None);
        }
    }

    #[test]
    fn phone_is_hidden_until_in_progress() {
        assert!(!phone_visible(Waiting));
        assert!(phone_visible(InProgress));
        assert!(phone_visible(Done));
        assert!(!phone_visible(Cancelled));
        assert_eq!(mask_phone("+79001234567"), "+7 900 ***-**-67");
    }

    #[test]
    fn a_card_paid_order_is_refunded_before_it_is_cancelled() {
        let kept = OrderFacts {
            card_money_kept: 100,
            ..OrderFacts::default()
        };
        let refused = status_change_error(
            OrderStatus::InProgress,
            OrderStatus::Cancelled,
            "Клиент отказался",
            &kept,
        );
        assert!(refused.unwrap().contains("верните"));
        assert!(status_change_error(
            OrderStatus::InProgress,
            OrderStatus::Cancelled,
            "Клиент отказался",
            &OrderFacts::default()
        )
        .is_none());
    }
}
