//! A contract fake of ЮKassa API v3 on 127.0.0.1: payments, refunds, receipts, the
//! hosted confirmation page and notifications, kept in memory. Every request is recorded
//! and CHECKED the way ЮKassa documents it: Basic auth with the shop's id and secret key,
//! an `Idempotence-Key` on every POST (the same key and body give the same object, the
//! same key with another body is refused), amounts as «N.NN» rubles, receipt items
//! summing to the amount exactly (unit price × quantity), valid `vat_code`,
//! `payment_mode`, `payment_subject` and `tax_system_code`, a refund within what is left
//! of the payment.
//!
//! Its page takes the same fields and test cards as the sandbox's
//! (`payments::sandbox::cards`): SUCCESS pays, DECLINE is declined (insufficient funds),
//! CONFIRM asks for 3-D Secure (code 1234), LOST_WEBHOOKS pays but sends nothing,
//! REPEATED_WEBHOOKS pays and notifies twice, then sends a stale `waiting_for_capture`.
#![allow(dead_code)]

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use suz::payments::http::HttpClient;
use suz::payments::sandbox::cards;

pub const SHOP_ID: &str = "506751";
pub const SECRET: &str = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0";

/// The fee the fake keeps: 3,5 % of a payment (`income_amount` is the rest).
pub const FEE_PERMILLE: i64 = 35;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    /// Without the `/v3` root, with the query: `/payments`, `/receipts?payment_id=…`.
    pub path: String,
    pub key: Option<String>,
    pub body: Value,
    pub status: u16,
}

/// What happens to a refund once created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RefundOutcome {
    /// `succeeded` at once (cards), with a `refund.succeeded` notification.
    #[default]
    Succeed,
    /// `pending` until [`FakeYookassa::settle_refund`].
    Pending,
}

/// Scripted behaviour.
#[derive(Debug, Default)]
pub struct Script {
    /// The next N API calls answer 500 without doing anything.
    pub fail_next: usize,
    /// The next N API calls are processed, then never answered (the client times out).
    pub hang_next: usize,
    pub refund: RefundOutcome,
    /// The next saved-card payment asks for 3-D Secure.
    pub three_ds_next: bool,
    /// Refuse payments without a receipt (a shop with 54-ФЗ on).
    pub require_receipt: bool,
    /// The fee kept, in permille of a payment, if not [`FEE_PERMILLE`] (the shop's
    /// contract).
    pub fee_permille: Option<i64>,
}

#[derive(Default)]
struct Store {
    payments: BTreeMap<String, Value>,
    refunds: BTreeMap<String, Value>,
    receipts: Vec<Value>,
    /// Saved payment methods: id → last4.
    methods: HashMap<String, String>,
    /// Idempotence key → (endpoint, body, answer).
    keys: HashMap<String, (String, Value, Value)>,
    /// Cards entered on the page per payment (what its notifications do).
    page_card: HashMap<String, String>,
    log: Vec<Logged>,
    script: Script,
    notify_url: Option<String>,
    /// Notifications waiting to be delivered.
    outbox: Vec<Value>,
    /// (event, object id, the app's status and body) of each delivery.
    deliveries: Vec<(String, String, u16, String)>,
    seq: u64,
}

#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    base: String,
    http: HttpClient,
}

pub struct FakeYookassa {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Shared,
}

fn error(status: StatusCode, code: &str, description: &str, parameter: Option<&str>) -> Response {
    let mut body = json!({
        "type": "error",
        "id": uuid::Uuid::new_v4().to_string(),
        "code": code,
        "description": description,
    });
    if let Some(p) = parameter {
        body["parameter"] = json!(p);
    }
    (status, Json(body)).into_response()
}

/// A refusal as a handler's error (boxed: a response is large).
type Refusal = Box<Response>;

fn invalid(description: &str, parameter: &str) -> Refusal {
    Box::new(error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        description,
        Some(parameter),
    ))
}

/// «N.NN» to kopecks; anything else is refused.
pub fn kopecks(value: &Value) -> Option<i64> {
    let s = value.as_str()?;
    let (w, f) = s.split_once('.')?;
    if w.is_empty()
        || f.len() != 2
        || !w.bytes().all(|b| b.is_ascii_digit())
        || !f.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(w.parse::<i64>().ok()? * 100 + f.parse::<i64>().ok()?)
}

fn rub(k: i64) -> Value {
    json!({"value": format!("{}.{:02}", k / 100, k % 100), "currency": "RUB"})
}

fn money(a: &Value, parameter: &str) -> Result<i64, Refusal> {
    if a.get("currency").and_then(Value::as_str) != Some("RUB") {
        return Err(invalid("currency must be RUB", parameter));
    }
    kopecks(&a["value"]).ok_or_else(|| invalid("amount.value must be «N.NN»", parameter))
}

const PAYMENT_MODES: [&str; 7] = [
    "full_prepayment",
    "prepayment",
    "advance",
    "full_payment",
    "partial_payment",
    "credit",
    "credit_payment",
];
const PAYMENT_SUBJECTS: [&str; 8] = [
    "commodity",
    "excise",
    "job",
    "service",
    "payment",
    "agent_commission",
    "composite",
    "another",
];

/// Checks receipt items: codes, «N.NN» unit prices, quantities; returns Σ price × quantity.
fn items_total(items: &Value) -> Result<i64, Refusal> {
    let items = items
        .as_array()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid("receipt items are missing", "receipt.items"))?;
    let mut total = Decimal::ZERO;
    for it in items {
        let d = it["description"].as_str().unwrap_or("");
        if d.is_empty() || d.chars().count() > 128 {
            return Err(invalid(
                "item description: 1 to 128 characters",
                "receipt.items.description",
            ));
        }
        let q = match &it["quantity"] {
            Value::String(s) => Decimal::from_str(s).ok(),
            Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
            _ => None,
        }
        .filter(|q| *q > Decimal::ZERO)
        .ok_or_else(|| invalid("item quantity", "receipt.items.quantity"))?;
        let price = money(&it["amount"], "receipt.items.amount")?;
        if !it["vat_code"]
            .as_u64()
            .is_some_and(|v| (1..=12).contains(&v))
        {
            return Err(invalid("vat_code: 1 to 12", "receipt.items.vat_code"));
        }
        if !it["payment_mode"]
            .as_str()
            .is_some_and(|m| PAYMENT_MODES.contains(&m))
        {
            return Err(invalid("payment_mode", "receipt.items.payment_mode"));
        }
        if !it["payment_subject"]
            .as_str()
            .is_some_and(|m| PAYMENT_SUBJECTS.contains(&m))
        {
            return Err(invalid("payment_subject", "receipt.items.payment_subject"));
        }
        total += Decimal::from(price) * q;
    }
    if total.fract() != Decimal::ZERO {
        return Err(invalid(
            "price × quantity is not a whole number of kopecks",
            "receipt.items",
        ));
    }
    i64::try_from(total).map_err(|_| invalid("too much", "receipt.items"))
}

fn check_customer(c: &Value) -> Result<(), Refusal> {
    let email = c["email"].as_str().is_some_and(|e| e.contains('@'));
    let phone = c["phone"]
        .as_str()
        .is_some_and(|p| p.len() == 11 && p.bytes().all(|b| b.is_ascii_digit()));
    if email || phone {
        Ok(())
    } else {
        Err(invalid(
            "receipt customer: email or phone (79000000000)",
            "receipt.customer",
        ))
    }
}

fn check_tax(v: &Value) -> Result<(), Refusal> {
    if v.is_null() || v.as_u64().is_some_and(|t| (1..=6).contains(&t)) {
        Ok(())
    } else {
        Err(invalid(
            "tax_system_code: 1 to 6",
            "receipt.tax_system_code",
        ))
    }
}

/// A payment's or refund's receipt, which must sum to `amount` exactly.
fn check_receipt(r: &Value, amount: i64) -> Result<(), Refusal> {
    check_customer(&r["customer"])?;
    check_tax(&r["tax_system_code"])?;
    let total = items_total(&r["items"])?;
    if total != amount {
        return Err(invalid(
            &format!("receipt items sum to {total} kopecks, the amount is {amount}"),
            "receipt",
        ));
    }
    Ok(())
}

impl Store {
    /// A new object id: unique across shops too, as ЮKassa's are.
    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("{prefix}{:08x}-000f-5000-9000-{}", self.seq, &random[..12])
    }

    fn notify(&mut self, event: &str, object: &Value) {
        self.outbox
            .push(json!({"type": "notification", "event": event, "object": object}));
    }

    fn refunded(&self, payment_id: &str) -> i64 {
        self.refunds
            .values()
            .filter(|r| r["payment_id"] == payment_id && r["status"] != "canceled")
            .filter_map(|r| kopecks(&r["amount"]["value"]))
            .sum()
    }

    /// The receipt registered with an object (payment or refund) that carried one.
    fn register_with(&mut self, kind: &str, object: &Value, receipt: &Value) {
        let id = self.next_id("rt-");
        let n = self.receipts.len() + 1;
        let mut r = json!({
            "id": id,
            "type": kind,
            "status": "succeeded",
            "items": receipt["items"],
            "tax_system_code": receipt["tax_system_code"],
            "fiscal_document_number": format!("{}", 3_900 + n),
            "fiscal_storage_number": "9288000100115785",
            "fiscal_attribute": format!("{}", 2_617_603_900u64 + n as u64),
            "registered_at": "2026-12-02T10:15:30.412Z",
            "fiscal_provider_id": format!("fd-{n}"),
        });
        if kind == "payment" {
            r["payment_id"] = object["id"].clone();
        } else {
            r["refund_id"] = object["id"].clone();
            r["payment_id"] = object["payment_id"].clone();
        }
        self.receipts.push(r);
    }

    /// A payment reaches its end on the page.
    fn finish(&mut self, id: &str, succeeded: bool, reason: &str, last4: Option<&str>) {
        let Some(mut p) = self.payments.get(id).cloned() else {
            return;
        };
        if p["status"] != "pending" {
            return;
        }
        if succeeded {
            let amount = kopecks(&p["amount"]["value"]).unwrap_or(0);
            let permille = self.script.fee_permille.unwrap_or(FEE_PERMILLE);
            let fee = (amount * permille + 500) / 1000;
            p["status"] = json!("succeeded");
            p["paid"] = json!(true);
            p["income_amount"] = rub(amount - fee);
            p["captured_at"] = json!("2026-12-02T10:15:30.000Z");
            p["refundable"] = json!(true);
            if let Some(l4) = last4 {
                if p["payment_method"]["type"] == "bank_card" {
                    p["payment_method"]["card"] = json!({"first6": "424242", "last4": l4,
                        "expiry_month": "12", "expiry_year": "2035", "card_type": "Visa"});
                    if p["_save"] == true {
                        p["payment_method"]["saved"] = json!(true);
                        let pm = p["payment_method"]["id"].as_str().unwrap_or("").to_owned();
                        self.methods.insert(pm, l4.to_owned());
                    }
                }
            }
            if let Some(receipt) = p.get("_receipt").cloned() {
                self.register_with("payment", &p, &receipt);
            }
        } else {
            p["status"] = json!("canceled");
            p["cancellation_details"] = json!({"party": "payment_network", "reason": reason});
        }
        p.as_object_mut().unwrap().remove("confirmation");
        self.payments.insert(id.to_owned(), p);
    }

    /// The object as the API shows it (without the fake's own notes).
    fn public(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| !k.starts_with('_'));
        }
        v
    }
}

impl FakeYookassa {
    pub async fn start() -> FakeYookassa {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Shared {
            store: Arc::default(),
            base: base.clone(),
            http: HttpClient::default(),
        };
        let app = Router::new()
            .route("/v3/payments", post(create_payment))
            .route("/v3/payments/{id}", get(get_payment))
            .route("/v3/refunds", post(create_refund).get(list_refunds))
            .route("/v3/refunds/{id}", get(get_refund))
            .route("/v3/receipts", post(create_receipt).get(list_receipts))
            .route("/pay/{id}", get(page).post(pay))
            .route("/pay/{id}/confirm", post(confirm))
            .with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        FakeYookassa { base, shared }
    }

    /// The API root for the account's `api_url`.
    pub fn api_url(&self) -> String {
        format!("{}/v3", self.base)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store.lock().expect("fake store")
    }

    /// Where notifications go (the app's `/payments/webhook/<account>`).
    pub fn notify_to(&self, url: &str) {
        self.store().notify_url = Some(url.to_owned());
    }

    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.store().script);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.store().log.clone()
    }

    /// The recorded requests of a method whose path starts with `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.method == method && l.path.starts_with(path))
            .collect()
    }

    pub fn payments(&self) -> Vec<Value> {
        self.store().payments.values().map(Store::public).collect()
    }

    pub fn payment(&self, id: &str) -> Value {
        Store::public(&self.store().payments[id])
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.store().refunds.values().cloned().collect()
    }

    pub fn receipts(&self) -> Vec<Value> {
        self.store().receipts.clone()
    }

    /// (event, object id, status, body) of every notification delivered.
    pub fn deliveries(&self) -> Vec<(String, String, u16, String)> {
        self.store().deliveries.clone()
    }

    /// Registers the receipts still pending (the online cash register answered).
    pub fn register_receipts(&self) {
        for r in &mut self.store().receipts {
            if r["status"] == "pending" {
                r["status"] = json!("succeeded");
                r["fiscal_document_number"] = json!("5100");
                r["fiscal_storage_number"] = json!("9288000100115785");
                r["fiscal_attribute"] = json!("1851214103");
                r["registered_at"] = json!("2026-12-02T12:00:00.000Z");
            }
        }
    }

    /// Ends a pending refund; a succeeded one is notified.
    pub fn settle_refund(&self, id: &str, succeeded: bool) {
        let mut s = self.store();
        let Some(mut r) = s.refunds.get(id).cloned() else {
            panic!("no refund {id}");
        };
        if succeeded {
            r["status"] = json!("succeeded");
            s.notify("refund.succeeded", &r);
        } else {
            r["status"] = json!("canceled");
            r["cancellation_details"] =
                json!({"party": "yoo_money", "reason": "rejected_by_payee"});
        }
        s.refunds.insert(id.to_owned(), r);
    }

    /// Delivers the notifications waiting; returns the app's statuses.
    pub async fn deliver(&self) -> Vec<u16> {
        deliver(&self.shared).await
    }

    /// Pays on the hosted page the way a browser does (the same form as the sandbox's);
    /// returns the redirect's status and location.
    pub async fn pay_on_page(&self, url: &str, card: &str) -> (u16, String) {
        post_form(url, &format!("number={card}&expiry=12%2F35&cvc=123")).await
    }

    /// Enters the 3-D Secure code on the page.
    pub async fn confirm_on_page(&self, url: &str, code: &str) -> (u16, String) {
        post_form(&format!("{url}/confirm"), &format!("code={code}")).await
    }
}

async fn post_form(url: &str, form: &str) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(bytes::Bytes::from(form.to_owned())))
        .expect("request");
    let res = client.request(req).await.expect("the page answers");
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = res.into_body().collect().await;
    (status, location)
}

async fn deliver(shared: &Shared) -> Vec<u16> {
    let (url, outbox) = {
        let mut s = shared.store.lock().unwrap();
        (s.notify_url.clone(), std::mem::take(&mut s.outbox))
    };
    let Some(url) = url else {
        return vec![];
    };
    let mut statuses = vec![];
    for n in outbox {
        let (status, body) = match shared
            .http
            .send(http::Method::POST, &url, &[], n.to_string().into_bytes())
            .await
        {
            Ok((s, b)) => (s.as_u16(), String::from_utf8_lossy(&b).into_owned()),
            Err(e) => (0, e),
        };
        statuses.push(status);
        shared.store.lock().unwrap().deliveries.push((
            n["event"].as_str().unwrap_or("").to_owned(),
            n["object"]["id"].as_str().unwrap_or("").to_owned(),
            status,
            body,
        ));
    }
    statuses
}

/// What every API request goes through: recorded, authenticated, scripted failures.
enum Gate {
    Go,
    Hang,
    Answer(Response),
}

fn gate(
    shared: &Shared,
    method: &str,
    path: String,
    headers: &HeaderMap,
    body: &Value,
) -> (usize, Gate) {
    let mut s = shared.store.lock().unwrap();
    let key = headers
        .get("idempotence-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.log.push(Logged {
        method: method.into(),
        path,
        key: key.clone(),
        body: body.clone(),
        status: 0,
    });
    let at = s.log.len() - 1;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SHOP_ID}:{SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            at,
            Gate::Answer(error(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Login or password are incorrect",
                None,
            )),
        );
    }
    if s.script.fail_next > 0 {
        s.script.fail_next -= 1;
        return (
            at,
            Gate::Answer(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                "Internal server error",
                None,
            )),
        );
    }
    if method == "POST" {
        match key.as_deref() {
            None | Some("") => {
                return (
                    at,
                    Gate::Answer(*invalid(
                        "Idempotence-Key header is missing",
                        "Idempotence-Key",
                    )),
                )
            }
            Some(k) if k.len() > 64 => {
                return (
                    at,
                    Gate::Answer(*invalid("Idempotence-Key is too long", "Idempotence-Key")),
                )
            }
            _ => {}
        }
    }
    if s.script.hang_next > 0 {
        s.script.hang_next -= 1;
        return (at, Gate::Hang);
    }
    (at, Gate::Go)
}

/// Runs a POST under its idempotence key: the same key and body answer the first result,
/// the same key with another body is refused.
async fn idempotent(
    shared: &Shared,
    endpoint: &str,
    headers: HeaderMap,
    body: Value,
    run: impl FnOnce(&mut Store, &str, &Value) -> Result<Value, Refusal>,
) -> Response {
    let (at, g) = gate(shared, "POST", endpoint.into(), &headers, &body);
    let hang = matches!(g, Gate::Hang);
    let answer = match g {
        Gate::Answer(r) => Err(Box::new(r)),
        Gate::Go | Gate::Hang => {
            let mut s = shared.store.lock().unwrap();
            let key = headers["idempotence-key"].to_str().unwrap().to_owned();
            match s.keys.get(&key) {
                Some((e, b, answer)) if e == endpoint && *b == body => Ok(answer.clone()),
                Some(_) => Err(invalid(
                    "Idempotence key duplicated with another request",
                    "Idempotence-Key",
                )),
                None => {
                    let base = shared.base.clone();
                    let result = run(&mut s, &base, &body);
                    if let Ok(answer) = &result {
                        s.keys
                            .insert(key, (endpoint.to_owned(), body.clone(), answer.clone()));
                    }
                    result
                }
            }
        }
    };
    finish_call(shared, at, hang, answer).await
}

async fn finish_call(
    shared: &Shared,
    at: usize,
    hang: bool,
    answer: Result<Value, Refusal>,
) -> Response {
    let response = match answer {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(r) => *r,
    };
    if hang {
        // Done, but the answer never comes: the client gives up.
        std::future::pending::<()>().await;
    }
    shared.store.lock().unwrap().log[at].status = response.status().as_u16();
    response
}

fn read_body(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or(Value::Null)
}

async fn create_payment(State(sh): State<Shared>, headers: HeaderMap, raw: String) -> Response {
    let body = read_body(&raw);
    idempotent(&sh, "/payments", headers, body, |s, base, b| {
        let amount = money(&b["amount"], "amount")?;
        if amount < 100 {
            return Err(invalid("the least payment is 1.00", "amount"));
        }
        let description = b["description"].as_str().unwrap_or("");
        if description.chars().count() > 128 {
            return Err(invalid("description: up to 128 characters", "description"));
        }
        if let Some(meta) = b.get("metadata") {
            let ok = meta
                .as_object()
                .is_some_and(|m| m.len() <= 16 && m.values().all(Value::is_string));
            if !ok {
                return Err(invalid("metadata: up to 16 string values", "metadata"));
            }
        }
        let receipt = b.get("receipt").cloned();
        match &receipt {
            Some(r) => check_receipt(r, amount)?,
            None if s.script.require_receipt => {
                return Err(invalid("Receipt is missing or illegal", "receipt"))
            }
            None => {}
        }
        let saved = b.get("payment_method_id").and_then(Value::as_str);
        let data = b.get("payment_method_data");
        if saved.is_some() && data.is_some() {
            return Err(invalid(
                "payment_method_id and payment_method_data together",
                "payment_method_data",
            ));
        }
        let confirmation = &b["confirmation"];
        let return_url = confirmation["return_url"].as_str();
        if confirmation.is_object() && (confirmation["type"] != "redirect" || return_url.is_none())
        {
            return Err(invalid(
                "confirmation: redirect with return_url",
                "confirmation",
            ));
        }
        let id = s.next_id("2d");
        let mut p = json!({
            "id": id,
            "status": "pending",
            "paid": false,
            "amount": b["amount"],
            "description": description,
            "metadata": b.get("metadata").cloned().unwrap_or(json!({})),
            "recipient": {"account_id": SHOP_ID, "gateway_id": "2290112"},
            "created_at": "2026-12-02T10:15:00.000Z",
            "test": true,
            "refundable": false,
        });
        if let Some(r) = receipt {
            p["_receipt"] = r;
        }
        if let Some(pm) = saved {
            let Some(last4) = s.methods.get(pm).cloned() else {
                return Err(invalid("payment_method_id is unknown", "payment_method_id"));
            };
            p["payment_method"] = json!({"type": "bank_card", "id": pm, "saved": true,
                "card": {"last4": last4, "first6": "424242"}});
            if std::mem::take(&mut s.script.three_ds_next) {
                let url = return_url
                    .ok_or_else(|| invalid("3-D Secure needs a confirmation", "confirmation"))?;
                p["confirmation"] = json!({"type": "redirect", "return_url": url,
                    "confirmation_url": format!("{base}/pay/{id}")});
                s.page_card.insert(id.clone(), cards::CONFIRM.into());
                s.payments.insert(id.clone(), p.clone());
            } else {
                s.payments.insert(id.clone(), p);
                s.finish(&id, true, "", Some(&last4));
                let done = s.payments[&id].clone();
                s.notify("payment.succeeded", &Store::public(&done));
                return Ok(Store::public(&done));
            }
        } else {
            let kind = data.and_then(|d| d["type"].as_str()).unwrap_or("");
            if !["bank_card", "sbp"].contains(&kind) {
                return Err(invalid(
                    "payment_method_data.type",
                    "payment_method_data.type",
                ));
            }
            let url =
                return_url.ok_or_else(|| invalid("confirmation is missing", "confirmation"))?;
            let pm = s.next_id("pm");
            p["payment_method"] = json!({"type": kind, "id": pm, "saved": false});
            p["_save"] = json!(b["save_payment_method"] == true);
            p["confirmation"] = json!({"type": "redirect", "return_url": url,
                "confirmation_url": format!("{base}/pay/{id}")});
            s.payments.insert(id.clone(), p.clone());
        }
        Ok(Store::public(&p))
    })
    .await
}

async fn get_payment(
    State(sh): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (at, g) = gate(
        &sh,
        "GET",
        format!("/payments/{id}"),
        &headers,
        &Value::Null,
    );
    let hang = matches!(g, Gate::Hang);
    let answer = match g {
        Gate::Answer(r) => Err(Box::new(r)),
        _ => match sh.store.lock().unwrap().payments.get(&id) {
            Some(p) => Ok(Store::public(p)),
            None => Err(Box::new(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "Payment doesn't exist",
                None,
            ))),
        },
    };
    finish_call(&sh, at, hang, answer).await
}

async fn create_refund(State(sh): State<Shared>, headers: HeaderMap, raw: String) -> Response {
    let body = read_body(&raw);
    idempotent(&sh, "/refunds", headers, body, |s, _, b| {
        let amount = money(&b["amount"], "amount")?;
        let payment_id = b["payment_id"].as_str().unwrap_or("").to_owned();
        let Some(p) = s.payments.get(&payment_id).cloned() else {
            return Err(invalid("payment_id is unknown", "payment_id"));
        };
        if p["status"] != "succeeded" {
            return Err(invalid("the payment has not succeeded", "payment_id"));
        }
        let paid = kopecks(&p["amount"]["value"]).unwrap_or(0);
        if amount <= 0 || amount > paid - s.refunded(&payment_id) {
            return Err(invalid(
                "The refund amount exceeds what is left of the payment",
                "amount",
            ));
        }
        if b["description"]
            .as_str()
            .is_some_and(|d| d.chars().count() > 250)
        {
            return Err(invalid("description: up to 250 characters", "description"));
        }
        if let Some(r) = b.get("receipt") {
            check_receipt(r, amount)?;
        }
        let id = s.next_id("rf");
        let status = match s.script.refund {
            RefundOutcome::Succeed => "succeeded",
            RefundOutcome::Pending => "pending",
        };
        let refund = json!({
            "id": id,
            "payment_id": payment_id,
            "status": status,
            "amount": b["amount"],
            "description": b["description"],
            "created_at": "2026-12-02T11:00:00.000Z",
        });
        if let Some(r) = b.get("receipt") {
            s.register_with("refund", &refund, r);
        }
        if status == "succeeded" {
            s.notify("refund.succeeded", &refund);
        }
        s.refunds.insert(id, refund.clone());
        Ok(refund)
    })
    .await
}

async fn get_refund(
    State(sh): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (at, g) = gate(&sh, "GET", format!("/refunds/{id}"), &headers, &Value::Null);
    let hang = matches!(g, Gate::Hang);
    let answer = match g {
        Gate::Answer(r) => Err(Box::new(r)),
        _ => match sh.store.lock().unwrap().refunds.get(&id) {
            Some(r) => Ok(r.clone()),
            None => Err(Box::new(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "Refund doesn't exist",
                None,
            ))),
        },
    };
    finish_call(&sh, at, hang, answer).await
}

async fn list_refunds(
    State(sh): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!(
        "/refunds?payment_id={}",
        q.get("payment_id").cloned().unwrap_or_default()
    );
    let (at, g) = gate(&sh, "GET", path, &headers, &Value::Null);
    let hang = matches!(g, Gate::Hang);
    let answer = match g {
        Gate::Answer(r) => Err(Box::new(r)),
        _ => {
            let s = sh.store.lock().unwrap();
            let items: Vec<Value> = s
                .refunds
                .values()
                .filter(|r| {
                    Some(r["payment_id"].as_str().unwrap_or(""))
                        == q.get("payment_id").map(String::as_str)
                })
                .cloned()
                .collect();
            Ok(json!({"type": "list", "items": items}))
        }
    };
    finish_call(&sh, at, hang, answer).await
}

async fn create_receipt(State(sh): State<Shared>, headers: HeaderMap, raw: String) -> Response {
    let body = read_body(&raw);
    idempotent(&sh, "/receipts", headers, body, |s, _, b| {
        let kind = b["type"].as_str().unwrap_or("");
        if !["payment", "refund"].contains(&kind) {
            return Err(invalid("type: payment or refund", "type"));
        }
        let payment_id = b["payment_id"].as_str().unwrap_or("");
        if kind == "payment" && !s.payments.contains_key(payment_id) {
            return Err(invalid("payment_id is unknown", "payment_id"));
        }
        check_customer(&b["customer"])?;
        check_tax(&b["tax_system_code"])?;
        if b["send"] != true {
            return Err(invalid("send must be true", "send"));
        }
        let total = items_total(&b["items"])?;
        let settlements = b["settlements"]
            .as_array()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("settlements are missing", "settlements"))?;
        let mut paid = 0;
        for st in settlements {
            let t = st["type"].as_str().unwrap_or("");
            if !["cashless", "prepayment", "postpayment", "consideration"].contains(&t) {
                return Err(invalid("settlements.type", "settlements.type"));
            }
            paid += money(&st["amount"], "settlements.amount")?;
        }
        if paid != total {
            return Err(invalid(
                &format!("settlements sum to {paid} kopecks, the items to {total}"),
                "settlements",
            ));
        }
        let id = s.next_id("rt-");
        let r = json!({
            "id": id,
            "type": kind,
            "payment_id": payment_id,
            "status": "pending",
            "items": b["items"],
            "settlements": b["settlements"],
            "tax_system_code": b["tax_system_code"],
        });
        s.receipts.push(r.clone());
        Ok(r)
    })
    .await
}

async fn list_receipts(
    State(sh): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (field, value) = match (q.get("payment_id"), q.get("refund_id")) {
        (Some(p), None) => ("payment_id", p.clone()),
        (None, Some(r)) => ("refund_id", r.clone()),
        _ => ("", String::new()),
    };
    let path = format!("/receipts?{field}={value}");
    let (at, g) = gate(&sh, "GET", path, &headers, &Value::Null);
    let hang = matches!(g, Gate::Hang);
    let answer = match g {
        Gate::Answer(r) => Err(Box::new(r)),
        _ if field.is_empty() => Err(invalid("payment_id or refund_id", "payment_id")),
        _ => {
            let s = sh.store.lock().unwrap();
            let items: Vec<Value> = s
                .receipts
                .iter()
                .filter(|r| {
                    r[field] == value.as_str()
                        // A payment's list holds its payment receipts only.
                        && (field == "refund_id" || r["type"] == "payment")
                })
                .cloned()
                .collect();
            Ok(json!({"type": "list", "items": items}))
        }
    };
    finish_call(&sh, at, hang, answer).await
}

// ---- the hosted page -----------------------------------------------------------------

fn page_html(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><main>{body}</main></body></html>"
    ))
}

async fn page(State(sh): State<Shared>, Path(id): Path<String>) -> Response {
    let s = sh.store.lock().unwrap();
    let Some(p) = s.payments.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            page_html("Нет платежа", "<h1>Платёж не найден</h1>"),
        )
            .into_response();
    };
    let amount = p["amount"]["value"].as_str().unwrap_or("");
    if s.page_card.get(&id).map(String::as_str) == Some(cards::CONFIRM) {
        return page_html(
            "3-D Secure",
            &format!(
                "<h1>Подтвердите платёж</h1><form method=\"post\" action=\"/pay/{id}/confirm\">\
                 <label>Код из СМС <input name=\"code\" inputmode=\"numeric\" required></label>\
                 <button>Подтвердить</button></form>"
            ),
        )
        .into_response();
    }
    page_html(
        "ЮKassa",
        &format!(
            "<h1>Оплата {amount} ₽</h1><form method=\"post\" action=\"/pay/{id}\">\
             <label>Номер карты <input name=\"number\" required></label>\
             <label>Срок <input name=\"expiry\" placeholder=\"ММ/ГГ\" required></label>\
             <label>CVC <input name=\"cvc\" required></label><button>Оплатить</button></form>"
        ),
    )
    .into_response()
}

#[derive(serde::Deserialize)]
struct CardForm {
    number: String,
    expiry: String,
    cvc: String,
}

async fn pay(
    State(sh): State<Shared>,
    Path(id): Path<String>,
    Form(card): Form<CardForm>,
) -> Response {
    let number: String = card.number.chars().filter(char::is_ascii_digit).collect();
    let return_url = {
        let mut s = sh.store.lock().unwrap();
        let Some(p) = s.payments.get(&id).cloned() else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let return_url = p["confirmation"]["return_url"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if p["status"] != "pending" {
            return Redirect::to(&return_url).into_response();
        }
        if number.len() != 16 || card.cvc.trim().len() != 3 || !card.expiry.contains('/') {
            return (
                StatusCode::OK,
                page_html("Ошибка", "<p>Проверьте данные карты</p>"),
            )
                .into_response();
        }
        let last4 = number[12..].to_owned();
        s.page_card.insert(id.clone(), number.clone());
        match number.as_str() {
            cards::CONFIRM => {
                return Redirect::to(&format!("{}/pay/{id}", sh.base)).into_response();
            }
            cards::DECLINE => {
                s.finish(&id, false, "insufficient_funds", None);
                let p = Store::public(&s.payments[&id]);
                s.notify("payment.canceled", &p);
            }
            _ => {
                s.finish(&id, true, "", Some(&last4));
                let p = Store::public(&s.payments[&id]);
                match number.as_str() {
                    cards::LOST_WEBHOOKS => {}
                    cards::REPEATED_WEBHOOKS => {
                        s.notify("payment.succeeded", &p);
                        s.notify("payment.succeeded", &p);
                        let mut stale = p.clone();
                        stale["status"] = json!("waiting_for_capture");
                        s.notify("payment.waiting_for_capture", &stale);
                    }
                    _ => s.notify("payment.succeeded", &p),
                }
            }
        }
        return_url
    };
    deliver(&sh).await;
    Redirect::to(&return_url).into_response()
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn confirm(
    State(sh): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<CodeForm>,
) -> Response {
    let return_url = {
        let mut s = sh.store.lock().unwrap();
        let Some(p) = s.payments.get(&id).cloned() else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let return_url = p["confirmation"]["return_url"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let last4 = p["payment_method"]["card"]["last4"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| cards::CONFIRM[12..].to_owned());
        if form.code.trim() == cards::CONFIRMATION_CODE {
            s.finish(&id, true, "", Some(&last4));
            let p = Store::public(&s.payments[&id]);
            s.notify("payment.succeeded", &p);
        } else {
            s.finish(&id, false, "3d_secure_failed", None);
            let p = Store::public(&s.payments[&id]);
            s.notify("payment.canceled", &p);
        }
        return_url
    };
    deliver(&sh).await;
    Redirect::to(&return_url).into_response()
}
