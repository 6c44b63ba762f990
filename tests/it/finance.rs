//! Finance: the ledger booked by payments, cash and refunds; «Затраты»; commission terms
//! in force by date; period totals, frozen periods and adjustments; reconciliation; the
//! month simulator; access to «Финансы» and its export. The tests written with
//! `each_provider!` run three times: with the sandbox, the fake ЮKassa and the fake
//! Т-Банк behind the same `PaymentGateway` trait.

use crate::common;

use http::StatusCode;
use suz::finance::rules::Period;
use suz::finance::service as finance;
use suz::invoices::rules::{DiscountKind, InvoiceAction, LineInput};
use suz::invoices::service as invoices;
use suz::orders::service::{self as orders, StateChange};
use suz::orders::status::OrderStatus;
use suz::payments::sandbox::cards;
use suz::payments::service::{self as payments, PayChoice};
use suz::requests::service::{self as requests, SubmitInput};

fn now() -> i64 {
    suz::time::now()
}

/// A request of +79000000002 for «Устранение засора» (СантехСервис, a partner with 10 %,
/// at least 50 ₽), taken into work by the dispatcher, with an active invoice of
/// «Прочистка засора» × `quantity` (1 200 ₽ each). Returns (order, invoice, resident).
async fn invoiced_order(app: &common::TestApp, key: &str, quantity: &str) -> (i64, i64, i64) {
    let resident = app.resident_id("+79000000002").await;
    let service_id: i64 =
        sqlx::query_scalar("select service_id from services where name = 'Устранение засора'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let done = requests::submit(
        app.pool(),
        resident,
        SubmitInput {
            service_id,
            values: vec![
                ("where".into(), "Ванна".into()),
                (
                    "visit".into(),
                    suz::catalog::form::datetime_local(now() + 7 * 86_400, 180),
                ),
            ],
            submit_key: key.into(),
        },
        180,
        now(),
    )
    .await
    .unwrap();
    let staff = app.staff_user("dispatcher@demo.ru").await;
    orders::change_state(
        app.pool(),
        &staff,
        StateChange {
            order_id: done.order_id,
            version: 1,
            status: OrderStatus::InProgress,
            assignee_id: Some(staff.staff_id),
            comment: String::new(),
        },
        now(),
    )
    .await
    .unwrap();
    let item = app.price_item("Прочистка засора").await;
    let invoice = app
        .issue_invoice(
            &staff,
            done.order_id,
            &[LineInput {
                price_item_id: item,
                quantity: quantity.into(),
                discount_kind: DiscountKind::None,
                discount_value: String::new(),
            }],
        )
        .await;
    (done.order_id, invoice, resident)
}

async fn costs(app: &common::TestApp, order_id: i64) -> i64 {
    sqlx::query_scalar("select costs_kopecks from orders where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// (kind, period, amount, fee, commission, payout, adjustment) of an order's entries.
type Entry = (String, String, i64, i64, i64, i64, bool);

async fn entries(app: &common::TestApp, order_id: i64) -> Vec<Entry> {
    sqlx::query_as(
        "select kind, period, amount_kopecks, fee_kopecks, commission_kopecks, payout_kopecks, adjustment \
         from ledger_entries where order_id = ? order by entry_id",
    )
    .bind(order_id)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn cash_books_commission_as_costs_and_a_cancel_reverses_it() {
    let app = common::spawn().await;
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let (order_id, invoice, _) = invoiced_order(&app, "fin-cash-0001", "1").await;
    assert_eq!(costs(&app, order_id).await, 0);
    let t = now();
    invoices::act(app.pool(), &staff, invoice, InvoiceAction::MarkPaid, t)
        .await
        .unwrap();
    let month = Period::of(t, 180).to_string();
    // Cash stays with the partner: 120 ₽ commission (10 % of 1 200 ₽) is owed by it.
    assert_eq!(
        entries(&app, order_id).await,
        vec![(
            "cash_payment".into(),
            month.clone(),
            120_000,
            0,
            12_000,
            -12_000,
            false
        )]
    );
    assert_eq!(costs(&app, order_id).await, 12_000);
    // Marking paid again is refused and books nothing more.
    assert!(
        invoices::act(app.pool(), &staff, invoice, InvoiceAction::MarkPaid, t)
            .await
            .is_err()
    );
    assert_eq!(entries(&app, order_id).await.len(), 1);
    // The cash payment is cancelled: reversed, and «Затраты» back to zero.
    invoices::act(app.pool(), &staff, invoice, InvoiceAction::Cancel, t + 10)
        .await
        .unwrap();
    let e = entries(&app, order_id).await;
    assert_eq!(e.len(), 2);
    assert_eq!(
        e[1],
        (
            "cash_cancel".into(),
            month,
            -120_000,
            0,
            -12_000,
            12_000,
            false
        )
    );
    assert_eq!(costs(&app, order_id).await, 0);
    let f = finance::order_finance(app.pool(), order_id).await.unwrap();
    assert_eq!(f.invoiced.kopecks(), 120_000);
    assert_eq!(f.cancelled.kopecks(), 120_000);
    assert_eq!(f.paid.kopecks(), 0);
    assert!(f.differences.is_empty(), "{:?}", f.differences);
}

each_provider! {
async fn card_payments_and_refunds_are_booked_once_whatever_the_provider_repeats(app) {
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let (order_id, invoice, resident) = invoiced_order(&app, "fin-card-0001", "2").await;
    let t = now();
    let started = payments::start(
        &app.state,
        resident,
        invoice,
        PayChoice {
            method: suz::payments::gateway::PayMethod::Card,
            email: "r@example.com".into(),
            card_id: None,
            save_card: false,
        },
        t,
    )
    .await
    .unwrap();
    // Webhooks come twice, and a stale one last.
    app.pay_on_page(&started.redirect_url.unwrap(), cards::REPEATED_WEBHOOKS)
        .await;
    for dt in [2, 4, 6, 8] {
        app.tick(now() + dt).await;
    }
    // 2 400 ₽ by card: 2.2 % acquiring = 52,80 ₽, 10 % commission = 240 ₽.
    let e = entries(&app, order_id).await;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        (e[0].2, e[0].3, e[0].4, e[0].5),
        (240_000, 5_280, 24_000, 210_720)
    );
    assert_eq!(costs(&app, order_id).await, 5_280 + 24_000);
    // A replay of the success changes nothing.
    let (p, account): (String, Option<i64>) = sqlx::query_as(
        "select provider_payment_id, account_id from payments where invoice_id = ?",
    )
    .bind(invoice)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let gateway = app.state.gateways.account(app.pool(), account).await.unwrap();
    let provider = gateway.payment(&p).await.unwrap();
    payments::apply(&app.state, account, &provider, now())
        .await
        .unwrap();
    assert_eq!(entries(&app, order_id).await.len(), 1);

    // A partial refund of 600 ₽ (a half of one unit), clicked twice.
    let line: i64 = sqlx::query_scalar("select line_id from invoice_lines where invoice_id = ?")
        .bind(invoice)
        .fetch_one(app.pool())
        .await
        .unwrap();
    let input = || suz::refunds::service::RefundInput {
        invoice_id: invoice,
        full: false,
        lines: vec![suz::refunds::rules::RefundLineInput {
            line_id: line,
            quantity: "1".into(),
            unit_price: "600".into(),
        }],
        reason: "Половина работ".into(),
        request_id: None,
        key: "fin-refund-key-1".into(),
    };
    suz::refunds::service::create(&app.state, &staff, input(), now())
        .await
        .unwrap();
    suz::refunds::service::create(&app.state, &staff, input(), now())
        .await
        .unwrap();
    for dt in [6, 8, 10] {
        app.tick(now() + dt).await;
    }
    let e = entries(&app, order_id).await;
    assert_eq!(e.len(), 2, "{e:?}");
    // Kept 1 800 ₽: commission 180 ₽, so the refund returns 60 ₽ of it; no fee back.
    assert_eq!(
        ("refund", e[1].2, e[1].3, e[1].4, e[1].5),
        (e[1].0.as_str(), -60_000, 0, -6_000, -54_000)
    );
    assert_eq!(costs(&app, order_id).await, 5_280 + 18_000);
    // The refund's webhook replayed: still one entry.
    let rid: String =
        sqlx::query_scalar("select provider_refund_id from refunds where invoice_id = ?")
            .bind(invoice)
            .fetch_one(app.pool())
            .await
            .unwrap();
    let r = gateway.refund_status(&rid).await.unwrap();
    suz::refunds::service::apply(&app.state, &r, now())
        .await
        .unwrap();
    assert_eq!(entries(&app, order_id).await.len(), 2);
    let month = Period::of(now(), 180);
    let entity: i64 = sqlx::query_scalar("select legal_entity_id from orders where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    let r = finance::reconcile(app.pool(), entity, month).await.unwrap();
    assert!(r.differences.is_empty(), "{:?}", r.differences);
    assert!(r.totals.balances());
    assert_eq!(r.totals.card.kopecks(), 240_000);
    assert_eq!(r.totals.refunded.kopecks(), 60_000);
    assert_eq!(r.totals.payout.kopecks(), 210_720 - 54_000);
}
}

#[tokio::test]
async fn a_closed_month_is_frozen_and_late_money_becomes_an_adjustment() {
    let app = common::spawn().await;
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let accountant = app.staff_user("accountant@demo.ru").await;
    let t = now();
    let this = Period::of(t, 180);
    let last = this.prev();
    let in_last = last.start(180) + 86_400;
    let (order_a, invoice_a, _) = invoiced_order(&app, "fin-close-001", "1").await;
    invoices::act(
        app.pool(),
        &staff,
        invoice_a,
        InvoiceAction::MarkPaid,
        in_last,
    )
    .await
    .unwrap();
    let entity: i64 = sqlx::query_scalar("select legal_entity_id from orders where order_id = ?")
        .bind(order_a)
        .fetch_one(app.pool())
        .await
        .unwrap();
    // The running month cannot be closed, nor a month before an open earlier one.
    let refused = finance::close_period(app.pool(), &accountant, entity, this, t)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Закрыть можно только завершившийся месяц"
    );
    let (_, invoice_b, _) = invoiced_order(&app, "fin-close-002", "1").await;
    invoices::act(
        app.pool(),
        &staff,
        invoice_b,
        InvoiceAction::MarkPaid,
        last.prev().start(180) + 3600,
    )
    .await
    .unwrap();
    let refused = finance::close_period(app.pool(), &accountant, entity, last, t)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with("Сначала закройте"),
        "{refused}"
    );
    finance::close_period(app.pool(), &accountant, entity, last.prev(), t)
        .await
        .unwrap();
    let before = finance::period_report(app.pool(), entity, last, None)
        .await
        .unwrap();
    finance::close_period(app.pool(), &accountant, entity, last, t)
        .await
        .unwrap();
    assert!(
        finance::close_period(app.pool(), &accountant, entity, last, t)
            .await
            .is_err()
    );
    // Money dated in the closed month arrives now: it lands in this month, marked.
    let (order_c, invoice_c, _) = invoiced_order(&app, "fin-close-003", "1").await;
    invoices::act(
        app.pool(),
        &staff,
        invoice_c,
        InvoiceAction::MarkPaid,
        in_last + 60,
    )
    .await
    .unwrap();
    assert_eq!(
        entries(&app, order_c).await[0].1,
        this.to_string(),
        "settled in the first open month"
    );
    assert!(entries(&app, order_c).await[0].6);
    // And so does a cancellation of a payment of the closed month.
    invoices::act(app.pool(), &staff, invoice_a, InvoiceAction::Cancel, t)
        .await
        .unwrap();
    let after = finance::period_report(app.pool(), entity, last, None)
        .await
        .unwrap();
    assert_eq!(after.totals, before.totals, "a closed month never changes");
    assert!(after.closed_at.is_some());
    let r = finance::reconcile(app.pool(), entity, last).await.unwrap();
    assert!(
        r.differences.is_empty(),
        "the frozen totals still match: {:?}",
        r.differences
    );
    let now_report = finance::period_report(app.pool(), entity, this, None)
        .await
        .unwrap();
    assert_eq!(now_report.totals.adjustments, 1);
    // cash in (order c) and the cancelled cash of order a net to zero
    assert_eq!(now_report.totals.cash.kopecks(), 0);
    assert_eq!(now_report.totals.commission.kopecks(), 0);
    assert_eq!(now_report.totals.entries, 2);
    // Tampering with a closed month's books is caught by the reconciliation.
    sqlx::query("update ledger_entries set commission_kopecks = commission_kopecks + 1, payout_kopecks = payout_kopecks - 1 where order_id = ?")
        .bind(order_a)
        .execute(app.pool())
        .await
        .unwrap();
    let r = finance::reconcile(app.pool(), entity, last).await.unwrap();
    assert!(r
        .differences
        .iter()
        .any(|d| d.text == "Итоги закрытого периода отличаются от подтверждённых"));
}

#[tokio::test]
async fn terms_apply_from_their_day_and_bad_input_changes_nothing() {
    let app = common::spawn().await;
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let accountant = app.staff_user("accountant@demo.ru").await;
    let entity: i64 = sqlx::query_scalar(
        "select legal_entity_id from legal_entities where name = 'ООО «СантехСервис»'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let t = now();
    let tomorrow = finance::day_of(t + 86_400);
    let input = |percent: &str, day: &str| finance::TermInput {
        percent: percent.into(),
        minimum: "0".into(),
        fixed: "10,00".into(),
        effective_from: day.into(),
    };
    let bad = finance::add_term(app.pool(), &accountant, entity, input("120", &tomorrow), t)
        .await
        .unwrap_err();
    assert!(matches!(bad, suz::error::AppError::Fields(ref f) if f[0].0 == "percent"));
    let past = finance::add_term(app.pool(), &accountant, entity, input("5", "2020-02-01"), t)
        .await
        .unwrap_err();
    assert!(matches!(past, suz::error::AppError::Fields(ref f) if f[0].0 == "effective_from"));
    let count: i64 = sqlx::query_scalar("select count(*) from commission_terms")
        .fetch_one(app.pool())
        .await
        .unwrap();
    finance::add_term(app.pool(), &accountant, entity, input("20", &tomorrow), t)
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar("select count(*) from commission_terms")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(after, count + 1);
    // Today 10 %; from tomorrow 20 % + 10 ₽.
    let (a, inv_a, _) = invoiced_order(&app, "fin-terms-01", "1").await;
    invoices::act(app.pool(), &staff, inv_a, InvoiceAction::MarkPaid, t)
        .await
        .unwrap();
    let (b, inv_b, _) = invoiced_order(&app, "fin-terms-02", "1").await;
    invoices::act(
        app.pool(),
        &staff,
        inv_b,
        InvoiceAction::MarkPaid,
        t + 2 * 86_400,
    )
    .await
    .unwrap();
    assert_eq!(entries(&app, a).await[0].4, 12_000);
    assert_eq!(entries(&app, b).await[0].4, 24_000 + 1_000);
    // A term already applied to payments cannot be rewritten for its day.
    let again = finance::add_term(app.pool(), &accountant, entity, input("30", &tomorrow), t)
        .await
        .unwrap_err();
    assert!(matches!(again, suz::error::AppError::Rule(_)), "{again:?}");
}

each_provider! {
/// `suz simulate-month` with each provider: its notifications are delivered before the
/// app's jobs run, and the ledger is compared with the provider's own books.
async fn a_simulated_month_balances_to_the_kopeck(app) {
    let month = Period::of(now(), 180).prev();
    let outcome = suz::finance::simulate::run_with(&app.state, &app, month, 90, 7)
        .await
        .unwrap();
    assert_eq!(outcome.orders, 90);
    assert!(outcome.card_payments > 20, "{outcome:?}");
    assert!(outcome.cash_payments > 5, "{outcome:?}");
    assert!(outcome.refunds > 0, "{outcome:?}");
    assert!(outcome.left_unpaid + outcome.invoices_cancelled > 0);
    let books = suz::finance::simulate::check_with(&app.state, &app).await.unwrap();
    assert!(books.problems.is_empty(), "{:#?}", books.problems);
    assert_eq!(books.card, books.provider_paid);
    if app.provider() != Provider::Tbank {
        // Т-Банк does not report its fee per payment.
        assert_eq!(Some(books.fees), books.provider_fees);
    }
    assert_eq!(books.refunded, books.provider_refunded);
    assert!(books.refunded > 0);
    assert_eq!(
        books.card - books.refunded,
        books.fees + books.commission + books.payout
    );
    assert!(books.periods.contains(&month.to_string()));
    // «Затраты» of every order equal its fees and commission in the ledger.
    let off: i64 = sqlx::query_scalar(
        "select count(*) from orders o where o.costs_kopecks <> \
         (select coalesce(sum(fee_kopecks + commission_kopecks), 0) from ledger_entries e where e.order_id = o.order_id)",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(off, 0);
    // Every paid invoice was paid exactly once in the books; every card payment that the
    // provider took is in them.
    let card_entries: i64 =
        sqlx::query_scalar("select count(*) from ledger_entries where kind = 'card_payment'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let succeeded: i64 =
        sqlx::query_scalar("select count(*) from payments where status = 'succeeded'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(card_entries, succeeded);
    assert_eq!(card_entries as u64, outcome.card_payments);
}
}

#[tokio::test]
async fn only_finance_roles_reach_the_section_and_its_export() {
    use calamine::{Reader, Xlsx};
    let app = common::spawn().await;
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let (order_id, invoice, _) = invoiced_order(&app, "fin-http-001", "1").await;
    invoices::act(app.pool(), &staff, invoice, InvoiceAction::MarkPaid, now())
        .await
        .unwrap();
    let entity: i64 = sqlx::query_scalar("select legal_entity_id from orders where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    let period = Period::of(now(), 180).to_string();
    let export = format!("/staff/finance/export?entity={entity}&period={period}");
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;
    let resident = app.resident_cookie("+79000000002").await;
    for cookie in [Some(dispatcher.as_str()), Some(resident.as_str()), None] {
        let reply = app
            .call("fetch_finance_overview", &[("period", &period)], cookie)
            .await;
        assert!(
            !reply.status.is_success()
                && (reply.body.contains("Forbidden") || reply.body.contains("Unauthorized")),
            "{} {}",
            reply.status,
            reply.body
        );
        let reply = app.get(&export, cookie).await;
        assert!(
            matches!(
                reply.status,
                StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::SEE_OTHER
            ),
            "{}",
            reply.status
        );
        let reply = app
            .call(
                "close_settlement",
                &[
                    ("legal_entity_id", &entity.to_string()),
                    ("period", "2020-01"),
                ],
                cookie,
            )
            .await;
        assert!(!reply.status.is_success());
        let reply = app
            .call(
                "fetch_order_finance",
                &[("order_id", &order_id.to_string())],
                cookie,
            )
            .await;
        assert!(!reply.status.is_success());
    }
    let closed: i64 = sqlx::query_scalar("select count(*) from settlement_periods")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(closed, 0);
    let accountant = app.staff_cookie("accountant@demo.ru").await;
    let reply = app
        .call(
            "fetch_finance_overview",
            &[("period", &period)],
            Some(&accountant),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let overview: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let row = overview["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["legal_entity_id"] == entity)
        .unwrap()
        .clone();
    assert_eq!(row["totals"]["cash"], 120_000);
    assert_eq!(row["totals"]["commission"], 12_000);
    assert_eq!(row["totals"]["payout"], -12_000);
    let bad = app
        .call(
            "fetch_finance_overview",
            &[("period", "2026-13")],
            Some(&accountant),
        )
        .await;
    assert!(bad.body.contains("Выберите месяц"), "{}", bad.body);

    let file = app.get_bytes(&export, &accountant).await;
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(file)).expect("a valid xlsx");
    assert_eq!(book.sheet_names(), vec!["Итоги", "Заказы", "Операции"]);
    let totals = book.worksheet_range("Итоги").unwrap();
    let rows: Vec<_> = totals.rows().collect();
    assert_eq!(rows[0][1].to_string(), "ООО «СантехСервис»");
    assert_eq!(rows[5][0].to_string(), "Получено наличными");
    assert_eq!(rows[5][1].to_string(), "1200");
    assert_eq!(rows[9][0].to_string(), "К выплате партнёру");
    assert_eq!(rows[9][1].to_string(), "-120");
    let orders_sheet = book.worksheet_range("Заказы").unwrap();
    let rows: Vec<_> = orders_sheet.rows().collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][0].to_string(), order_id.to_string());
    assert_eq!(rows[1][7].to_string(), "120");
    let ops = book.worksheet_range("Операции").unwrap();
    let rows: Vec<_> = ops.rows().collect();
    assert_eq!(rows[1][1].to_string(), "Оплата наличными");
    // No files left behind.
    let left = std::fs::read_dir(app.data_dir().join("exports"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn money_from_before_the_ledger_is_booked_once_at_start() {
    let app = common::spawn().await;
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let (order_id, invoice, _) = invoiced_order(&app, "fin-backfill-01", "1").await;
    invoices::act(app.pool(), &staff, invoice, InvoiceAction::MarkPaid, now())
        .await
        .unwrap();
    // As a database from before this version: the payment is there, the books are not.
    sqlx::query("delete from ledger_entries")
        .execute(app.pool())
        .await
        .unwrap();
    sqlx::query("update orders set costs_kopecks = 0")
        .execute(app.pool())
        .await
        .unwrap();
    assert_eq!(finance::backfill(app.pool()).await.unwrap(), 1);
    assert_eq!(finance::backfill(app.pool()).await.unwrap(), 0);
    assert_eq!(entries(&app, order_id).await.len(), 1);
    assert_eq!(costs(&app, order_id).await, 12_000);
}
