//! Server functions of the resident's payment screen and saved cards.

use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service, crate::auth::session::require_resident, crate::server::state::app_state,
    crate::time::now,
};

/// A plausible e-mail address (the receipt goes there); checked in the form and on the
/// server.
pub fn email_ok(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && email.len() <= 254
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The payment screen's methods: (value `start_payment` takes, what the payer sees).
pub const PAY_METHODS: [(&str, &str); 2] = [("card", "Банковская карта"), ("sbp", "СБП")];

/// Why a method choice is refused, if it is: the one rule behind the screen (saved cards
/// and «Сохранить карту» only appear for a card) and the server's refusal.
pub fn method_choice_error(
    method: &str,
    card_id: Option<i64>,
    save_card: bool,
) -> Option<&'static str> {
    match method {
        "card" => None,
        "sbp" if card_id.is_some() || save_card => {
            Some("Сохранённая карта и сохранение карты — только для оплаты картой")
        }
        "sbp" => None,
        _ => Some("Выберите способ оплаты: карта или СБП"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCard {
    pub card_id: i64,
    pub mask: String,
}

/// What the payment screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayScreen {
    pub invoice_id: i64,
    pub order_id: i64,
    pub service_name: String,
    pub amount: Money,
    pub commission: Money,
    pub total: Money,
    /// The remembered e-mail for receipts.
    pub email: String,
    pub cards: Vec<SavedCard>,
}

/// Where to go after «Перейти к оплате».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub payment_id: i64,
    pub order_id: i64,
    /// The provider's page, when a card is to be entered there.
    pub redirect_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentOutcome {
    Processing,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentResult {
    pub outcome: PaymentOutcome,
    pub message: String,
}

#[server(prefix = "/api", endpoint = "pay_screen")]
pub async fn fetch_pay_screen(invoice_id: i64) -> Result<PayScreen, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    service::screen(&state, me.resident_id, invoice_id).await
}

/// Starts paying an invoice by card. Repeated calls while a payment is under way return
/// that payment: an invoice is never charged twice.
#[server(prefix = "/api", endpoint = "start_payment")]
pub async fn start_payment(
    invoice_id: i64,
    email: String,
    card_id: Option<i64>,
    save_card: bool,
    /// `card` (the default) or `sbp`.
    method: Option<String>,
) -> Result<Started, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    let method = match method.as_deref() {
        None | Some("") => "card",
        Some(m) => m,
    };
    if let Some(refusal) = method_choice_error(method, card_id, save_card) {
        return Err(match crate::payments::gateway::PayMethod::parse(method) {
            None => AppError::Fields(vec![("method".into(), refusal.into())]),
            Some(_) => AppError::validation(refusal),
        });
    }
    let method = crate::payments::gateway::PayMethod::parse(method).unwrap_or_default();
    let choice = service::PayChoice {
        method,
        email,
        card_id,
        save_card,
    };
    service::start(&state, me.resident_id, invoice_id, choice, now()).await
}

/// The result of a payment, asking the provider if it is still open.
#[server(prefix = "/api", endpoint = "payment_result")]
pub async fn fetch_payment_result(payment_id: i64) -> Result<PaymentResult, AppError> {
    let me = require_resident()?;
    let state = app_state()?;
    service::result(&state, me.resident_id, payment_id, now()).await
}

#[server(prefix = "/api", endpoint = "my_cards")]
pub async fn my_cards() -> Result<Vec<SavedCard>, AppError> {
    let me = require_resident()?;
    service::cards(&app_state()?.pool, me.resident_id).await
}

#[server(prefix = "/api", endpoint = "remove_card")]
pub async fn remove_card(card_id: i64) -> Result<(), AppError> {
    let me = require_resident()?;
    service::remove_card(&app_state()?.pool, me.resident_id, card_id, now()).await
}

#[cfg(test)]
mod tests {
    use super::{email_ok, method_choice_error};

    #[test]
    fn a_saved_card_is_for_card_payments_only() {
        assert_eq!(method_choice_error("card", Some(1), false), None);
        assert_eq!(method_choice_error("card", None, true), None);
        assert_eq!(method_choice_error("sbp", None, false), None);
        assert!(method_choice_error("sbp", Some(1), false).is_some());
        assert!(method_choice_error("sbp", None, true).is_some());
        assert!(method_choice_error("bitcoin", None, false)
            .unwrap()
            .starts_with("Выберите способ оплаты"));
    }

    #[test]
    fn receipt_addresses_are_checked() {
        assert!(email_ok("ivanov@example.ru"));
        assert!(email_ok(" a.b@c.d "));
        assert!(!email_ok("ivanov"));
        assert!(!email_ok("@example.ru"));
        assert!(!email_ok("a@b"));
        assert!(!email_ok("a b@c.d"));
    }
}
