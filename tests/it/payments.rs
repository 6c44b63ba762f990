//! Invoices and card payments over real HTTP: invoice rules, the hosted page, signed
//! webhooks (replayed, repeated, reordered, lost), the payment outbox, parallel payment
//! attempts, saved cards, receipts and prepaid orders. The tests written with
//! `each_provider!` run three times: with the sandbox, the fake ЮKassa and the fake
//! Т-Банк behind the same `PaymentGateway` trait.

use crate::common;

use axum::body::Body;
use http::{Request, StatusCode};
use suz::error::AppError;
use suz::invoices::rules::{DiscountKind, InvoiceAction, LineInput};
use suz::invoices::service as invoices;
use suz::orders::service::{self as orders, StateChange};
use suz::orders::status::OrderStatus;
use suz::payments::sandbox::cards;
use suz::payments::service::{self as payments, PayChoice};
use suz::requests::service::{self as requests, SubmitInput};
use suz::server::jobs;

fn now() -> i64 {
    suz::time::now()
}

/// A new request of resident +79000000002 for «Устранение засора» (master, СантехСервис).
async fn new_order(app: &common::TestApp, key: &str) -> (i64, i64) {
    let resident = app.resident_id("+79000000002").await;
    (app.submit_clog(resident, key).await, resident)
}

fn line(price_item_id: i64, quantity: &str, kind: DiscountKind, value: &str) -> LineInput {
    LineInput {
        price_item_id,
        quantity: quantity.into(),
        discount_kind: kind,
        discount_value: value.into(),
    }
}

async fn invoice_state(app: &common::TestApp, invoice_id: i64) -> (String, Option<String>) {
    sqlx::query_as("select status, paid_method from invoices where invoice_id = ?")
        .bind(invoice_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn order_sum(app: &common::TestApp, order_id: i64) -> (i64, bool) {
    sqlx::query_as("select total_kopecks, all_paid from orders where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn count(app: &common::TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// An active invoice of 1 200,00 ₽ on a new order.
async fn active_invoice(app: &common::TestApp, key: &str) -> (i64, i64, i64) {
    let (order_id, resident) = new_order(app, key).await;
    let master = app.staff_user("master@demo.ru").await;
    let lines = [line(
        app.price_item("Прочистка засора").await,
        "1",
        DiscountKind::None,
        "",
    )];
    let invoice = app.issue_invoice(&master, order_id, &lines).await;
    (order_id, resident, invoice)
}

fn choice(save_card: bool) -> PayChoice {
    PayChoice {
        method: suz::payments::gateway::PayMethod::Card,
        email: "ivanov@example.ru".into(),
        card_id: None,
        save_card,
    }
}

#[tokio::test]
async fn invoice_rules_hold_on_the_server() {
    let app = common::spawn().await;
    let (order_id, _) = new_order(&app, "inv-rules-1").await;
    let master = app.staff_user("master@demo.ru").await;
    let viewer = app.staff_user("viewer@demo.ru").await;
    let cleaner = app.staff_user("cleaner@demo.ru").await;

    // Only the price list of the service's provider (СантехСервис) is offered.
    let offered = invoices::price_items(app.pool(), &master, order_id)
        .await
        .unwrap();
    assert!(offered.iter().any(|i| i.name == "Прочистка засора"));
    assert!(!offered.iter().any(|i| i.name == "Замена розетки"));
    let foreign = [line(
        app.price_item("Замена розетки").await,
        "1",
        DiscountKind::None,
        "",
    )];
    let refused = invoices::create(app.pool(), &master, order_id, &foreign, now()).await;
    assert!(
        matches!(refused, Err(AppError::Validation(ref m)) if m.contains("прайс-листа")),
        "{refused:?}"
    );

    // 1 200,00 × 2,5 − 10 % = 2 700,00; plus 450,00 − 50,00 = 400,00.
    let lines = [
        line(
            app.price_item("Прочистка засора").await,
            "2,5",
            DiscountKind::Percent,
            "10",
        ),
        line(
            app.price_item("Гибкая подводка").await,
            "1",
            DiscountKind::Amount,
            "50",
        ),
    ];
    let first = invoices::create(app.pool(), &master, order_id, &lines, now())
        .await
        .unwrap();
    let stored: i64 = count(
        &app,
        "select total_kopecks from invoices where invoice_id = ?",
        first,
    )
    .await;
    assert_eq!(stored, 310_000);
    assert_eq!(order_sum(&app, order_id).await, (310_000, false));

    // Read-only and other people's orders are refused; a second invoice waits for payment.
    assert!(matches!(
        invoices::create(app.pool(), &viewer, order_id, &lines, now()).await,
        Err(AppError::Forbidden)
    ));
    assert!(
        invoices::create(app.pool(), &cleaner, order_id, &lines, now())
            .await
            .is_err()
    );
    let second = invoices::create(app.pool(), &master, order_id, &lines, now()).await;
    assert!(
        matches!(second, Err(AppError::Rule(ref m)) if m.contains("пока не оплачен")),
        "{second:?}"
    );

    invoices::act(app.pool(), &master, first, InvoiceAction::Activate, now())
        .await
        .unwrap();
    assert_eq!(invoice_state(&app, first).await.0, "active");
    assert_eq!(
        count(
            &app,
            "select count(*) from outbox where event = 'invoice_issued' and order_id = ?",
            order_id
        )
        .await,
        1
    );
    let again = invoices::act(app.pool(), &master, first, InvoiceAction::Activate, now()).await;
    assert!(matches!(again, Err(AppError::Rule(_))));

    // «Выполнено» needs the invoice paid.
    app.start_work(&master, order_id).await;
    let version: i64 = count(
        &app,
        "select version from orders where order_id = ?",
        order_id,
    )
    .await;
    let done = orders::change_state(
        app.pool(),
        &master,
        StateChange {
            order_id,
            version,
            status: OrderStatus::Done,
            assignee_id: Some(master.staff_id),
            comment: String::new(),
        },
        now(),
    )
    .await;
    assert!(
        matches!(done, Err(AppError::Rule(ref m)) if m.contains("не все счета оплачены")),
        "{done:?}"
    );

    invoices::act(app.pool(), &master, first, InvoiceAction::MarkPaid, now())
        .await
        .unwrap();
    assert_eq!(
        invoice_state(&app, first).await,
        ("paid".into(), Some("cash".into()))
    );
    assert_eq!(order_sum(&app, order_id).await, (310_000, true));
    // A cash-paid invoice can be cancelled; «Сумма» follows.
    invoices::act(app.pool(), &master, first, InvoiceAction::Cancel, now())
        .await
        .unwrap();
    assert_eq!(order_sum(&app, order_id).await, (0, false));
    let history = count(&app, "select count(*) from order_history where order_id = ? and kind in ('Создан счёт', 'Счёт выставлен в ЛК', 'Счёт отмечен как оплаченный', 'Счёт отменён')", order_id).await;
    assert_eq!(history, 4);

    // A new invoice is allowed once nothing is unpaid, then paid in cash: «Выполнено» passes.
    let third = invoices::create(app.pool(), &master, order_id, &lines[..1], now())
        .await
        .unwrap();
    invoices::act(app.pool(), &master, third, InvoiceAction::MarkPaid, now())
        .await
        .unwrap();
    let version: i64 = count(
        &app,
        "select version from orders where order_id = ?",
        order_id,
    )
    .await;
    orders::change_state(
        app.pool(),
        &master,
        StateChange {
            order_id,
            version,
            status: OrderStatus::Done,
            assignee_id: Some(master.staff_id),
            comment: String::new(),
        },
        now(),
    )
    .await
    .unwrap();
    let closed = invoices::create(app.pool(), &master, order_id, &lines, now()).await;
    assert!(matches!(closed, Err(AppError::Rule(ref m)) if m.contains("закрыт")));
}

each_provider! {
async fn a_card_payment_goes_through_the_hosted_page_and_a_signed_webhook_once(app) {
    let state = &app.state;
    let (order_id, resident, invoice) = active_invoice(&app, "pay-ok-1").await;

    let started = payments::start(state, resident, invoice, choice(true), now())
        .await
        .unwrap();
    let url = started.redirect_url.clone().expect("the hosted page");
    if app.provider() == Provider::Sandbox {
        assert!(url.contains("/sandbox/pay/"), "{url}");
    }
    // Asking again while it is under way returns the same payment.
    let again = payments::start(state, resident, invoice, choice(true), now())
        .await
        .unwrap();
    assert_eq!(again.payment_id, started.payment_id);

    let back = app.pay_on_page(&url, cards::SUCCESS).await;
    assert!(
        back.ends_with(&format!(
            "/requests/{order_id}?payment={}",
            started.payment_id
        )),
        "{back}"
    );
    // Nothing is known until the webhook (or a poll) arrives (the fakes notify at once).
    if app.provider() == Provider::Sandbox {
        assert_eq!(invoice_state(&app, invoice).await.0, "active");
    }

    app.tick(now() + 10).await;
    assert_eq!(
        invoice_state(&app, invoice).await,
        ("paid".into(), Some("card".into()))
    );
    assert_eq!(order_sum(&app, order_id).await, (120_000, true));
    let (status, fee): (String, Option<i64>) =
        sqlx::query_as("select status, fee_kopecks from payments where payment_id = ?")
            .bind(started.payment_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(status, "succeeded");
    // What the provider says it kept: 2,2 % of 1 200,00; Т-Банк does not report it per
    // payment.
    let kept = match app.provider() {
        Provider::Sandbox | Provider::Yookassa => Some(2_640),
        Provider::Tbank => None,
    };
    assert_eq!(fee, kept);
    assert_eq!(
        count(
            &app,
            "select count(*) from saved_cards where resident_id = ?",
            resident
        )
        .await,
        1
    );
    // The receipt went out as an .eml file (no SMTP configured).
    let outbox = app.data_dir().join("mail-outbox");
    let mails: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(mails.len(), 1);
    let eml = std::fs::read_to_string(mails[0].as_ref().unwrap().path()).unwrap();
    assert!(eml.contains("To: ivanov@example.ru"), "{eml}");

    // Replaying the delivered webhook changes nothing; a forged one is refused (the
    // fakes' own suites forge theirs).
    if app.provider() == Provider::Sandbox {
        let body: String = sqlx::query_scalar("select body from sandbox_webhooks order by id limit 1")
            .fetch_one(app.pool())
            .await
            .unwrap();
        let history_before = count(
            &app,
            "select count(*) from order_history where order_id = ?",
            order_id,
        )
        .await;
        let signed = suz::payments::gateway::signature::sign("test-secret", now(), body.as_bytes());
        let replay = Request::post("/payments/webhook")
            .header("x-sandbox-signature", signed)
            .body(Body::from(body.clone()))
            .unwrap();
        let reply = app.send(replay).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "already processed");
        let forged = Request::post("/payments/webhook")
            .header(
                "x-sandbox-signature",
                suz::payments::gateway::signature::sign("wrong", now(), body.as_bytes()),
            )
            .body(Body::from(body))
            .unwrap();
        assert_eq!(app.send(forged).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            count(
                &app,
                "select count(*) from order_history where order_id = ?",
                order_id
            )
            .await,
            history_before
        );
    }

    // A card-paid invoice cannot be cancelled; it is refunded instead (refunds issue).
    let master = app.staff_user("master@demo.ru").await;
    let cancel = invoices::act(app.pool(), &master, invoice, InvoiceAction::Cancel, now()).await;
    assert!(matches!(cancel, Err(AppError::Rule(ref m)) if m.contains("возврат")));

    // The saved card pays the next invoice without the page.
    let lines = [line(
        app.price_item("Выезд сантехника").await,
        "1",
        DiscountKind::None,
        "",
    )];
    let next = app.issue_invoice(&master, order_id, &lines).await;
    let card_id: i64 = count(
        &app,
        "select card_id from saved_cards where resident_id = ?",
        resident,
    )
    .await;
    let saved = PayChoice {
        method: suz::payments::gateway::PayMethod::Card,
        card_id: Some(card_id),
        ..choice(false)
    };
    let paid = payments::start(state, resident, next, saved, now())
        .await
        .unwrap();
    assert_eq!(paid.redirect_url, None);
    assert_eq!(invoice_state(&app, next).await.0, "paid");
}
}

each_provider! {
async fn declines_repeats_and_stale_events_change_nothing_twice(app) {
    let state = &app.state;
    let (order_id, resident, invoice) = active_invoice(&app, "pay-bad-1").await;

    let first = payments::start(state, resident, invoice, choice(false), now())
        .await
        .unwrap();
    app.pay_on_page(first.redirect_url.as_deref().unwrap(), cards::DECLINE)
        .await;
    app.tick(now() + 10).await;
    let failed: String = sqlx::query_scalar("select status from payments where payment_id = ?")
        .bind(first.payment_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(failed, "failed");
    assert_eq!(invoice_state(&app, invoice).await.0, "active");
    let result = payments::result(state, resident, first.payment_id, now())
        .await
        .unwrap();
    // The provider's reason, in Russian.
    let reason = match app.provider() {
        Provider::Sandbox => "Банк отклонил",
        Provider::Yookassa => "недостаточно средств",
        Provider::Tbank => "банк отклонил платёж",
    };
    assert!(
        result.message.starts_with("Оплата не прошла") && result.message.contains(reason),
        "{}",
        result.message
    );

    // A new attempt; its webhooks come twice and a stale «pending» arrives last.
    let second = payments::start(state, resident, invoice, choice(false), now())
        .await
        .unwrap();
    assert_ne!(second.payment_id, first.payment_id);
    app.pay_on_page(
        second.redirect_url.as_deref().unwrap(),
        cards::REPEATED_WEBHOOKS,
    )
    .await;
    for dt in [2, 4, 6, 8] {
        app.tick(now() + dt).await;
    }
    if app.provider() == Provider::Sandbox {
        let delivered: i64 =
            // Payment events only (the receipt's registration is announced too).
            sqlx::query_scalar("select count(*) from sandbox_webhooks where delivered_at is not null and body not like '%\"receipt\":{%'")
                .fetch_one(app.pool())
                .await
                .unwrap();
        assert_eq!(delivered, 4, "decline + success twice + stale");
    }
    assert_eq!(
        invoice_state(&app, invoice).await,
        ("paid".into(), Some("card".into()))
    );
    assert_eq!(count(&app, "select count(*) from order_history where order_id = ? and kind = 'Счёт оплачен картой'", order_id).await, 1);
    let status: String = sqlx::query_scalar("select status from payments where payment_id = ?")
        .bind(second.payment_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(status, "succeeded");
}
}

each_provider! {
async fn a_lost_webhook_is_recovered_by_polling(app) {
    let state = &app.state;
    let (_, resident, invoice) = active_invoice(&app, "pay-lost-1").await;
    let started = payments::start(state, resident, invoice, choice(false), now())
        .await
        .unwrap();
    app.pay_on_page(
        started.redirect_url.as_deref().unwrap(),
        cards::LOST_WEBHOOKS,
    )
    .await;
    app.tick(now() + 10).await;
    assert_eq!(
        invoice_state(&app, invoice).await.0,
        "active",
        "the webhook was lost"
    );
    app.tick(now() + 10 + payments::POLL_PENDING_AFTER_SECONDS).await;
    assert_eq!(invoice_state(&app, invoice).await.0, "paid");
}
}

#[tokio::test]
async fn the_outbox_resends_after_a_crash_without_paying_twice() {
    let app = common::spawn_served().await;
    let state = &app.state;
    let (order_id, resident, invoice) = active_invoice(&app, "pay-crash-1").await;
    // The payment row was written, then the process died before calling the provider.
    let t = now();
    let payment_id: i64 = sqlx::query_scalar(
        "insert into payments (invoice_id, order_id, resident_id, provider, idempotency_key, amount_kopecks, status, \
         created_at, updated_at) values (?, ?, ?, 'sandbox', 'crash-key-1', 120000, 'new', ?, ?) returning payment_id",
    )
    .bind(invoice)
    .bind(order_id)
    .bind(resident)
    .bind(t)
    .bind(t)
    .fetch_one(app.pool())
    .await
    .unwrap();
    jobs::tick(state, t + payments::RETRY_NEW_AFTER_SECONDS).await;
    let (status, provider_id): (String, Option<String>) =
        sqlx::query_as("select status, provider_payment_id from payments where payment_id = ?")
            .bind(payment_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(status, "pending");
    assert!(provider_id.is_some());
    // Sending it again (a second crash, a retried call) finds the same provider payment.
    sqlx::query("update payments set status = 'new' where payment_id = ?")
        .bind(payment_id)
        .execute(app.pool())
        .await
        .unwrap();
    payments::dispatch(state, payment_id, now()).await.unwrap();
    let at_provider: i64 = sqlx::query_scalar(
        "select count(*) from sandbox_payments where idempotency_key = 'crash-key-1'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(at_provider, 1);
    // And the resident who asks to pay meanwhile is sent to that same payment.
    let started = payments::start(state, resident, invoice, choice(false), now())
        .await
        .unwrap();
    assert_eq!(started.payment_id, payment_id);
}

each_provider! {
multi_thread async fn many_parallel_attempts_pay_an_invoice_once(app) {
    let (order_id, resident, invoice) = active_invoice(&app, "pay-race-1").await;
    let mut handles = Vec::new();
    for _ in 0..12 {
        let state = app.state.clone();
        handles.push(tokio::spawn(async move {
            payments::start(&state, resident, invoice, choice(false), now()).await
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap().unwrap().payment_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one payment for all attempts: {ids:?}");
    assert_eq!(app.provider_payments().await, 1);

    // The same success applied many times at once counts once.
    let url: String =
        sqlx::query_scalar("select confirmation_url from payments where payment_id = ?")
            .bind(ids[0])
            .fetch_one(app.pool())
            .await
            .unwrap();
    app.pay_on_page(&url, cards::SUCCESS).await;
    let (provider_id, account): (String, Option<i64>) = sqlx::query_as(
        "select provider_payment_id, account_id from payments where payment_id = ?",
    )
    .bind(ids[0])
    .fetch_one(app.pool())
    .await
    .unwrap();
    let reported = app
        .state
        .gateways
        .account(app.pool(), account)
        .await
        .unwrap()
        .payment(&provider_id)
        .await
        .unwrap();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let state = app.state.clone();
        let p = reported.clone();
        handles.push(tokio::spawn(async move {
            payments::apply(&state, account, &p, now()).await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(count(&app, "select count(*) from order_history where order_id = ? and kind = 'Счёт оплачен картой'", order_id).await, 1);
    assert_eq!(
        count(
            &app,
            "select count(*) from outbox where order_id = ? and event = 'invoice_paid'",
            order_id
        )
        .await,
        1
    );
}
}

#[tokio::test]
async fn a_prepaid_service_is_invoiced_and_activated_at_submission() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000003").await;
    let service_id: i64 = sqlx::query_scalar(
        "select service_id from services where name = 'Изготовление ключа от домофона'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let input = SubmitInput {
        service_id,
        values: vec![("count".into(), "3".into())],
        submit_key: "prepaid-key-1".into(),
    };
    let done = requests::submit(app.pool(), resident, input, 180, now())
        .await
        .unwrap();
    let invoice = done.pay_invoice_id.expect("an invoice to pay");
    assert_eq!(invoice_state(&app, invoice).await.0, "active");
    assert_eq!(
        order_sum(&app, done.order_id).await,
        (120_000, false),
        "3 × 400,00"
    );
    // The same submission again returns the same invoice, not a second one.
    let input = SubmitInput {
        service_id,
        values: vec![("count".into(), "3".into())],
        submit_key: "prepaid-key-1".into(),
    };
    let again = requests::submit(app.pool(), resident, input, 180, now())
        .await
        .unwrap();
    assert_eq!(again.pay_invoice_id, Some(invoice));
    assert_eq!(
        count(
            &app,
            "select count(*) from invoices where order_id = ?",
            done.order_id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn invoice_functions_over_http_refuse_residents_and_read_only_staff() {
    let app = common::spawn().await;
    let (order_id, _) = new_order(&app, "inv-http-1").await;
    let body = format!(
        r#"{{"order_id":{order_id},"lines":[{{"price_item_id":{},"quantity":"1","discount_kind":"None","discount_value":""}}]}}"#,
        app.price_item("Прочистка засора").await
    );
    let resident = app.resident_cookie("+79000000002").await;
    assert_eq!(
        app.call_json("create_invoice", &body, &resident).await.body,
        "\"Forbidden\""
    );
    let viewer = app.staff_cookie("viewer@demo.ru").await;
    assert_eq!(
        app.call_json("create_invoice", &body, &viewer).await.body,
        "\"Forbidden\""
    );
    let master = app.staff_cookie("master@demo.ru").await;
    let created = app.call_json("create_invoice", &body, &master).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let again = app.call_json("create_invoice", &body, &master).await;
    assert!(again.body.contains("пока не оплачен"), "{}", again.body);
    // Another resident cannot see the payment screen of this invoice.
    let invoice: i64 = created.body.parse().unwrap();
    let stranger = app.resident_cookie("+79000000003").await;
    let screen = app
        .call(
            "pay_screen",
            &[("invoice_id", &invoice.to_string())],
            Some(&stranger),
        )
        .await;
    assert_eq!(screen.body, "\"NotFound\"");
}

/// A minimal SMTP server for one message: answers like a relay, returns the dialogue.
async fn smtp_once(listener: tokio::net::TcpListener) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (socket, _) = listener.accept().await.unwrap();
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut seen = String::new();
    write.write_all(b"220 test ESMTP\r\n").await.unwrap();
    let mut in_data = false;
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
        if in_data {
            if line == "." {
                in_data = false;
                write.write_all(b"250 queued\r\n").await.unwrap();
            }
            continue;
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250 test\r\n"
        } else if upper.starts_with("DATA") {
            in_data = true;
            b"354 go ahead\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await.unwrap();
            break;
        } else {
            b"250 ok\r\n"
        };
        write.write_all(reply).await.unwrap();
    }
    seen
}

#[tokio::test]
async fn receipts_go_out_through_smtp_once_and_saved_cards_can_be_removed() {
    let app = common::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(smtp_once(listener));
    let mut state = app.state.clone();
    let mut config = (*state.config).clone();
    config.smtp = Some(suz::server::config::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        from: "noreply@suz.test".into(),
    });
    state.config = std::sync::Arc::new(config);
    let mut conn = app.pool().acquire().await.unwrap();
    for _ in 0..2 {
        suz::mail::enqueue(
            &mut conn,
            "ivanov@example.ru",
            "Чек: оплата заявки № 7",
            "Оплата прошла успешно.",
            "receipt-test-1",
            now(),
        )
        .await
        .unwrap();
    }
    drop(conn);
    assert_eq!(suz::mail::deliver_pending(&state, now()).await.unwrap(), 1);
    let dialogue = server.await.unwrap();
    assert!(
        dialogue.contains("RCPT TO:<ivanov@example.ru>"),
        "{dialogue}"
    );
    assert!(
        dialogue.contains("MAIL FROM:<noreply@suz.test>"),
        "{dialogue}"
    );
    assert!(dialogue.contains("Subject:"), "{dialogue}");
    assert_eq!(
        suz::mail::deliver_pending(&state, now()).await.unwrap(),
        0,
        "sent once"
    );

    // Saved cards: removed by their owner only.
    let resident = app.resident_id("+79000000002").await;
    let other = app.resident_id("+79000000003").await;
    let card_id: i64 = sqlx::query_scalar(
        "insert into saved_cards (resident_id, provider, token, mask, created_at) values (?, 'sandbox', 'card_x', '•••• 4242', 0) returning card_id",
    )
    .bind(resident)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(matches!(
        payments::remove_card(app.pool(), other, card_id, now()).await,
        Err(AppError::NotFound)
    ));
    assert_eq!(
        payments::cards(app.pool(), resident).await.unwrap().len(),
        1
    );
    payments::remove_card(app.pool(), resident, card_id, now())
        .await
        .unwrap();
    assert!(payments::cards(app.pool(), resident)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_sandbox_also_runs_as_its_own_service_with_its_own_database() {
    let dir = tempfile::tempdir().unwrap();
    let provider_db = format!("sqlite://{}", dir.path().join("provider.db").display());
    let pool = suz::server::db::connect(&provider_db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}/sandbox", listener.local_addr().unwrap());
    let app = common::spawn_served_with({
        let provider = provider.clone();
        move |c| {
            c.embedded_sandbox = false;
            c.payments_url = provider;
        }
    })
    .await;
    assert!(app.state.sandbox.is_none());
    let sandbox = std::sync::Arc::new(suz::payments::sandbox::Sandbox {
        pool: pool.clone(),
        secret: "test-secret".into(),
        public_url: provider.clone(),
        webhook_url: format!("{}/payments/webhook", app.state.config.public_url),
        http: Default::default(),
        clock: Default::default(),
    });
    let router = axum::Router::new()
        .nest_service("/sandbox", suz::payments::sandbox::router(sandbox.clone()));
    let served = router.clone();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });

    let (_, resident, invoice) = active_invoice(&app, "apart-key-1").await;
    let started = payments::start(&app.state, resident, invoice, choice(false), now())
        .await
        .unwrap();
    let url = started.redirect_url.unwrap();
    assert!(url.starts_with(&provider), "{url}");
    // The payer's browser on the provider's own page.
    let path = format!("/sandbox/{}", url.split_once("/sandbox/").unwrap().1);
    let req = Request::post(path)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Body::from(format!(
            "number={}&expiry=12%2F35&cvc=123",
            cards::SUCCESS
        )))
        .unwrap();
    let res = tower::ServiceExt::oneshot(router, req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        suz::payments::sandbox::deliver_due(&sandbox, now() + 5)
            .await
            .unwrap(),
        1
    );
    assert_eq!(invoice_state(&app, invoice).await.0, "paid");
    let in_app: i64 = sqlx::query_scalar("select count(*) from sandbox_payments")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let at_provider: i64 = sqlx::query_scalar("select count(*) from sandbox_payments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((in_app, at_provider), (0, 1));
}

#[tokio::test]
async fn an_abandoned_payment_expires_and_frees_the_invoice() {
    let app = common::spawn_served().await;
    let state = &app.state;
    let (_, resident, invoice) = active_invoice(&app, "pay-abandon-1").await;
    let started = payments::start(state, resident, invoice, choice(false), now())
        .await
        .unwrap();
    let master = app.staff_user("master@demo.ru").await;
    // While the payer may still be on the provider's page, staff cannot settle it in cash.
    let busy = invoices::act(app.pool(), &master, invoice, InvoiceAction::MarkPaid, now()).await;
    assert!(
        matches!(busy, Err(AppError::Rule(ref m)) if m.contains("оплачивает")),
        "{busy:?}"
    );
    // The page is left; the provider declines it when its time is up and says so.
    let later = now() + suz::payments::sandbox::PAYMENT_TTL_SECONDS + 10;
    jobs::tick(state, later).await;
    jobs::tick(state, later + 5).await;
    let status: String = sqlx::query_scalar("select status from payments where payment_id = ?")
        .bind(started.payment_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(status, "failed");
    invoices::act(app.pool(), &master, invoice, InvoiceAction::MarkPaid, now())
        .await
        .unwrap();
    // Paying on the expired page does not take the money.
    let url = started.redirect_url.unwrap();
    app.pay_on_sandbox_page(&url, cards::SUCCESS).await;
    let at_provider: String = sqlx::query_scalar("select status from sandbox_payments")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(at_provider, "failed");
}
