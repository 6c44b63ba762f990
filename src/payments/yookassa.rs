//! The ЮKassa adapter (API v3, <https://yookassa.ru/developers/api>): payments, refunds
//! and receipts over HTTPS with Basic auth (shopId : secret key) and an `Idempotence-Key`
//! on every POST; notifications are not signed, so they are taken only from ЮKassa's
//! published networks (or the account's own list) and the object is always re-read from
//! the API before anything is applied.
//!
//! Amounts are rubles as strings with two decimals («1200.00»), written from kopecks
//! exactly. A receipt item's `amount` is the price of ONE unit: ЮKassa sums
//! `amount × quantity` over the items and wants the payment's amount exactly.

use super::accounts::AccountConfig;
use super::gateway::{
    CreatePayment, CreateReceipt, CreateRefund, FiscalData, GatewayError, PayMethod,
    PaymentGateway, PaymentMode, PaymentSubject, ProviderPayment, ProviderReceipt, ProviderRefund,
    ProviderStatus, Receipt, ReceiptKind, ReceiptLine, ReceiptStatus, RefundStatus, Taxation,
    WebhookEvent, WebhookRequest,
};
use super::http::HttpClient;
use crate::money::Money;
use async_trait::async_trait;
use base64::Engine;
use http::Method;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::IpAddr;

/// The production API root.
pub const API_URL: &str = "https://api.yookassa.ru/v3";

/// The networks ЮKassa sends notifications from, as its documentation publishes them
/// («Входящие уведомления → Проверка подлинности»).
pub const NOTIFY_NETWORKS: &str = "185.71.76.0/27, 185.71.77.0/27, 77.75.153.0/25, \
    77.75.156.11, 77.75.156.35, 77.75.154.128/25, 2a02:5180::/32";

/// The longest `description` ЮKassa takes (of a payment, a refund and a receipt item).
pub const DESCRIPTION_MAX: usize = 128;

pub struct YookassaGateway {
    base_url: String,
    authorization: String,
    networks: Vec<Network>,
    http: HttpClient,
}

impl YookassaGateway {
    /// The adapter of an account; `Err` when its list of networks does not read.
    pub fn new(config: AccountConfig) -> Result<YookassaGateway, String> {
        let base_url = if config.api_url.trim().is_empty() {
            API_URL.to_owned()
        } else {
            config.api_url.trim().trim_end_matches('/').to_owned()
        };
        let networks = if config.notify_networks.trim().is_empty() {
            parse_networks(NOTIFY_NETWORKS)?
        } else {
            parse_networks(&config.notify_networks)?
        };
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", config.shop_id, config.secret));
        Ok(YookassaGateway {
            base_url,
            authorization: format!("Basic {credentials}"),
            networks,
            http: config.http,
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        idempotence_key: Option<&str>,
        body: Option<Value>,
    ) -> Result<T, GatewayError> {
        let url = format!("{}{path}", self.base_url);
        let mut headers = vec![("authorization", self.authorization.clone())];
        if let Some(key) = idempotence_key {
            headers.push(("idempotence-key", key.to_owned()));
        }
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, bytes) = self
            .http
            .send(method, &url, &headers, body)
            .await
            .map_err(GatewayError::Unavailable)?;
        match status.as_u16() {
            // Not processed yet («type: processing»): asked again later with the same key.
            202 => Err(GatewayError::Unavailable(
                "ЮKassa ещё обрабатывает запрос".into(),
            )),
            200..=299 => serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::Unavailable(format!("ответ ЮKassa не прочитан: {e}"))),
            400 | 401 | 403 | 404 => Err(GatewayError::Refused(error_text(status, &bytes))),
            // 429 and server errors pass: the outbox retries with the same key.
            _ => Err(GatewayError::Unavailable(error_text(status, &bytes))),
        }
    }
}

/// ЮKassa's error object: `{type: error, code, description, parameter}`.
fn error_text(status: http::StatusCode, bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ApiError {
        code: Option<String>,
        description: Option<String>,
        parameter: Option<String>,
    }
    match serde_json::from_slice::<ApiError>(bytes) {
        Ok(e) => {
            let mut text = e
                .description
                .or(e.code)
                .unwrap_or_else(|| format!("HTTP {status}"));
            if let Some(p) = e.parameter {
                text.push_str(&format!(" ({p})"));
            }
            text
        }
        Err(_) => format!("HTTP {status}"),
    }
}

// ---- amounts, codes and receipts -------------------------------------------------------

/// Kopecks as ЮKassa's `value`: `120000` → `"1200.00"`.
pub fn rubles(m: Money) -> String {
    let k = m.kopecks();
    let sign = if k < 0 { "-" } else { "" };
    let abs = k.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// ЮKassa's `value` back to kopecks: digits, a point and one or two decimals (or none).
pub fn parse_rubles(value: &str) -> Option<Money> {
    let (whole, frac) = match value.split_once('.') {
        Some((w, f)) => (w, f),
        None => (value, ""),
    };
    if whole.is_empty()
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole
        .checked_mul(100)?
        .checked_add(frac)
        .map(Money::from_kopecks)
}

fn amount(m: Money) -> Value {
    json!({"value": rubles(m), "currency": "RUB"})
}

/// The app's VAT code as ЮKassa's `vat_code` (1 без НДС, 2 — 0 %, 3 — 10 %, 4 — 20 %,
/// 7 — 5 %, 8 — 7 %, 11 — 22 %).
pub fn vat_code(code: &str) -> Option<u8> {
    Some(match code {
        "none" => 1,
        "vat0" => 2,
        "vat10" => 3,
        "vat20" => 4,
        "vat5" => 7,
        "vat7" => 8,
        "vat22" => 11,
        _ => return None,
    })
}

/// The taxation system as `tax_system_code`.
pub fn tax_system_code(t: Taxation) -> u8 {
    match t {
        Taxation::Osn => 1,
        Taxation::UsnIncome => 2,
        Taxation::UsnIncomeOutcome => 3,
        Taxation::Esn => 5,
        Taxation::Patent => 6,
    }
}

/// A unit of the price list as the FFD 1.2 `measure`; anything counted is a `piece`.
pub fn measure(unit: &str) -> &'static str {
    match unit.trim().trim_end_matches('.').to_lowercase().as_str() {
        "м²" | "м2" | "кв. м" | "кв.м" => "square_meter",
        "м" | "пог. м" => "meter",
        "м³" | "м3" => "cubic_meter",
        "кг" => "kilogram",
        "г" => "gram",
        "л" => "liter",
        "ч" | "час" => "hour",
        "мин" => "minute",
        "сут" | "день" => "day",
        _ => "piece",
    }
}

/// A quantity as ЮKassa writes it: `1.00`, `2.50`, `0.375`.
fn quantity(q: Decimal) -> String {
    let mut q = q.normalize();
    if q.scale() < 2 {
        q.rescale(2);
    }
    q.to_string()
}

/// Cuts a text to ЮKassa's limit (by characters, never inside one).
fn clip(text: &str) -> String {
    text.chars().take(DESCRIPTION_MAX).collect()
}

fn item(line: &ReceiptLine, mode: PaymentMode) -> Result<Value, GatewayError> {
    let vat = vat_code(&line.vat_code).ok_or_else(|| {
        GatewayError::Refused(format!("неизвестная ставка НДС «{}»", line.vat_code))
    })?;
    // ЮKassa multiplies the unit price by the quantity. A line whose amount is not that
    // product exactly (a discount spread over the units) goes as one unit of its amount,
    // so the receipt still sums to the money taken.
    let (q, price) = match line.price.checked_mul_decimal(line.quantity) {
        Some(total) if total == line.amount && !line.quantity.is_zero() => {
            (quantity(line.quantity), line.price)
        }
        _ => (quantity(Decimal::ONE), line.amount),
    };
    Ok(json!({
        "description": clip(&line.name),
        "quantity": q,
        "amount": amount(price),
        "vat_code": vat,
        "payment_mode": mode.as_str(),
        "payment_subject": match line.subject {
            PaymentSubject::Service => "service",
            PaymentSubject::Commodity => "commodity",
        },
        "measure": measure(&line.unit),
    }))
}

fn customer(r: &Receipt) -> Value {
    let mut c = serde_json::Map::new();
    if let Some(email) = r.email.as_deref().filter(|e| !e.is_empty()) {
        c.insert("email".into(), json!(email));
    }
    if let Some(phone) = r.phone.as_deref().filter(|p| !p.is_empty()) {
        // ITU-T E.164 without the plus: 79000000000.
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        c.insert("phone".into(), json!(digits));
    }
    Value::Object(c)
}

/// The `receipt` object of a payment or a refund.
pub fn receipt_json(r: &Receipt) -> Result<Value, GatewayError> {
    let items = r
        .lines
        .iter()
        .map(|l| item(l, l.mode))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "customer": customer(r),
        "items": items,
        "tax_system_code": tax_system_code(r.taxation),
    }))
}

/// The body of `POST /payments`.
pub fn payment_body(r: &CreatePayment) -> Result<Value, GatewayError> {
    let mut body = json!({
        "amount": amount(r.amount),
        "capture": true,
        // Sent with a saved card too: ЮKassa uses it only when the bank asks for 3-D Secure.
        "confirmation": {"type": "redirect", "return_url": r.return_url},
        "description": clip(&r.description),
        "metadata": {
            "payment_id": r.payment_ref.to_string(),
            "invoice_id": r.invoice_ref.to_string(),
            "order_id": r.order_ref.to_string(),
        },
    });
    let obj = body.as_object_mut().expect("an object");
    match (&r.card_token, r.method) {
        (Some(token), PayMethod::Card) => {
            obj.insert("payment_method_id".into(), json!(token));
        }
        (_, method) => {
            let kind = match method {
                PayMethod::Card => "bank_card",
                PayMethod::Sbp => "sbp",
            };
            obj.insert("payment_method_data".into(), json!({"type": kind}));
            if r.save_card && method == PayMethod::Card {
                obj.insert("save_payment_method".into(), json!(true));
            }
        }
    }
    if let Some(receipt) = &r.receipt {
        obj.insert("receipt".into(), receipt_json(receipt)?);
    }
    Ok(body)
}

/// The body of `POST /refunds`.
pub fn refund_body(r: &CreateRefund) -> Result<Value, GatewayError> {
    let mut body = json!({
        "payment_id": r.payment_id,
        "amount": amount(r.amount),
    });
    let obj = body.as_object_mut().expect("an object");
    if !r.description.is_empty() {
        obj.insert("description".into(), json!(clip(&r.description)));
    }
    if let Some(receipt) = &r.receipt {
        obj.insert("receipt".into(), receipt_json(receipt)?);
    }
    Ok(body)
}

/// The body of `POST /receipts`: «Полный расчет» offsetting the prepayment.
pub fn offset_receipt_body(r: &CreateReceipt) -> Result<Value, GatewayError> {
    let items = r
        .receipt
        .lines
        .iter()
        .map(|l| item(l, PaymentMode::FullPayment))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "type": "payment",
        "payment_id": r.payment_id,
        "customer": customer(&r.receipt),
        "items": items,
        "settlements": [{"type": "prepayment", "amount": amount(r.prepaid)}],
        "send": true,
        "tax_system_code": tax_system_code(r.receipt.taxation),
    }))
}

// ---- what ЮKassa answers -------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ApiAmount {
    value: String,
}

impl ApiAmount {
    fn money(&self) -> Result<Money, GatewayError> {
        parse_rubles(&self.value).ok_or_else(|| {
            GatewayError::Unavailable(format!("сумма ЮKassa не прочитана: {}", self.value))
        })
    }
}

#[derive(Debug, Deserialize)]
struct ApiConfirmation {
    confirmation_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiCard {
    last4: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiPaymentMethod {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    #[serde(default)]
    saved: bool,
    card: Option<ApiCard>,
}

#[derive(Debug, Deserialize)]
struct ApiCancellation {
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiPayment {
    id: String,
    status: String,
    amount: ApiAmount,
    income_amount: Option<ApiAmount>,
    confirmation: Option<ApiConfirmation>,
    payment_method: Option<ApiPaymentMethod>,
    cancellation_details: Option<ApiCancellation>,
}

/// A documented `cancellation_details.reason` in Russian, for the resident and the staff.
pub fn cancellation_text(reason: &str) -> String {
    match reason {
        "3d_secure_failed" => "не пройдена проверка 3-D Secure",
        "call_issuer" => "банк отклонил платёж, обратитесь в банк",
        "canceled_by_merchant" => "платёж отменён магазином",
        "card_expired" => "истёк срок действия карты",
        "country_forbidden" => "оплата картой этой страны запрещена",
        "deal_expired" => "истёк срок сделки",
        "expired_on_capture" => "истёк срок списания",
        "expired_on_confirmation" => "время на оплату истекло",
        "fraud_suspected" => "платёж заблокирован: подозрение на мошенничество",
        "general_decline" => "банк отклонил платёж",
        "identification_required" => "превышены лимиты неидентифицированного кошелька",
        "insufficient_funds" => "недостаточно средств",
        "internal_timeout" => "технический сбой в платёжной системе",
        "invalid_card_number" => "неверный номер карты",
        "invalid_csc" => "неверный код CVC",
        "issuer_unavailable" => "банк недоступен",
        "payment_method_limit_exceeded" => "исчерпан лимит платежей",
        "payment_method_restricted" => "операции этим способом оплаты запрещены",
        "permission_revoked" => "плательщик отозвал разрешение на автоплатежи",
        "unsupported_mobile_operator" => "оператор связи не поддерживается",
        other => return format!("платёж отклонён ({other})"),
    }
    .to_owned()
}

impl ApiPayment {
    fn into_provider(self) -> Result<ProviderPayment, GatewayError> {
        let amount = self.amount.money()?;
        let fee = match &self.income_amount {
            Some(income) => amount
                .checked_sub(income.money()?)
                .filter(|f| !f.is_negative()),
            None => None,
        };
        let confirmation_url = self.confirmation.and_then(|c| c.confirmation_url);
        let status = match self.status.as_str() {
            "pending" if confirmation_url.is_some() => ProviderStatus::RequiresConfirmation,
            // Captured automatically (`capture: true`): it becomes `succeeded` by itself.
            "pending" | "waiting_for_capture" => ProviderStatus::Pending,
            "succeeded" => ProviderStatus::Succeeded,
            "canceled" => ProviderStatus::Failed,
            other => {
                return Err(GatewayError::Unavailable(format!(
                    "неизвестный статус платежа ЮKassa: {other}"
                )))
            }
        };
        let failure = (status == ProviderStatus::Failed).then(|| {
            self.cancellation_details
                .and_then(|c| c.reason)
                .map(|r| cancellation_text(&r))
                .unwrap_or_else(|| "платёж отменён".into())
        });
        let method = match &self.payment_method {
            Some(m) if m.kind == "sbp" => PayMethod::Sbp,
            _ => PayMethod::Card,
        };
        let card_mask = self
            .payment_method
            .as_ref()
            .and_then(|m| m.card.as_ref())
            .and_then(|c| c.last4.as_ref())
            .map(|l| format!("•••• {l}"));
        let card_token = self
            .payment_method
            .as_ref()
            .filter(|m| m.saved)
            .and_then(|m| m.id.clone());
        Ok(ProviderPayment {
            id: self.id,
            status,
            amount,
            // Only while the payer still has something to do on ЮKassa's page.
            confirmation_url: confirmation_url.filter(|_| !status.is_final()),
            card_token,
            card_mask,
            fee,
            failure,
            method,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ApiRefund {
    id: String,
    payment_id: String,
    status: String,
    amount: ApiAmount,
}

impl ApiRefund {
    fn into_provider(self) -> Result<ProviderRefund, GatewayError> {
        let status = match self.status.as_str() {
            "pending" => RefundStatus::Pending,
            "succeeded" => RefundStatus::Succeeded,
            "canceled" => RefundStatus::Failed,
            other => {
                return Err(GatewayError::Unavailable(format!(
                    "неизвестный статус возврата ЮKassa: {other}"
                )))
            }
        };
        Ok(ProviderRefund {
            amount: self.amount.money()?,
            id: self.id,
            payment_id: self.payment_id,
            status,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ApiSettlement {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct ApiReceiptItem {
    payment_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiReceipt {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    payment_id: Option<String>,
    refund_id: Option<String>,
    status: String,
    #[serde(default)]
    items: Vec<ApiReceiptItem>,
    #[serde(default)]
    settlements: Vec<ApiSettlement>,
    fiscal_document_number: Option<String>,
    fiscal_storage_number: Option<String>,
    fiscal_attribute: Option<String>,
    registered_at: Option<String>,
}

impl ApiReceipt {
    fn into_provider(self) -> ProviderReceipt {
        let kind = if self.kind == "refund" {
            ReceiptKind::Refund
        } else if self.settlements.iter().any(|s| s.kind == "prepayment") {
            ReceiptKind::Offset
        } else if self
            .items
            .iter()
            .any(|i| i.payment_mode.as_deref() == Some("full_prepayment"))
        {
            ReceiptKind::Prepayment
        } else {
            ReceiptKind::FullPayment
        };
        let status = match self.status.as_str() {
            "succeeded" => ReceiptStatus::Registered,
            "canceled" => ReceiptStatus::Failed,
            _ => ReceiptStatus::Pending,
        };
        let fiscal = (status == ReceiptStatus::Registered).then(|| FiscalData {
            fn_number: self.fiscal_storage_number,
            fiscal_document: self.fiscal_document_number,
            fiscal_sign: self.fiscal_attribute,
            registered_at: self.registered_at.as_deref().and_then(parse_timestamp),
            ..FiscalData::default()
        });
        ProviderReceipt {
            id: Some(self.id),
            payment_id: self.payment_id,
            refund_id: self.refund_id,
            kind,
            failure: (status == ReceiptStatus::Failed)
                .then(|| "онлайн-касса не зарегистрировала чек".to_owned()),
            status,
            fiscal,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ApiList<T> {
    items: Vec<T>,
}

/// ISO 8601 as ЮKassa writes it (`2026-12-02T10:15:30.412Z`, or with an offset) to Unix
/// seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (time, offset) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        let minutes = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
        (t, sign * minutes * 60)
    };
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(crate::time::days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

// ---- networks ------------------------------------------------------------------------

/// An IP network: an address and a prefix length (a bare address is its own network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Option<Network> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer seen on an IPv6 socket (::ffff:a.b.c.d) is that IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A comma-separated list of networks; `Err` names the first that does not read.
pub fn parse_networks(list: &str) -> Result<Vec<Network>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Network::parse(s).ok_or_else(|| format!("ЮKassa: неверная сеть «{s}»")))
        .collect()
}

// ---- notifications -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    object: Value,
}

impl YookassaGateway {
    fn trusted(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.networks.iter().any(|n| n.contains(ip)))
    }
}

fn read_notification(body: &[u8]) -> Result<WebhookEvent, GatewayError> {
    let n: Notification = serde_json::from_slice(body)
        .map_err(|e| GatewayError::Refused(format!("уведомление не прочитано: {e}")))?;
    if n.kind != "notification" {
        return Err(GatewayError::Refused(format!(
            "не уведомление: type = {}",
            n.kind
        )));
    }
    let id = n
        .object
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| GatewayError::Refused("в уведомлении нет id объекта".into()))?
        .to_owned();
    let event_id = format!("yookassa:{}:{id}", n.event);
    let unreadable = |e: GatewayError| GatewayError::Refused(e.to_string());
    let mut event = WebhookEvent {
        event_id,
        payment: None,
        refund: None,
        receipt: None,
        // Nothing in a notification is trusted as to state: the app asks the API.
        reread: true,
    };
    match n.event.as_str() {
        "payment.succeeded" | "payment.canceled" | "payment.waiting_for_capture" => {
            let p: ApiPayment = serde_json::from_value(n.object)
                .map_err(|e| GatewayError::Refused(format!("платёж не прочитан: {e}")))?;
            event.payment = Some(p.into_provider().map_err(unreadable)?);
        }
        "refund.succeeded" => {
            let r: ApiRefund = serde_json::from_value(n.object)
                .map_err(|e| GatewayError::Refused(format!("возврат не прочитан: {e}")))?;
            event.refund = Some(r.into_provider().map_err(unreadable)?);
        }
        // Other events (deals, payouts) are acknowledged and ignored.
        _ => {}
    }
    Ok(event)
}

#[async_trait]
impl PaymentGateway for YookassaGateway {
    fn name(&self) -> &'static str {
        "yookassa"
    }

    async fn create_payment(
        &self,
        request: CreatePayment,
    ) -> Result<ProviderPayment, GatewayError> {
        let body = payment_body(&request)?;
        let p: ApiPayment = self
            .call(
                Method::POST,
                "/payments",
                Some(&request.idempotency_key),
                Some(body),
            )
            .await?;
        p.into_provider()
    }

    async fn payment(&self, id: &str) -> Result<ProviderPayment, GatewayError> {
        let p: ApiPayment = self
            .call(
                Method::GET,
                &format!("/payments/{}", crate::url::encode(id)),
                None,
                None,
            )
            .await?;
        p.into_provider()
    }

    async fn refund(&self, request: CreateRefund) -> Result<ProviderRefund, GatewayError> {
        let body = refund_body(&request)?;
        let r: ApiRefund = self
            .call(
                Method::POST,
                "/refunds",
                Some(&request.idempotency_key),
                Some(body),
            )
            .await?;
        r.into_provider()
    }

    async fn refund_status(&self, id: &str) -> Result<ProviderRefund, GatewayError> {
        let r: ApiRefund = self
            .call(
                Method::GET,
                &format!("/refunds/{}", crate::url::encode(id)),
                None,
                None,
            )
            .await?;
        r.into_provider()
    }

    async fn send_receipt(&self, request: CreateReceipt) -> Result<ProviderReceipt, GatewayError> {
        let body = offset_receipt_body(&request)?;
        let r: ApiReceipt = self
            .call(
                Method::POST,
                "/receipts",
                Some(&request.idempotency_key),
                Some(body),
            )
            .await?;
        Ok(r.into_provider())
    }

    async fn receipts(&self, payment_id: &str) -> Result<Vec<ProviderReceipt>, GatewayError> {
        let id = crate::url::encode(payment_id);
        let mut out: Vec<ProviderReceipt> = Vec::new();
        let of_payment: ApiList<ApiReceipt> = self
            .call(
                Method::GET,
                &format!("/receipts?payment_id={id}"),
                None,
                None,
            )
            .await?;
        out.extend(of_payment.items.into_iter().map(ApiReceipt::into_provider));
        // Refund receipts are listed by refund.
        let refunds: ApiList<ApiRefund> = self
            .call(
                Method::GET,
                &format!("/refunds?payment_id={id}"),
                None,
                None,
            )
            .await?;
        for refund in refunds.items {
            let of_refund: ApiList<ApiReceipt> = self
                .call(
                    Method::GET,
                    &format!("/receipts?refund_id={}", crate::url::encode(&refund.id)),
                    None,
                    None,
                )
                .await?;
            for r in of_refund.items {
                if !out.iter().any(|o| o.id.as_deref() == Some(r.id.as_str())) {
                    let mut r = r.into_provider();
                    r.refund_id.get_or_insert_with(|| refund.id.clone());
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent, GatewayError> {
        if !self.trusted(request.peer) {
            return Err(GatewayError::BadSignature);
        }
        read_notification(request.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn amounts_are_written_from_kopecks_exactly_and_read_back() {
        assert_eq!(rubles(Money::from_kopecks(120_000)), "1200.00");
        assert_eq!(rubles(Money::from_kopecks(5)), "0.05");
        assert_eq!(rubles(Money::from_kopecks(123_456_789)), "1234567.89");
        assert_eq!(rubles(Money::ZERO), "0.00");
        assert_eq!(parse_rubles("1200.00"), Some(Money::from_kopecks(120_000)));
        assert_eq!(parse_rubles("0.5"), Some(Money::from_kopecks(50)));
        assert_eq!(parse_rubles("7"), Some(Money::from_kopecks(700)));
        for bad in ["", ".50", "1.234", "1,00", "-1.00", "1e3", "12.3a"] {
            assert_eq!(parse_rubles(bad), None, "{bad}");
        }
        for k in [0, 1, 99, 100, 101, 2_640, 999_999_999] {
            let m = Money::from_kopecks(k);
            assert_eq!(parse_rubles(&rubles(m)), Some(m));
        }
    }

    #[test]
    fn codes_map_to_the_documented_values() {
        let vat: Vec<_> = crate::payments::gateway::VAT_CODES
            .iter()
            .map(|c| vat_code(c))
            .collect();
        // none, vat0, vat5, vat7, vat10, vat20, vat22
        assert_eq!(
            vat,
            [
                Some(1),
                Some(2),
                Some(7),
                Some(8),
                Some(3),
                Some(4),
                Some(11)
            ]
        );
        assert_eq!(vat_code("vat18"), None);
        let tax: Vec<_> = Taxation::ALL.iter().map(|t| tax_system_code(*t)).collect();
        assert_eq!(tax, [1, 2, 3, 5, 6]);
        assert_eq!(measure("шт."), "piece");
        assert_eq!(measure("м²"), "square_meter");
        assert_eq!(measure("выезд"), "piece");
        assert_eq!(
            cancellation_text("insufficient_funds"),
            "недостаточно средств"
        );
        assert!(cancellation_text("something_new").contains("something_new"));
    }

    #[test]
    fn receipt_items_carry_the_unit_price_and_sum_to_the_amount() {
        let line = |q: &str, price: i64, amount: i64| ReceiptLine {
            name: "Генеральная уборка".into(),
            unit: "м²".into(),
            quantity: Decimal::from_str(q).unwrap(),
            price: Money::from_kopecks(price),
            amount: Money::from_kopecks(amount),
            vat_code: "vat20".into(),
            subject: PaymentSubject::Service,
            mode: PaymentMode::FullPrepayment,
        };
        let exact = item(&line("2.5", 25_000, 62_500), PaymentMode::FullPrepayment).unwrap();
        assert_eq!(exact["quantity"], "2.50");
        assert_eq!(exact["amount"]["value"], "250.00");
        assert_eq!(exact["vat_code"], 4);
        assert_eq!(exact["payment_mode"], "full_prepayment");
        assert_eq!(exact["payment_subject"], "service");
        assert_eq!(exact["measure"], "square_meter");
        // A discounted line that is not price × quantity goes as one unit of its amount.
        let odd = item(&line("3", 33_333, 99_998), PaymentMode::FullPayment).unwrap();
        assert_eq!(odd["quantity"], "1.00");
        assert_eq!(odd["amount"]["value"], "999.98");
        assert_eq!(odd["payment_mode"], "full_payment");
        let mut bad = line("1", 100, 100);
        bad.vat_code = "vat18".into();
        assert!(matches!(
            item(&bad, PaymentMode::FullPayment),
            Err(GatewayError::Refused(_))
        ));
        assert_eq!(clip(&"я".repeat(200)).chars().count(), DESCRIPTION_MAX);
    }

    #[test]
    fn networks_match_only_their_addresses() {
        let published = parse_networks(NOTIFY_NETWORKS).unwrap();
        assert_eq!(published.len(), 7);
        let trusted = |s: &str| published.iter().any(|n| n.contains(ip(s)));
        assert!(trusted("185.71.76.0"));
        assert!(trusted("185.71.76.31"));
        assert!(!trusted("185.71.76.32"));
        assert!(trusted("185.71.77.5"));
        assert!(trusted("77.75.153.127"));
        assert!(!trusted("77.75.153.128"));
        assert!(trusted("77.75.156.11"));
        assert!(!trusted("77.75.156.12"));
        assert!(trusted("77.75.154.200"));
        assert!(!trusted("77.75.154.127"));
        assert!(trusted("2a02:5180::1"));
        assert!(
            trusted("::ffff:185.71.76.10"),
            "an IPv4 peer on an IPv6 socket"
        );
        assert!(!trusted("2a02:5181::1"));
        assert!(!trusted("8.8.8.8"));
        assert!(!trusted("127.0.0.1"));
        let local = parse_networks("127.0.0.1/32").unwrap();
        assert!(local[0].contains(ip("127.0.0.1")));
        assert!(!local[0].contains(ip("127.0.0.2")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "300.1.1.1", "::/129", "abc", "1.2.3.4/x"] {
            assert!(Network::parse(bad).is_none(), "{bad}");
        }
        assert!(parse_networks("127.0.0.1/32, nonsense").is_err());
    }

    #[test]
    fn timestamps_read_as_unix_seconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_timestamp("2026-11-27T05:00:41.412Z"),
            Some(1_795_755_641)
        );
        assert_eq!(
            parse_timestamp("2026-11-27T08:00:41+03:00"),
            Some(1_795_755_641)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn notifications_are_read_as_events_to_re_read() {
        let body = br#"{"type":"notification","event":"payment.succeeded","object":{
            "id":"2d3f-1","status":"succeeded","amount":{"value":"1200.00","currency":"RUB"},
            "income_amount":{"value":"1158.00","currency":"RUB"},
            "payment_method":{"type":"bank_card","id":"pm-1","saved":true,"card":{"last4":"4242"}}}}"#;
        let e = read_notification(body).unwrap();
        assert_eq!(e.event_id, "yookassa:payment.succeeded:2d3f-1");
        assert!(e.reread);
        let p = e.payment.unwrap();
        assert_eq!(p.status, ProviderStatus::Succeeded);
        assert_eq!(p.fee, Some(Money::from_kopecks(4_200)));
        assert_eq!(p.card_mask.as_deref(), Some("•••• 4242"));
        assert_eq!(p.card_token.as_deref(), Some("pm-1"));
        let refund = br#"{"type":"notification","event":"refund.succeeded","object":{
            "id":"r-1","payment_id":"2d3f-1","status":"succeeded","amount":{"value":"100.00","currency":"RUB"}}}"#;
        let e = read_notification(refund).unwrap();
        assert_eq!(e.refund.unwrap().amount, Money::from_kopecks(10_000));
        let other = br#"{"type":"notification","event":"deal.closed","object":{"id":"d-1"}}"#;
        let e = read_notification(other).unwrap();
        assert!(e.payment.is_none() && e.refund.is_none());
        assert!(read_notification(b"{}").is_err());
        assert!(read_notification(
            br#"{"type":"x","event":"payment.succeeded","object":{"id":"1"}}"#
        )
        .is_err());
    }
}
