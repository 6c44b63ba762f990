//! Receipts as the order card and the resident's request show them.

use crate::money::Money;
use serde::{Deserialize, Serialize};

/// What a receipt is, as stored (`receipts.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// «Предоплата 100%» with a payment made before the service is done.
    Prepayment,
    /// «Полный расчет» with a payment made after it.
    FullPayment,
    /// «Полный расчет» offsetting the prepayment (зачет предоплаты) once the order is done.
    Offset,
    /// «Возврат прихода» with a refund.
    Refund,
    /// A cash payment: the partner's own register's business.
    Outside,
}

impl Kind {
    pub fn from_db(s: &str) -> Kind {
        match s {
            "prepayment" => Kind::Prepayment,
            "full_payment" => Kind::FullPayment,
            "offset" => Kind::Offset,
            "refund" => Kind::Refund,
            _ => Kind::Outside,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Prepayment => "Предоплата 100%",
            Kind::FullPayment => "Полный расчет",
            Kind::Offset => "Полный расчет (зачет предоплаты)",
            Kind::Refund => "Возврат прихода",
            Kind::Outside => "Касса партнёра",
        }
    }
}

/// Where a receipt stands (`receipts.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    ToSend,
    Sent,
    Registered,
    Failed,
    /// Issued by the legal entity's own cash register, not by the app.
    Outside,
}

impl State {
    pub fn from_db(s: &str) -> State {
        match s {
            "to_send" => State::ToSend,
            "sent" => State::Sent,
            "registered" => State::Registered,
            "failed" => State::Failed,
            _ => State::Outside,
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            State::ToSend | State::Sent => "status waiting",
            State::Registered => "status done",
            State::Failed => "status cancelled error",
            State::Outside => "status cancelled",
        }
    }
}

/// «Ошибка: …» with the reason, the other states by name.
pub fn state_label(state: State, failure: Option<&str>) -> String {
    match state {
        State::ToSend => "Отправляется".into(),
        State::Sent => "Отправлен".into(),
        State::Registered => "Зарегистрирован".into(),
        State::Failed => format!("Ошибка: {}", failure.unwrap_or("чек не принят")),
        State::Outside => "Чек выдаёт касса партнёра".into(),
    }
}

/// A line of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub name: String,
    /// «1,5 ч»
    pub quantity: String,
    pub price: Money,
    pub amount: Money,
    pub vat_code: String,
}

/// One receipt in the «Чеки» block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    pub receipt_id: i64,
    pub invoice_id: i64,
    pub refund_id: Option<i64>,
    pub kind: Kind,
    pub state: State,
    pub failure: Option<String>,
    pub total: Money,
    pub attempts: i64,
    pub fn_number: Option<String>,
    pub fiscal_document: Option<String>,
    pub fiscal_sign: Option<String>,
    pub url: Option<String>,
    pub registered_at: Option<i64>,
    pub created_at: i64,
    pub lines: Vec<LineView>,
}

impl ReceiptView {
    pub fn state_label(&self) -> String {
        state_label(self.state, self.failure.as_deref())
    }
}

/// «Чеки» of an order, for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsBlock {
    pub receipts: Vec<ReceiptView>,
}

/// A registered receipt the resident can open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLink {
    pub receipt_id: i64,
    pub kind: Kind,
    pub total: Money,
    pub url: String,
    pub registered_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_receipt_shows_its_reason() {
        assert_eq!(
            state_label(State::Failed, Some("неизвестная ставка НДС")),
            "Ошибка: неизвестная ставка НДС"
        );
        assert_eq!(state_label(State::ToSend, None), "Отправляется");
        assert_eq!(Kind::from_db("refund").label(), "Возврат прихода");
        assert_eq!(Kind::from_db("outside").label(), "Касса партнёра");
    }
}
