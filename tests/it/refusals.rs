//! Input that is refused, not bent (issue 16 §3, §6, §7, §8): what an assigned-only employee
//! may reach when creating orders, refund lines above what was paid, a refund key reused on
//! another invoice, visit dates and quantities out of bounds, stale webhook signatures and
//! the bounded table of seen webhooks. Every refusal changes nothing.

use crate::common;

use axum::body::Body;
use http::Request;
use suz::error::AppError;
use suz::invoices::rules::{DiscountKind, LineInput};
use suz::orders::drafts::ssr::{self as drafts, DraftInput};
use suz::refunds::rules::RefundLineInput;
use suz::refunds::service::{self as refunds, RefundInput};
use suz::requests::service::{self as requests, SubmitInput};

fn now() -> i64 {
    suz::time::now()
}

use common::visit_in_a_week as visit;

async fn count(app: &common::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

async fn first_premises(app: &common::TestApp, resident: i64) -> i64 {
    sqlx::query_scalar(
        "select premises_id from resident_premises where resident_id = ? order by premises_id limit 1",
    )
    .bind(resident)
    .fetch_one(app.pool())
    .await
    .unwrap()
}

fn staff_order_json(resident: i64, premises: i64, service: i64, visit: &str) -> String {
    format!(
        r#"{{"draft_id":null,"resident_id":{resident},"premises_id":{premises},"service_id":{service},"values":[["where","Ванна"],["room","Кухня"],["visit","{visit}"]],"submit":false}}"#
    )
}

// §6 ------------------------------------------------------------------------------------

#[tokio::test]
async fn an_assigned_only_employee_finds_residents_by_full_phone_and_orders_his_entitys_services() {
    let app = common::spawn().await;
    let master = app.staff_cookie("master@demo.ru").await;
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;

    // No browsing of names or addresses, no partial phones…
    for query in ["Иванов", "ул. Ленина", "+7900", "Ив"] {
        let reply = app
            .call("find_residents", &[("query", query)], Some(&master))
            .await;
        assert!(
            reply
                .body
                .contains(r#"{"Validation":"Введите полный номер телефона клиента"#),
            "{query}: {}",
            reply.body
        );
        assert!(!reply.body.contains("Иванов Иван"), "{}", reply.body);
    }
    // …but a full number finds the one resident.
    let reply = app
        .call(
            "find_residents",
            &[("query", "+7 900 000-00-01")],
            Some(&master),
        )
        .await;
    let found: serde_json::Value = serde_json::from_str(&reply.body).expect(&reply.body);
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{}", reply.body);
    assert_eq!(found[0]["full_name"], "Иванов Иван Петрович");
    // A role with «Все» still searches by name.
    let reply = app
        .call("find_residents", &[("query", "Иванов")], Some(&dispatcher))
        .await;
    assert!(
        reply.body.contains("Иванов Иван Петрович"),
        "{}",
        reply.body
    );

    // Only his legal entity's services are offered (СантехСервис)…
    let names = |body: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body).expect(body);
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let offered = names(&app.call("service_forms", &[], Some(&master)).await.body);
    assert!(
        offered.contains(&"Устранение засора".to_owned()),
        "{offered:?}"
    );
    assert!(
        !offered.contains(&"Замена розетки".to_owned()),
        "{offered:?}"
    );
    assert!(
        !offered.contains(&"Генеральная уборка".to_owned()),
        "{offered:?}"
    );
    let all = names(&app.call("service_forms", &[], Some(&dispatcher)).await.body);
    assert!(all.contains(&"Замена розетки".to_owned()) && all.len() > offered.len());

    // …and the server refuses another entity's service, storing nothing.
    let resident = app.resident_id("+79000000001").await;
    let premises = first_premises(&app, resident).await;
    let orders_before = count(&app, "select count(*) from orders").await;
    let socket = app.service_id("Замена розетки").await;
    let refused = app
        .call_json(
            "save_staff_order",
            &staff_order_json(resident, premises, socket, &visit()),
            &master,
        )
        .await;
    assert_eq!(refused.body, r#""Forbidden""#);
    assert_eq!(
        count(&app, "select count(*) from orders").await,
        orders_before
    );
    // His own entity's service is fine, and «Все» may order any.
    let clog = app.service_id("Устранение засора").await;
    let ok = app
        .call_json(
            "save_staff_order",
            &staff_order_json(resident, premises, clog, &visit()),
            &master,
        )
        .await;
    assert!(ok.body.parse::<i64>().is_ok(), "{}", ok.body);
    let ok = app
        .call_json(
            "save_staff_order",
            &staff_order_json(resident, premises, socket, &visit()),
            &dispatcher,
        )
        .await;
    assert!(ok.body.parse::<i64>().is_ok(), "{}", ok.body);
    assert_eq!(
        count(&app, "select count(*) from orders").await,
        orders_before + 2
    );
}

// §7 refunds and §3 ---------------------------------------------------------------------

/// An order «В работе» of +79000000002 with a card-paid invoice of 2 × 1 200,00
/// («Прочистка засора») and 1 × 500,00 («Выезд сантехника»). Returns (invoice, line ids).
async fn paid_invoice(app: &common::TestApp, key: &str) -> (i64, Vec<i64>) {
    let line = |item: i64, q: &str| LineInput {
        price_item_id: item,
        quantity: q.into(),
        discount_kind: DiscountKind::None,
        discount_value: String::new(),
    };
    let lines = [
        line(app.price_item("Прочистка засора").await, "2"),
        line(app.price_item("Выезд сантехника").await, "1"),
    ];
    let paid = app.paid_order(key, &lines).await;
    (paid.invoice, paid.lines)
}

/// The master refunds `q` units of one line at `price` each.
async fn refund_part(
    app: &common::TestApp,
    invoice: i64,
    line_id: i64,
    q: &str,
    price: &str,
    key: &str,
) -> Result<i64, AppError> {
    let master = app.staff_user("master@demo.ru").await;
    let input = RefundInput {
        invoice_id: invoice,
        full: false,
        lines: vec![RefundLineInput {
            line_id,
            quantity: q.into(),
            unit_price: price.into(),
        }],
        reason: "Часть работ не выполнена".into(),
        request_id: None,
        key: key.into(),
    };
    refunds::create(&app.state, &master, input, now()).await
}

#[tokio::test]
async fn a_refund_line_above_what_was_paid_is_refused_with_the_maximum_and_stored_exactly_otherwise(
) {
    let app = common::spawn_served().await;
    let (invoice, lines) = paid_invoice(&app, "refusal-refund-1").await;
    let refused = |e: AppError| match e {
        AppError::Validation(m) => m,
        other => panic!("{other:?}"),
    };

    // 99 999 ₽ for the 500 ₽ call-out: refused with the line's price, not cut to 500 ₽.
    let e = refund_part(&app, invoice, lines[1], "1", "99999", "refusal-key-1")
        .await
        .unwrap_err();
    assert_eq!(
        refused(e),
        "«Выезд сантехника»: стоимость за единицу не больше 500,00\u{a0}₽"
    );
    // 2 × 1 200 is refundable; 3 units are more than the line has.
    let e = refund_part(&app, invoice, lines[0], "3", "1200", "refusal-key-2")
        .await
        .unwrap_err();
    assert_eq!(refused(e), "«Прочистка засора»: количество не больше 2");
    assert_eq!(count(&app, "select count(*) from refunds").await, 0);
    assert_eq!(count(&app, "select count(*) from refund_lines").await, 0);

    // One unit at 1 200: stored exactly as asked.
    refund_part(&app, invoice, lines[0], "1", "1200", "refusal-key-3")
        .await
        .unwrap();
    // 1 200 is left on the line: 2 × 1 200 is now more than that.
    let e = refund_part(&app, invoice, lines[0], "2", "1200", "refusal-key-4")
        .await
        .unwrap_err();
    assert_eq!(
        refused(e),
        "Не больше 1\u{202f}200,00\u{a0}₽ по строке «Прочистка засора»"
    );
    let stored: Vec<(String, i64, i64)> =
        sqlx::query_as("select quantity, unit_price_kopecks, amount_kopecks from refund_lines")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(stored, vec![("1".to_owned(), 120_000, 120_000)]);
    assert_eq!(
        count(&app, "select coalesce(sum(amount_kopecks), 0) from refunds").await,
        120_000
    );
}

#[tokio::test]
async fn a_refund_key_reused_on_another_invoice_is_refused_and_changes_nothing() {
    let app = common::spawn_served().await;
    let (first, first_lines) = paid_invoice(&app, "refusal-key-reuse-1").await;
    let (second, second_lines) = paid_invoice(&app, "refusal-key-reuse-2").await;
    let id = refund_part(&app, first, first_lines[1], "1", "500", "shared-key-0001")
        .await
        .unwrap();
    let refunds_before = count(&app, "select count(*) from refunds").await;
    let history_before = count(&app, "select count(*) from order_history").await;

    let reused = refund_part(&app, second, second_lines[1], "1", "500", "shared-key-0001").await;
    assert!(
        matches!(reused, Err(AppError::Conflict(ref m)) if m.contains("другого счёта")),
        "{reused:?}"
    );
    // Over HTTP the answer is the refusal, not «Внутренняя ошибка».
    let cookie = app.staff_cookie("master@demo.ru").await;
    let body = format!(
        r#"{{"invoice_id":{second},"full":false,"lines":[{{"line_id":{},"quantity":"1","unit_price":"500"}}],"reason":"Ещё раз","request_id":null,"key":"shared-key-0001"}}"#,
        second_lines[1]
    );
    let reply = app.call_json("create_refund", &body, &cookie).await;
    assert!(reply.body.starts_with(r#"{"Conflict":"#), "{}", reply.body);
    assert_eq!(
        count(&app, "select count(*) from refunds").await,
        refunds_before
    );
    assert_eq!(
        count(&app, "select count(*) from order_history").await,
        history_before
    );
    // The same key on its own invoice still finds the refund it made.
    let again = refund_part(&app, first, first_lines[1], "1", "500", "shared-key-0001")
        .await
        .unwrap();
    assert_eq!(again, id);
}

// §7 bounds -----------------------------------------------------------------------------

#[tokio::test]
async fn visit_dates_out_of_bounds_are_refused_for_residents_and_staff() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000002").await;
    let clog = app.service_id("Устранение засора").await;
    let orders_before = count(&app, "select count(*) from orders").await;
    for (date, message) in [
        ("1900-01-01T10:00", "Дата визита не может быть в прошлом"),
        ("9999-12-31T10:00", "Дата визита не позже"),
    ] {
        let input = SubmitInput {
            service_id: clog,
            values: vec![
                ("where".into(), "Ванна".into()),
                ("visit".into(), date.into()),
            ],
            submit_key: format!("refusal-visit-{}", &date[..4]),
        };
        match requests::submit(app.pool(), resident, input, 180, now()).await {
            Err(AppError::Fields(f)) => {
                assert_eq!(f.len(), 1, "{f:?}");
                assert_eq!(f[0].0, "visit");
                assert!(f[0].1.starts_with(message), "{f:?}");
            }
            other => panic!("{date}: {other:?}"),
        }
        let dispatcher = app.staff_user("dispatcher@demo.ru").await;
        let draft = DraftInput {
            draft_id: None,
            resident_id: resident,
            premises_id: first_premises(&app, resident).await,
            service_id: clog,
            values: vec![("visit".into(), date.into())],
        };
        let saved = drafts::save(app.pool(), &dispatcher, draft, false, 180, now()).await;
        assert!(
            matches!(saved, Err(AppError::Fields(ref f)) if f[0].0 == "visit" && f[0].1.starts_with(message)),
            "{saved:?}"
        );
    }
    assert_eq!(
        count(&app, "select count(*) from orders").await,
        orders_before
    );
}

#[tokio::test]
async fn a_huge_prepaid_quantity_or_total_is_refused_and_no_order_is_made() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000002").await;
    let meters = app.service_id("Установка счётчиков воды").await;
    let orders_before = count(&app, "select count(*) from orders").await;
    let invoices_before = count(&app, "select count(*) from invoices").await;
    // 10¹² meters would have been an active invoice of 1,8·10¹⁵ ₽; 10 000 meters (the most a
    // number field takes) would still be 18 000 000 ₽, above an invoice's 10 000 000 ₽.
    for (count_typed, message) in [
        ("1000000000000", "Не больше 10000"),
        (
            "10000",
            "Сумма счёта не больше 10\u{202f}000\u{202f}000,00\u{a0}₽",
        ),
    ] {
        let input = SubmitInput {
            service_id: meters,
            values: vec![
                ("count".into(), count_typed.into()),
                ("visit".into(), visit()),
            ],
            submit_key: format!("refusal-prepaid-{}", count_typed.len()),
        };
        let refused = requests::submit(app.pool(), resident, input, 180, now()).await;
        assert_eq!(
            refused.map(|s| s.order_id),
            Err(AppError::Fields(vec![("count".into(), message.into())]))
        );
    }
    assert_eq!(
        count(&app, "select count(*) from orders").await,
        orders_before
    );
    assert_eq!(
        count(&app, "select count(*) from invoices").await,
        invoices_before
    );
    // Two meters are billed as before.
    let input = SubmitInput {
        service_id: meters,
        values: vec![("count".into(), "2".into()), ("visit".into(), visit())],
        submit_key: "refusal-prepaid-ok".into(),
    };
    let done = requests::submit(app.pool(), resident, input, 180, now())
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("select total_kopecks from invoices where invoice_id = ?")
        .bind(done.pay_invoice_id.unwrap())
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(total, 2 * 180_000);
}

#[tokio::test]
async fn a_staff_invoice_with_a_huge_quantity_is_refused() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000002").await;
    let order_id = app.submit_clog(resident, "refusal-invoice-qty").await;
    let master = app.staff_user("master@demo.ru").await;
    let lines = [LineInput {
        price_item_id: app.price_item("Прочистка засора").await,
        quantity: "1000000000000".into(),
        discount_kind: DiscountKind::None,
        discount_value: String::new(),
    }];
    let refused =
        suz::invoices::service::create(app.pool(), &master, order_id, &lines, now()).await;
    assert_eq!(
        refused,
        Err(AppError::Validation(
            "Позиция 1: Количество не больше 10000".into()
        ))
    );
    assert_eq!(count(&app, "select count(*) from invoices").await, 0);
}

// §8 webhooks ---------------------------------------------------------------------------

#[tokio::test]
async fn a_webhook_signed_over_five_minutes_ago_is_refused_and_seen_events_are_pruned() {
    let app = common::spawn_served().await;
    paid_invoice(&app, "refusal-webhook-1").await;
    let body: String = sqlx::query_scalar(
        "select body from sandbox_webhooks where delivered_at is not null order by id limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let post = |t: i64| {
        Request::post("/payments/webhook")
            .header(
                "x-sandbox-signature",
                suz::payments::gateway::signature::sign("test-secret", t, body.as_bytes()),
            )
            .body(Body::from(body.clone()))
            .unwrap()
    };
    // Six minutes old, or six minutes ahead: refused (it was accepted for seven days).
    for t in [now() - 6 * 60, now() + 6 * 60] {
        let reply = app.send(post(t)).await;
        assert_eq!(
            reply.status,
            http::StatusCode::UNAUTHORIZED,
            "{}",
            reply.body
        );
    }
    // Events received longer ago than a signature can be replayed are forgotten when a
    // signed request comes; recent ones stay.
    for (id, age) in [("evt-old", 3_600), ("evt-recent", 60)] {
        sqlx::query(
            "insert into webhook_events (event_id, provider, kind, object_id, received_at) values (?, 'sandbox', 'payment', 'x', ?)",
        )
        .bind(id)
        .bind(now() - age)
        .execute(app.pool())
        .await
        .unwrap();
    }
    let seen_before = count(&app, "select count(*) from webhook_events").await;
    let reply = app.send(post(now() - 60)).await;
    assert_eq!(reply.body, "already processed");
    let left: Vec<String> = sqlx::query_scalar("select event_id from webhook_events")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert!(!left.contains(&"evt-old".to_owned()), "{left:?}");
    assert!(left.contains(&"evt-recent".to_owned()), "{left:?}");
    assert_eq!(left.len() as i64, seen_before - 1);
}
