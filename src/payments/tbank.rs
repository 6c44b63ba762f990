//! Т-Банк internet acquiring (API v2, `https://securepay.tinkoff.ru/v2/<Method>`), built to
//! the documented requests and answers (developer.tbank.ru/eacq), no SDK code.
//!
//! - Every request carries `TerminalKey` (the account's shop id) and a `Token`: SHA-256
//!   (hex) of the values of the root-level parameters, `Password` added, sorted by key —
//!   nested objects (`Receipt`, `DATA`) and arrays left out. Every notification's `Token`
//!   is checked the same way (booleans as `true` / `false`), in constant time, and the
//!   handled notification is answered with the body `OK`.
//! - A payment: `OrderId` is our payment id (one per attempt; the payment row's retries
//!   keep it). Т-Банк wants an `OrderId` unique per operation and has no idempotence key,
//!   so before `Init` the adapter asks `CheckOrder` whether that order already has a
//!   payment (an earlier try whose answer was lost): if so it is carried on — never a
//!   second `Init`, never a second `Charge` of a saved card (a payment past `NEW` was
//!   charged or declined). A card payment still `NEW` whose page address was lost with
//!   the answer can be paid by nobody: it is cancelled (no money moved) and the next
//!   order id `<payment>.2` (up to `.5`) is used; an address answered in this process
//!   is remembered and reused.
//! - A saved card: `Init` with `Recurrent = Y` and `CustomerKey` saves it; the notification
//!   of the paid payment carries `RebillId` (kept as the card token) and the masked `Pan`.
//!   Paying with it is the documented recurrent flow: `Init`, then `Charge {PaymentId,
//!   RebillId}`.
//! - СБП: `Init`, then `GetQr {PaymentId, DataType: PAYLOAD}`; the payer is sent to the
//!   payload link.
//! - Notifications: one of a final status (paid, failed, refunded) makes the app re-read
//!   the payment with `GetState` (and the refund, see below); one of a step on the way
//!   (`AUTHORIZED`, 3-D Secure) is only acknowledged — re-read, it could show the payment
//!   paid before the `CONFIRMED` notification with the saved card's `RebillId` arrives.
//!   The event id is `tbank:<PaymentId>:<Status>:<Amount>`, so a repeated notification is
//!   applied once; for `RECEIPT` it is `tbank:<PaymentId>:RECEIPT:<Type>:<ФД>`.
//! - Statuses: `CONFIRMED` is paid (one-stage payments, `PayType = O`; `AUTHORIZED` is
//!   still under way), `REJECTED`, `CANCELED`, `DEADLINE_EXPIRED`, `AUTH_FAIL`,
//!   `REVERSED` failed; a refunded payment (`PARTIAL_REFUNDED`, `REFUNDED`,
//!   `ASYNC_REFUNDING`) was paid.
//! - The fee: `GetState` does not report Т-Банк's fee per payment, so the adapter reports
//!   none. The ledger does not need it: `finance::service::book_card_payment`
//!   splits a payment by the acquiring rate of «Комиссии и эквайринг» for the payment's
//!   method; the provider's fee is only stored beside the entry for comparison.
//! - A refund is `Cancel {PaymentId, Amount, Receipt}`. Т-Банк has no refund object and
//!   `Cancel` is not idempotent, so: the refund id is
//!   `<PaymentId>:<amount>:<remaining after it>:<our key>` (two partial refunds differ by
//!   key and by the remaining amount); before every `Cancel` the adapter reads the
//!   payment's current amount with `GetState`, and a `Cancel` re-sent after a lost answer
//!   goes out only if the amount has not already dropped by this refund. The refund's
//!   state is read back from `GetState`: `ASYNC_REFUNDING` (СБП) is pending, otherwise
//!   the refund stands if the payment's amount is at or below the remaining amount it
//!   left. The key also goes as `ExternalRequestId`.
//! - Receipts: with the payment (`Init.Receipt`), with a refund (`Cancel.Receipt`, left
//!   out for the full cancel of a whole payment, as documented), and the closing «Полный
//!   расчет» with `SendClosingReceipt` (`Payments.AdvancePayment` = the prepayment
//!   offset). Fiscal data arrives only by the `RECEIPT` notification, so `receipts()` is
//!   unsupported.
//!
//! What the adapter remembers between calls (the page address of a payment, the masked
//! card and `RebillId` from the notification — `GetState` does not return them — and
//! refunds sent without an answer) lives in memory: a process restart forgets it, with
//! the consequences above.

use super::accounts::AccountConfig;
use super::gateway::{
    CreatePayment, CreateReceipt, CreateRefund, FiscalData, GatewayError, PayMethod,
    PaymentGateway, PaymentMode, ProviderPayment, ProviderReceipt, ProviderRefund, ProviderStatus,
    Receipt, ReceiptKind, ReceiptStatus, RefundStatus, WebhookEvent, WebhookRequest, VAT_CODES,
};
use super::http::HttpClient;
use crate::money::Money;
use async_trait::async_trait;
use http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The documented production address.
pub const DEFAULT_API_URL: &str = "https://securepay.tinkoff.ru/v2";

/// Т-Банк's receipt tax codes («Tax»); the app's codes are the same names.
pub const TAX_CODES: [&str; 12] = [
    "none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22", "vat105", "vat107", "vat110",
    "vat120", "vat122",
];
/// Системы налогообложения («Taxation»).
pub const TAXATIONS: [&str; 5] = ["osn", "usn_income", "usn_income_outcome", "esn", "patent"];
/// Признаки способа расчёта («PaymentMethod») the app sends.
pub const PAYMENT_METHODS: [&str; 2] = ["full_prepayment", "full_payment"];
/// Признаки предмета расчёта («PaymentObject») the app sends.
pub const PAYMENT_OBJECTS: [&str; 2] = ["service", "commodity"];

/// The `Token` of a request or notification: SHA-256 (hex) of the root-level scalar values,
/// with `Password`, sorted by key. Nested objects, arrays, nulls and `Token` itself do not
/// take part.
pub fn token(params: &Map<String, Value>, password: &str) -> String {
    let mut pairs: Vec<(&str, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Token")
        .filter_map(|(k, v)| scalar_text(v).map(|t| (k.as_str(), t)))
        .collect();
    pairs.push(("Password", password.to_owned()));
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let joined: String = pairs.into_iter().map(|(_, v)| v).collect();
    hex::encode(Sha256::digest(joined.as_bytes()))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_owned()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Compares two strings in time that depends only on their lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A field as text whether Т-Банк sent it as a string or a number.
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(scalar_text).filter(|s| !s.is_empty())
}

fn number(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// How a Т-Банк payment status reads as ours.
pub fn payment_status(status: &str) -> (ProviderStatus, Option<&'static str>) {
    match status {
        "CONFIRMED" | "PARTIAL_REFUNDED" | "REFUNDED" | "ASYNC_REFUNDING" | "REFUNDING" => {
            (ProviderStatus::Succeeded, None)
        }
        "3DS_CHECKING" => (ProviderStatus::RequiresConfirmation, None),
        "REJECTED" => (ProviderStatus::Failed, Some("банк отклонил платёж")),
        "CANCELED" => (ProviderStatus::Failed, Some("платёж отменён")),
        "DEADLINE_EXPIRED" => (ProviderStatus::Failed, Some("время на оплату истекло")),
        "AUTH_FAIL" => (
            ProviderStatus::Failed,
            Some("не пройдена проверка 3-D Secure"),
        ),
        "REVERSED" => (ProviderStatus::Failed, Some("платёж отменён до списания")),
        // NEW, FORM_SHOWED, AUTHORIZING, 3DS_CHECKED, AUTHORIZED, CONFIRMING and anything
        // new: still under way.
        _ => (ProviderStatus::Pending, None),
    }
}

/// Statuses of a payment whose refund is still being made.
fn refund_in_flight(status: &str) -> bool {
    matches!(status, "ASYNC_REFUNDING" | "REFUNDING" | "REVERSING")
}

/// How the status in `Cancel`'s answer reads as the refund's.
pub fn refund_status_of(status: &str) -> RefundStatus {
    match status {
        "REFUNDED" | "PARTIAL_REFUNDED" | "REVERSED" | "PARTIAL_REVERSED" => {
            RefundStatus::Succeeded
        }
        _ => RefundStatus::Pending,
    }
}

/// «•••• 0777» from a masked `Pan` such as `430000******0777`.
fn card_mask(pan: &str) -> Option<String> {
    let digits: Vec<char> = pan.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() >= 4).then(|| {
        let last: String = digits[digits.len() - 4..].iter().collect();
        format!("•••• {last}")
    })
}

fn quantity_json(q: Decimal) -> Result<Value, GatewayError> {
    let bad = || GatewayError::Refused("количество в чеке не читается".into());
    if q.fract().is_zero() {
        let whole: i64 = q.trunc().to_string().parse().map_err(|_| bad())?;
        return Ok(Value::from(whole));
    }
    // Т-Банк takes the quantity as a JSON number (up to three decimals); it is not money.
    let f: f64 = q.normalize().to_string().parse().map_err(|_| bad())?;
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(bad)
}

fn item_name(name: &str) -> String {
    name.chars().take(128).collect()
}

/// The `Receipt` object (ФФД 1.05) of a receipt; `advance` is the prepayment a closing
/// receipt offsets.
pub fn receipt_json(r: &Receipt, advance: Option<Money>) -> Result<Value, GatewayError> {
    let total = r
        .total()
        .ok_or_else(|| GatewayError::Refused("сумма чека слишком велика".into()))?;
    let mut items = Vec::with_capacity(r.lines.len());
    for l in &r.lines {
        if !VAT_CODES.contains(&l.vat_code.as_str()) || !TAX_CODES.contains(&l.vat_code.as_str()) {
            return Err(GatewayError::Refused(format!(
                "ставка НДС «{}» не поддерживается",
                l.vat_code
            )));
        }
        items.push(json!({
            "Name": item_name(&l.name),
            "Price": l.price.kopecks(),
            "Quantity": quantity_json(l.quantity)?,
            "Amount": l.amount.kopecks(),
            "Tax": l.vat_code,
            "PaymentMethod": l.mode.as_str(),
            "PaymentObject": l.subject.as_str(),
        }));
    }
    let mut receipt = Map::new();
    if let Some(e) = r.email.as_deref().filter(|e| !e.is_empty()) {
        receipt.insert("Email".into(), e.into());
    }
    if let Some(p) = r.phone.as_deref().filter(|p| !p.is_empty()) {
        receipt.insert("Phone".into(), p.into());
    }
    receipt.insert("Taxation".into(), r.taxation.as_str().into());
    receipt.insert("Items".into(), Value::Array(items));
    if let Some(advance) = advance {
        let electronic = total.checked_sub(advance).unwrap_or(Money::ZERO);
        receipt.insert(
            "Payments".into(),
            json!({"Electronic": electronic.kopecks(), "AdvancePayment": advance.kopecks()}),
        );
    }
    Ok(Value::Object(receipt))
}

/// A refund id: `<PaymentId>:<amount>:<remaining after it>:<our key>`.
fn refund_id(payment_id: &str, amount: i64, remaining: i64, key: &str) -> String {
    format!("{payment_id}:{amount}:{remaining}:{key}")
}

fn parse_refund_id(id: &str) -> Option<(String, i64, i64)> {
    let mut parts = id.splitn(4, ':');
    let payment = parts.next()?.to_owned();
    let amount = parts.next()?.parse().ok()?;
    let remaining = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((payment, amount, remaining))
}

#[derive(Clone, Default)]
struct Card {
    mask: Option<String>,
    rebill_id: Option<String>,
}

#[derive(Default)]
struct Memory {
    /// OrderId → (PaymentId, PaymentURL) of an `Init` answered in this process.
    pages: HashMap<String, (String, Option<String>)>,
    /// PaymentId → the card a notification reported.
    cards: HashMap<String, Card>,
    /// Refund key → the payment's amount before a `Cancel` sent without an answer.
    unanswered: HashMap<String, i64>,
    /// PaymentId → the last refund made of it (for refund notifications).
    last_refund: HashMap<String, String>,
    /// Idempotency key → the answer to a `SendClosingReceipt`.
    closing: HashMap<String, ProviderReceipt>,
}

pub struct TbankGateway {
    base_url: String,
    terminal_key: String,
    password: String,
    notification_url: String,
    http: HttpClient,
    memory: Mutex<Memory>,
    /// One creation at a time per payment: a double click or a retried call waits, then
    /// finds the first one's order with `CheckOrder` instead of making a second `Init`.
    creating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// One payment as `GetState` / `CheckOrder` tell it.
struct State {
    id: String,
    status: String,
    amount: i64,
}

impl TbankGateway {
    pub fn new(config: AccountConfig) -> TbankGateway {
        let base = if config.api_url.trim().is_empty() {
            DEFAULT_API_URL.to_owned()
        } else {
            config.api_url.trim().trim_end_matches('/').to_owned()
        };
        TbankGateway {
            base_url: base,
            terminal_key: config.shop_id,
            password: config.secret,
            notification_url: config.webhook_url,
            http: config.http,
            memory: Mutex::default(),
            creating: Mutex::default(),
        }
    }

    /// The lock of one payment's creation (dropped from the map once nobody holds it).
    fn creation_lock(&self, base: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(base.to_owned()).or_default().clone()
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a signed request; the answer's object whatever its `Success`.
    async fn call(
        &self,
        method: &str,
        mut params: Map<String, Value>,
    ) -> Result<Map<String, Value>, GatewayError> {
        params.insert("TerminalKey".into(), self.terminal_key.clone().into());
        let signed = token(&params, &self.password);
        params.insert("Token".into(), signed.into());
        let body = serde_json::to_vec(&Value::Object(params))
            .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let url = format!("{}/{method}", self.base_url);
        let (status, bytes) = self
            .http
            .send(Method::POST, &url, &[], body)
            .await
            .map_err(GatewayError::Unavailable)?;
        if !status.is_success() {
            return Err(GatewayError::Unavailable(format!(
                "{method}: HTTP {status}"
            )));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(GatewayError::Unavailable(format!(
                "{method}: the answer is not a JSON object"
            ))),
        }
    }

    /// [`call`](Self::call) where anything but `Success: true` is a refusal.
    async fn call_ok(
        &self,
        method: &str,
        params: Map<String, Value>,
    ) -> Result<Map<String, Value>, GatewayError> {
        let answer = self.call(method, params).await?;
        let success = answer.get("Success").and_then(Value::as_bool) == Some(true);
        let code = text(&answer, "ErrorCode").unwrap_or_else(|| "0".into());
        if success && code == "0" {
            return Ok(answer);
        }
        let message = [text(&answer, "Message"), text(&answer, "Details")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        Err(GatewayError::Refused(if message.is_empty() {
            format!("{method}: ошибка {code}")
        } else {
            format!("{message} (код {code})")
        }))
    }

    async fn state(&self, payment_id: &str) -> Result<State, GatewayError> {
        let answer = self
            .call_ok("GetState", params([("PaymentId", payment_id.into())]))
            .await?;
        Ok(State {
            id: text(&answer, "PaymentId").unwrap_or_else(|| payment_id.to_owned()),
            status: text(&answer, "Status").unwrap_or_default(),
            amount: number(&answer, "Amount").unwrap_or(0),
        })
    }

    /// The payments Т-Банк holds for an order (`CheckOrder`); none when it knows no such
    /// order.
    async fn order_payments(&self, order_id: &str) -> Result<Vec<State>, GatewayError> {
        let answer = self
            .call("CheckOrder", params([("OrderId", order_id.into())]))
            .await?;
        if answer.get("Success").and_then(Value::as_bool) != Some(true) {
            return Ok(Vec::new());
        }
        let list = answer
            .get("Payments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|p| {
                Some(State {
                    id: text(p, "PaymentId")?,
                    status: text(p, "Status").unwrap_or_default(),
                    amount: number(p, "Amount").unwrap_or(0),
                })
            })
            .collect())
    }

    fn provider_payment(
        &self,
        s: &State,
        method: PayMethod,
        url: Option<String>,
    ) -> ProviderPayment {
        let (status, failure) = payment_status(&s.status);
        let card = self.memory().cards.get(&s.id).cloned().unwrap_or_default();
        ProviderPayment {
            id: s.id.clone(),
            status,
            amount: Money::from_kopecks(s.amount),
            confirmation_url: url.filter(|_| !status.is_final()),
            card_token: card.rebill_id,
            card_mask: card.mask,
            fee: None,
            failure: failure.map(str::to_owned),
            method,
        }
    }

    async fn charge(
        &self,
        payment_id: &str,
        rebill_id: &str,
    ) -> Result<ProviderPayment, GatewayError> {
        let answer = self
            .call_ok(
                "Charge",
                params([
                    ("PaymentId", payment_id.into()),
                    ("RebillId", rebill_id.into()),
                ]),
            )
            .await?;
        let s = State {
            id: text(&answer, "PaymentId").unwrap_or_else(|| payment_id.to_owned()),
            status: text(&answer, "Status").unwrap_or_default(),
            amount: number(&answer, "Amount").unwrap_or(0),
        };
        Ok(self.provider_payment(&s, PayMethod::Card, None))
    }

    async fn qr(&self, payment_id: &str) -> Result<String, GatewayError> {
        let answer = self
            .call_ok(
                "GetQr",
                params([
                    ("PaymentId", payment_id.into()),
                    ("DataType", "PAYLOAD".into()),
                ]),
            )
            .await?;
        text(&answer, "Data")
            .ok_or_else(|| GatewayError::Unavailable("GetQr: no payload in the answer".into()))
    }

    /// Carries a payment Т-Банк already holds for the order on, without charging again;
    /// `None` when it is an abandoned one (its answer lost, nobody can pay it): cancelled,
    /// and the next order id is to be used.
    async fn resume(
        &self,
        order_id: &str,
        existing: State,
        request: &CreatePayment,
    ) -> Result<Option<ProviderPayment>, GatewayError> {
        let fresh = matches!(existing.status.as_str(), "NEW" | "FORM_SHOWED");
        if matches!(existing.status.as_str(), "CANCELED" | "DEADLINE_EXPIRED") {
            // Only an abandoned payment ends so before its creation is recorded.
            return Ok(None);
        }
        if !fresh {
            let s = self.state(&existing.id).await?;
            let url = self.memory().pages.get(order_id).and_then(|p| p.1.clone());
            return Ok(Some(self.provider_payment(&s, request.method, url)));
        }
        if let Some(rebill) = &request.card_token {
            return self.charge(&existing.id, rebill).await.map(Some);
        }
        if request.method == PayMethod::Sbp {
            let url = self.qr(&existing.id).await?;
            return Ok(Some(self.provider_payment(
                &existing,
                PayMethod::Sbp,
                Some(url),
            )));
        }
        let known = self.memory().pages.get(order_id).cloned();
        match known {
            Some((id, url)) if id == existing.id => {
                Ok(Some(self.provider_payment(&existing, PayMethod::Card, url)))
            }
            _ => {
                // Its page address was lost with the answer: nobody can pay it. It is
                // cancelled (nothing was paid), so it never can.
                self.call_ok(
                    "Cancel",
                    params([("PaymentId", existing.id.clone().into())]),
                )
                .await?;
                Ok(None)
            }
        }
    }
}

/// How many order ids (`<payment>`, `<payment>.2`, …) one payment may use up with
/// abandoned tries.
const ORDER_ATTEMPTS: u32 = 5;

fn params<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[async_trait]
impl PaymentGateway for TbankGateway {
    fn name(&self) -> &'static str {
        "tbank"
    }

    async fn create_payment(
        &self,
        request: CreatePayment,
    ) -> Result<ProviderPayment, GatewayError> {
        let base: String = if request.payment_ref > 0 {
            request.payment_ref.to_string()
        } else {
            request.idempotency_key.chars().take(30).collect()
        };
        let lock = self.creation_lock(&base);
        let _one_at_a_time = lock.lock().await;
        let mut free = None;
        for attempt in 1..=ORDER_ATTEMPTS {
            let order_id = if attempt == 1 {
                base.clone()
            } else {
                format!("{base}.{attempt}")
            };
            // Whatever became of it (paid, under way, declined), the order's payment is
            // the one an earlier try of this request made: carried on, never made again.
            match self.order_payments(&order_id).await?.pop() {
                None => {
                    free = Some(order_id);
                    break;
                }
                Some(s) => {
                    if let Some(p) = self.resume(&order_id, s, &request).await? {
                        return Ok(p);
                    }
                }
            }
        }
        let order_id = free.ok_or_else(|| {
            GatewayError::Refused("слишком много прерванных попыток оплаты".into())
        })?;
        let mut init = params([
            ("Amount", request.amount.kopecks().into()),
            ("OrderId", order_id.clone().into()),
            (
                "Description",
                request
                    .description
                    .chars()
                    .take(140)
                    .collect::<String>()
                    .into(),
            ),
            ("PayType", "O".into()),
            ("Language", "ru".into()),
            ("NotificationURL", self.notification_url.clone().into()),
            ("SuccessURL", request.return_url.clone().into()),
            ("FailURL", request.return_url.clone().into()),
        ]);
        if request.method == PayMethod::Card {
            if let Some(key) = request.customer_key.as_deref().filter(|k| !k.is_empty()) {
                if request.save_card || request.card_token.is_some() {
                    init.insert(
                        "CustomerKey".into(),
                        key.chars().take(36).collect::<String>().into(),
                    );
                }
            }
            if request.save_card && request.card_token.is_none() {
                init.insert("Recurrent".into(), "Y".into());
                init.insert("DATA".into(), json!({"OperationInitiatorType": "1"}));
            } else if request.card_token.is_some() {
                init.insert("DATA".into(), json!({"OperationInitiatorType": "2"}));
            }
        }
        if let Some(r) = &request.receipt {
            if r.total() != Some(request.amount) {
                return Err(GatewayError::Refused(
                    "сумма строк чека не равна сумме платежа".into(),
                ));
            }
            init.insert("Receipt".into(), receipt_json(r, None)?);
        }
        let answer = self.call_ok("Init", init).await?;
        let s = State {
            id: text(&answer, "PaymentId")
                .ok_or_else(|| GatewayError::Unavailable("Init: no PaymentId".into()))?,
            status: text(&answer, "Status").unwrap_or_else(|| "NEW".into()),
            amount: number(&answer, "Amount").unwrap_or(request.amount.kopecks()),
        };
        let page = text(&answer, "PaymentURL");
        self.memory()
            .pages
            .insert(order_id.clone(), (s.id.clone(), page.clone()));
        if let Some(rebill) = &request.card_token {
            return self.charge(&s.id, rebill).await;
        }
        if request.method == PayMethod::Sbp {
            let url = self.qr(&s.id).await?;
            self.memory()
                .pages
                .insert(order_id, (s.id.clone(), Some(url.clone())));
            return Ok(self.provider_payment(&s, PayMethod::Sbp, Some(url)));
        }
        Ok(self.provider_payment(&s, PayMethod::Card, page))
    }

    async fn payment(&self, id: &str) -> Result<ProviderPayment, GatewayError> {
        let s = self.state(id).await?;
        Ok(self.provider_payment(&s, PayMethod::Card, None))
    }

    async fn refund(&self, request: CreateRefund) -> Result<ProviderRefund, GatewayError> {
        let amount = request.amount.kopecks();
        let key = request.idempotency_key.clone();
        let now = self.state(&request.payment_id).await?;
        let sent_before = self.memory().unanswered.get(&key).copied();
        if let Some(before) = sent_before {
            // A Cancel went out and its answer was lost: if the payment's amount already
            // dropped by this refund, it was made — it is not sent again.
            if now.amount <= before - amount {
                self.memory().unanswered.remove(&key);
                let id = refund_id(&now.id, amount, before - amount, &key);
                self.memory().last_refund.insert(now.id.clone(), id.clone());
                return Ok(ProviderRefund {
                    id,
                    payment_id: now.id.clone(),
                    status: if refund_in_flight(&now.status) {
                        RefundStatus::Pending
                    } else {
                        RefundStatus::Succeeded
                    },
                    amount: request.amount,
                });
            }
        }
        let mut cancel = params([
            ("PaymentId", request.payment_id.clone().into()),
            ("Amount", amount.into()),
            ("ExternalRequestId", key.clone().into()),
        ]);
        // The documented rule: a full cancel carries no receipt (Т-Банк refunds the whole
        // receipt of the payment), a partial one the refunded lines.
        let whole = now.status == "CONFIRMED" && amount == now.amount;
        if let (Some(r), false) = (&request.receipt, whole) {
            if r.total() != Some(request.amount) {
                return Err(GatewayError::Refused(
                    "сумма строк чека возврата не равна сумме возврата".into(),
                ));
            }
            cancel.insert("Receipt".into(), receipt_json(r, None)?);
        }
        self.memory().unanswered.insert(key.clone(), now.amount);
        let answer = match self.call_ok("Cancel", cancel).await {
            Ok(a) => a,
            Err(GatewayError::Refused(reason)) => {
                self.memory().unanswered.remove(&key);
                return Err(GatewayError::Refused(reason));
            }
            Err(e) => return Err(e),
        };
        self.memory().unanswered.remove(&key);
        let remaining = number(&answer, "NewAmount").unwrap_or(now.amount - amount);
        let status = text(&answer, "Status").unwrap_or_default();
        let id = refund_id(&request.payment_id, amount, remaining, &key);
        self.memory()
            .last_refund
            .insert(request.payment_id.clone(), id.clone());
        Ok(ProviderRefund {
            id,
            payment_id: request.payment_id,
            status: refund_status_of(&status),
            amount: request.amount,
        })
    }

    async fn refund_status(&self, id: &str) -> Result<ProviderRefund, GatewayError> {
        let (payment_id, amount, remaining) = parse_refund_id(id)
            .ok_or_else(|| GatewayError::Refused(format!("не возврат Т-Банка: {id}")))?;
        let s = self.state(&payment_id).await?;
        let status = if refund_in_flight(&s.status) {
            RefundStatus::Pending
        } else if s.amount <= remaining {
            RefundStatus::Succeeded
        } else {
            RefundStatus::Failed
        };
        Ok(ProviderRefund {
            id: id.to_owned(),
            payment_id,
            status,
            amount: Money::from_kopecks(amount),
        })
    }

    async fn send_receipt(&self, request: CreateReceipt) -> Result<ProviderReceipt, GatewayError> {
        if let Some(done) = self.memory().closing.get(&request.idempotency_key) {
            return Ok(done.clone());
        }
        if request
            .receipt
            .lines
            .iter()
            .any(|l| l.mode != PaymentMode::FullPayment)
        {
            return Err(GatewayError::Refused(
                "в закрывающем чеке все строки — «Полный расчет»".into(),
            ));
        }
        let mut p = params([("PaymentId", request.payment_id.clone().into())]);
        p.insert(
            "Receipt".into(),
            receipt_json(&request.receipt, Some(request.prepaid))?,
        );
        self.call_ok("SendClosingReceipt", p).await?;
        let answer = ProviderReceipt {
            id: None,
            payment_id: Some(request.payment_id),
            refund_id: None,
            kind: request.receipt.kind,
            status: ReceiptStatus::Pending,
            fiscal: None,
            failure: None,
        };
        self.memory()
            .closing
            .insert(request.idempotency_key, answer.clone());
        Ok(answer)
    }

    async fn receipts(&self, _payment_id: &str) -> Result<Vec<ProviderReceipt>, GatewayError> {
        Err(GatewayError::Unsupported(
            "чеки Т-Банка приходят только уведомлением RECEIPT",
        ))
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent, GatewayError> {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(request.body) else {
            return Err(GatewayError::BadSignature);
        };
        let given = body.get("Token").and_then(Value::as_str).unwrap_or("");
        let terminal = text(&body, "TerminalKey").unwrap_or_default();
        if !same(given, &token(&body, &self.password)) || !same(&terminal, &self.terminal_key) {
            return Err(GatewayError::BadSignature);
        }
        let payment_id =
            text(&body, "PaymentId").ok_or_else(|| GatewayError::Refused("no PaymentId".into()))?;
        let status = text(&body, "Status").unwrap_or_default();
        let amount = number(&body, "Amount").unwrap_or(0);
        if status == "RECEIPT" {
            let mut event = receipt_event(&body, &payment_id, request.now);
            if let Some(r) = event
                .receipt
                .as_mut()
                .filter(|r| r.kind == ReceiptKind::Refund)
            {
                r.refund_id = self.memory().last_refund.get(&payment_id).cloned();
            }
            return Ok(event);
        }
        let card = Card {
            mask: text(&body, "Pan").and_then(|p| card_mask(&p)),
            rebill_id: text(&body, "RebillId"),
        };
        if card.mask.is_some() || card.rebill_id.is_some() {
            let mut memory = self.memory();
            let known = memory.cards.entry(payment_id.clone()).or_default();
            if card.mask.is_some() {
                known.mask = card.mask;
            }
            if card.rebill_id.is_some() {
                known.rebill_id = card.rebill_id;
            }
        }
        let s = State {
            id: payment_id.clone(),
            status: status.clone(),
            amount,
        };
        // A notification of a step on the way (NEW, AUTHORIZED, 3-D Secure…) is only
        // acknowledged: re-read, it could already show the payment paid before the
        // notification of the payment itself (which alone carries the saved card's
        // RebillId) arrives.
        let payment = payment_status(&status)
            .0
            .is_final()
            .then(|| self.provider_payment(&s, PayMethod::Card, None));
        let refund = if matches!(
            status.as_str(),
            "PARTIAL_REFUNDED" | "REFUNDED" | "ASYNC_REFUNDING" | "REVERSED"
        ) {
            self.memory()
                .last_refund
                .get(&payment_id)
                .map(|id| ProviderRefund {
                    id: id.clone(),
                    payment_id: payment_id.clone(),
                    status: refund_status_of(&status),
                    amount: parse_refund_id(id)
                        .map(|(_, a, _)| Money::from_kopecks(a))
                        .unwrap_or(Money::ZERO),
                })
        } else {
            None
        };
        Ok(WebhookEvent {
            event_id: format!("tbank:{payment_id}:{status}:{amount}"),
            payment,
            refund,
            receipt: None,
            reread: true,
        })
    }

    fn webhook_ack(&self, _repeated: bool) -> (StatusCode, &'static str) {
        (StatusCode::OK, "OK")
    }
}

/// The fiscal data of a `Status: RECEIPT` notification.
fn receipt_event(body: &Map<String, Value>, payment_id: &str, now: i64) -> WebhookEvent {
    let kind = receipt_kind(body);
    let document = text(body, "FiscalDocumentNumber").or_else(|| text(body, "FiscalNumber"));
    let fiscal = FiscalData {
        fn_number: text(body, "FnNumber"),
        fiscal_document: text(body, "FiscalDocumentNumber"),
        fiscal_sign: text(body, "FiscalDocumentAttribute"),
        fiscal_number: text(body, "FiscalNumber"),
        ofd: text(body, "Ofd"),
        url: text(body, "Url"),
        qr_url: text(body, "QrCodeUrl"),
        registered_at: Some(now),
    };
    let type_text = text(body, "Type").unwrap_or_default();
    WebhookEvent {
        event_id: format!(
            "tbank:{payment_id}:RECEIPT:{type_text}:{}",
            document.clone().unwrap_or_default()
        ),
        payment: None,
        refund: None,
        receipt: Some(ProviderReceipt {
            id: document.map(|d| format!("{payment_id}:{d}")),
            payment_id: Some(payment_id.to_owned()),
            refund_id: None,
            kind,
            status: ReceiptStatus::Registered,
            fiscal: Some(fiscal),
            failure: None,
        }),
        reread: false,
    }
}

/// `Type` Income / IncomeReturn, and for income the receipt's own settlement sign.
fn receipt_kind(body: &Map<String, Value>) -> ReceiptKind {
    let t = text(body, "Type").unwrap_or_default().to_ascii_lowercase();
    if t == "incomereturn" || t == "income_return" {
        return ReceiptKind::Refund;
    }
    let receipt = body.get("Receipt").and_then(Value::as_object);
    let advance = receipt
        .and_then(|r| r.get("Payments"))
        .and_then(Value::as_object)
        .and_then(|p| number(p, "AdvancePayment"))
        .unwrap_or(0);
    let method = receipt
        .and_then(|r| r.get("Items"))
        .and_then(Value::as_array)
        .and_then(|items| items.first())
        .and_then(Value::as_object)
        .and_then(|i| text(i, "PaymentMethod"))
        .unwrap_or_default();
    match (method.as_str(), advance > 0) {
        ("full_prepayment", _) => ReceiptKind::Prepayment,
        (_, true) => ReceiptKind::Offset,
        _ => ReceiptKind::FullPayment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::gateway::{PaymentSubject, ReceiptLine, Taxation};

    #[test]
    fn the_token_of_the_documented_example() {
        // developer.tbank.ru/eacq/intro/developer/token: TerminalKey, Amount, OrderId and
        // Description take part, Receipt and DATA do not; sorted by key the values read
        // "19200" "Подарочная карта на 1000 рублей" "00000" "11111111111111"
        // "MerchantTerminalKey". The hash below is `sha256sum` of that concatenation.
        let request = json!({
            "TerminalKey": "MerchantTerminalKey",
            "Amount": 19200,
            "OrderId": "00000",
            "Description": "Подарочная карта на 1000 рублей",
            "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
            "Receipt": {"Email": "a@test.ru", "Taxation": "osn", "Items": [{"Name": "x", "Price": 1}]}
        });
        let Value::Object(map) = request else {
            unreachable!()
        };
        assert_eq!(
            token(&map, "11111111111111"),
            "72dd466f8ace0a37a1f740ce5fb78101712bc0665d91a8108c7c8a0ccd426db2"
        );
    }

    #[test]
    fn the_token_leaves_out_nested_values_and_itself_and_spells_booleans() {
        let Value::Object(with) = json!({
            "TerminalKey": "T", "Success": true, "Amount": 100, "Token": "whatever",
            "Receipt": {"Items": []}, "Items": [1, 2], "Gone": null
        }) else {
            unreachable!()
        };
        // Amount, Password, Success, TerminalKey
        let expected = hex::encode(Sha256::digest("100ptrueT".as_bytes()));
        assert_eq!(token(&with, "p"), expected);
        let Value::Object(other) = json!({"TerminalKey": "T", "Success": false, "Amount": 100})
        else {
            unreachable!()
        };
        assert_ne!(token(&other, "p"), expected);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn statuses_map_to_ours() {
        for s in [
            "NEW",
            "FORM_SHOWED",
            "AUTHORIZING",
            "3DS_CHECKED",
            "AUTHORIZED",
        ] {
            assert_eq!(payment_status(s).0, ProviderStatus::Pending, "{s}");
        }
        assert_eq!(
            payment_status("3DS_CHECKING").0,
            ProviderStatus::RequiresConfirmation
        );
        for s in [
            "CONFIRMED",
            "PARTIAL_REFUNDED",
            "REFUNDED",
            "ASYNC_REFUNDING",
        ] {
            assert_eq!(payment_status(s).0, ProviderStatus::Succeeded, "{s}");
        }
        for s in [
            "REJECTED",
            "CANCELED",
            "DEADLINE_EXPIRED",
            "AUTH_FAIL",
            "REVERSED",
        ] {
            let (status, reason) = payment_status(s);
            assert_eq!(status, ProviderStatus::Failed, "{s}");
            assert!(reason.is_some_and(|r| r.chars().any(|c| ('а'..='я').contains(&c))));
        }
        assert_eq!(
            refund_status_of("PARTIAL_REFUNDED"),
            RefundStatus::Succeeded
        );
        assert_eq!(refund_status_of("REFUNDED"), RefundStatus::Succeeded);
        assert_eq!(refund_status_of("ASYNC_REFUNDING"), RefundStatus::Pending);
        assert_eq!(card_mask("430000******0777").as_deref(), Some("•••• 0777"));
    }

    #[test]
    fn receipts_in_kopecks_with_the_codes_and_refund_ids_read_back() {
        let r = Receipt {
            kind: ReceiptKind::Prepayment,
            taxation: Taxation::UsnIncome,
            email: Some("r@example.ru".into()),
            phone: None,
            lines: vec![ReceiptLine {
                name: "Прочистка".into(),
                unit: "шт".into(),
                quantity: Decimal::new(15, 1),
                price: Money::from_kopecks(10_000),
                amount: Money::from_kopecks(15_000),
                vat_code: "vat22".into(),
                subject: PaymentSubject::Service,
                mode: PaymentMode::FullPrepayment,
            }],
        };
        let v = receipt_json(&r, None).unwrap();
        assert_eq!(v["Taxation"], "usn_income");
        assert_eq!(v["Email"], "r@example.ru");
        assert_eq!(v["Items"][0]["Price"], 10000);
        assert_eq!(v["Items"][0]["Amount"], 15000);
        assert_eq!(v["Items"][0]["Quantity"].to_string(), "1.5");
        assert_eq!(v["Items"][0]["Tax"], "vat22");
        assert_eq!(v["Items"][0]["PaymentMethod"], "full_prepayment");
        assert_eq!(v["Items"][0]["PaymentObject"], "service");
        assert!(v.get("Payments").is_none());
        let closing = receipt_json(&r, Some(Money::from_kopecks(15_000))).unwrap();
        assert_eq!(closing["Payments"]["AdvancePayment"], 15000);
        assert_eq!(closing["Payments"]["Electronic"], 0);
        let mut bad = r.clone();
        bad.lines[0].vat_code = "vat18".into();
        assert!(receipt_json(&bad, None).is_err());
        let id = refund_id("700", 500, 1500, "key:with:colons");
        assert_eq!(parse_refund_id(&id), Some(("700".into(), 500, 1500)));
        assert_eq!(parse_refund_id("700:x"), None);
    }
}
