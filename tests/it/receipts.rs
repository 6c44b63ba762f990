//! Fiscal receipts (54-ФЗ) through the sandbox over real HTTP: «Предоплата 100%» with a
//! payment, the «Полный расчет» offsetting it once the order is done, «Полный расчет» of
//! a payment after the service, «Возврат прихода» with exactly the refunded lines, cash
//! recorded as outside, an entity with its own register, a refused receipt with its
//! reason and its retries, reconciliation and who may see the «Чеки» block.

use crate::common::{self, scalar};

use http::StatusCode;
use suz::finance::rules::Period;
use suz::invoices::rules::{DiscountKind, InvoiceAction, LineInput};
use suz::orders::service::{self as orders, StateChange};
use suz::orders::status::OrderStatus;
use suz::receipts::model::{Kind, State};
use suz::receipts::service as receipts;
use suz::refunds::rules::RefundLineInput;
use suz::refunds::service::{self as refunds, RefundInput};
use suz::requests::service::{self as requests, SubmitInput};
use suz::server::jobs;
use suz::time::now;

/// Background rounds far enough apart for the sandbox to register receipts, complete
/// refunds and deliver its webhooks.
async fn settle(app: &common::TestApp, from: i64) {
    for dt in [10, 20, 30] {
        jobs::tick(&app.state, from + dt).await;
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    receipt_id: i64,
    kind: String,
    state: String,
    total_kopecks: i64,
    failure: Option<String>,
    fn_number: Option<String>,
    fiscal_document: Option<String>,
    fiscal_sign: Option<String>,
    url: Option<String>,
    customer_email: Option<String>,
    attempts: i64,
}

async fn rows(app: &common::TestApp, order_id: i64) -> Vec<Row> {
    sqlx::query_as(
        "select receipt_id, kind, state, total_kopecks, failure, fn_number, fiscal_document, fiscal_sign, url, \
         customer_email, attempts from receipts where order_id = ? order by receipt_id",
    )
    .bind(order_id)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// (name, quantity, price, amount, vat, mode) of a receipt's lines.
async fn lines(
    app: &common::TestApp,
    receipt_id: i64,
) -> Vec<(String, String, i64, i64, String, String)> {
    sqlx::query_as(
        "select name, quantity, price_kopecks, amount_kopecks, vat_code, payment_mode from receipt_lines \
         where receipt_id = ? order by position",
    )
    .bind(receipt_id)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// The receipt `row` is of `(kind, state, total)` and has exactly the `expected` lines.
async fn assert_receipt(
    app: &common::TestApp,
    row: &Row,
    (kind, state, total): (&str, &str, i64),
    expected: Vec<(String, String, i64, i64, String, String)>,
) {
    assert_eq!(
        (row.kind.as_str(), row.state.as_str(), row.total_kopecks),
        (kind, state, total),
        "{row:?}"
    );
    assert_eq!(lines(app, row.receipt_id).await, expected, "{row:?}");
}

fn line(
    name: &str,
    q: &str,
    price: i64,
    amount: i64,
    vat: &str,
    mode: &str,
) -> (String, String, i64, i64, String, String) {
    (
        name.into(),
        q.into(),
        price,
        amount,
        vat.into(),
        mode.into(),
    )
}

/// «Изготовление ключа от домофона» (prepaid: invoiced at submission, 3 × 400,00) paid by
/// card and settled; (order, invoice).
async fn prepaid_paid(app: &common::TestApp, key: &str) -> (i64, i64) {
    let resident = app.resident_id("+79000000003").await;
    let input = SubmitInput {
        service_id: app.service_id("Изготовление ключа от домофона").await,
        values: vec![("count".into(), "3".into())],
        submit_key: key.into(),
    };
    let done = requests::submit(app.pool(), resident, input, 180, now())
        .await
        .unwrap();
    let invoice = done.pay_invoice_id.expect("a prepaid invoice");
    app.pay_by_card(resident, invoice).await;
    settle(app, now()).await;
    (done.order_id, invoice)
}

async fn set_status(
    app: &common::TestApp,
    order_id: i64,
    status: OrderStatus,
) -> Result<(), suz::error::AppError> {
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let assignee_id: Option<i64> =
        sqlx::query_scalar("select assignee_id from orders where order_id = ?")
            .bind(order_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    orders::change_state(
        app.pool(),
        &staff,
        StateChange {
            order_id,
            version: app.order_version(order_id).await,
            status,
            assignee_id,
            comment: String::new(),
        },
        now(),
    )
    .await
}

/// The clog order's invoice: 3 × 1 200,00 − 10 % = 3 240,00 and 1 × 500,00.
fn clog_lines(app_items: (i64, i64)) -> Vec<LineInput> {
    vec![
        LineInput {
            price_item_id: app_items.0,
            quantity: "3".into(),
            discount_kind: DiscountKind::Percent,
            discount_value: "10".into(),
        },
        LineInput {
            price_item_id: app_items.1,
            quantity: "1".into(),
            discount_kind: DiscountKind::None,
            discount_value: String::new(),
        },
    ]
}

async fn clog_items(app: &common::TestApp) -> (i64, i64) {
    (
        app.price_item("Прочистка засора").await,
        app.price_item("Выезд сантехника").await,
    )
}

async fn ledger_period(app: &common::TestApp, order_id: i64) -> (i64, Period) {
    let (entity, period): (i64, String) = sqlx::query_as(
        "select legal_entity_id, period from ledger_entries where order_id = ? order by entry_id limit 1",
    )
    .bind(order_id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    (entity, Period::parse(&period).unwrap())
}

async fn receipt_differences(app: &common::TestApp, order_id: i64) -> Vec<String> {
    let (entity, period) = ledger_period(app, order_id).await;
    suz::finance::service::reconcile(app.pool(), entity, period)
        .await
        .unwrap()
        .differences
        .into_iter()
        .filter(|d| d.order_id == order_id)
        .map(|d| d.text)
        .collect()
}

#[tokio::test]
async fn a_prepaid_service_paid_by_card_gets_a_registered_prepayment_receipt() {
    let app = common::spawn_served().await;
    // The VAT rate and subject of the price item travel onto the invoice line and the receipt.
    sqlx::query(
        "update price_items set vat_code = 'vat22', payment_subject = 'commodity' where name = 'Ключ от домофона'",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let (order_id, invoice) = prepaid_paid(&app, "rcpt-prepaid-1").await;
    let copied: (String, String) =
        sqlx::query_as("select vat_code, payment_subject from invoice_lines where invoice_id = ?")
            .bind(invoice)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(copied, ("vat22".into(), "commodity".into()));

    let r = rows(&app, order_id).await;
    assert_eq!(r.len(), 1, "{r:?}");
    let r = &r[0];
    assert_eq!(
        (r.kind.as_str(), r.state.as_str(), r.total_kopecks),
        ("prepayment", "registered", 120_000),
        "{r:?}"
    );
    assert_eq!(r.customer_email.as_deref(), Some("r@example.ru"));
    let fn_number = r.fn_number.clone().unwrap();
    assert_eq!(fn_number.len(), 16, "{fn_number}");
    assert!(fn_number.chars().all(|c| c.is_ascii_digit()));
    assert!(
        r.fiscal_document.is_some() && r.fiscal_sign.is_some(),
        "{r:?}"
    );
    assert_eq!(
        lines(&app, r.receipt_id).await,
        vec![line(
            "Ключ от домофона",
            "3",
            40_000,
            120_000,
            "vat22",
            "full_prepayment"
        )]
    );
    let subject: String =
        sqlx::query_scalar("select payment_subject from receipt_lines where receipt_id = ?")
            .bind(r.receipt_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(subject, "commodity");
    // The sandbox shows the receipt as a page.
    let url = r.url.clone().unwrap();
    let path = format!("/sandbox/{}", url.split_once("/sandbox/").unwrap().1);
    assert!(path.starts_with("/sandbox/receipts/"), "{path}");
    let page = app.get(&path, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Кассовый чек") && page.body.contains("Ключ от домофона"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&fn_number));
    // The resident sees a link to it on the request.
    let resident = app.resident_id("+79000000003").await;
    let view = requests::open(app.pool(), resident, order_id, now())
        .await
        .unwrap();
    assert_eq!(view.receipts.len(), 1);
    assert_eq!(view.receipts[0].url, url);
    assert_eq!(view.receipts[0].kind, Kind::Prepayment);
    // Nothing is missing in reconciliation.
    assert_eq!(
        receipt_differences(&app, order_id).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_order_done_sends_the_offsetting_full_payment_receipt_once() {
    let app = common::spawn_served().await;
    let (order_id, invoice) = prepaid_paid(&app, "rcpt-offset-1").await;
    set_status(&app, order_id, OrderStatus::Done).await.unwrap();
    // A second «Выполнено» is refused; the hook called again and repeated rounds add nothing.
    assert!(set_status(&app, order_id, OrderStatus::Done).await.is_err());
    let mut tx = app.pool().begin().await.unwrap();
    receipts::order_done(&mut tx, order_id, now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let t = now();
    settle(&app, t).await;
    settle(&app, t + 100).await;

    let r = rows(&app, order_id).await;
    assert_eq!(r.len(), 2, "{r:?}");
    let offset = &r[1];
    assert_eq!(
        (
            offset.kind.as_str(),
            offset.state.as_str(),
            offset.total_kopecks
        ),
        ("offset", "registered", 120_000),
        "{offset:?}"
    );
    assert!(offset.fn_number.is_some() && offset.url.is_some());
    assert_eq!(
        lines(&app, offset.receipt_id).await,
        vec![line(
            "Ключ от домофона",
            "3",
            40_000,
            120_000,
            "none",
            "full_payment"
        )]
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from sandbox_receipts where kind = 'offset' and ? > 0",
            1
        )
        .await,
        1,
        "the provider got the offset once"
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from receipts where invoice_id = ? and kind = 'offset'",
            invoice
        )
        .await,
        1
    );
    let resident = app.resident_id("+79000000003").await;
    let view = requests::open(app.pool(), resident, order_id, now())
        .await
        .unwrap();
    assert_eq!(
        view.receipts.iter().map(|l| l.kind).collect::<Vec<_>>(),
        vec![Kind::Prepayment, Kind::Offset]
    );
    assert_eq!(
        receipt_differences(&app, order_id).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_payment_after_the_service_gets_a_full_payment_receipt() {
    let app = common::spawn_served().await;
    let resident = app.resident_id("+79000000002").await;
    let order_id = app.submit_clog(resident, "rcpt-after-1").await;
    let master = app.staff_user("master@demo.ru").await;
    let invoice = app
        .issue_invoice(&master, order_id, &clog_lines(clog_items(&app).await))
        .await;
    // Today «Выполнено» needs every invoice paid, so a payment after the service cannot
    // happen through the card; the receipt rule still holds for it.
    sqlx::query("update orders set status = 'done' where order_id = ?")
        .bind(order_id)
        .execute(app.pool())
        .await
        .unwrap();
    app.pay_by_card(resident, invoice).await;
    settle(&app, now()).await;
    let r = rows(&app, order_id).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].kind.as_str(), r[0].state.as_str(), r[0].total_kopecks),
        ("full_payment", "registered", 374_000)
    );
    // The discounted line is restated at its exact paid price: 3 × 1 080,00.
    assert_eq!(
        lines(&app, r[0].receipt_id).await,
        vec![
            line(
                "Прочистка засора",
                "3",
                108_000,
                324_000,
                "none",
                "full_payment"
            ),
            line(
                "Выезд сантехника",
                "1",
                50_000,
                50_000,
                "none",
                "full_payment"
            ),
        ]
    );
}

#[tokio::test]
async fn a_partial_refund_gets_a_refund_receipt_with_exactly_the_refunded_lines() {
    let app = common::spawn_served().await;
    let p = app
        .paid_order("rcpt-refund-1", &clog_lines(clog_items(&app).await))
        .await;
    settle(&app, now()).await;
    let master = app.staff_user("master@demo.ru").await;
    let refund_id = refunds::create(
        &app.state,
        &master,
        RefundInput {
            invoice_id: p.invoice,
            full: false,
            lines: vec![RefundLineInput {
                line_id: p.lines[0],
                quantity: "1".into(),
                unit_price: "1080".into(),
            }],
            reason: "Одна прочистка не понадобилась".into(),
            request_id: None,
            key: "rcpt-refund-key-1".into(),
        },
        now(),
    )
    .await
    .unwrap();
    settle(&app, now()).await;
    let state: String = sqlx::query_scalar("select state from refunds where refund_id = ?")
        .bind(refund_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(state, "succeeded");
    let r = rows(&app, p.order_id).await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert_receipt(
        &app,
        &r[1],
        ("refund", "registered", 108_000),
        vec![line(
            "Прочистка засора",
            "1",
            108_000,
            108_000,
            "none",
            "full_prepayment",
        )],
    )
    .await;
    // What the sandbox was sent with the refund is exactly that.
    let body: String = sqlx::query_scalar(
        "select body from sandbox_receipts where kind = 'refund' order by created_at, id limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let kept: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(kept["amount"], 108_000);
    assert_eq!(kept["receipt"]["lines"].as_array().unwrap().len(), 1);

    // A second refund of the same payment gets its own receipt.
    refunds::create(
        &app.state,
        &master,
        RefundInput {
            invoice_id: p.invoice,
            full: false,
            lines: vec![RefundLineInput {
                line_id: p.lines[1],
                quantity: "1".into(),
                unit_price: "500".into(),
            }],
            reason: "Выезд не понадобился".into(),
            request_id: None,
            key: "rcpt-refund-key-2".into(),
        },
        now(),
    )
    .await
    .unwrap();
    settle(&app, now()).await;
    let r = rows(&app, p.order_id).await;
    assert_receipt(
        &app,
        &r[2],
        ("refund", "registered", 50_000),
        vec![line(
            "Выезд сантехника",
            "1",
            50_000,
            50_000,
            "none",
            "full_prepayment",
        )],
    )
    .await;

    // Done: the offset is what the refunds left — 2 × 1 080,00.
    set_status(&app, p.order_id, OrderStatus::Done)
        .await
        .unwrap();
    settle(&app, now()).await;
    let r = rows(&app, p.order_id).await;
    assert_receipt(
        &app,
        &r[3],
        ("offset", "registered", 216_000),
        vec![line(
            "Прочистка засора",
            "2",
            108_000,
            216_000,
            "none",
            "full_payment",
        )],
    )
    .await;
    assert_eq!(
        receipt_differences(&app, p.order_id).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn cash_is_recorded_as_the_partners_own_register() {
    let app = common::spawn_served().await;
    let resident = app.resident_id("+79000000002").await;
    let order_id = app.submit_clog(resident, "rcpt-cash-1").await;
    let master = app.staff_user("master@demo.ru").await;
    let invoice = app
        .issue_invoice(&master, order_id, &clog_lines(clog_items(&app).await))
        .await;
    suz::invoices::service::act(app.pool(), &master, invoice, InvoiceAction::MarkPaid, now())
        .await
        .unwrap();
    settle(&app, now()).await;
    let r = rows(&app, order_id).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].kind.as_str(), r[0].state.as_str(), r[0].total_kopecks),
        ("outside", "outside", 374_000)
    );
    assert_eq!(
        scalar(&app, "select count(*) from sandbox_receipts where ? > 0", 1).await,
        0
    );
    let block = receipts::block(app.pool(), &master, order_id)
        .await
        .unwrap();
    assert_eq!(block.receipts[0].kind.label(), "Касса партнёра");
    assert_eq!(block.receipts[0].state_label(), "Чек выдаёт касса партнёра");
}

#[tokio::test]
async fn an_entity_with_its_own_register_gets_outside_rows_and_nothing_is_sent() {
    let app = common::spawn_served().await;
    sqlx::query(
        "update legal_entities set receipts_via = 'own_register' where legal_entity_id = \
         (select legal_entity_id from services where name = 'Изготовление ключа от домофона')",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let (order_id, _) = prepaid_paid(&app, "rcpt-own-1").await;
    set_status(&app, order_id, OrderStatus::Done).await.unwrap();
    settle(&app, now()).await;
    let r = rows(&app, order_id).await;
    let got: Vec<(&str, &str)> = r
        .iter()
        .map(|r| (r.kind.as_str(), r.state.as_str()))
        .collect();
    assert_eq!(got, vec![("prepayment", "outside"), ("offset", "outside")]);
    assert_eq!(
        scalar(&app, "select count(*) from sandbox_receipts where ? > 0", 1).await,
        0
    );
    assert_eq!(
        receipt_differences(&app, order_id).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_receipt_the_provider_refuses_fails_with_its_reason_and_is_retried() {
    let app = common::spawn_served().await;
    let (order_id, _) = prepaid_paid(&app, "rcpt-refused-1").await;
    set_status(&app, order_id, OrderStatus::Done).await.unwrap();
    let offset: i64 = sqlx::query_scalar(
        "select receipt_id from receipts where order_id = ? and kind = 'offset'",
    )
    .bind(order_id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    // A code the provider does not know: it refuses the receipt.
    sqlx::query("update receipt_lines set vat_code = 'vat99' where receipt_id = ?")
        .bind(offset)
        .execute(app.pool())
        .await
        .unwrap();
    let t = now();
    jobs::tick(&app.state, t + 1).await;
    let r = rows(&app, order_id).await;
    assert_eq!(r[1].state, "failed", "{:?}", r[1]);
    assert_eq!(
        r[1].failure.as_deref(),
        Some("Строка 1: неизвестная ставка НДС «vat99»")
    );
    assert_eq!(r[1].attempts, 1);
    // Shown on the card and in reconciliation.
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let block = receipts::block(app.pool(), &staff, order_id).await.unwrap();
    let shown = &block.receipts[1];
    assert_eq!(shown.state, State::Failed);
    assert_eq!(
        shown.state_label(),
        "Ошибка: Строка 1: неизвестная ставка НДС «vat99»"
    );
    let diffs = receipt_differences(&app, order_id).await;
    assert!(
        diffs
            .iter()
            .any(|d| d.contains("«Полный расчет»") && d.contains("vat99")),
        "{diffs:?}"
    );
    // Not retried before its pause…
    jobs::tick(&app.state, t + 10).await;
    assert_eq!(rows(&app, order_id).await[1].attempts, 1);
    // …then retried; once the line is right, it is registered.
    sqlx::query("update receipt_lines set vat_code = 'none' where receipt_id = ?")
        .bind(offset)
        .execute(app.pool())
        .await
        .unwrap();
    settle(&app, t + 40).await;
    let r = rows(&app, order_id).await;
    assert_eq!(
        (r[1].state.as_str(), r[1].attempts),
        ("registered", 2),
        "{:?}",
        r[1]
    );
    assert_eq!(r[1].failure, None);
    assert_eq!(
        receipt_differences(&app, order_id).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn sending_stops_after_the_last_attempt_and_stays_failed() {
    let app = common::spawn_served().await;
    let (order_id, _) = prepaid_paid(&app, "rcpt-attempts-1").await;
    set_status(&app, order_id, OrderStatus::Done).await.unwrap();
    sqlx::query(
        "update receipt_lines set amount_kopecks = amount_kopecks + 1 where receipt_id in \
                 (select receipt_id from receipts where order_id = ? and kind = 'offset')",
    )
    .bind(order_id)
    .execute(app.pool())
    .await
    .unwrap();
    let t = now();
    for k in 0..40 {
        jobs::tick(&app.state, t + k * 600).await;
    }
    let r = rows(&app, order_id).await;
    assert_eq!(
        (r[1].state.as_str(), r[1].attempts),
        ("failed", suz::receipts::rules::MAX_ATTEMPTS)
    );
    assert!(
        r[1].failure
            .as_deref()
            .unwrap_or("")
            .contains("Строка 1: сумма"),
        "{:?}",
        r[1]
    );
}

#[tokio::test]
async fn reconciliation_finds_a_missing_receipt_and_a_missing_full_payment() {
    let app = common::spawn_served().await;
    let (order_id, _) = prepaid_paid(&app, "rcpt-recon-1").await;
    assert_eq!(
        receipt_differences(&app, order_id).await,
        Vec::<String>::new()
    );
    set_status(&app, order_id, OrderStatus::Done).await.unwrap();
    for table in ["receipt_lines", "receipts"] {
        let sql = if table == "receipts" {
            "delete from receipts where order_id = ? and kind = 'offset'".to_owned()
        } else {
            "delete from receipt_lines where receipt_id in (select receipt_id from receipts where order_id = ? and kind = 'offset')".to_owned()
        };
        sqlx::query(&sql)
            .bind(order_id)
            .execute(app.pool())
            .await
            .unwrap();
    }
    let diffs = receipt_differences(&app, order_id).await;
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].contains("чека «Полный расчет»"), "{diffs:?}");
    sqlx::query("delete from receipt_lines where receipt_id in (select receipt_id from receipts where order_id = ?)")
        .bind(order_id)
        .execute(app.pool())
        .await
        .unwrap();
    sqlx::query("delete from receipts where order_id = ?")
        .bind(order_id)
        .execute(app.pool())
        .await
        .unwrap();
    let diffs = receipt_differences(&app, order_id).await;
    assert!(diffs.iter().any(|d| d.contains("нет чека")), "{diffs:?}");
}

#[tokio::test]
async fn the_receipts_block_answers_only_staff_who_see_the_order() {
    let app = common::spawn_served().await;
    let p = app
        .paid_order("rcpt-http-1", &clog_lines(clog_items(&app).await))
        .await;
    settle(&app, now()).await;
    let id = p.order_id.to_string();
    let form = [("order_id", id.as_str())];
    let anonymous = app.call("order_receipts", &form, None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    let resident = app.resident_cookie("+79000000002").await;
    let owner = app.call("order_receipts", &form, Some(&resident)).await;
    assert_eq!(owner.status, StatusCode::FORBIDDEN, "{}", owner.body);
    // The cleaner sees only her own orders: this one is not found.
    let cleaner = app.staff_cookie("cleaner@demo.ru").await;
    let other = app.call("order_receipts", &form, Some(&cleaner)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let master = app.staff_cookie("master@demo.ru").await;
    let shown = app.call("order_receipts", &form, Some(&master)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown.body.contains("Prepayment") && shown.body.contains("Registered"),
        "{}",
        shown.body
    );
    // Another resident does not see the request, nor its receipts.
    let stranger = app.resident_id("+79000000003").await;
    assert!(requests::open(app.pool(), stranger, p.order_id, now())
        .await
        .is_err());
}
