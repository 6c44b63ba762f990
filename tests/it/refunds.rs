//! Refunds over real HTTP: staff partial refunds per line, resident requests (reject,
//! process), parallel refunds, webhook replays and provider failures. The tests written
//! with `each_provider!` run three times: with the sandbox, the fake ЮKassa and the fake
//! Т-Банк behind the same `PaymentGateway` trait.

use crate::common::{self, scalar};

use axum::body::Body;
use http::{Request, StatusCode};
use suz::error::AppError;
use suz::invoices::rules::{DiscountKind, LineInput};
use suz::orders::service::{self as orders, StateChange};
use suz::orders::status::OrderStatus;
use suz::refunds::api::RequestState;
use suz::refunds::rules::RefundLineInput;
use suz::refunds::service::{self as refunds, RefundInput};
use suz::requests::rules::InvoiceState;
use suz::requests::service as requests;
use suz::time::now;

/// An order «В работе» with a card-paid invoice: 3 × 1 200,00 − 10 % = 3 240,00 and
/// 1 × 500,00, 3 740,00 in all.
async fn paid_order(app: &common::TestApp, key: &str) -> common::PaidOrder {
    let lines = [
        LineInput {
            price_item_id: app.price_item("Прочистка засора").await,
            quantity: "3".into(),
            discount_kind: DiscountKind::Percent,
            discount_value: "10".into(),
        },
        LineInput {
            price_item_id: app.price_item("Выезд сантехника").await,
            quantity: "1".into(),
            discount_kind: DiscountKind::None,
            discount_value: String::new(),
        },
    ];
    app.paid_order(key, &lines).await
}

fn partial(invoice: i64, lines: Vec<RefundLineInput>, key: &str) -> RefundInput {
    RefundInput {
        invoice_id: invoice,
        full: false,
        lines,
        reason: "Мастер не доделал".into(),
        request_id: None,
        key: key.into(),
    }
}

fn full(invoice: i64, key: &str) -> RefundInput {
    RefundInput {
        invoice_id: invoice,
        full: true,
        lines: vec![],
        reason: "Отказ клиента".into(),
        request_id: None,
        key: key.into(),
    }
}

fn one_line(line_id: i64, q: &str, p: &str) -> RefundLineInput {
    RefundLineInput {
        line_id,
        quantity: q.into(),
        unit_price: p.into(),
    }
}

async fn mark(app: &common::TestApp, order_id: i64) -> (Option<String>, i64) {
    sqlx::query_as("select refund_state, refund_kopecks from orders where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn settle(app: &common::TestApp) {
    for dt in [10, 20] {
        app.tick(now() + dt).await;
    }
}

each_provider! {
async fn a_staff_partial_refund_of_one_line_completes_by_webhook_once(app) {
    let p = paid_order(&app, "refund-a-1").await;
    let master = app.staff_user("master@demo.ru").await;

    // One of three units at the list price; asking for four is refused.
    let too_many = refunds::create(
        &app.state,
        &master,
        partial(
            p.invoice,
            vec![one_line(p.lines[0], "4", "1200")],
            "key-refund-x",
        ),
        now(),
    )
    .await;
    assert!(
        matches!(too_many, Err(AppError::Validation(ref m)) if m.contains("не больше 3")),
        "{too_many:?}"
    );
    let id = refunds::create(
        &app.state,
        &master,
        partial(
            p.invoice,
            vec![one_line(p.lines[0], "1", "1200")],
            "key-refund-1",
        ),
        now(),
    )
    .await
    .unwrap();
    let again = refunds::create(
        &app.state,
        &master,
        partial(
            p.invoice,
            vec![one_line(p.lines[0], "1", "1200")],
            "key-refund-1",
        ),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(again, id, "a double click makes one refund");
    let (refund_state, refund_kopecks) = mark(&app, p.order_id).await;
    assert_eq!(refund_kopecks, 120_000);
    // The sandbox answers a refund later; ЮKassa and Т-Банк may say at once that it
    // succeeded.
    match app.provider() {
        Provider::Yookassa | Provider::Tbank => assert!(
            matches!(refund_state.as_deref(), Some("processing" | "succeeded")),
            "{refund_state:?}"
        ),
        Provider::Sandbox => assert_eq!(refund_state.as_deref(), Some("processing")),
    }

    settle(&app).await;
    let state: String = sqlx::query_scalar("select state from refunds where refund_id = ?")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(state, "succeeded");
    assert_eq!(
        mark(&app, p.order_id).await,
        (Some("succeeded".into()), 120_000)
    );
    assert_eq!(
        scalar(
            &app,
            "select refunded_kopecks from invoices where invoice_id = ?",
            p.invoice
        )
        .await,
        120_000
    );
    let view = requests::open(app.pool(), p.resident, p.order_id, now())
        .await
        .unwrap();
    assert_eq!(view.invoices[0].state, InvoiceState::PartlyRefunded);
    assert!(view.history.iter().any(|e| e.text == "Осуществлен возврат"));

    // Replaying the refund's webhook changes nothing.
    if app.provider() == Provider::Sandbox {
        let body: String = sqlx::query_scalar("select body from sandbox_webhooks where body like '%\"refund\":{%' order by id desc limit 1")
            .fetch_one(app.pool())
            .await
            .unwrap();
        let signed = suz::payments::gateway::signature::sign("test-secret", now(), body.as_bytes());
        let replay = Request::post("/payments/webhook")
            .header("x-sandbox-signature", signed)
            .body(Body::from(body))
            .unwrap();
        assert_eq!(app.send(replay).await.body, "already processed");
    }
    assert_eq!(
        scalar(
            &app,
            "select refunded_kopecks from invoices where invoice_id = ?",
            p.invoice
        )
        .await,
        120_000
    );

    // The rest in full, then nothing is left; «Выполнено» is allowed after the refund.
    refunds::create(&app.state, &master, full(p.invoice, "key-refund-2"), now())
        .await
        .unwrap();
    settle(&app).await;
    assert_eq!(
        scalar(
            &app,
            "select refunded_kopecks from invoices where invoice_id = ?",
            p.invoice
        )
        .await,
        374_000
    );
    let nothing =
        refunds::create(&app.state, &master, full(p.invoice, "key-refund-3"), now()).await;
    assert!(matches!(nothing, Err(AppError::Rule(ref m)) if m.contains("всё уже возвращено")));
    let view = requests::open(app.pool(), p.resident, p.order_id, now())
        .await
        .unwrap();
    assert_eq!(view.invoices[0].state, InvoiceState::Refunded);
    let version = scalar(
        &app,
        "select version from orders where order_id = ?",
        p.order_id,
    )
    .await;
    orders::change_state(
        app.pool(),
        &master,
        StateChange {
            order_id: p.order_id,
            version,
            status: OrderStatus::Done,
            assignee_id: Some(master.staff_id),
            comment: String::new(),
        },
        now(),
    )
    .await
    .unwrap();
}
}

each_provider! {
multi_thread async fn parallel_refunds_never_exceed_what_was_paid(app) {
    let p = paid_order(&app, "refund-race-1").await;
    let mut handles = Vec::new();
    for n in 0..10 {
        let state = app.state.clone();
        let line = p.lines[0];
        let master = app.staff_user("master@demo.ru").await;
        handles.push(tokio::spawn(async move {
            let input = partial(
                p.invoice,
                vec![one_line(line, "1", "1000")],
                &format!("race-key-{n:04}"),
            );
            refunds::create(&state, &master, input, now()).await
        }));
    }
    let mut ok = 0;
    let mut refused = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => refused.push(e),
        }
    }
    let refunded = scalar(&app, "select coalesce(sum(amount_kopecks), 0) from refunds where invoice_id = ? and state <> 'failed'", p.invoice).await;
    // 3 240,00 paid for the line: three refunds of 1 000,00; the rest ask for more than the
    // 240,00 left and are refused with it (they are not cut down to it).
    assert_eq!(ok, 3);
    assert_eq!(refunded, 300_000);
    for e in refused {
        assert_eq!(
            e,
            AppError::Validation("Не больше 240,00\u{a0}₽ по строке «Прочистка засора»".into())
        );
    }
}
}

#[tokio::test]
async fn a_refused_refund_is_shown_failed_and_can_be_made_again() {
    let app = common::spawn_served().await;
    let p = paid_order(&app, "refund-fail-1").await;
    let master = app.staff_user("master@demo.ru").await;
    let cancel = |version: i64| StateChange {
        order_id: p.order_id,
        version,
        status: OrderStatus::Cancelled,
        assignee_id: Some(master.staff_id),
        comment: "Клиент отказался".into(),
    };
    // Card money is returned before a cancellation.
    let version = scalar(
        &app,
        "select version from orders where order_id = ?",
        p.order_id,
    )
    .await;
    let early = orders::change_state(app.pool(), &master, cancel(version), now()).await;
    assert!(
        matches!(early, Err(AppError::Rule(ref m)) if m.contains("верните")),
        "{early:?}"
    );
    // The provider refuses (its record of the payment says it failed).
    sqlx::query("update sandbox_payments set status = 'failed'")
        .execute(app.pool())
        .await
        .unwrap();
    let id = refunds::create(&app.state, &master, full(p.invoice, "key-fail-1"), now())
        .await
        .unwrap();
    let (state, failure): (String, Option<String>) =
        sqlx::query_as("select state, failure from refunds where refund_id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(state, "failed");
    assert!(failure.is_some());
    assert_eq!(mark(&app, p.order_id).await, (None, 0));
    sqlx::query("update sandbox_payments set status = 'succeeded'")
        .execute(app.pool())
        .await
        .unwrap();
    let retry = refunds::create(&app.state, &master, full(p.invoice, "key-fail-2"), now())
        .await
        .unwrap();
    settle(&app).await;
    let state: String = sqlx::query_scalar("select state from refunds where refund_id = ?")
        .bind(retry)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(state, "succeeded");
    assert_eq!(
        scalar(
            &app,
            "select refunded_kopecks from invoices where invoice_id = ?",
            p.invoice
        )
        .await,
        374_000
    );
    let version = scalar(
        &app,
        "select version from orders where order_id = ?",
        p.order_id,
    )
    .await;
    orders::change_state(app.pool(), &master, cancel(version), now())
        .await
        .unwrap();
}

each_provider! {
async fn resident_requests_are_rejected_once_for_good_or_processed(app) {
    let p = paid_order(&app, "refund-req-1").await;
    let dispatcher = app.staff_user("dispatcher@demo.ru").await;

    let too_much = refunds::request(
        app.pool(),
        p.resident,
        p.order_id,
        false,
        "5000",
        "Дорого",
        now(),
    )
    .await;
    assert!(
        matches!(too_much, Err(AppError::Fields(ref f)) if f[0].0 == "amount"),
        "{too_much:?}"
    );
    let stranger = app.resident_id("+79000000003").await;
    assert!(matches!(
        refunds::request(app.pool(), stranger, p.order_id, true, "", "Чужой", now()).await,
        Err(AppError::NotFound)
    ));

    refunds::request(
        app.pool(),
        p.resident,
        p.order_id,
        true,
        "",
        "Мастер не пришёл",
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        mark(&app, p.order_id).await,
        (Some("requested".into()), 374_000)
    );
    let twice = refunds::request(
        app.pool(),
        p.resident,
        p.order_id,
        true,
        "",
        "Ещё раз",
        now(),
    )
    .await;
    assert!(matches!(twice, Err(AppError::Rule(_))));
    assert_eq!(
        scalar(
            &app,
            "select count(*) from outbox where event = 'refund_requested' and order_id = ?",
            p.order_id
        )
        .await,
        1
    );

    let request_id = scalar(
        &app,
        "select request_id from refund_requests where order_id = ?",
        p.order_id,
    )
    .await;
    let no_reason = refunds::reject(app.pool(), &dispatcher, request_id, "  ", now()).await;
    assert!(matches!(no_reason, Err(AppError::Fields(_))));
    refunds::reject(
        app.pool(),
        &dispatcher,
        request_id,
        "Работа выполнена полностью",
        now(),
    )
    .await
    .unwrap();
    assert_eq!(mark(&app, p.order_id).await, (None, 0));
    let view = requests::open(app.pool(), p.resident, p.order_id, now())
        .await
        .unwrap();
    let last = view.refund.request.unwrap();
    assert_eq!(last.state, RequestState::Rejected);
    assert_eq!(last.reject_reason, "Работа выполнена полностью");
    assert!(view.refund.refused.unwrap().contains("отклонён"));
    let after = refunds::request(
        app.pool(),
        p.resident,
        p.order_id,
        false,
        "100",
        "Хотя бы часть",
        now(),
    )
    .await;
    assert!(matches!(after, Err(AppError::Rule(ref m)) if m.contains("отклонён")));

    // Another order: a partial request, processed by staff.
    let q = paid_order(&app, "refund-req-2").await;
    refunds::request(
        app.pool(),
        q.resident,
        q.order_id,
        false,
        "500",
        "Не нужен выезд",
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        mark(&app, q.order_id).await,
        (Some("requested".into()), 50_000)
    );
    let request_id = scalar(
        &app,
        "select request_id from refund_requests where order_id = ?",
        q.order_id,
    )
    .await;
    let mut input = partial(
        q.invoice,
        vec![one_line(q.lines[1], "1", "500")],
        "key-process-1",
    );
    input.request_id = Some(request_id);
    refunds::create(&app.state, &dispatcher, input, now())
        .await
        .unwrap();
    settle(&app).await;
    let state: String =
        sqlx::query_scalar("select state from refund_requests where request_id = ?")
            .bind(request_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(state, "processed");
    assert_eq!(
        mark(&app, q.order_id).await,
        (Some("succeeded".into()), 50_000)
    );

    // A service without refunds offers none.
    sqlx::query("update services set refunds_allowed = 0 where name = 'Устранение засора'")
        .execute(app.pool())
        .await
        .unwrap();
    let view = requests::open(app.pool(), q.resident, q.order_id, now())
        .await
        .unwrap();
    assert!(view.refund.refused.unwrap().contains("не предусмотрен"));
}
}

#[tokio::test]
async fn refund_functions_refuse_read_only_staff_and_residents_over_http() {
    let app = common::spawn_served().await;
    let p = paid_order(&app, "refund-http-1").await;
    let body = format!(
        r#"{{"invoice_id":{},"full":true,"lines":[],"reason":"x","request_id":null,"key":"http-key-01"}}"#,
        p.invoice
    );
    let viewer = app.staff_cookie("viewer@demo.ru").await;
    assert_eq!(
        app.call_json("create_refund", &body, &viewer).await.body,
        "\"Forbidden\""
    );
    let resident = app.resident_cookie("+79000000002").await;
    assert_eq!(
        app.call_json("create_refund", &body, &resident).await.body,
        "\"Forbidden\""
    );
    let cleaner = app.staff_cookie("cleaner@demo.ru").await;
    assert_ne!(
        app.call_json("create_refund", &body, &cleaner).await.status,
        StatusCode::OK
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from refunds where invoice_id = ?",
            p.invoice
        )
        .await,
        0
    );
}
