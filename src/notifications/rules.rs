//! Which events notify staff, by which channel (a role's settings), and what a
//! notification says. Pure: used by the server and by the role editor.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Events a role can choose to be notified of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffEvent {
    NewOrder,
    Assigned,
    ClientMessage,
    RefundRequested,
    InvoicePaid,
}

impl StaffEvent {
    pub const ALL: [StaffEvent; 5] = [
        StaffEvent::NewOrder,
        StaffEvent::Assigned,
        StaffEvent::ClientMessage,
        StaffEvent::RefundRequested,
        StaffEvent::InvoicePaid,
    ];

    pub fn label(self) -> &'static str {
        match self {
            StaffEvent::NewOrder => "Новый заказ",
            StaffEvent::Assigned => "Назначение ответственным",
            StaffEvent::ClientMessage => "Новое сообщение клиента",
            StaffEvent::RefundRequested => "Запрос на возврат",
            StaffEvent::InvoicePaid => "Оплата счета",
        }
    }

    /// The setting an outbox event falls under, for staff recipients.
    pub fn of_outbox(event: &str) -> Option<StaffEvent> {
        Some(match event {
            "new_order" => StaffEvent::NewOrder,
            "assigned" => StaffEvent::Assigned,
            "client_message" | "dialogue_message" => StaffEvent::ClientMessage,
            "refund_requested" => StaffEvent::RefundRequested,
            "invoice_paid" => StaffEvent::InvoicePaid,
            _ => return None,
        })
    }
}

/// How a notification reaches someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    App,
    Email,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::App, Channel::Email, Channel::Push];

    pub fn label(self) -> &'static str {
        match self {
            Channel::App => "В приложении",
            Channel::Email => "E-mail",
            Channel::Push => "Push",
        }
    }
}

/// A role's notification settings: for each event, its channels. Stored as JSON in
/// `roles.notification_settings`; an event the JSON does not mention notifies in the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings(pub BTreeMap<StaffEvent, Vec<Channel>>);

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings(
            StaffEvent::ALL
                .iter()
                .map(|e| (*e, vec![Channel::App]))
                .collect(),
        )
    }
}

impl NotificationSettings {
    /// Reads the stored JSON; anything unreadable falls back to the defaults.
    pub fn parse(json: &str) -> NotificationSettings {
        let stored: BTreeMap<StaffEvent, Vec<Channel>> =
            serde_json::from_str(json).unwrap_or_default();
        let mut settings = NotificationSettings::default();
        for (event, channels) in stored {
            settings.0.insert(event, channels);
        }
        settings
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    pub fn allows(&self, event: StaffEvent, channel: Channel) -> bool {
        self.0.get(&event).is_some_and(|c| c.contains(&channel))
    }

    pub fn set(&mut self, event: StaffEvent, channel: Channel, on: bool) {
        let channels = self.0.entry(event).or_default();
        channels.retain(|c| *c != channel);
        if on {
            channels.push(channel);
            channels.sort();
        }
    }
}

/// What a notification says, from its event, order number and service.
pub fn text(event: &str, order_id: Option<i64>, service: &str, status: &str) -> String {
    let n = order_id.map(|id| format!("№ {id}")).unwrap_or_default();
    match event {
        "new_order" => format!("Новый заказ {n}: {service}"),
        "assigned" => format!("Вы назначены ответственным: заказ {n}, {service}"),
        "client_message" => format!("Новое сообщение клиента по заказу {n}"),
        "dialogue_message" => format!("Новое сообщение в чате с клиентом: {service}"),
        "refund_requested" => format!("Клиент запросил возврат по заказу {n}"),
        "invoice_paid" => format!("Счет по заказу {n} оплачен"),
        "status_changed" => format!("Заявка {n}: статус «{status}»"),
        "rating_requested" => format!("Заявка {n} выполнена. Оцените качество услуги"),
        "invoice_issued" => format!("Заявка {n}: выставлен счет. Оплатите услугу"),
        "refund_decided" => format!("Заявка {n}: решение по возврату"),
        "refund_completed" => format!("Заявка {n}: возврат выполнен"),
        "new_message" => format!("Заявка {n}: новое сообщение"),
        "dialogue_reply" => format!("Оператор ответил: {service}"),
        _ => format!("Заказ {n}: изменения"),
    }
}

/// Where opening a notification leads.
pub fn link(for_staff: bool, order_id: Option<i64>, dialogue_id: Option<i64>) -> String {
    match (for_staff, order_id, dialogue_id) {
        (true, Some(o), _) => format!("/staff/orders/{o}"),
        (true, None, Some(d)) => format!("/staff/chats/{d}"),
        (true, None, None) => "/staff/notifications".into(),
        (false, _, Some(d)) => format!("/chats/{d}"),
        (false, Some(o), None) => format!("/requests/{o}"),
        (false, None, None) => "/notifications".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_settings_notify_in_the_app_only() {
        let s = NotificationSettings::parse("{}");
        for e in StaffEvent::ALL {
            assert!(s.allows(e, Channel::App));
            assert!(!s.allows(e, Channel::Email));
            assert!(!s.allows(e, Channel::Push));
        }
        assert_eq!(
            NotificationSettings::parse("not json"),
            NotificationSettings::default()
        );
    }

    #[test]
    fn settings_round_trip_through_json() {
        let mut s = NotificationSettings::default();
        s.set(StaffEvent::NewOrder, Channel::Email, true);
        s.set(StaffEvent::InvoicePaid, Channel::App, false);
        s.set(StaffEvent::NewOrder, Channel::Email, true);
        let back = NotificationSettings::parse(&s.to_json());
        assert_eq!(back, s);
        assert!(back.allows(StaffEvent::NewOrder, Channel::Email));
        assert!(!back.allows(StaffEvent::InvoicePaid, Channel::App));
        assert_eq!(
            back.0[&StaffEvent::NewOrder],
            vec![Channel::App, Channel::Email]
        );
    }

    #[test]
    fn outbox_events_map_to_settings() {
        assert_eq!(
            StaffEvent::of_outbox("dialogue_message"),
            Some(StaffEvent::ClientMessage)
        );
        assert_eq!(StaffEvent::of_outbox("status_changed"), None);
    }

    #[test]
    fn links_open_the_order_or_the_dialogue() {
        assert_eq!(link(true, Some(5), None), "/staff/orders/5");
        assert_eq!(link(false, Some(5), None), "/requests/5");
        assert_eq!(link(false, Some(5), Some(2)), "/chats/2");
        assert_eq!(link(true, None, Some(2)), "/staff/chats/2");
        assert!(text("status_changed", Some(7), "Уборка", "В работе").contains("«В работе»"));
    }
}
