//! The payment provider as the app sees it. The sandbox shipped with the project and the
//! real acquirers (ЮKassa, Т-Банк) implement this same trait; which one a payment goes
//! through is chosen by the legal entity's payment account (`payments::accounts`).

use crate::money::Money;
use async_trait::async_trait;
use http::{HeaderMap, StatusCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// How the payer pays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// A bank card on the provider's page (or a saved card).
    #[default]
    Card,
    /// Система быстрых платежей: a QR code or a choice of bank.
    Sbp,
}

impl PayMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Card => "card",
            PayMethod::Sbp => "sbp",
        }
    }
    pub fn parse(s: &str) -> Option<PayMethod> {
        match s {
            "card" => Some(PayMethod::Card),
            "sbp" => Some(PayMethod::Sbp),
            _ => None,
        }
    }
}

/// The legal entity's taxation system (СНО), as the receipt states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taxation {
    /// ОСН
    Osn,
    /// УСН доход
    UsnIncome,
    /// УСН доход − расход
    UsnIncomeOutcome,
    /// ЕСХН
    Esn,
    /// Патент
    Patent,
}

impl Taxation {
    pub const ALL: [Taxation; 5] = [
        Taxation::Osn,
        Taxation::UsnIncome,
        Taxation::UsnIncomeOutcome,
        Taxation::Esn,
        Taxation::Patent,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Taxation::Osn => "osn",
            Taxation::UsnIncome => "usn_income",
            Taxation::UsnIncomeOutcome => "usn_income_outcome",
            Taxation::Esn => "esn",
            Taxation::Patent => "patent",
        }
    }
    pub fn parse(s: &str) -> Option<Taxation> {
        Taxation::ALL.into_iter().find(|t| t.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Taxation::Osn => "ОСН",
            Taxation::UsnIncome => "УСН доход",
            Taxation::UsnIncomeOutcome => "УСН доход − расход",
            Taxation::Esn => "ЕСХН",
            Taxation::Patent => "Патент",
        }
    }
}

/// The app's VAT codes (the rates themselves live in the `vat_rates` table); each adapter
/// maps them to its provider's codes.
pub const VAT_CODES: [&str; 7] = ["none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22"];

/// Признак способа расчёта of a receipt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// «Предоплата 100%»
    FullPrepayment,
    /// «Полный расчет»
    FullPayment,
}

impl PaymentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMode::FullPrepayment => "full_prepayment",
            PaymentMode::FullPayment => "full_payment",
        }
    }
    pub fn parse(s: &str) -> Option<PaymentMode> {
        match s {
            "full_prepayment" => Some(PaymentMode::FullPrepayment),
            "full_payment" => Some(PaymentMode::FullPayment),
            _ => None,
        }
    }
}

/// Признак предмета расчёта of a receipt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSubject {
    /// «Услуга»
    Service,
    /// «Товар»
    Commodity,
}

impl PaymentSubject {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentSubject::Service => "service",
            PaymentSubject::Commodity => "commodity",
        }
    }
    pub fn parse(s: &str) -> Option<PaymentSubject> {
        match s {
            "service" => Some(PaymentSubject::Service),
            "commodity" => Some(PaymentSubject::Commodity),
            _ => None,
        }
    }
}

/// What kind of receipt (чек) it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// Приход, «Предоплата 100%».
    Prepayment,
    /// Приход, «Полный расчет» of a payment made after the service.
    FullPayment,
    /// Приход, «Полный расчет» with зачет предоплаты: no new money.
    Offset,
    /// «Возврат прихода».
    Refund,
}

impl ReceiptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Prepayment => "prepayment",
            ReceiptKind::FullPayment => "full_payment",
            ReceiptKind::Offset => "offset",
            ReceiptKind::Refund => "refund",
        }
    }
    pub fn parse(s: &str) -> Option<ReceiptKind> {
        match s {
            "prepayment" => Some(ReceiptKind::Prepayment),
            "full_payment" => Some(ReceiptKind::FullPayment),
            "offset" => Some(ReceiptKind::Offset),
            "refund" => Some(ReceiptKind::Refund),
            _ => None,
        }
    }
}

/// One line of a receipt. `amount` = `price` × `quantity`, exactly, in kopecks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    pub name: String,
    pub unit: String,
    pub quantity: Decimal,
    pub price: Money,
    pub amount: Money,
    /// One of [`VAT_CODES`].
    pub vat_code: String,
    pub subject: PaymentSubject,
    pub mode: PaymentMode,
}

/// A receipt to register with the provider's cloud cash register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub kind: ReceiptKind,
    pub taxation: Taxation,
    /// The customer: e-mail (from the payment screen) or, failing that, phone (+7…).
    pub email: Option<String>,
    pub phone: Option<String>,
    pub lines: Vec<ReceiptLine>,
}

impl Receipt {
    /// The sum of the lines, `None` on overflow.
    pub fn total(&self) -> Option<Money> {
        Money::sum(self.lines.iter().map(|l| l.amount))
    }
}

/// Fiscal data of a registered receipt (from the ОФД through the provider).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalData {
    /// ФН — номер фискального накопителя
    pub fn_number: Option<String>,
    /// ФД — номер фискального документа
    pub fiscal_document: Option<String>,
    /// ФП/ФПД — фискальный признак документа
    pub fiscal_sign: Option<String>,
    /// The number of the receipt in the shift (Т-Банк's `FiscalNumber`).
    pub fiscal_number: Option<String>,
    /// The ОФД's name or INN.
    pub ofd: Option<String>,
    /// Where the receipt can be seen.
    pub url: Option<String>,
    pub qr_url: Option<String>,
    /// Unix seconds of registration.
    pub registered_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Pending,
    Registered,
    Failed,
}

/// A receipt as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReceipt {
    /// The provider's id of the receipt, when it has one.
    pub id: Option<String>,
    /// The provider's payment the receipt belongs to.
    pub payment_id: Option<String>,
    /// The provider's refund, for a refund receipt.
    pub refund_id: Option<String>,
    pub kind: ReceiptKind,
    pub status: ReceiptStatus,
    pub fiscal: Option<FiscalData>,
    pub failure: Option<String>,
}

/// A receipt sent on its own, apart from any payment or refund: the «Полный расчет»
/// offsetting a prepayment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateReceipt {
    /// The provider's payment the prepayment was made with.
    pub payment_id: String,
    pub receipt: Receipt,
    /// The prepayment being offset (зачет предоплаты).
    pub prepaid: Money,
    pub idempotency_key: String,
}

/// A payment to create at the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatePayment {
    pub amount: Money,
    pub description: String,
    /// The same key returns the same payment: a retried call never charges twice.
    pub idempotency_key: String,
    /// Where the provider's page sends the payer back.
    pub return_url: String,
    /// Pay with a saved card instead of asking for one.
    pub card_token: Option<String>,
    /// Ask the provider for a token to pay with this card next time.
    pub save_card: bool,
    #[serde(default)]
    pub method: PayMethod,
    /// Our ids, for the provider's metadata / order id.
    #[serde(default)]
    pub payment_ref: i64,
    #[serde(default)]
    pub invoice_ref: i64,
    #[serde(default)]
    pub order_ref: i64,
    /// The receipt registered with the payment (none when the entity prints its own).
    #[serde(default)]
    pub receipt: Option<Receipt>,
    /// A stable id of the payer at the provider (for saved cards).
    #[serde(default)]
    pub customer_key: Option<String>,
}

/// Where a payment stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    Pending,
    RequiresConfirmation,
    Succeeded,
    Failed,
}

impl ProviderStatus {
    pub fn is_final(self) -> bool {
        matches!(self, ProviderStatus::Succeeded | ProviderStatus::Failed)
    }
}

/// A payment as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderPayment {
    pub id: String,
    pub status: ProviderStatus,
    pub amount: Money,
    /// The provider's page to send the payer to, while the card is still to be entered
    /// (for СБП: the page with the QR code / bank choice).
    pub confirmation_url: Option<String>,
    /// A token for the card, when saving was asked for and the payment succeeded.
    pub card_token: Option<String>,
    /// «•••• 4242»
    pub card_mask: Option<String>,
    /// The acquiring fee the provider keeps, where it reports one per payment (Т-Банк does
    /// not: the ledger books the rate of «Комиссии и эквайринг» either way).
    pub fee: Option<Money>,
    pub failure: Option<String>,
    #[serde(default)]
    pub method: PayMethod,
}

/// A refund to create at the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateRefund {
    pub payment_id: String,
    pub amount: Money,
    pub idempotency_key: String,
    #[serde(default)]
    pub description: String,
    /// «Возврат прихода» with exactly the refunded lines.
    #[serde(default)]
    pub receipt: Option<Receipt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRefund {
    pub id: String,
    pub payment_id: String,
    pub status: RefundStatus,
    pub amount: Money,
}

/// A notification as it arrived: what the adapter may check it by.
pub struct WebhookRequest<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The address the request came from (the socket's peer).
    pub peer: Option<IpAddr>,
    pub now: i64,
}

/// A verified webhook: what happened to which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Unique per event; a repeated delivery carries the same id.
    pub event_id: String,
    pub payment: Option<ProviderPayment>,
    pub refund: Option<ProviderRefund>,
    /// Fiscal data of a receipt (Т-Банк's `Status: RECEIPT`).
    #[serde(default)]
    pub receipt: Option<ProviderReceipt>,
    /// The notification is not trusted as to the object's state: the app re-reads the
    /// payment / refund from the provider's API before acting (ЮKassa, Т-Банк).
    #[serde(default)]
    pub reread: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The provider could not be reached or answered with a server error: try again later.
    #[error("платёжная система недоступна: {0}")]
    Unavailable(String),
    /// The provider refused the request.
    #[error("платёжная система отказала: {0}")]
    Refused(String),
    /// A webhook whose signature (or origin) does not verify.
    #[error("неверная подпись")]
    BadSignature,
    /// The provider has no such operation (e.g. polling receipts at Т-Банк).
    #[error("платёжная система этого не умеет: {0}")]
    Unsupported(&'static str),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The provider's name as stored with payments: `sandbox`, `yookassa`, `tbank`.
    fn name(&self) -> &'static str;
    async fn create_payment(&self, request: CreatePayment)
        -> Result<ProviderPayment, GatewayError>;
    async fn payment(&self, id: &str) -> Result<ProviderPayment, GatewayError>;
    async fn refund(&self, request: CreateRefund) -> Result<ProviderRefund, GatewayError>;
    async fn refund_status(&self, id: &str) -> Result<ProviderRefund, GatewayError>;
    /// Registers a receipt on its own (the «Полный расчет» offsetting a prepayment).
    async fn send_receipt(&self, request: CreateReceipt) -> Result<ProviderReceipt, GatewayError>;
    /// The receipts the provider holds for a payment (and its refunds), with fiscal data
    /// once registered. `Err(Unsupported)` where only notifications carry them.
    async fn receipts(&self, payment_id: &str) -> Result<Vec<ProviderReceipt>, GatewayError>;
    /// Checks the notification (signature or origin) and reads the event.
    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent, GatewayError>;
    /// The answer a handled notification gets (Т-Банк wants the body `OK`); `repeated`
    /// for one seen before.
    fn webhook_ack(&self, repeated: bool) -> (StatusCode, &'static str) {
        (
            StatusCode::OK,
            if repeated { "already processed" } else { "ok" },
        )
    }
}

/// HMAC-SHA256 signature header of a webhook body: `t=<unix seconds>,v1=<hex>` over
/// `"<t>.<body>"`.
pub mod signature {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub const HEADER: &str = "x-sandbox-signature";
    /// Signatures older (or newer) than this are refused: a captured request can be
    /// replayed only within these minutes (Stripe allows 5 as well).
    pub const TOLERANCE_SECONDS: i64 = 5 * 60;

    fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = mac(secret, timestamp, body).finalize().into_bytes();
        format!("t={timestamp},v1={}", hex::encode(tag))
    }

    /// Constant-time check of a header value.
    pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
        let mut timestamp = None;
        let mut tag = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
                Some(("v1", v)) => tag = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(t), Some(tag)) = (timestamp, tag) else {
            return false;
        };
        // `abs_diff`: a forged `t` far from now must not overflow the subtraction.
        if now.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs() {
            return false;
        }
        mac(secret, t, body).verify_slice(&tag).is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn signatures_verify_only_for_the_same_body_secret_and_recent_time() {
            let h = sign("s3cret", 1_000, b"{\"a\":1}");
            assert!(verify("s3cret", &h, b"{\"a\":1}", 1_010));
            assert!(!verify("s3cret", &h, b"{\"a\":2}", 1_010));
            assert!(!verify("other", &h, b"{\"a\":1}", 1_010));
            assert!(!verify(
                "s3cret",
                &h,
                b"{\"a\":1}",
                1_000 + TOLERANCE_SECONDS + 1
            ));
            assert!(!verify("s3cret", "t=1000,v1=zz", b"{\"a\":1}", 1_000));
            assert!(!verify("s3cret", "", b"", 0));
        }
    }
}
