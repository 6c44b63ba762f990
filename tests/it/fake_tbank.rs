//! A contract fake of Т-Банк's internet acquiring API v2: a real HTTP server on
//! 127.0.0.1:0 implementing `Init`, `CheckOrder`, `GetState`, `Charge`, `GetQr`, `Cancel`
//! and `SendClosingReceipt` with an in-memory store, and a hosted payment page taking the
//! sandbox's fields and test cards. Every request is recorded and checked against the
//! documented contract — `TerminalKey`, the `Token` (computed here on its own, from the
//! documentation, not with the adapter's code), integer kopecks, receipt lines
//! (`Amount` = `Price` × `Quantity`, the lines summing to the amount, known `Tax`,
//! `PaymentMethod`, `PaymentObject`, `Taxation`), a `Cancel` within what is left; what
//! breaks it is answered as Т-Банк does (`Success: false`) and kept in
//! [`FakeTbank::violations`]. Notifications are signed with the `Token`, POSTed to the
//! payment's `NotificationURL`, and the app must answer exactly `OK`.
#![allow(dead_code)]

use axum::extract::{Form, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use suz::payments::http::HttpClient;
use suz::payments::sandbox::{cards, sbp_banks};

pub const TERMINAL_KEY: &str = "SuzTestTerminal";
pub const PASSWORD: &str = "tbank-test-password";

const TAXES: [&str; 12] = [
    "none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22", "vat105", "vat107", "vat110",
    "vat120", "vat122",
];
const TAXATIONS: [&str; 5] = ["osn", "usn_income", "usn_income_outcome", "esn", "patent"];
const METHODS: [&str; 7] = [
    "full_prepayment",
    "prepayment",
    "advance",
    "full_payment",
    "partial_payment",
    "credit",
    "credit_payment",
];
const OBJECTS: [&str; 4] = ["commodity", "excise", "job", "service"];

/// How the next calls of a method go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answered with HTTP 500, nothing done.
    ServerError,
    /// Done, but the answer never arrives in time (the adapter times out).
    Hang,
    /// Done, but the answer is lost (HTTP 502 instead).
    LoseAnswer,
}

/// A payment as the fake holds it.
#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub order_id: String,
    pub original: i64,
    /// What is left after refunds.
    pub amount: i64,
    pub status: String,
    pub notification_url: String,
    pub success_url: String,
    pub fail_url: String,
    pub receipt: Option<Value>,
    pub recurrent: bool,
    pub customer_key: Option<String>,
    pub rebill_id: Option<String>,
    pub pan: Option<String>,
    pub sbp: bool,
    /// Each refund made: (amount, receipt).
    pub refunds: Vec<(i64, Option<Value>)>,
    pub charges: u32,
    pub closing_receipts: Vec<Value>,
    /// An СБП refund under way: the status to go back to if it fails, and its amount.
    pub async_refund: Option<(String, i64)>,
}

/// A request as it arrived, and whether it was refused.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub body: Value,
    pub refused: Option<String>,
}

/// One notification POSTed to the app and its answer.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: Value,
    pub status: u16,
    pub answer: String,
}

#[derive(Default)]
struct Store {
    next_id: i64,
    payments: BTreeMap<String, Payment>,
    requests: Vec<Recorded>,
    deliveries: Vec<Delivery>,
    violations: Vec<String>,
    faults: HashMap<String, Vec<Fault>>,
    decline_charges: bool,
    refuse_cancels: bool,
    /// Known saved cards: RebillId → CustomerKey.
    rebills: HashMap<String, String>,
    /// Notifications of API calls, sent later (as Т-Банк does, after its answer).
    queued: Vec<Value>,
    /// Notifications the app did not take (not 200): Т-Банк sends them again.
    failed: Vec<Value>,
}

struct Inner {
    url: String,
    http: HttpClient,
    store: Mutex<Store>,
}

#[derive(Clone)]
pub struct FakeTbank {
    inner: Arc<Inner>,
}

/// The documented Token: root-level scalar values (booleans as `true`/`false`) with
/// `Password`, sorted by key, concatenated, SHA-256 hex.
pub fn sign(params: &Map<String, Value>, password: &str) -> String {
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in params {
        if k == "Token" {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        pairs.insert(k.clone(), text);
    }
    pairs.insert("Password".into(), password.into());
    let joined: String = pairs.into_values().collect();
    hex::encode(Sha256::digest(joined.as_bytes()))
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn fail(code: &str, message: &str) -> Value {
    json!({"TerminalKey": TERMINAL_KEY, "Success": false, "ErrorCode": code, "Message": message})
}

/// A positive integer number of kopecks, or why not.
fn kopecks(v: Option<&Value>, what: &str) -> Result<i64, String> {
    match v {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(k) if k > 0 => Ok(k),
            _ => Err(format!("{what}: not a positive integer of kopecks: {n}")),
        },
        other => Err(format!("{what}: missing or not a number: {other:?}")),
    }
}

/// Checks a `Receipt` whose lines must sum to `total`.
fn check_receipt(r: &Value, total: i64) -> Result<(), String> {
    let r = r.as_object().ok_or("Receipt is not an object")?;
    if text(r, "Email").is_none() && text(r, "Phone").is_none() {
        return Err("Receipt: neither Email nor Phone".into());
    }
    let taxation = text(r, "Taxation").unwrap_or_default();
    if !TAXATIONS.contains(&taxation.as_str()) {
        return Err(format!("Receipt: unknown Taxation {taxation:?}"));
    }
    let items = r
        .get("Items")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
        .ok_or("Receipt: no Items")?;
    let mut sum = 0i64;
    for item in items {
        let i = item.as_object().ok_or("Receipt item is not an object")?;
        let name = text(i, "Name").unwrap_or_default();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(format!("item Name {name:?}"));
        }
        let price = match i.get("Price") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|p| p >= 0) => n.as_i64().unwrap(),
            other => return Err(format!("item Price not integer kopecks: {other:?}")),
        };
        let amount = kopecks(i.get("Amount"), "item Amount")?;
        let quantity = match i.get("Quantity") {
            Some(Value::Number(n)) => {
                Decimal::from_str(&n.to_string()).map_err(|_| format!("item Quantity {n}"))?
            }
            other => return Err(format!("item Quantity not a number: {other:?}")),
        };
        if Decimal::from(price) * quantity != Decimal::from(amount) {
            return Err(format!(
                "item {name}: Amount {amount} ≠ Price {price} × Quantity {quantity}"
            ));
        }
        for (field, allowed) in [
            ("Tax", &TAXES[..]),
            ("PaymentMethod", &METHODS[..]),
            ("PaymentObject", &OBJECTS[..]),
        ] {
            let v = text(i, field).unwrap_or_default();
            if !allowed.contains(&v.as_str()) {
                return Err(format!("item {name}: unknown {field} {v:?}"));
            }
        }
        sum += amount;
    }
    let paid = match r.get("Payments").and_then(Value::as_object) {
        Some(p) => [
            "Cash",
            "Electronic",
            "AdvancePayment",
            "Credit",
            "Provision",
        ]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_i64))
        .sum::<i64>(),
        None => total,
    };
    if sum != total || paid != total {
        return Err(format!(
            "Receipt: the lines sum to {sum}, payments to {paid}, the amount is {total}"
        ));
    }
    Ok(())
}

impl FakeTbank {
    pub async fn start() -> FakeTbank {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let inner = Arc::new(Inner {
            url,
            http: HttpClient::default(),
            store: Mutex::default(),
        });
        let router = Router::new()
            .route("/v2/{method}", post(api))
            .route("/pay/{id}", get(page).post(pay))
            .route("/pay/{id}/confirm", post(confirm))
            .route("/sbp/{id}", get(sbp_page).post(sbp_pay))
            .with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        FakeTbank { inner }
    }

    /// The API root to put in the payment account.
    pub fn api_url(&self) -> String {
        format!("{}/v2", self.inner.url)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap()
    }

    /// The next `times` calls of `method` go wrong this way.
    pub fn fault(&self, method: &str, fault: Fault, times: usize) {
        self.store()
            .faults
            .entry(method.into())
            .or_default()
            .extend(std::iter::repeat_n(fault, times));
    }

    pub fn decline_charges(&self, on: bool) {
        self.store().decline_charges = on;
    }

    pub fn refuse_cancels(&self, on: bool) {
        self.store().refuse_cancels = on;
    }

    /// Every request of a method, refused or not.
    pub fn requests(&self, method: &str) -> Vec<Recorded> {
        self.store()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    pub fn payment(&self, id: &str) -> Payment {
        self.store()
            .payments
            .get(id)
            .cloned()
            .expect("a fake payment")
    }

    pub fn payments(&self) -> Vec<Payment> {
        self.store().payments.values().cloned().collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.store().violations.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.store().deliveries.clone()
    }

    /// Pays on the hosted page the way a browser does; returns where it redirects.
    pub async fn pay_page(&self, url: &str, card: &str) -> String {
        self.post_form(url, &format!("number={card}&expiry=12%2F35&cvc=123"))
            .await
    }

    /// Enters the 3-D Secure code on the page of a payment waiting for it.
    pub async fn confirm_3ds(&self, url: &str, code: &str) -> String {
        self.post_form(&format!("{url}/confirm"), &format!("code={code}"))
            .await
    }

    /// «Chooses a bank» on the СБП page of the payload link.
    pub async fn pay_sbp(&self, url: &str, bank: &str) -> String {
        self.post_form(url, &format!("bank={bank}")).await
    }

    pub async fn get_page(&self, url: &str) -> (u16, String) {
        let (status, body) = self
            .inner
            .http
            .send(http::Method::GET, url, &[], Vec::new())
            .await
            .expect("the fake's page");
        (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
    }

    async fn post_form(&self, url: &str, form: &str) -> String {
        let (status, body) = self
            .inner
            .http
            .send(
                http::Method::POST,
                url,
                &[("content-type", "application/x-www-form-urlencoded".into())],
                form.as_bytes().to_vec(),
            )
            .await
            .expect("the fake's page");
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{}",
            String::from_utf8_lossy(&body)
        );
        // The redirect's target is in the page body too; the header is what counts.
        String::from_utf8_lossy(&body).into_owned()
    }

    /// Sends the notifications of API calls made so far (`Charge`, `Cancel`).
    pub async fn deliver_queued(&self) -> Vec<Delivery> {
        let queued = std::mem::take(&mut self.store().queued);
        let mut out = Vec::new();
        for n in queued {
            out.push(deliver(&self.inner, n).await);
        }
        out
    }

    /// Sends again the notifications the app did not take.
    pub async fn retry_failed(&self) -> Vec<Delivery> {
        let failed = std::mem::take(&mut self.store().failed);
        let mut out = Vec::new();
        for n in failed {
            out.push(deliver(&self.inner, n).await);
        }
        out
    }

    /// Sends the notification of the payment's current status (again).
    pub async fn notify(&self, id: &str) -> Delivery {
        let body = notification(&self.inner, id, None);
        deliver(&self.inner, body).await
    }

    /// Sends a notification of a status the payment is no longer in (a stale one).
    pub async fn notify_status(&self, id: &str, status: &str) -> Delivery {
        let body = notification(&self.inner, id, Some(status));
        deliver(&self.inner, body).await
    }

    /// POSTs a body exactly as given (a forged notification) to the payment's address.
    pub async fn post_raw(&self, id: &str, body: Value) -> Delivery {
        let mut body = body;
        if let Some(o) = body.as_object_mut() {
            o.entry("PaymentId")
                .or_insert_with(|| Value::from(id.parse::<i64>().unwrap_or(0)));
        }
        let url = self.payment(id).notification_url;
        post_json(&self.inner, &url, body).await
    }

    /// The СБП refund under way ends, well or not; its notification is sent.
    pub async fn finish_async_refund(&self, id: &str, ok: bool) -> Delivery {
        {
            let mut store = self.store();
            let p = store.payments.get_mut(id).expect("a fake payment");
            let (before, amount) = p.async_refund.take().expect("an СБП refund under way");
            if ok {
                p.status = if p.amount == 0 {
                    "REFUNDED"
                } else {
                    "PARTIAL_REFUNDED"
                }
                .into();
            } else {
                p.amount += amount;
                p.refunds.pop();
                p.status = before;
            }
        }
        self.notify(id).await
    }

    /// Т-Банк's fiscalisation notification (`Status: RECEIPT`) for a payment; `kind` is
    /// `Income` or `IncomeReturn`; `receipt` the receipt as registered.
    pub async fn notify_receipt(
        &self,
        id: &str,
        kind: &str,
        amount: i64,
        receipt: Value,
        document: i64,
    ) -> Delivery {
        let p = self.payment(id);
        let mut body = Map::new();
        body.insert("TerminalKey".into(), TERMINAL_KEY.into());
        body.insert("OrderId".into(), p.order_id.clone().into());
        body.insert("Success".into(), true.into());
        body.insert("Status".into(), "RECEIPT".into());
        body.insert("PaymentId".into(), p.id.parse::<i64>().unwrap().into());
        body.insert("ErrorCode".into(), "0".into());
        body.insert("Amount".into(), amount.into());
        body.insert("FiscalNumber".into(), 17.into());
        body.insert("ShiftNumber".into(), 3.into());
        body.insert("ReceiptDatetime".into(), "2026-12-02T10:00:00+03:00".into());
        body.insert("FnNumber".into(), "7380440700076549".into());
        body.insert("EcrRegNumber".into(), "0007331236048711".into());
        body.insert("FiscalDocumentNumber".into(), document.into());
        body.insert("FiscalDocumentAttribute".into(), 1_234_567_890i64.into());
        body.insert("Receipt".into(), receipt);
        body.insert("Type".into(), kind.into());
        body.insert("Ofd".into(), "ОФД Тест".into());
        body.insert("Url".into(), "https://ofd.example/check/17".into());
        body.insert("QrCodeUrl".into(), "https://ofd.example/qr/17".into());
        let token = sign(&body, PASSWORD);
        body.insert("Token".into(), token.into());
        deliver(&self.inner, Value::Object(body)).await
    }
}

fn take_fault(store: &mut Store, method: &str) -> Option<Fault> {
    let list = store.faults.get_mut(method)?;
    (!list.is_empty()).then(|| list.remove(0))
}

/// The notification of a payment, signed.
fn notification(inner: &Inner, id: &str, status: Option<&str>) -> Value {
    let store = inner.store.lock().unwrap();
    let p = store.payments.get(id).expect("a fake payment");
    let status = status
        .map(str::to_owned)
        .unwrap_or_else(|| p.status.clone());
    let mut body = Map::new();
    body.insert("TerminalKey".into(), TERMINAL_KEY.into());
    body.insert("OrderId".into(), p.order_id.clone().into());
    body.insert(
        "Success".into(),
        (!matches!(status.as_str(), "REJECTED" | "AUTH_FAIL")).into(),
    );
    body.insert("Status".into(), status.clone().into());
    body.insert("PaymentId".into(), p.id.parse::<i64>().unwrap().into());
    body.insert(
        "ErrorCode".into(),
        if status == "REJECTED" { "1051" } else { "0" }.into(),
    );
    body.insert("Amount".into(), p.amount.into());
    if let Some(pan) = &p.pan {
        body.insert("CardId".into(), 881_900i64.into());
        body.insert("Pan".into(), pan.clone().into());
        body.insert("ExpDate".into(), "1235".into());
    }
    if let (Some(rebill), "CONFIRMED") = (&p.rebill_id, status.as_str()) {
        body.insert("RebillId".into(), rebill.clone().into());
    }
    if let Some(key) = &p.customer_key {
        body.insert("CustomerKey".into(), key.clone().into());
    }
    body.insert("DATA".into(), json!({"Source": "cards"}));
    let token = sign(&body, PASSWORD);
    body.insert("Token".into(), token.into());
    Value::Object(body)
}

async fn post_json(inner: &Inner, url: &str, body: Value) -> Delivery {
    let sent = inner
        .http
        .send(
            http::Method::POST,
            url,
            &[],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    let (status, answer) = match sent {
        Ok((s, b)) => (s.as_u16(), String::from_utf8_lossy(&b).into_owned()),
        Err(e) => (0, e),
    };
    let d = Delivery {
        body,
        status,
        answer,
    };
    inner.store.lock().unwrap().deliveries.push(d.clone());
    d
}

/// POSTs a notification to the payment's NotificationURL; Т-Банк wants exactly `OK`.
async fn deliver(inner: &Inner, body: Value) -> Delivery {
    let id = text(body.as_object().unwrap(), "PaymentId").unwrap();
    let url = inner.store.lock().unwrap().payments[&id]
        .notification_url
        .clone();
    let d = post_json(inner, &url, body.clone()).await;
    let mut store = inner.store.lock().unwrap();
    if d.status == 200 && d.answer != "OK" {
        store.violations.push(format!(
            "a notification was answered 200 {:?}, not OK",
            d.answer
        ));
    }
    if d.status != 200 {
        store.failed.push(body);
    }
    d
}

async fn api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = {
        let mut store = inner.store.lock().unwrap();
        take_fault(&mut store, &method)
    };
    if fault == Some(Fault::ServerError) {
        inner.store.lock().unwrap().requests.push(Recorded {
            method: method.clone(),
            body,
            refused: Some("HTTP 500 (scripted)".into()),
        });
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    }
    let (answer, notify) = handle(&inner, &method, &body);
    {
        let mut store = inner.store.lock().unwrap();
        let refused = (answer.get("Success") != Some(&Value::Bool(true))).then(|| {
            answer
                .get("Message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        });
        store.requests.push(Recorded {
            method: method.clone(),
            body,
            refused,
        });
    }
    for (id, statuses) in notify {
        for s in statuses {
            let n = notification(&inner, &id, Some(&s));
            inner.store.lock().unwrap().queued.push(n);
        }
    }
    match fault {
        Some(Fault::Hang) => {
            tokio::time::sleep(suz::payments::http::TIMEOUT + std::time::Duration::from_secs(5))
                .await;
            Json(answer).into_response()
        }
        Some(Fault::LoseAnswer) => (StatusCode::BAD_GATEWAY, "Bad Gateway").into_response(),
        _ => Json(answer).into_response(),
    }
}

type Notify = Vec<(String, Vec<String>)>;

/// Checks and carries out one API call: the answer and the notifications to send.
fn handle(inner: &Inner, method: &str, body: &Value) -> (Value, Notify) {
    let mut store = inner.store.lock().unwrap();
    let Some(b) = body.as_object() else {
        store
            .violations
            .push(format!("{method}: the body is not a JSON object"));
        return (fail("9999", "Неверный формат запроса"), vec![]);
    };
    let refuse = |store: &mut Store, code: &str, why: String| {
        store.violations.push(format!("{method}: {why}"));
        (fail(code, &why), vec![])
    };
    if text(b, "TerminalKey").as_deref() != Some(TERMINAL_KEY) {
        return refuse(&mut store, "202", "Терминал не найден".into());
    }
    if text(b, "Token").as_deref() != Some(sign(b, PASSWORD).as_str()) {
        return refuse(&mut store, "204", "Неверный токен".into());
    }
    match method {
        "Init" => {
            let amount = match kopecks(b.get("Amount"), "Amount") {
                Ok(a) => a,
                Err(e) => return refuse(&mut store, "9999", e),
            };
            let order_id = text(b, "OrderId").unwrap_or_default();
            if order_id.is_empty() || order_id.chars().count() > 36 {
                return refuse(&mut store, "9999", format!("OrderId {order_id:?}"));
            }
            if store.payments.values().any(|p| p.order_id == order_id) {
                // Documented: OrderId is unique per operation. Not a fault of the fake's
                // checks — the adapter must look before it sends — but recorded as one.
                return refuse(
                    &mut store,
                    "8",
                    format!("OrderId {order_id} уже использован"),
                );
            }
            if text(b, "Description").is_some_and(|d| d.chars().count() > 140) {
                return refuse(&mut store, "9999", "Description longer than 140".into());
            }
            let Some(notification_url) = text(b, "NotificationURL") else {
                return refuse(&mut store, "9999", "no NotificationURL".into());
            };
            let receipt = b.get("Receipt").cloned();
            if let Some(r) = &receipt {
                if let Err(e) = check_receipt(r, amount) {
                    return refuse(&mut store, "309", e);
                }
            }
            let recurrent = text(b, "Recurrent").as_deref() == Some("Y");
            let customer_key = text(b, "CustomerKey");
            if recurrent && customer_key.is_none() {
                return refuse(&mut store, "9999", "Recurrent without CustomerKey".into());
            }
            if text(b, "PayType").is_some_and(|t| t != "O" && t != "T") {
                return refuse(&mut store, "9999", "PayType".into());
            }
            store.next_id += 1;
            let id = (7_000_000 + store.next_id).to_string();
            let p = Payment {
                id: id.clone(),
                order_id: order_id.clone(),
                original: amount,
                amount,
                status: "NEW".into(),
                notification_url,
                success_url: text(b, "SuccessURL").unwrap_or_default(),
                fail_url: text(b, "FailURL").unwrap_or_default(),
                receipt,
                recurrent,
                customer_key,
                rebill_id: None,
                pan: None,
                sbp: false,
                refunds: vec![],
                charges: 0,
                closing_receipts: vec![],
                async_refund: None,
            };
            store.payments.insert(id.clone(), p);
            (
                json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0", "Status": "NEW",
                       "PaymentId": id, "OrderId": order_id, "Amount": amount,
                       "PaymentURL": format!("{}/pay/{id}", inner.url)}),
                vec![],
            )
        }
        "CheckOrder" => {
            let order_id = text(b, "OrderId").unwrap_or_default();
            let list: Vec<Value> = store
                .payments
                .values()
                .filter(|p| p.order_id == order_id)
                .map(|p| json!({"PaymentId": p.id, "Amount": p.amount, "Status": p.status, "Success": true, "ErrorCode": "0"}))
                .collect();
            if list.is_empty() {
                return (fail("7", "Заказ не найден"), vec![]);
            }
            (
                json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0", "OrderId": order_id, "Payments": list}),
                vec![],
            )
        }
        "GetState" => {
            let id = text(b, "PaymentId").unwrap_or_default();
            let Some(p) = store.payments.get(&id) else {
                return (fail("7", "Платёж не найден"), vec![]);
            };
            (
                json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0", "Status": p.status,
                       "PaymentId": p.id, "OrderId": p.order_id, "Amount": p.amount}),
                vec![],
            )
        }
        "Charge" => {
            let id = text(b, "PaymentId").unwrap_or_default();
            let rebill = text(b, "RebillId").unwrap_or_default();
            let decline = store.decline_charges;
            let Some(customer) = store.rebills.get(&rebill).cloned() else {
                return refuse(&mut store, "9999", format!("unknown RebillId {rebill:?}"));
            };
            let Some(p) = store.payments.get_mut(&id) else {
                return (fail("7", "Платёж не найден"), vec![]);
            };
            if p.status != "NEW" {
                let why = format!(
                    "Charge of payment {id} in status {}: a second charge",
                    p.status
                );
                return refuse(&mut store, "4", why);
            }
            p.charges += 1;
            p.customer_key = Some(customer);
            p.pan = Some("424242******4242".into());
            p.status = if decline { "REJECTED" } else { "CONFIRMED" }.into();
            let answer = json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0",
                                "Status": p.status, "PaymentId": p.id, "OrderId": p.order_id, "Amount": p.amount});
            let statuses = if decline {
                vec!["REJECTED".into()]
            } else {
                vec!["AUTHORIZED".into(), "CONFIRMED".into()]
            };
            (answer, vec![(id, statuses)])
        }
        "GetQr" => {
            let id = text(b, "PaymentId").unwrap_or_default();
            if text(b, "DataType").as_deref() != Some("PAYLOAD") {
                return refuse(&mut store, "9999", "DataType is not PAYLOAD".into());
            }
            let url = inner.url.clone();
            let Some(p) = store.payments.get_mut(&id) else {
                return (fail("7", "Платёж не найден"), vec![]);
            };
            if p.status != "NEW" && p.status != "FORM_SHOWED" {
                return (fail("4", "Неверный статус платежа"), vec![]);
            }
            p.sbp = true;
            (
                json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0", "OrderId": p.order_id,
                       "PaymentId": p.id, "Data": format!("{url}/sbp/{id}")}),
                vec![],
            )
        }
        "Cancel" => {
            let id = text(b, "PaymentId").unwrap_or_default();
            let refuse_all = store.refuse_cancels;
            let Some(p) = store.payments.get(&id).cloned() else {
                return (fail("7", "Платёж не найден"), vec![]);
            };
            if p.status == "NEW" {
                let p = store.payments.get_mut(&id).unwrap();
                p.status = "CANCELED".into();
                let answer = json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0", "Status": "CANCELED",
                                    "PaymentId": id, "OrderId": p.order_id, "OriginalAmount": p.original, "NewAmount": 0});
                return (answer, vec![]);
            }
            let amount = match b.get("Amount") {
                None => p.amount,
                v => match kopecks(v, "Amount") {
                    Ok(a) => a,
                    Err(e) => return refuse(&mut store, "9999", e),
                },
            };
            if !matches!(p.status.as_str(), "CONFIRMED" | "PARTIAL_REFUNDED") {
                return (
                    fail(
                        "4",
                        &format!("Нельзя вернуть платёж в статусе {}", p.status),
                    ),
                    vec![],
                );
            }
            if amount > p.amount {
                let why = format!("Cancel of {amount} exceeds what is left, {}", p.amount);
                return refuse(&mut store, "9999", why);
            }
            let whole = amount == p.original && p.refunds.is_empty();
            let receipt = b.get("Receipt").cloned();
            match (&receipt, &p.receipt, whole) {
                (Some(r), _, _) => {
                    if let Err(e) = check_receipt(r, amount) {
                        return refuse(&mut store, "309", e);
                    }
                }
                (None, Some(_), false) => {
                    return refuse(
                        &mut store,
                        "309",
                        "a partial Cancel without the Receipt of the refunded lines".into(),
                    );
                }
                _ => {}
            }
            if refuse_all {
                return (fail("1013", "Отказ банка в возврате"), vec![]);
            }
            let p = store.payments.get_mut(&id).unwrap();
            p.amount -= amount;
            p.refunds.push((amount, receipt));
            let before = p.status.clone();
            p.status = if p.sbp {
                p.async_refund = Some((before, amount));
                "ASYNC_REFUNDING".into()
            } else if p.amount == 0 {
                "REFUNDED".into()
            } else {
                "PARTIAL_REFUNDED".into()
            };
            let answer = json!({"TerminalKey": TERMINAL_KEY, "Success": true, "ErrorCode": "0", "Status": p.status,
                                "PaymentId": id, "OrderId": p.order_id, "OriginalAmount": p.original, "NewAmount": p.amount});
            let status = p.status.clone();
            (answer, vec![(id, vec![status])])
        }
        "SendClosingReceipt" => {
            let id = text(b, "PaymentId").unwrap_or_default();
            let Some(p) = store.payments.get(&id).cloned() else {
                return (fail("7", "Платёж не найден"), vec![]);
            };
            if p.status != "CONFIRMED" {
                return refuse(
                    &mut store,
                    "4",
                    format!("closing receipt of a payment in {}", p.status),
                );
            }
            let prepaid = p.receipt.as_ref().is_some_and(|r| {
                r["Items"]
                    .as_array()
                    .is_some_and(|i| i.iter().any(|i| i["PaymentMethod"] == "full_prepayment"))
            });
            if !prepaid {
                return refuse(
                    &mut store,
                    "9999",
                    "closing receipt of a payment without a prepayment receipt".into(),
                );
            }
            let Some(r) = b.get("Receipt").cloned() else {
                return refuse(&mut store, "9999", "no Receipt".into());
            };
            let total: i64 = r["Items"]
                .as_array()
                .map(|items| items.iter().filter_map(|i| i["Amount"].as_i64()).sum())
                .unwrap_or(0);
            if let Err(e) = check_receipt(&r, total) {
                return refuse(&mut store, "309", e);
            }
            if r["Items"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["PaymentMethod"] != "full_payment"))
            {
                return refuse(
                    &mut store,
                    "309",
                    "a closing receipt line is not full_payment".into(),
                );
            }
            store
                .payments
                .get_mut(&id)
                .unwrap()
                .closing_receipts
                .push(r);
            (
                json!({"Success": true, "ErrorCode": "0", "Message": "OK"}),
                vec![],
            )
        }
        other => refuse(&mut store, "9999", format!("no such method {other}")),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn html(body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>Т-Банк (тест)</title></head><body>{body}</body></html>"
    ))
}

async fn page(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let Some(p) = inner.store.lock().unwrap().payments.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, html("<h1>Платёж не найден</h1>")).into_response();
    };
    if p.status == "3DS_CHECKING" {
        return html(&format!(
            "<h1>Подтверждение 3-D Secure</h1><form method=\"post\" action=\"/pay/{id}/confirm\">\
             <label>Код из СМС<input name=\"code\"></label><button>Подтвердить</button></form>\
             <p>Код — {}</p>",
            cards::CONFIRMATION_CODE
        ))
        .into_response();
    }
    if p.status != "NEW" && p.status != "FORM_SHOWED" {
        return html("<h1>Платёж уже обработан</h1>").into_response();
    }
    inner
        .store
        .lock()
        .unwrap()
        .payments
        .get_mut(&id)
        .unwrap()
        .status = "FORM_SHOWED".into();
    html(&format!(
        "<h1>Оплата {} коп.</h1><form method=\"post\"><label>Номер карты<input name=\"number\"></label>\
         <label>Срок<input name=\"expiry\"></label><label>CVC<input name=\"cvc\"></label>\
         <button>Оплатить</button></form>",
        p.amount
    ))
    .into_response()
}

#[derive(serde::Deserialize)]
struct CardForm {
    number: String,
    expiry: String,
    cvc: String,
}

/// Where the payer goes next, and the notifications to send.
fn finish_card(
    p: &mut Payment,
    number: &str,
    rebills: &mut HashMap<String, String>,
) -> (String, Vec<String>) {
    p.pan = Some(format!(
        "{}******{}",
        &number[..6],
        &number[number.len() - 4..]
    ));
    match number {
        cards::DECLINE => {
            p.status = "REJECTED".into();
            (p.fail_url.clone(), vec!["REJECTED".into()])
        }
        cards::CONFIRM => {
            p.status = "3DS_CHECKING".into();
            (format!("/pay/{}", p.id), vec![])
        }
        _ => {
            p.status = "CONFIRMED".into();
            if p.recurrent {
                let rebill = format!("{}{}", 9_100_000, p.id);
                rebills.insert(rebill.clone(), p.customer_key.clone().unwrap_or_default());
                p.rebill_id = Some(rebill);
            }
            let statuses = match number {
                cards::LOST_WEBHOOKS => vec![],
                // Twice, and a stale one last.
                cards::REPEATED_WEBHOOKS => vec![
                    "AUTHORIZED".into(),
                    "CONFIRMED".into(),
                    "CONFIRMED".into(),
                    "AUTHORIZED".into(),
                ],
                _ => vec!["AUTHORIZED".into(), "CONFIRMED".into()],
            };
            (p.success_url.clone(), statuses)
        }
    }
}

async fn pay(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    Form(card): Form<CardForm>,
) -> Response {
    let number: String = card.number.chars().filter(char::is_ascii_digit).collect();
    if !suz::payments::sandbox::luhn_ok(&number)
        || card.expiry.trim().len() != 5
        || card.cvc.trim().len() != 3
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            html("<p>Проверьте данные карты</p>"),
        )
            .into_response();
    }
    let (to, statuses) = {
        let mut store = inner.store.lock().unwrap();
        let store = &mut *store;
        let Some(p) = store.payments.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if p.status != "NEW" && p.status != "FORM_SHOWED" {
            return Redirect::to(&p.success_url).into_response();
        }
        finish_card(p, &number, &mut store.rebills)
    };
    for s in statuses {
        let n = notification(&inner, &id, Some(&s));
        deliver(&inner, n).await;
    }
    (
        StatusCode::SEE_OTHER,
        [(http::header::LOCATION, to.clone())],
        to,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn confirm(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    Form(form): Form<CodeForm>,
) -> Response {
    let (to, status) = {
        let mut store = inner.store.lock().unwrap();
        let Some(p) = store.payments.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if p.status != "3DS_CHECKING" {
            return StatusCode::CONFLICT.into_response();
        }
        if form.code.trim() == cards::CONFIRMATION_CODE {
            p.status = "CONFIRMED".into();
            (p.success_url.clone(), "CONFIRMED")
        } else {
            p.status = "AUTH_FAIL".into();
            (p.fail_url.clone(), "AUTH_FAIL")
        }
    };
    let statuses: &[&str] = if status == "CONFIRMED" {
        &["3DS_CHECKED", "AUTHORIZED", "CONFIRMED"]
    } else {
        &["AUTH_FAIL"]
    };
    for s in statuses {
        let n = notification(&inner, &id, Some(s));
        deliver(&inner, n).await;
    }
    (
        StatusCode::SEE_OTHER,
        [(http::header::LOCATION, to.clone())],
        to,
    )
        .into_response()
}

async fn sbp_page(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    if !inner.store.lock().unwrap().payments.contains_key(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let buttons: String = sbp_banks::ALL
        .iter()
        .map(|(v, label)| {
            format!(
                "<button name=\"bank\" value=\"{v}\">{}</button>",
                escape(label)
            )
        })
        .collect();
    html(&format!(
        "<h1>Оплата через СБП</h1><form method=\"post\">{buttons}</form>"
    ))
    .into_response()
}

#[derive(serde::Deserialize)]
struct BankForm {
    bank: String,
}

async fn sbp_pay(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    Form(form): Form<BankForm>,
) -> Response {
    let (to, statuses) = {
        let mut store = inner.store.lock().unwrap();
        let Some(p) = store.payments.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if !p.sbp || (p.status != "NEW" && p.status != "FORM_SHOWED") {
            return StatusCode::CONFLICT.into_response();
        }
        match form.bank.as_str() {
            sbp_banks::DECLINE => {
                p.status = "REJECTED".into();
                (p.fail_url.clone(), vec!["REJECTED"])
            }
            sbp_banks::LOST_WEBHOOKS => {
                p.status = "CONFIRMED".into();
                (p.success_url.clone(), vec![])
            }
            _ => {
                p.status = "CONFIRMED".into();
                (p.success_url.clone(), vec!["CONFIRMED"])
            }
        }
    };
    for s in statuses {
        let n = notification(&inner, &id, Some(s));
        deliver(&inner, n).await;
    }
    (
        StatusCode::SEE_OTHER,
        [(http::header::LOCATION, to.clone())],
        to,
    )
        .into_response()
}
