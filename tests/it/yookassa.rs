//! The ЮKassa adapter through the app against the contract fake (`fake_yookassa`): the
//! legal entity of «СантехСервис» gets a ЮKassa account; residents pay on the fake's
//! page, notifications come from 127.0.0.1 (the account's network), refunds and receipts
//! go through the same adapter. The fake checks every request; the tests check what it
//! recorded and what the app did.

use crate::common::{self, scalar};
use crate::fake_yookassa::{self as fake, FakeYookassa, RefundOutcome};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use suz::error::AppError;
use suz::invoices::rules::{DiscountKind, LineInput};
use suz::money::Money;
use suz::payments::accounts::{AccountConfig, Gateways, SecretBox};
use suz::payments::gateway::{
    CreatePayment, CreateReceipt, CreateRefund, GatewayError, PayMethod, PaymentGateway,
    PaymentMode, PaymentSubject, Receipt, ReceiptKind, ReceiptLine, ReceiptStatus, Taxation,
};
use suz::payments::http::HttpClient;
use suz::payments::sandbox::cards;
use suz::payments::service::{self as payments, PayChoice};
use suz::payments::yookassa::YookassaGateway;
use suz::refunds::rules::RefundLineInput;
use suz::refunds::service::{self as refunds, RefundInput};
use suz::server::jobs;
use suz::time::now;

/// An app whose «СантехСервис» takes money through the fake ЮKassa, with an active
/// invoice of 1 200,00 ₽ for resident +79000000002.
struct Shop {
    app: common::TestApp,
    fake: FakeYookassa,
    account_id: i64,
    order_id: i64,
    resident: i64,
    invoice: i64,
}

async fn shop(key: &str) -> Shop {
    let app = common::spawn_served().await;
    let fake = FakeYookassa::start().await;
    let resident = app.resident_id("+79000000002").await;
    let order_id = app.submit_clog(resident, &format!("{key}-submit")).await;
    let entity = scalar(
        &app,
        "select legal_entity_id from orders where order_id = ?",
        order_id,
    )
    .await;
    let sealed = app.state.gateways.secrets().seal(fake::SECRET).unwrap();
    let t = now();
    let account_id: i64 = sqlx::query_scalar(
        "insert into payment_accounts (legal_entity_id, provider, shop_id, secret_sealed, api_url, notify_networks, \
         active, created_at, updated_at) values (?, 'yookassa', ?, ?, ?, '127.0.0.1/32', 1, ?, ?) returning account_id",
    )
    .bind(entity)
    .bind(fake::SHOP_ID)
    .bind(&sealed)
    .bind(fake.api_url())
    .bind(t)
    .bind(t)
    .fetch_one(app.pool())
    .await
    .unwrap();
    fake.notify_to(&app.state.gateways.webhook_url(account_id));
    let master = app.staff_user("master@demo.ru").await;
    let lines = [line(app.price_item("Прочистка засора").await, "1")];
    let invoice = app.issue_invoice(&master, order_id, &lines).await;
    Shop {
        app,
        fake,
        account_id,
        order_id,
        resident,
        invoice,
    }
}

fn line(price_item_id: i64, quantity: &str) -> LineInput {
    LineInput {
        price_item_id,
        quantity: quantity.into(),
        discount_kind: DiscountKind::None,
        discount_value: String::new(),
    }
}

fn card(save_card: bool) -> PayChoice {
    PayChoice {
        method: PayMethod::Card,
        email: "ivanov@example.ru".into(),
        card_id: None,
        save_card,
    }
}

async fn invoice_status(s: &Shop, invoice: i64) -> String {
    sqlx::query_scalar("select status from invoices where invoice_id = ?")
        .bind(invoice)
        .fetch_one(s.app.pool())
        .await
        .unwrap()
}

async fn payment_row(s: &Shop, payment_id: i64) -> (String, Option<String>, Option<String>) {
    sqlx::query_as("select status, provider_payment_id, failure from payments where payment_id = ?")
        .bind(payment_id)
        .fetch_one(s.app.pool())
        .await
        .unwrap()
}

async fn count(s: &Shop, sql: &str, id: i64) -> i64 {
    scalar(&s.app, sql, id).await
}

/// The app's state with adapters that give up on a call after 300 ms (for the fake's
/// «never answers»); the served router keeps the normal ones.
fn impatient(s: &Shop) -> suz::server::state::AppState {
    let mut state = s.app.state.clone();
    state.gateways = Arc::new(Gateways::new(
        s.app.state.gateways.default_gateway(),
        SecretBox::new(Some("test-secrets-key")),
        &s.app.state.config.public_url,
        HttpClient::default().with_timeout(Duration::from_millis(300)),
    ));
    state
}

/// A notification as ЮKassa sends it, from `peer`, straight into the app's router.
async fn notify_from(s: &Shop, peer: &str, body: &Value) -> common::Reply {
    let mut req = Request::post(format!("/payments/webhook/{}", s.account_id))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let addr: SocketAddr = format!("{peer}:443").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    s.app.send_raw(req).await
}

#[tokio::test]
async fn a_card_payment_is_created_once_paid_on_the_page_and_applied_as_the_api_says() {
    let s = shop("yk-ok-1").await;
    let state = &s.app.state;
    let started = payments::start(state, s.resident, s.invoice, card(true), now())
        .await
        .unwrap();
    let url = started.redirect_url.clone().expect("the fake's page");
    assert!(url.starts_with(&format!("{}/pay/", s.fake.base)), "{url}");
    // Asked again while under way: the same payment, no second call.
    let again = payments::start(state, s.resident, s.invoice, card(true), now())
        .await
        .unwrap();
    assert_eq!(again.payment_id, started.payment_id);

    let created = s.fake.requests("POST", "/payments");
    assert_eq!(created.len(), 1);
    let key: String =
        sqlx::query_scalar("select idempotency_key from payments where payment_id = ?")
            .bind(started.payment_id)
            .fetch_one(s.app.pool())
            .await
            .unwrap();
    assert_eq!(created[0].key.as_deref(), Some(key.as_str()));
    let body = &created[0].body;
    assert_eq!(
        body["amount"],
        json!({"value": "1200.00", "currency": "RUB"})
    );
    assert_eq!(body["capture"], true);
    assert_eq!(body["confirmation"]["type"], "redirect");
    assert_eq!(
        body["confirmation"]["return_url"],
        format!(
            "{}/requests/{}?payment={}",
            state.config.public_url, s.order_id, started.payment_id
        )
    );
    assert_eq!(body["payment_method_data"], json!({"type": "bank_card"}));
    assert_eq!(body["save_payment_method"], true);
    assert_eq!(
        body["metadata"]["payment_id"],
        started.payment_id.to_string()
    );
    assert_eq!(body["metadata"]["invoice_id"], s.invoice.to_string());
    assert_eq!(body["metadata"]["order_id"], s.order_id.to_string());
    assert!(body["description"].as_str().unwrap().chars().count() <= 128);
    // The receipt made with the payment goes with it: «Предоплата 100%» (the work is not
    // done yet) of the invoice's one line, at its unit price.
    let receipt = &body["receipt"];
    assert_eq!(receipt["customer"], json!({"email": "ivanov@example.ru"}));
    assert_eq!(
        receipt["tax_system_code"], 2,
        "УСН доход, the entity's default"
    );
    assert_eq!(
        receipt["items"],
        json!([{"description": "Прочистка засора", "quantity": "1.00",
                "amount": {"value": "1200.00", "currency": "RUB"}, "vat_code": 1,
                "payment_mode": "full_prepayment", "payment_subject": "service",
                "measure": "piece"}])
    );

    let (status, back) = s.fake.pay_on_page(&url, cards::SUCCESS).await;
    assert_eq!(status, 303);
    assert!(
        back.ends_with(&format!(
            "/requests/{}?payment={}",
            s.order_id, started.payment_id
        )),
        "{back}"
    );
    // The notification came from 127.0.0.1 and was answered 200; the app re-read the
    // payment from the API before paying the invoice.
    let deliveries = s.fake.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].0, "payment.succeeded");
    assert_eq!(deliveries[0].2, 200);
    let (st, provider_id, _) = payment_row(&s, started.payment_id).await;
    assert_eq!(st, "succeeded");
    let provider_id = provider_id.unwrap();
    assert_eq!(
        s.fake
            .requests("GET", &format!("/payments/{provider_id}"))
            .len(),
        1
    );
    assert_eq!(invoice_status(&s, s.invoice).await, "paid");
    let registered = s.fake.receipts();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["type"], "payment");
    assert_eq!(registered[0]["payment_id"], provider_id.as_str());
    let (fee, mask): (i64, String) =
        sqlx::query_as("select fee_kopecks, card_mask from payments where payment_id = ?")
            .bind(started.payment_id)
            .fetch_one(s.app.pool())
            .await
            .unwrap();
    assert_eq!(fee, 4_200, "amount − income_amount: 3,5 % of 1 200,00");
    assert_eq!(mask, "•••• 4242");
    let token: String = sqlx::query_scalar(
        "select token from saved_cards where resident_id = ? and provider = 'yookassa'",
    )
    .bind(s.resident)
    .fetch_one(s.app.pool())
    .await
    .unwrap();
    assert_eq!(
        Value::String(token.clone()),
        s.fake.payment(&provider_id)["payment_method"]["id"]
    );

    // The saved card pays the next invoice without the page.
    let master = s.app.staff_user("master@demo.ru").await;
    let next = s
        .app
        .issue_invoice(
            &master,
            s.order_id,
            &[line(s.app.price_item("Выезд сантехника").await, "1")],
        )
        .await;
    let card_id = count(
        &s,
        "select card_id from saved_cards where resident_id = ?",
        s.resident,
    )
    .await;
    let saved = PayChoice {
        card_id: Some(card_id),
        ..card(false)
    };
    let paid = payments::start(state, s.resident, next, saved, now())
        .await
        .unwrap();
    assert_eq!(paid.redirect_url, None);
    assert_eq!(invoice_status(&s, next).await, "paid");
    let second = s.fake.requests("POST", "/payments");
    assert_eq!(second.len(), 2);
    assert_eq!(second[1].body["payment_method_id"], Value::String(token));
    assert!(second[1].body.get("payment_method_data").is_none());
    assert_eq!(second[1].body["amount"]["value"], "500.00");
    // Every request had the shop's credentials (the fake answers 401 otherwise).
    assert!(
        s.fake.log().iter().all(|l| l.status == 200),
        "{:?}",
        s.fake.log()
    );
}

#[tokio::test]
async fn a_declined_payment_fails_with_the_reason_in_russian() {
    let s = shop("yk-decline-1").await;
    let state = &s.app.state;
    let started = payments::start(state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    let (status, _) = s
        .fake
        .pay_on_page(started.redirect_url.as_deref().unwrap(), cards::DECLINE)
        .await;
    assert_eq!(status, 303);
    assert_eq!(s.fake.deliveries()[0].0, "payment.canceled");
    let (st, _, failure) = payment_row(&s, started.payment_id).await;
    assert_eq!(st, "failed");
    assert_eq!(failure.as_deref(), Some("недостаточно средств"));
    assert_eq!(invoice_status(&s, s.invoice).await, "active");
    let result = payments::result(state, s.resident, started.payment_id, now())
        .await
        .unwrap();
    assert!(
        result.message.contains("недостаточно средств"),
        "{}",
        result.message
    );
    assert_eq!(
        count(
            &s,
            "select count(*) from order_history where order_id = ? and kind = 'Оплата картой не прошла'",
            s.order_id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn three_d_secure_sends_the_payer_to_the_banks_page_and_back() {
    let s = shop("yk-3ds-1").await;
    let state = &s.app.state;
    let started = payments::start(state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    let url = started.redirect_url.clone().unwrap();
    let (status, to) = s.fake.pay_on_page(&url, cards::CONFIRM).await;
    assert_eq!(
        (status, to.as_str()),
        (303, url.as_str()),
        "back to the page for the code"
    );
    assert!(s.fake.deliveries().is_empty());
    assert_eq!(payment_row(&s, started.payment_id).await.0, "pending");
    // The result page asks the API meanwhile: still pending.
    let waiting = payments::result(state, s.resident, started.payment_id, now())
        .await
        .unwrap();
    assert!(
        waiting.message.contains("обрабатывается"),
        "{}",
        waiting.message
    );
    let (status, back) = s.fake.confirm_on_page(&url, cards::CONFIRMATION_CODE).await;
    assert_eq!(status, 303);
    assert!(
        back.contains(&format!("payment={}", started.payment_id)),
        "{back}"
    );
    assert_eq!(invoice_status(&s, s.invoice).await, "paid");

    // A wrong code on another payment: declined by 3-D Secure.
    let master = s.app.staff_user("master@demo.ru").await;
    let next = s
        .app
        .issue_invoice(
            &master,
            s.order_id,
            &[line(s.app.price_item("Выезд сантехника").await, "1")],
        )
        .await;
    let other = payments::start(state, s.resident, next, card(false), now())
        .await
        .unwrap();
    let url = other.redirect_url.unwrap();
    s.fake.pay_on_page(&url, cards::CONFIRM).await;
    s.fake.confirm_on_page(&url, "0000").await;
    let (st, _, failure) = payment_row(&s, other.payment_id).await;
    assert_eq!(st, "failed");
    assert_eq!(failure.as_deref(), Some("не пройдена проверка 3-D Secure"));
}

#[tokio::test]
async fn a_lost_notification_is_found_by_polling() {
    let s = shop("yk-lost-1").await;
    let state = &s.app.state;
    let started = payments::start(state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    s.fake
        .pay_on_page(
            started.redirect_url.as_deref().unwrap(),
            cards::LOST_WEBHOOKS,
        )
        .await;
    assert!(s.fake.deliveries().is_empty());
    jobs::tick(state, now() + 5).await;
    assert_eq!(
        invoice_status(&s, s.invoice).await,
        "active",
        "nothing came"
    );
    jobs::tick(state, now() + payments::POLL_PENDING_AFTER_SECONDS + 5).await;
    assert_eq!(invoice_status(&s, s.invoice).await, "paid");
    let provider_id = payment_row(&s, started.payment_id).await.1.unwrap();
    assert!(!s
        .fake
        .requests("GET", &format!("/payments/{provider_id}"))
        .is_empty());
}

#[tokio::test]
async fn duplicated_and_reordered_notifications_are_applied_once() {
    let s = shop("yk-dup-1").await;
    let state = &s.app.state;
    let started = payments::start(state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    s.fake
        .pay_on_page(
            started.redirect_url.as_deref().unwrap(),
            cards::REPEATED_WEBHOOKS,
        )
        .await;
    let d = s.fake.deliveries();
    let events: Vec<(&str, u16, &str)> = d
        .iter()
        .map(|(e, _, st, body)| (e.as_str(), *st, body.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("payment.succeeded", 200, "ok"),
            ("payment.succeeded", 200, "already processed"),
            ("payment.waiting_for_capture", 200, "ok"),
        ]
    );
    assert_eq!(payment_row(&s, started.payment_id).await.0, "succeeded");
    assert_eq!(invoice_status(&s, s.invoice).await, "paid");
    assert_eq!(
        count(
            &s,
            "select count(*) from order_history where order_id = ? and kind = 'Счёт оплачен картой'",
            s.order_id
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &s,
            "select count(*) from ledger_entries where payment_id = ?",
            started.payment_id
        )
        .await,
        1,
        "booked once"
    );
}

#[tokio::test]
async fn a_forged_notification_changes_nothing() {
    let s = shop("yk-forged-1").await;
    let state = &s.app.state;
    let started = payments::start(state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    let provider_id = payment_row(&s, started.payment_id).await.1.unwrap();
    let forged = json!({
        "type": "notification",
        "event": "payment.succeeded",
        "object": {
            "id": provider_id,
            "status": "succeeded",
            "paid": true,
            "amount": {"value": "1200.00", "currency": "RUB"},
            "income_amount": {"value": "1200.00", "currency": "RUB"},
            "payment_method": {"type": "bank_card", "id": "pm-x", "saved": false, "card": {"last4": "0000"}},
        },
    });
    let history = count(
        &s,
        "select count(*) from order_history where order_id = ?",
        s.order_id,
    )
    .await;
    // From a foreign address: refused before anything is read.
    let reply = notify_from(&s, "8.8.8.8", &forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Without a known peer at all: refused too.
    let bare = Request::post(format!("/payments/webhook/{}", s.account_id))
        .body(Body::from(forged.to_string()))
        .unwrap();
    assert_eq!(s.app.send_raw(bare).await.status, StatusCode::UNAUTHORIZED);
    let gets = s.fake.requests("GET", "/payments/").len();
    assert_eq!(gets, 0, "a refused notification makes no call");
    // From the trusted network but claiming what the API does not say: the re-read
    // shows «pending» and nothing is paid.
    let reply = notify_from(&s, "127.0.0.1", &forged).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        s.fake
            .requests("GET", &format!("/payments/{provider_id}"))
            .len(),
        1
    );
    assert_eq!(payment_row(&s, started.payment_id).await.0, "pending");
    assert_eq!(invoice_status(&s, s.invoice).await, "active");
    assert_eq!(
        count(
            &s,
            "select count(*) from order_history where order_id = ?",
            s.order_id
        )
        .await,
        history
    );
    // The real outcome still applies.
    s.fake
        .pay_on_page(started.redirect_url.as_deref().unwrap(), cards::DECLINE)
        .await;
    assert_eq!(payment_row(&s, started.payment_id).await.0, "failed");
}

/// Pays the shop's invoice with a card and puts the order «В работе».
async fn paid(s: &Shop) -> String {
    let started = payments::start(&s.app.state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    s.fake
        .pay_on_page(started.redirect_url.as_deref().unwrap(), cards::SUCCESS)
        .await;
    assert_eq!(invoice_status(s, s.invoice).await, "paid");
    let master = s.app.staff_user("master@demo.ru").await;
    s.app.start_work(&master, s.order_id).await;
    payment_row(s, started.payment_id).await.1.unwrap()
}

fn partial(s: &Shop, line_id: i64, price: &str, key: &str) -> RefundInput {
    RefundInput {
        invoice_id: s.invoice,
        full: false,
        lines: vec![RefundLineInput {
            line_id,
            quantity: "1".into(),
            unit_price: price.into(),
        }],
        reason: "Мастер не доделал".into(),
        request_id: None,
        key: key.into(),
    }
}

async fn refund_row(s: &Shop, refund_id: i64) -> (String, String, Option<String>) {
    sqlx::query_as(
        "select state, idempotency_key, provider_refund_id from refunds where refund_id = ?",
    )
    .bind(refund_id)
    .fetch_one(s.app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn partial_and_full_refunds_go_back_through_yookassa_with_their_own_keys() {
    let s = shop("yk-refund-1").await;
    let provider_payment = paid(&s).await;
    let master = s.app.staff_user("master@demo.ru").await;
    let line_id = s.app.invoice_line_ids(s.invoice).await[0];

    let first = refunds::create(
        &s.app.state,
        &master,
        partial(&s, line_id, "300", "yk-refund-key-1"),
        now(),
    )
    .await
    .unwrap();
    let (st, key, provider_refund) = refund_row(&s, first).await;
    assert_eq!(st, "succeeded");
    let posted = s.fake.requests("POST", "/refunds");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].key.as_deref(), Some(key.as_str()));
    assert_ne!(
        posted[0].key,
        s.fake.requests("POST", "/payments")[0].key,
        "a refund has its own key"
    );
    assert_eq!(posted[0].body["payment_id"], provider_payment.as_str());
    assert_eq!(
        posted[0].body["amount"],
        json!({"value": "300.00", "currency": "RUB"})
    );
    // «Возврат прихода» with exactly the refunded line.
    let receipt = &posted[0].body["receipt"];
    assert_eq!(receipt["customer"], json!({"email": "ivanov@example.ru"}));
    let items = receipt["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["description"], "Прочистка засора");
    assert_eq!(items[0]["quantity"], "1.00");
    assert_eq!(items[0]["amount"]["value"], "300.00");
    assert!(posted[0].body["description"]
        .as_str()
        .unwrap()
        .contains(&s.invoice.to_string()));
    // Its notification arrives after it was applied: nothing more happens.
    assert_eq!(s.fake.deliver().await, [200]);
    assert_eq!(
        count(
            &s,
            "select count(*) from order_history where order_id = ? and kind = 'Осуществлен возврат'",
            s.order_id
        )
        .await,
        1
    );

    // The rest: 900,00.
    let full = RefundInput {
        invoice_id: s.invoice,
        full: true,
        lines: vec![],
        reason: "Отказ клиента".into(),
        request_id: None,
        key: "yk-refund-key-2".into(),
    };
    let second = refunds::create(&s.app.state, &master, full, now())
        .await
        .unwrap();
    assert_eq!(refund_row(&s, second).await.0, "succeeded");
    let posted = s.fake.requests("POST", "/refunds");
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].body["amount"]["value"], "900.00");
    assert_eq!(posted[1].key.as_deref(), Some("yk-refund-key-2"));
    assert_ne!(provider_refund, refund_row(&s, second).await.2);
    let refunded: i64 = scalar(
        &s.app,
        "select refunded_kopecks from invoices where invoice_id = ?",
        s.invoice,
    )
    .await;
    assert_eq!(refunded, 120_000);
    // Nothing is left: the app refuses before asking ЮKassa.
    let more = refunds::create(
        &s.app.state,
        &master,
        partial(&s, line_id, "1", "yk-refund-key-3"),
        now(),
    )
    .await;
    assert!(more.is_err(), "{more:?}");
    assert_eq!(s.fake.requests("POST", "/refunds").len(), 2);
}

#[tokio::test]
async fn a_refund_yookassa_cancels_is_failed_by_polling() {
    let s = shop("yk-refund-fail-1").await;
    paid(&s).await;
    s.fake.script(|sc| sc.refund = RefundOutcome::Pending);
    let master = s.app.staff_user("master@demo.ru").await;
    let line_id = s.app.invoice_line_ids(s.invoice).await[0];
    let id = refunds::create(
        &s.app.state,
        &master,
        partial(&s, line_id, "500", "yk-refund-fail-key"),
        now(),
    )
    .await
    .unwrap();
    let (st, _, provider_refund) = refund_row(&s, id).await;
    assert_eq!(st, "processing");
    let provider_refund = provider_refund.unwrap();
    refunds::recover(&s.app.state, now() + refunds::POLL_AFTER_SECONDS + 1)
        .await
        .unwrap();
    assert_eq!(
        refund_row(&s, id).await.0,
        "processing",
        "still pending at ЮKassa"
    );
    s.fake.settle_refund(&provider_refund, false);
    refunds::recover(&s.app.state, now() + 2 * refunds::POLL_AFTER_SECONDS + 2)
        .await
        .unwrap();
    assert_eq!(refund_row(&s, id).await.0, "failed");
    assert_eq!(
        s.fake
            .requests("GET", &format!("/refunds/{provider_refund}"))
            .len(),
        2
    );
    assert_eq!(
        count(
            &s,
            "select count(*) from order_history where order_id = ? and kind = 'Возврат не удался'",
            s.order_id
        )
        .await,
        1
    );
    // The money is still refundable: a new refund may be made.
    let refunded: i64 = scalar(
        &s.app,
        "select refunded_kopecks from invoices where invoice_id = ?",
        s.invoice,
    )
    .await;
    assert_eq!(refunded, 0);
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_with_the_same_idempotence_key() {
    let s = shop("yk-retry-1").await;
    // 500: ЮKassa did nothing; the payment stays in the outbox.
    s.fake.script(|sc| sc.fail_next = 1);
    let first = payments::start(&s.app.state, s.resident, s.invoice, card(false), now()).await;
    assert!(
        matches!(first, Err(AppError::Rule(ref m)) if m.contains("не ответила")),
        "{first:?}"
    );
    let payment_id = count(
        &s,
        "select payment_id from payments where invoice_id = ?",
        s.invoice,
    )
    .await;
    assert_eq!(payment_row(&s, payment_id).await.0, "new");
    assert!(s.fake.payments().is_empty());
    // A timeout: ЮKassa made the payment but its answer never came.
    s.fake.script(|sc| sc.hang_next = 1);
    let quick = impatient(&s);
    let second = payments::dispatch(&quick, payment_id, now()).await;
    assert!(
        matches!(second, Err(AppError::Rule(ref m)) if m.contains("не ответила")),
        "{second:?}"
    );
    assert_eq!(payment_row(&s, payment_id).await.0, "new");
    assert_eq!(
        s.fake.payments().len(),
        1,
        "made at ЮKassa, unknown to the app"
    );
    // The outbox sends it again: the same key finds the same payment.
    payments::recover(&s.app.state, now() + payments::RETRY_NEW_AFTER_SECONDS + 1)
        .await
        .unwrap();
    let (st, provider_id, _) = payment_row(&s, payment_id).await;
    assert_eq!(st, "pending");
    assert_eq!(s.fake.payments().len(), 1);
    assert_eq!(
        Value::String(provider_id.unwrap()),
        s.fake.payments()[0]["id"]
    );
    let posts = s.fake.requests("POST", "/payments");
    assert_eq!(posts.len(), 3);
    let statuses: Vec<u16> = posts.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [500, 0, 200], "0: never answered");
    let key: String =
        sqlx::query_scalar("select idempotency_key from payments where payment_id = ?")
            .bind(payment_id)
            .fetch_one(s.app.pool())
            .await
            .unwrap();
    assert!(posts.iter().all(|p| p.key.as_deref() == Some(key.as_str())));
    assert!(
        posts.windows(2).all(|w| w[0].body == w[1].body),
        "the same request each time"
    );

    // A refund cut off the same way is sent again with its own same key.
    let url = s.fake.payments()[0]["confirmation"]["confirmation_url"]
        .as_str()
        .unwrap()
        .to_owned();
    s.fake.pay_on_page(&url, cards::SUCCESS).await;
    assert_eq!(invoice_status(&s, s.invoice).await, "paid");
    let master = s.app.staff_user("master@demo.ru").await;
    s.app.start_work(&master, s.order_id).await;
    s.fake.script(|sc| sc.hang_next = 1);
    let line_id = s.app.invoice_line_ids(s.invoice).await[0];
    let refund = refunds::create(
        &quick,
        &master,
        partial(&s, line_id, "100", "yk-retry-refund"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(refund_row(&s, refund).await.2, None, "the answer was lost");
    refunds::recover(&s.app.state, now() + refunds::RESEND_AFTER_SECONDS + 1)
        .await
        .unwrap();
    assert_eq!(refund_row(&s, refund).await.0, "succeeded");
    let posts = s.fake.requests("POST", "/refunds");
    assert_eq!(posts.len(), 2);
    assert!(posts
        .iter()
        .all(|p| p.key.as_deref() == Some("yk-retry-refund")));
    assert_eq!(s.fake.refunds().len(), 1);
}

#[tokio::test]
async fn the_outbox_sends_a_payment_left_new_by_a_crash_once() {
    let s = shop("yk-crash-1").await;
    let t = now();
    let payment_id: i64 = sqlx::query_scalar(
        "insert into payments (invoice_id, order_id, resident_id, provider, account_id, method, idempotency_key, \
         amount_kopecks, status, created_at, updated_at) values (?, ?, ?, 'yookassa', ?, 'card', 'yk-crash-key-1', 120000, \
         'new', ?, ?) returning payment_id",
    )
    .bind(s.invoice)
    .bind(s.order_id)
    .bind(s.resident)
    .bind(s.account_id)
    .bind(t)
    .bind(t)
    .fetch_one(s.app.pool())
    .await
    .unwrap();
    payments::recover(&s.app.state, t + payments::RETRY_NEW_AFTER_SECONDS)
        .await
        .unwrap();
    let (st, provider_id, _) = payment_row(&s, payment_id).await;
    assert_eq!(st, "pending");
    // Sent again after a second crash: the same payment at ЮKassa.
    sqlx::query("update payments set status = 'new' where payment_id = ?")
        .bind(payment_id)
        .execute(s.app.pool())
        .await
        .unwrap();
    payments::dispatch(&s.app.state, payment_id, now())
        .await
        .unwrap();
    assert_eq!(payment_row(&s, payment_id).await.1, provider_id);
    assert_eq!(s.fake.payments().len(), 1);
    let posts = s.fake.requests("POST", "/payments");
    assert_eq!(posts.len(), 2);
    assert!(posts
        .iter()
        .all(|p| p.key.as_deref() == Some("yk-crash-key-1")));
    // The resident who asks to pay meanwhile is sent to that payment.
    let started = payments::start(&s.app.state, s.resident, s.invoice, card(false), now())
        .await
        .unwrap();
    assert_eq!(started.payment_id, payment_id);
}

// ---- the adapter's receipts against the fake ---------------------------------------------

fn adapter(fake: &FakeYookassa, secret: &str) -> YookassaGateway {
    YookassaGateway::new(AccountConfig {
        account_id: 1,
        shop_id: fake::SHOP_ID.into(),
        secret: secret.into(),
        api_url: fake.api_url(),
        notify_networks: String::new(),
        webhook_url: String::new(),
        http: HttpClient::default(),
    })
    .unwrap()
}

fn receipt_line(name: &str, q: &str, price: i64, vat: &str, mode: PaymentMode) -> ReceiptLine {
    let quantity = Decimal::from_str(q).unwrap();
    ReceiptLine {
        name: name.into(),
        unit: "м²".into(),
        quantity,
        price: Money::from_kopecks(price),
        amount: Money::from_kopecks(price)
            .checked_mul_decimal(quantity)
            .unwrap(),
        vat_code: vat.into(),
        subject: PaymentSubject::Service,
        mode,
    }
}

fn prepaid_receipt() -> Receipt {
    Receipt {
        kind: ReceiptKind::Prepayment,
        taxation: Taxation::UsnIncome,
        email: Some("ivanov@example.ru".into()),
        phone: None,
        lines: vec![
            receipt_line(
                "Генеральная уборка",
                "2.5",
                25_000,
                "vat20",
                PaymentMode::FullPrepayment,
            ),
            receipt_line(
                "Мойка окна",
                "3",
                60_000,
                "none",
                PaymentMode::FullPrepayment,
            ),
        ],
    }
}

fn create(amount: i64, key: &str, receipt: Option<Receipt>) -> CreatePayment {
    CreatePayment {
        amount: Money::from_kopecks(amount),
        description: "Оплата счёта № 1 по заявке № 1".into(),
        idempotency_key: key.into(),
        return_url: "http://127.0.0.1/requests/1?payment=1".into(),
        card_token: None,
        save_card: false,
        method: PayMethod::Card,
        payment_ref: 1,
        invoice_ref: 1,
        order_ref: 1,
        receipt,
        customer_key: None,
    }
}

#[tokio::test]
async fn receipts_go_with_payments_refunds_and_on_their_own_as_yookassa_documents() {
    let fake = FakeYookassa::start().await;
    let yk = adapter(&fake, fake::SECRET);
    // 2,5 м² × 250,00 + 3 × 600,00 = 2 425,00.
    let p = yk
        .create_payment(create(242_500, "rc-pay-1", Some(prepaid_receipt())))
        .await
        .unwrap();
    let sent = &fake.requests("POST", "/payments")[0].body["receipt"];
    assert_eq!(sent["customer"], json!({"email": "ivanov@example.ru"}));
    assert_eq!(sent["tax_system_code"], 2);
    assert_eq!(
        sent["items"][0],
        json!({"description": "Генеральная уборка", "quantity": "2.50",
               "amount": {"value": "250.00", "currency": "RUB"}, "vat_code": 4,
               "payment_mode": "full_prepayment", "payment_subject": "service",
               "measure": "square_meter"})
    );
    assert_eq!(sent["items"][1]["vat_code"], 1);
    assert_eq!(sent["items"][1]["quantity"], "3.00");

    // A receipt that does not sum to the amount is refused with ЮKassa's words.
    let short = yk
        .create_payment(create(242_400, "rc-pay-2", Some(prepaid_receipt())))
        .await;
    assert!(
        matches!(short, Err(GatewayError::Refused(ref m)) if m.contains("sum")),
        "{short:?}"
    );
    // The same key with another body is refused too; with the same body it is the same.
    let reused = yk.create_payment(create(100_000, "rc-pay-1", None)).await;
    assert!(matches!(reused, Err(GatewayError::Refused(ref m)) if m.contains("Idempotence")));
    let same = yk
        .create_payment(create(242_500, "rc-pay-1", Some(prepaid_receipt())))
        .await
        .unwrap();
    assert_eq!(same.id, p.id);
    // Wrong credentials: final.
    let stranger = adapter(&fake, "wrong").payment(&p.id).await;
    assert!(
        matches!(stranger, Err(GatewayError::Refused(_))),
        "{stranger:?}"
    );

    let url = p.confirmation_url.clone().unwrap();
    fake.pay_on_page(&url, cards::SUCCESS).await;
    // The refund receipt: «Возврат прихода» of one window.
    let refund_receipt = Receipt {
        kind: ReceiptKind::Refund,
        phone: Some("+7 900 000-00-02".into()),
        email: None,
        lines: vec![receipt_line(
            "Мойка окна",
            "1",
            60_000,
            "none",
            PaymentMode::FullPrepayment,
        )],
        ..prepaid_receipt()
    };
    let r = yk
        .refund(CreateRefund {
            payment_id: p.id.clone(),
            amount: Money::from_kopecks(60_000),
            idempotency_key: "rc-refund-1".into(),
            description: "Возврат по счёту № 1".into(),
            receipt: Some(refund_receipt),
        })
        .await
        .unwrap();
    let sent = &fake.requests("POST", "/refunds")[0].body;
    assert_eq!(sent["receipt"]["customer"], json!({"phone": "79000000002"}));
    assert_eq!(sent["receipt"]["items"][0]["amount"]["value"], "600.00");
    // More than is left is refused by ЮKassa.
    let too_much = yk
        .refund(CreateRefund {
            payment_id: p.id.clone(),
            amount: Money::from_kopecks(190_000),
            idempotency_key: "rc-refund-2".into(),
            description: String::new(),
            receipt: None,
        })
        .await;
    assert!(matches!(too_much, Err(GatewayError::Refused(ref m)) if m.contains("exceeds")));

    // «Полный расчет» offsetting the prepayment once the work is done.
    let offset = Receipt {
        kind: ReceiptKind::Offset,
        lines: vec![
            receipt_line(
                "Генеральная уборка",
                "2.5",
                25_000,
                "vat20",
                PaymentMode::FullPayment,
            ),
            receipt_line("Мойка окна", "2", 60_000, "none", PaymentMode::FullPayment),
        ],
        ..prepaid_receipt()
    };
    let sent_offset = yk
        .send_receipt(CreateReceipt {
            payment_id: p.id.clone(),
            receipt: offset,
            prepaid: Money::from_kopecks(182_500),
            idempotency_key: "rc-offset-1".into(),
        })
        .await
        .unwrap();
    assert_eq!(sent_offset.kind, ReceiptKind::Offset);
    assert_eq!(sent_offset.status, ReceiptStatus::Pending);
    let body = &fake.requests("POST", "/receipts")[0].body;
    assert_eq!(body["type"], "payment");
    assert_eq!(body["payment_id"], p.id.as_str());
    assert_eq!(body["send"], true);
    assert_eq!(
        body["settlements"],
        json!([{"type": "prepayment", "amount": {"value": "1825.00", "currency": "RUB"}}])
    );
    assert!(body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["payment_mode"] == "full_payment"));
    fake.register_receipts();

    // All three, with fiscal data once registered.
    let all = yk.receipts(&p.id).await.unwrap();
    let kinds: Vec<ReceiptKind> = all.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            ReceiptKind::Prepayment,
            ReceiptKind::Offset,
            ReceiptKind::Refund
        ]
    );
    assert!(all.iter().all(|r| r.status == ReceiptStatus::Registered));
    let refund_receipt = &all[2];
    assert_eq!(refund_receipt.refund_id.as_deref(), Some(r.id.as_str()));
    let fiscal = all[0].fiscal.clone().unwrap();
    assert_eq!(fiscal.fn_number.as_deref(), Some("9288000100115785"));
    assert!(fiscal.fiscal_document.is_some() && fiscal.fiscal_sign.is_some());
    assert_eq!(
        fiscal.registered_at,
        suz::payments::yookassa::parse_timestamp("2026-12-02T10:15:30.412Z")
    );
}

#[tokio::test]
async fn a_yookassa_payments_receipts_are_registered_and_offset_once_the_work_is_done() {
    let s = shop("yk-receipts-1").await;
    let provider_payment = paid(&s).await;
    let receipt_state = |kind: &'static str| {
        let pool = s.app.pool().clone();
        let invoice = s.invoice;
        async move {
            sqlx::query_as::<_, (String, Option<String>, Option<String>)>(
                "select state, fn_number, provider_receipt_id from receipts where invoice_id = ? and kind = ?",
            )
            .bind(invoice)
            .bind(kind)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // The prepayment receipt went with the payment; polling reads its fiscal data.
    assert_eq!(receipt_state("prepayment").await.0, "sent");
    suz::receipts::service::recover(&s.app.state, now() + 600)
        .await
        .unwrap();
    let (st, fn_number, id) = receipt_state("prepayment").await;
    assert_eq!(st, "registered");
    assert_eq!(fn_number.as_deref(), Some("9288000100115785"));
    assert_eq!(Value::String(id.unwrap()), s.fake.receipts()[0]["id"]);
    assert!(!s
        .fake
        .requests("GET", &format!("/receipts?payment_id={provider_payment}"))
        .is_empty());

    // «Выполнено»: «Полный расчет» offsetting the prepayment, sent once.
    let dispatcher = s.app.staff_user("dispatcher@demo.ru").await;
    let assignee: Option<i64> =
        sqlx::query_scalar("select assignee_id from orders where order_id = ?")
            .bind(s.order_id)
            .fetch_one(s.app.pool())
            .await
            .unwrap();
    suz::orders::service::change_state(
        s.app.pool(),
        &dispatcher,
        suz::orders::service::StateChange {
            order_id: s.order_id,
            version: s.app.order_version(s.order_id).await,
            status: suz::orders::status::OrderStatus::Done,
            assignee_id: assignee,
            comment: String::new(),
        },
        now(),
    )
    .await
    .unwrap();
    for dt in [700, 800] {
        suz::receipts::service::recover(&s.app.state, now() + dt)
            .await
            .unwrap();
    }
    let posted = s.fake.requests("POST", "/receipts");
    assert_eq!(posted.len(), 1, "{posted:?}");
    let body = &posted[0].body;
    assert_eq!(body["type"], "payment");
    assert_eq!(body["payment_id"], provider_payment.as_str());
    assert_eq!(
        body["settlements"],
        json!([{"type": "prepayment", "amount": {"value": "1200.00", "currency": "RUB"}}])
    );
    assert_eq!(body["items"][0]["payment_mode"], "full_payment");
    assert_eq!(body["items"][0]["amount"]["value"], "1200.00");
    s.fake.register_receipts();
    suz::receipts::service::recover(&s.app.state, now() + 900)
        .await
        .unwrap();
    assert_eq!(receipt_state("offset").await.0, "registered");
    assert_eq!(s.fake.requests("POST", "/receipts").len(), 1);
}
