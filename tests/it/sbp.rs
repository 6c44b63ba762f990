//! СБП as a second payment method, through the sandbox provider over real HTTP: its bank
//! page (pay, decline, a lost notification found by polling), the invoice paid by «sbp»,
//! the ledger's fee at СБП's acquiring rate, a refund back to the payer's bank, and the
//! payment screen's refusals (an unknown method, a saved card with СБП).

use crate::common::{self, scalar};

use axum::body::Body;
use http::{Request, StatusCode};
use suz::error::AppError;
use suz::invoices::rules::{DiscountKind, LineInput};
use suz::payments::gateway::PayMethod;
use suz::payments::sandbox::sbp_banks;
use suz::payments::service::{self as payments, PayChoice};
use suz::refunds::service::{self as refunds, RefundInput};
use suz::server::jobs;
use suz::time::now;

fn sbp() -> PayChoice {
    PayChoice {
        method: PayMethod::Sbp,
        email: "ivanov@example.ru".into(),
        card_id: None,
        save_card: false,
    }
}

/// An active invoice of 1 200,00 ₽ on a new order of +79000000002: (order, resident,
/// invoice).
async fn active_invoice(app: &common::TestApp, key: &str) -> (i64, i64, i64) {
    let resident = app.resident_id("+79000000002").await;
    let order_id = app.submit_clog(resident, key).await;
    let master = app.staff_user("master@demo.ru").await;
    let lines = [LineInput {
        price_item_id: app.price_item("Прочистка засора").await,
        quantity: "1".into(),
        discount_kind: DiscountKind::None,
        discount_value: String::new(),
    }];
    let invoice = app.issue_invoice(&master, order_id, &lines).await;
    (order_id, resident, invoice)
}

/// Chooses a test bank on the sandbox's СБП page as a browser does; returns where it
/// redirects.
async fn choose_bank(app: &common::TestApp, url: &str, bank: &str) -> String {
    let path = url
        .split_once("/sandbox/")
        .map(|(_, p)| format!("/sandbox/{p}"))
        .expect("a sandbox URL");
    let req = Request::post(path)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Body::from(format!("bank={bank}")))
        .expect("request");
    let reply = app.send(req).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    reply.location().expect("a redirect").to_owned()
}

async fn invoice_state(app: &common::TestApp, invoice: i64) -> (String, Option<String>) {
    sqlx::query_as("select status, paid_method from invoices where invoice_id = ?")
        .bind(invoice)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn history_has(app: &common::TestApp, order_id: i64, kind: &str, comment: &str) -> bool {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from order_history where order_id = ? and kind = ? and instr(comment, ?) > 0",
    )
    .bind(order_id)
    .bind(kind)
    .bind(comment)
    .fetch_one(app.pool())
    .await
    .unwrap();
    n > 0
}

/// Starts an СБП payment and returns (payment id, the СБП page's URL).
async fn start_sbp(app: &common::TestApp, resident: i64, invoice: i64) -> (i64, String) {
    let started = payments::start(&app.state, resident, invoice, sbp(), now())
        .await
        .expect("an СБП payment started");
    let url = started.redirect_url.expect("the СБП page");
    (started.payment_id, url)
}

#[tokio::test]
async fn an_sbp_payment_is_paid_on_the_bank_page_and_booked_at_the_sbp_rate() {
    let app = common::spawn_served().await;
    let (order_id, resident, invoice) = active_invoice(&app, "sbp-ok-1").await;
    let (payment_id, url) = start_sbp(&app, resident, invoice).await;
    assert!(url.contains("/sandbox/sbp/"), "{url}");

    // The page offers the test banks and the QR code's link, not a card form.
    let path = format!("/sandbox/{}", url.split_once("/sandbox/").unwrap().1);
    let page = app.get(&path, None).await;
    assert_eq!(page.status, StatusCode::OK);
    for (_, button) in sbp_banks::ALL {
        assert!(page.body.contains(button), "{button}: {}", page.body);
    }
    assert!(page.body.contains("Сбербанк — оплатить"));
    assert!(page.body.contains("Т-Банк — отклонить"));
    assert!(page.body.contains("sbp-payload"));
    assert!(!page.body.contains("Номер карты"));
    // The card page of an СБП payment sends the payer to the bank page.
    let card_page = app.get(&path.replace("/sbp/", "/pay/"), None).await;
    assert_eq!(card_page.status, StatusCode::SEE_OTHER);
    // No bank chosen: the page again, nothing paid.
    let req = Request::post(&path)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Body::from("bank="))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let back = choose_bank(&app, &url, sbp_banks::PAY).await;
    assert!(
        back.ends_with(&format!("/requests/{order_id}?payment={payment_id}")),
        "{back}"
    );
    jobs::tick(&app.state, now() + 10).await;
    assert_eq!(
        invoice_state(&app, invoice).await,
        ("paid".into(), Some("sbp".into()))
    );
    let (status, method, fee, mask): (String, String, Option<i64>, Option<String>) =
        sqlx::query_as(
            "select status, method, fee_kopecks, card_mask from payments where payment_id = ?",
        )
        .bind(payment_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!((status.as_str(), method.as_str()), ("succeeded", "sbp"));
    assert_eq!(
        fee,
        Some(480),
        "the sandbox keeps 0,4 % of 1 200,00 for СБП"
    );
    assert_eq!(mask, None, "СБП has no card");
    assert!(history_has(&app, order_id, "Счёт оплачен через СБП", "СБП").await);

    // The ledger books the fee at СБП's rate (0,4 %), not the card's 2,2 %, and it agrees
    // with what the provider kept.
    let (fee, provider_fee, rate_method): (i64, Option<i64>, String) = sqlx::query_as(
        "select e.fee_kopecks, e.provider_fee_kopecks, r.method from ledger_entries e \
         join acquiring_rates r on r.rate_id = e.rate_id where e.payment_id = ? and e.kind = 'card_payment'",
    )
    .bind(payment_id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(
        (fee, provider_fee, rate_method.as_str()),
        (480, Some(480), "sbp")
    );
    // The order's finance names the entry as an СБП payment.
    let finance = suz::finance::service::order_finance(app.pool(), order_id)
        .await
        .unwrap();
    let labels: Vec<_> = finance.entries.iter().map(|e| e.kind_label()).collect();
    assert_eq!(labels, ["Оплата через СБП"]);
    // The month's report shows the СБП part of the money taken.
    let entity = scalar(
        &app,
        "select legal_entity_id from orders where order_id = ?",
        order_id,
    )
    .await;
    let period = suz::finance::rules::Period::of(now(), suz::finance::service::zone());
    let report = suz::finance::service::period_report(app.pool(), entity, period, None)
        .await
        .unwrap();
    assert_eq!(report.totals.sbp.kopecks(), 120_000);
    assert_eq!(report.totals.card.kopecks(), 120_000);
    assert!(report.totals.balances());
    // The month's .xlsx names it so too.
    let accountant = app.staff_cookie("accountant@demo.ru").await;
    let file = app
        .get_bytes(
            &format!("/staff/finance/export?entity={entity}&period={period}"),
            &accountant,
        )
        .await;
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(file)).expect("a valid xlsx");
    let ops = book.worksheet_range("Операции").unwrap();
    let labels: Vec<String> = ops.rows().skip(1).map(|r| r[1].to_string()).collect();
    assert_eq!(labels, ["Оплата через СБП"]);
}

#[tokio::test]
async fn a_declined_sbp_transfer_fails_the_payment_and_leaves_the_invoice_to_pay() {
    let app = common::spawn_served().await;
    let (order_id, resident, invoice) = active_invoice(&app, "sbp-decline-1").await;
    let (payment_id, url) = start_sbp(&app, resident, invoice).await;
    choose_bank(&app, &url, sbp_banks::DECLINE).await;
    jobs::tick(&app.state, now() + 10).await;
    let (status, failure): (String, Option<String>) =
        sqlx::query_as("select status, failure from payments where payment_id = ?")
            .bind(payment_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(
        failure.as_deref(),
        Some("Банк плательщика отклонил перевод")
    );
    assert_eq!(invoice_state(&app, invoice).await, ("active".into(), None));
    assert!(history_has(&app, order_id, "Оплата через СБП не прошла", "отклонил").await);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from ledger_entries where order_id = ?",
            order_id
        )
        .await,
        0
    );
    // The resident is told so, and offered the card rather than «another card».
    let result = payments::result(&app.state, resident, payment_id, now())
        .await
        .unwrap();
    assert_eq!(
        result.message,
        "Оплата не прошла: Банк плательщика отклонил перевод. Попробуйте ещё раз или оплатите картой"
    );
    // The resident may pay again, by card this time.
    let card = PayChoice {
        method: PayMethod::Card,
        ..sbp()
    };
    let again = payments::start(&app.state, resident, invoice, card, now())
        .await
        .unwrap();
    assert!(again.redirect_url.unwrap().contains("/sandbox/pay/"));
}

#[tokio::test]
async fn a_lost_sbp_notification_is_found_by_polling() {
    let app = common::spawn_served().await;
    let (_, resident, invoice) = active_invoice(&app, "sbp-lost-1").await;
    let (_, url) = start_sbp(&app, resident, invoice).await;
    choose_bank(&app, &url, sbp_banks::LOST_WEBHOOKS).await;
    jobs::tick(&app.state, now() + 10).await;
    assert_eq!(
        invoice_state(&app, invoice).await.0,
        "active",
        "the notification was lost"
    );
    jobs::tick(
        &app.state,
        now() + 10 + payments::POLL_PENDING_AFTER_SECONDS,
    )
    .await;
    assert_eq!(
        invoice_state(&app, invoice).await,
        ("paid".into(), Some("sbp".into()))
    );
}

#[tokio::test]
async fn an_sbp_payment_is_refunded_to_the_payers_bank() {
    let app = common::spawn_served().await;
    let (order_id, resident, invoice) = active_invoice(&app, "sbp-refund-1").await;
    let (payment_id, url) = start_sbp(&app, resident, invoice).await;
    choose_bank(&app, &url, sbp_banks::PAY).await;
    jobs::tick(&app.state, now() + 10).await;
    let master = app.staff_user("master@demo.ru").await;
    app.start_work(&master, order_id).await;

    let refund_id = refunds::create(
        &app.state,
        &master,
        RefundInput {
            invoice_id: invoice,
            full: true,
            lines: vec![],
            reason: "Отказ клиента".into(),
            request_id: None,
            key: "sbp-refund-key-1".into(),
        },
        now(),
    )
    .await
    .expect("an СБП payment can be refunded");
    // Asynchronous: accepted now, completed by the provider later.
    let state: String = sqlx::query_scalar("select state from refunds where refund_id = ?")
        .bind(refund_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(state, "processing");
    for dt in [10, 20] {
        jobs::tick(&app.state, now() + dt).await;
    }
    let (state, paid_back): (String, i64) = sqlx::query_as(
        "select r.state, i.refunded_kopecks from refunds r join invoices i on i.invoice_id = r.invoice_id \
         where r.refund_id = ?",
    )
    .bind(refund_id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((state.as_str(), paid_back), ("succeeded", 120_000));
    assert!(
        history_has(
            &app,
            order_id,
            "Осуществлен возврат",
            "вернулись в банк плательщика (СБП)"
        )
        .await
    );
    assert!(!history_has(&app, order_id, "Осуществлен возврат", "на карту").await);
    assert_eq!(
        scalar(
            &app,
            "select count(*) from ledger_entries where kind = 'refund' and payment_id = ?",
            payment_id
        )
        .await,
        1
    );
    let finance = suz::finance::service::order_finance(app.pool(), order_id)
        .await
        .unwrap();
    let labels: Vec<_> = finance.entries.iter().map(|e| e.kind_label()).collect();
    assert_eq!(labels, ["Оплата через СБП", "Возврат (СБП)"]);
}

/// `start_payment` as the payment screen calls it; `extra` fields replace the defaults.
async fn start_over_http(
    app: &common::TestApp,
    cookie: &str,
    invoice: i64,
    extra: &[(&str, &str)],
) -> common::Reply {
    let id = invoice.to_string();
    let mut form = vec![("invoice_id", id.as_str()), ("email", "ivanov@example.ru")];
    if !extra.iter().any(|(k, _)| *k == "save_card") {
        form.push(("save_card", "false"));
    }
    form.extend_from_slice(extra);
    app.call("start_payment", &form, Some(cookie)).await
}

#[tokio::test]
async fn the_payment_screen_refuses_unknown_methods_and_saved_cards_with_sbp() {
    let app = common::spawn_served().await;
    let (_, resident, invoice) = active_invoice(&app, "sbp-refuse-1").await;
    let cookie = app.resident_cookie("+79000000002").await;
    let call = |extra: &'static [(&'static str, &'static str)]| {
        start_over_http(&app, &cookie, invoice, extra)
    };
    let bitcoin = call(&[("method", "bitcoin")]).await;
    assert_eq!(bitcoin.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bitcoin.body.contains("Выберите способ оплаты"),
        "{}",
        bitcoin.body
    );
    let save = call(&[("method", "sbp"), ("save_card", "true")]).await;
    assert_eq!(
        save.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        save.body
    );
    assert!(
        save.body.contains("только для оплаты картой"),
        "{}",
        save.body
    );
    let with_card = call(&[("method", "sbp"), ("card_id", "1")]).await;
    assert_eq!(with_card.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(with_card.body.contains("только для оплаты картой"));
    // The service refuses it too, whoever calls it.
    let direct = payments::start(
        &app.state,
        resident,
        invoice,
        PayChoice {
            card_id: Some(1),
            ..sbp()
        },
        now(),
    )
    .await;
    assert!(
        matches!(direct, Err(AppError::Validation(ref m)) if m.contains("только для оплаты картой")),
        "{direct:?}"
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from payments where invoice_id = ?",
            invoice
        )
        .await,
        0,
        "nothing was started"
    );

    // The sandbox provider itself refuses a card with СБП, as a real one would.
    let body = serde_json::json!({
        "amount": 120_000, "description": "x", "idempotency_key": "sbp-card-1",
        "return_url": "http://127.0.0.1/", "card_token": "card_x", "save_card": false,
        "method": "sbp",
    });
    let req = Request::post("/sandbox/api/payments")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, "Bearer test-secret")
        .body(Body::from(body.to_string()))
        .unwrap();
    let refused = app.send(req).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );

    // A plain card payment still goes (the default method).
    let ok = call(&[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("/sandbox/pay/"), "{}", ok.body);
}

#[tokio::test]
async fn sbp_has_its_own_acquiring_rate_in_the_terms() {
    let app = common::spawn().await;
    let (_, rates) = suz::finance::service::terms(app.pool()).await.unwrap();
    let sbp: Vec<_> = rates.iter().filter(|r| r.method == "sbp").collect();
    assert_eq!(sbp.len(), 1, "{rates:?}");
    assert_eq!((sbp[0].percent.as_str(), sbp[0].current), ("0,4", true));
    assert_eq!(suz::finance::api::method_label("sbp"), "СБП");
    // Finance staff set a new СБП rate from tomorrow; an unknown method is refused.
    let finance = app.staff_user("accountant@demo.ru").await;
    let tomorrow = suz::finance::service::day_of(now() + 86_400);
    let input = |percent: &str| suz::finance::service::TermInput {
        percent: percent.into(),
        minimum: String::new(),
        fixed: String::new(),
        effective_from: tomorrow.clone(),
    };
    suz::finance::service::add_rate(app.pool(), &finance, "sbp", input("0,5"), now())
        .await
        .expect("an СБП rate");
    let bad =
        suz::finance::service::add_rate(app.pool(), &finance, "bitcoin", input("1"), now()).await;
    assert!(matches!(bad, Err(AppError::Validation(_))), "{bad:?}");
    let (_, rates) = suz::finance::service::terms(app.pool()).await.unwrap();
    assert_eq!(rates.iter().filter(|r| r.method == "sbp").count(), 2);
}
