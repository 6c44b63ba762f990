//! The Т-Банк adapter through the app, against the contract fake (`fake_tbank`): a payment
//! account of the order's legal entity points at the fake; payments, notifications,
//! refunds, saved cards, СБП, failures and the fiscal notification go over real HTTP.

use crate::common::{self, scalar, TestApp};
use crate::fake_tbank::{FakeTbank, Fault, PASSWORD, TERMINAL_KEY};

use serde_json::Value;
use suz::error::AppError;
use suz::invoices::rules::{DiscountKind, LineInput};
use suz::payments::api::Started;
use suz::payments::gateway::PayMethod;
use suz::payments::sandbox::{cards, sbp_banks};
use suz::payments::service::{self as payments, PayChoice};
use suz::refunds::rules::RefundLineInput;
use suz::refunds::service::{self as refunds, RefundInput};
use suz::server::jobs;
use suz::time::now;

const RESIDENT: &str = "+79000000002";
/// 3 × 1 200,00 − 10 % and 1 × 500,00.
const TOTAL: i64 = 374_000;

struct Shop {
    app: TestApp,
    fake: FakeTbank,
}

impl Shop {
    async fn new() -> Shop {
        // Internal causes and the adapter's warnings are shown if a run fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_test_writer()
            .try_init();
        Shop {
            app: common::spawn_served().await,
            fake: FakeTbank::start().await,
        }
    }

    /// An order of the resident with an active invoice of [`TOTAL`]; its legal entity
    /// pays through the fake. Returns (order, invoice, account).
    async fn invoice(&self, key: &str) -> (i64, i64, i64) {
        let app = &self.app;
        let resident = app.resident_id(RESIDENT).await;
        let order = app.submit_clog(resident, key).await;
        let master = app.staff_user("master@demo.ru").await;
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
        let invoice = app.issue_invoice(&master, order, &lines).await;
        let entity = scalar(
            app,
            "select legal_entity_id from orders where order_id = ?",
            order,
        )
        .await;
        let existing: Option<i64> = sqlx::query_scalar(
            "select account_id from payment_accounts where legal_entity_id = ? and active = 1",
        )
        .bind(entity)
        .fetch_optional(app.pool())
        .await
        .unwrap();
        let account = match existing {
            Some(a) => a,
            None => {
                let sealed = app.state.gateways.secrets().seal(PASSWORD).unwrap();
                sqlx::query_scalar(
                    "insert into payment_accounts (legal_entity_id, provider, shop_id, secret_sealed, api_url, active, \
                     created_at, updated_at) values (?, 'tbank', ?, ?, ?, 1, ?, ?) returning account_id",
                )
                .bind(entity)
                .bind(TERMINAL_KEY)
                .bind(sealed)
                .bind(self.fake.api_url())
                .bind(now())
                .bind(now())
                .fetch_one(app.pool())
                .await
                .unwrap()
            }
        };
        (order, invoice, account)
    }

    async fn start(
        &self,
        invoice: i64,
        method: PayMethod,
        card_id: Option<i64>,
        save_card: bool,
    ) -> Result<Started, AppError> {
        let resident = self.app.resident_id(RESIDENT).await;
        let choice = PayChoice {
            method,
            email: "r@example.ru".into(),
            card_id,
            save_card,
        };
        payments::start(&self.app.state, resident, invoice, choice, now()).await
    }

    async fn pay(&self, invoice: i64, card: &str) -> (i64, String) {
        let started = self
            .start(invoice, PayMethod::Card, None, false)
            .await
            .unwrap();
        let url = started.redirect_url.expect("the fake's page");
        assert!(
            url.starts_with(&self.fake.api_url().replace("/v2", "/pay/")),
            "{url}"
        );
        let to = self.fake.pay_page(&url, card).await;
        (started.payment_id, to)
    }

    async fn status(&self, payment: i64) -> (String, Option<String>) {
        sqlx::query_as("select status, failure from payments where payment_id = ?")
            .bind(payment)
            .fetch_one(self.app.pool())
            .await
            .unwrap()
    }

    async fn provider_id(&self, payment: i64) -> String {
        sqlx::query_scalar("select provider_payment_id from payments where payment_id = ?")
            .bind(payment)
            .fetch_one(self.app.pool())
            .await
            .unwrap()
    }

    async fn count(&self, sql: &str, id: i64) -> i64 {
        scalar(&self.app, sql, id).await
    }

    fn no_violations(&self) {
        assert_eq!(self.fake.violations(), Vec::<String>::new());
    }
}

fn ok(d: &crate::fake_tbank::Delivery) {
    assert_eq!((d.status, d.answer.as_str()), (200, "OK"), "{:?}", d.body);
}

#[tokio::test]
async fn a_card_payment_is_signed_checked_and_paid_by_its_notification() {
    let shop = Shop::new().await;
    let (order, invoice, account) = shop.invoice("tbank-ok").await;
    let (payment, to) = shop.pay(invoice, cards::SUCCESS).await;
    assert!(
        to.contains(&format!("/requests/{order}?payment={payment}")),
        "{to}"
    );

    // Looked for an earlier try of the order first, then one Init in kopecks.
    let checks = shop.fake.requests("CheckOrder");
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].body["OrderId"], payment.to_string());
    let inits = shop.fake.requests("Init");
    assert_eq!(inits.len(), 1);
    let init = &inits[0].body;
    assert_eq!(init["Amount"], TOTAL);
    assert_eq!(init["OrderId"], payment.to_string());
    assert_eq!(init["TerminalKey"], TERMINAL_KEY);
    assert_eq!(init["PayType"], "O");
    assert_eq!(
        init["NotificationURL"],
        shop.app.state.gateways.webhook_url(account)
    );
    assert_eq!(init["SuccessURL"], init["FailURL"]);
    assert!(init.get("Recurrent").is_none());
    {
        // The receipts code builds it; the fake checked the sums and codes.
        let receipt = &init["Receipt"];
        assert_eq!(receipt["Email"], "r@example.ru");
        let sum: i64 = receipt["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["Amount"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, TOTAL);
    }

    // AUTHORIZED, then CONFIRMED: both answered `OK`; the payment is paid once.
    let deliveries = shop.fake.deliveries();
    assert_eq!(deliveries.len(), 2);
    deliveries.iter().for_each(ok);
    assert_eq!(shop.status(payment).await.0, "succeeded");
    let (mask, fee): (Option<String>, Option<i64>) =
        sqlx::query_as("select card_mask, fee_kopecks from payments where payment_id = ?")
            .bind(payment)
            .fetch_one(shop.app.pool())
            .await
            .unwrap();
    assert_eq!(mask.as_deref(), Some("•••• 4242"));
    assert_eq!(
        fee, None,
        "Т-Банк reports no fee; the ledger uses the rate table"
    );
    assert_eq!(
        shop.count(
            "select count(*) from invoices where invoice_id = ? and status = 'paid' and paid_method = 'card'",
            invoice
        )
        .await,
        1
    );
    assert_eq!(
        shop.count(
            "select count(*) from ledger_entries where payment_id = ? and kind = 'card_payment'",
            payment
        )
        .await,
        1
    );
    let provider: String = sqlx::query_scalar("select provider from payments where payment_id = ?")
        .bind(payment)
        .fetch_one(shop.app.pool())
        .await
        .unwrap();
    assert_eq!(provider, "tbank");
    shop.no_violations();
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_with_a_russian_reason() {
    let shop = Shop::new().await;
    let (_, invoice, _) = shop.invoice("tbank-decline").await;
    let (payment, _) = shop.pay(invoice, cards::DECLINE).await;
    let (status, failure) = shop.status(payment).await;
    assert_eq!(status, "failed");
    assert_eq!(failure.as_deref(), Some("банк отклонил платёж"));
    assert_eq!(
        shop.count(
            "select count(*) from invoices where invoice_id = ? and status = 'active'",
            invoice
        )
        .await,
        1
    );
    shop.fake.deliveries().iter().for_each(ok);
    shop.no_violations();
}

#[tokio::test]
async fn three_d_secure_waits_for_the_code_then_pays() {
    let shop = Shop::new().await;
    let (_, invoice, _) = shop.invoice("tbank-3ds").await;
    let started = shop
        .start(invoice, PayMethod::Card, None, false)
        .await
        .unwrap();
    let url = started.redirect_url.unwrap();
    let to = shop.fake.pay_page(&url, cards::CONFIRM).await;
    assert!(to.ends_with(&format!(
        "/pay/{}",
        shop.provider_id(started.payment_id).await
    )));
    let (code, page) = shop.fake.get_page(&url).await;
    assert_eq!(code, 200);
    assert!(page.contains("3-D Secure"), "{page}");
    // Asked about meanwhile, it is still under way.
    let result = payments::result(
        &shop.app.state,
        shop.app.resident_id(RESIDENT).await,
        started.payment_id,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        result.outcome,
        suz::payments::api::PaymentOutcome::Processing
    );
    assert_eq!(shop.status(started.payment_id).await.0, "pending");

    shop.fake.confirm_3ds(&url, cards::CONFIRMATION_CODE).await;
    assert_eq!(shop.status(started.payment_id).await.0, "succeeded");
    shop.fake.deliveries().iter().for_each(ok);
    shop.no_violations();
}

#[tokio::test]
async fn a_lost_notification_is_found_by_polling() {
    let shop = Shop::new().await;
    let (_, invoice, _) = shop.invoice("tbank-lost").await;
    let (payment, _) = shop.pay(invoice, cards::LOST_WEBHOOKS).await;
    assert!(shop.fake.deliveries().is_empty());
    assert_eq!(shop.status(payment).await.0, "pending");
    let id = shop.provider_id(payment).await;
    assert_eq!(shop.fake.payment(&id).status, "CONFIRMED");

    jobs::tick(
        &shop.app.state,
        now() + payments::POLL_PENDING_AFTER_SECONDS + 5,
    )
    .await;
    assert_eq!(shop.status(payment).await.0, "succeeded");
    assert!(!shop.fake.requests("GetState").is_empty());
    shop.no_violations();
}

#[tokio::test]
async fn duplicated_and_reordered_notifications_are_applied_once() {
    let shop = Shop::new().await;
    let (order, invoice, _) = shop.invoice("tbank-dup").await;
    // AUTHORIZED, CONFIRMED, CONFIRMED again, and a stale AUTHORIZED last.
    let (payment, _) = shop.pay(invoice, cards::REPEATED_WEBHOOKS).await;
    let id = shop.provider_id(payment).await;
    let deliveries = shop.fake.deliveries();
    assert_eq!(deliveries.len(), 4);
    deliveries.iter().for_each(ok);
    ok(&shop.fake.notify(&id).await);
    ok(&shop.fake.notify_status(&id, "NEW").await);
    assert_eq!(shop.status(payment).await.0, "succeeded");
    assert_eq!(
        shop.count(
            "select count(*) from ledger_entries where payment_id = ?",
            payment
        )
        .await,
        1
    );
    assert_eq!(
        shop.count(
            "select count(*) from order_history where order_id = ? and kind = 'Счёт оплачен картой'",
            order
        )
        .await,
        1
    );
    shop.no_violations();
}

#[tokio::test]
async fn a_forged_notification_is_refused_and_changes_nothing() {
    let shop = Shop::new().await;
    let (_, invoice, _) = shop.invoice("tbank-forged").await;
    let (payment, _) = shop.pay(invoice, cards::LOST_WEBHOOKS).await;
    let id = shop.provider_id(payment).await;
    let genuine = |status: &str| {
        let mut body = serde_json::Map::new();
        body.insert("TerminalKey".into(), TERMINAL_KEY.into());
        body.insert("OrderId".into(), payment.to_string().into());
        body.insert("Success".into(), true.into());
        body.insert("Status".into(), status.into());
        body.insert("PaymentId".into(), id.parse::<i64>().unwrap().into());
        body.insert("ErrorCode".into(), "0".into());
        body.insert("Amount".into(), TOTAL.into());
        body
    };
    // Signed with another password.
    let mut wrong = genuine("CONFIRMED");
    let token = crate::fake_tbank::sign(&wrong, "not-the-password");
    wrong.insert("Token".into(), token.into());
    let d = shop.fake.post_raw(&id, Value::Object(wrong)).await;
    assert_eq!((d.status, d.answer.as_str()), (401, "bad signature"));
    // A field changed after signing.
    let mut tampered = genuine("CONFIRMED");
    let token = crate::fake_tbank::sign(&tampered, PASSWORD);
    tampered.insert("Token".into(), token.into());
    tampered.insert("Amount".into(), 1.into());
    assert_eq!(
        shop.fake
            .post_raw(&id, Value::Object(tampered))
            .await
            .status,
        401
    );
    // Another terminal's, rightly signed for it.
    let mut foreign = genuine("CONFIRMED");
    foreign.insert("TerminalKey".into(), "OtherTerminal".into());
    let token = crate::fake_tbank::sign(&foreign, PASSWORD);
    foreign.insert("Token".into(), token.into());
    assert_eq!(
        shop.fake.post_raw(&id, Value::Object(foreign)).await.status,
        401
    );
    // No token at all.
    assert_eq!(
        shop.fake
            .post_raw(&id, Value::Object(genuine("CONFIRMED")))
            .await
            .status,
        401
    );
    assert_eq!(shop.status(payment).await.0, "pending");
    // The genuine one is taken.
    ok(&shop.fake.notify(&id).await);
    assert_eq!(shop.status(payment).await.0, "succeeded");
}

fn one_line(line_id: i64, q: &str, p: &str) -> RefundLineInput {
    RefundLineInput {
        line_id,
        quantity: q.into(),
        unit_price: p.into(),
    }
}

fn refund_input(invoice: i64, lines: Option<Vec<RefundLineInput>>, key: &str) -> RefundInput {
    RefundInput {
        invoice_id: invoice,
        full: lines.is_none(),
        lines: lines.unwrap_or_default(),
        reason: "Мастер не доделал".into(),
        request_id: None,
        key: key.into(),
    }
}

/// A paid order «В работе»: (order, invoice, payment, Т-Банк's payment id).
async fn paid(shop: &Shop, key: &str) -> (i64, i64, i64, String) {
    let (order, invoice, _) = shop.invoice(key).await;
    let (payment, _) = shop.pay(invoice, cards::SUCCESS).await;
    assert_eq!(shop.status(payment).await.0, "succeeded");
    let master = shop.app.staff_user("master@demo.ru").await;
    shop.app.start_work(&master, order).await;
    let id = shop.provider_id(payment).await;
    (order, invoice, payment, id)
}

async fn refund_state(shop: &Shop, refund: i64) -> (String, Option<String>) {
    sqlx::query_as("select state, provider_refund_id from refunds where refund_id = ?")
        .bind(refund)
        .fetch_one(shop.app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn partial_and_full_refunds_are_one_cancel_each_and_told_apart() {
    let shop = Shop::new().await;
    let (_, invoice, _, id) = paid(&shop, "tbank-refunds").await;
    let master = shop.app.staff_user("master@demo.ru").await;
    let lines = shop.app.invoice_line_ids(invoice).await;

    let first = refunds::create(
        &shop.app.state,
        &master,
        refund_input(
            invoice,
            Some(vec![one_line(lines[0], "1", "1200")]),
            "tbank-refund-1",
        ),
        now(),
    )
    .await
    .unwrap();
    let (state, first_id) = refund_state(&shop, first).await;
    assert_eq!(state, "succeeded");
    let cancels = shop.fake.requests("Cancel");
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].body["Amount"], 120_000);
    assert_eq!(cancels[0].body["PaymentId"], id);
    assert_eq!(cancels[0].body["ExternalRequestId"], "tbank-refund-1");
    assert_eq!(shop.fake.payment(&id).status, "PARTIAL_REFUNDED");
    assert_eq!(shop.fake.payment(&id).amount, TOTAL - 120_000);

    let second = refunds::create(
        &shop.app.state,
        &master,
        refund_input(invoice, None, "tbank-refund-2"),
        now(),
    )
    .await
    .unwrap();
    let (state, second_id) = refund_state(&shop, second).await;
    assert_eq!(state, "succeeded");
    assert_ne!(
        first_id, second_id,
        "two refunds of one payment are told apart"
    );
    let cancels = shop.fake.requests("Cancel");
    assert_eq!(cancels.len(), 2);
    assert_eq!(cancels[1].body["Amount"], TOTAL - 120_000);
    assert_eq!(shop.fake.payment(&id).status, "REFUNDED");
    assert_eq!(shop.fake.payment(&id).refunds.len(), 2);
    assert_eq!(
        shop.count(
            "select refunded_kopecks from invoices where invoice_id = ?",
            invoice
        )
        .await,
        TOTAL
    );

    // Their notifications come later; taken, they change nothing.
    shop.fake.deliver_queued().await.iter().for_each(ok);
    assert_eq!(
        shop.count(
            "select refunded_kopecks from invoices where invoice_id = ?",
            invoice
        )
        .await,
        TOTAL
    );
    // Polling reads each refund back as made.
    let account: Option<i64> =
        sqlx::query_scalar("select account_id from payment_accounts where provider = 'tbank'")
            .fetch_one(shop.app.pool())
            .await
            .unwrap();
    let gateway = shop
        .app
        .state
        .gateways
        .account(shop.app.pool(), account)
        .await
        .unwrap();
    for rid in [first_id.unwrap(), second_id.unwrap()] {
        let r = gateway.refund_status(&rid).await.unwrap();
        assert_eq!(
            r.status,
            suz::payments::gateway::RefundStatus::Succeeded,
            "{rid}"
        );
    }
    shop.no_violations();
}

#[tokio::test]
async fn a_refused_refund_fails_and_changes_no_money() {
    let shop = Shop::new().await;
    let (order, invoice, _, id) = paid(&shop, "tbank-refund-refused").await;
    let master = shop.app.staff_user("master@demo.ru").await;
    shop.fake.refuse_cancels(true);
    let refund = refunds::create(
        &shop.app.state,
        &master,
        refund_input(invoice, None, "tbank-refund-no"),
        now(),
    )
    .await
    .unwrap();
    let (state, _) = refund_state(&shop, refund).await;
    assert_eq!(state, "failed");
    assert_eq!(shop.fake.payment(&id).amount, TOTAL);
    assert_eq!(
        shop.count(
            "select refunded_kopecks from invoices where invoice_id = ?",
            invoice
        )
        .await,
        0
    );
    assert_eq!(
        shop.count(
            "select count(*) from order_history where order_id = ? and kind = 'Возврат не удался'",
            order
        )
        .await,
        1
    );
    shop.no_violations();
}

#[tokio::test]
async fn a_cancel_whose_answer_is_lost_is_not_sent_again() {
    let shop = Shop::new().await;
    let (_, invoice, _, id) = paid(&shop, "tbank-refund-lost").await;
    let master = shop.app.staff_user("master@demo.ru").await;
    let lines = shop.app.invoice_line_ids(invoice).await;
    shop.fake.fault("Cancel", Fault::LoseAnswer, 1);
    let refund = refunds::create(
        &shop.app.state,
        &master,
        refund_input(
            invoice,
            Some(vec![one_line(lines[0], "1", "1200")]),
            "tbank-refund-l",
        ),
        now(),
    )
    .await
    .unwrap();
    // Made at Т-Банк, unknown to the app.
    assert_eq!(
        refund_state(&shop, refund).await,
        ("processing".into(), None)
    );
    assert_eq!(shop.fake.payment(&id).refunds.len(), 1);

    // A 5xx on the check first: nothing is sent blind.
    shop.fake.fault("GetState", Fault::ServerError, 1);
    jobs::tick(&shop.app.state, now() + refunds::RESEND_AFTER_SECONDS + 5).await;
    assert_eq!(shop.fake.requests("Cancel").len(), 1);
    jobs::tick(
        &shop.app.state,
        now() + 2 * refunds::RESEND_AFTER_SECONDS + 10,
    )
    .await;
    assert_eq!(refund_state(&shop, refund).await.0, "succeeded");
    assert_eq!(
        shop.fake.requests("Cancel").len(),
        1,
        "the refund is not sent twice"
    );
    assert_eq!(shop.fake.payment(&id).refunds.len(), 1);
    assert_eq!(shop.fake.payment(&id).amount, TOTAL - 120_000);
    shop.no_violations();
}

#[tokio::test]
async fn provider_failures_on_the_way_to_init_are_retried_without_a_second_payment() {
    let shop = Shop::new().await;
    let (_, invoice, account) = shop.invoice("tbank-5xx").await;
    // A server error before anything was made: the payment waits in the outbox.
    shop.fake.fault("CheckOrder", Fault::ServerError, 1);
    let refused = shop.start(invoice, PayMethod::Card, None, false).await;
    assert!(
        matches!(refused, Err(AppError::Rule(ref m)) if m.contains("не ответила")),
        "{refused:?}"
    );
    assert!(shop.fake.payments().is_empty());
    let payment: i64 = sqlx::query_scalar("select payment_id from payments where invoice_id = ?")
        .bind(invoice)
        .fetch_one(shop.app.pool())
        .await
        .unwrap();
    assert_eq!(shop.status(payment).await.0, "new");

    // Init made at Т-Банк, its answer lost (the process also restarts: the adapter
    // remembers nothing). The retry finds the order's payment, cancels it — nobody has
    // its page — and makes the next one; one payment can be paid.
    shop.fake.fault("Init", Fault::LoseAnswer, 1);
    jobs::tick(
        &shop.app.state,
        now() + payments::RETRY_NEW_AFTER_SECONDS + 5,
    )
    .await;
    assert_eq!(shop.status(payment).await.0, "new");
    assert_eq!(shop.fake.payments().len(), 1);
    shop.app.state.gateways.forget(account);
    jobs::tick(
        &shop.app.state,
        now() + 2 * payments::RETRY_NEW_AFTER_SECONDS + 10,
    )
    .await;
    assert_eq!(shop.status(payment).await.0, "pending");
    let made = shop.fake.payments();
    assert_eq!(made.len(), 2);
    assert_eq!(made[0].status, "CANCELED");
    assert_eq!(made[0].order_id, payment.to_string());
    assert_eq!(made[1].order_id, format!("{payment}.2"));
    let url: String =
        sqlx::query_scalar("select confirmation_url from payments where payment_id = ?")
            .bind(payment)
            .fetch_one(shop.app.pool())
            .await
            .unwrap();
    assert!(url.ends_with(&format!("/pay/{}", made[1].id)), "{url}");
    shop.fake.pay_page(&url, cards::SUCCESS).await;
    assert_eq!(shop.status(payment).await.0, "succeeded");
    assert_eq!(
        shop.fake
            .payments()
            .iter()
            .filter(|p| p.status == "CONFIRMED")
            .count(),
        1
    );
    shop.no_violations();
}

#[tokio::test]
async fn an_init_that_times_out_is_not_made_twice() {
    let shop = Shop::new().await;
    let (_, invoice, _) = shop.invoice("tbank-timeout").await;
    shop.fake.fault("Init", Fault::Hang, 1);
    let refused = shop.start(invoice, PayMethod::Card, None, false).await;
    assert!(matches!(refused, Err(AppError::Rule(_))), "{refused:?}");
    jobs::tick(
        &shop.app.state,
        now() + payments::RETRY_NEW_AFTER_SECONDS + 5,
    )
    .await;
    let made = shop.fake.payments();
    assert_eq!(made.len(), 2, "the timed-out one cancelled, one made");
    assert_eq!(made[0].status, "CANCELED");
    assert_eq!(shop.fake.requests("Init").len(), 2);
    let payment: i64 = sqlx::query_scalar("select payment_id from payments where invoice_id = ?")
        .bind(invoice)
        .fetch_one(shop.app.pool())
        .await
        .unwrap();
    assert_eq!(shop.status(payment).await.0, "pending");
    shop.no_violations();
}

#[tokio::test]
async fn a_saved_card_is_charged_once_by_init_and_charge() {
    let shop = Shop::new().await;
    let (_, first, _) = shop.invoice("tbank-save").await;
    let started = shop
        .start(first, PayMethod::Card, None, true)
        .await
        .unwrap();
    let init = &shop.fake.requests("Init")[0].body;
    assert_eq!(init["Recurrent"], "Y");
    let resident = shop.app.resident_id(RESIDENT).await;
    assert_eq!(init["CustomerKey"], format!("resident-{resident}"));
    shop.fake
        .pay_page(&started.redirect_url.unwrap(), cards::SUCCESS)
        .await;
    assert_eq!(shop.status(started.payment_id).await.0, "succeeded");
    let first_id = shop.provider_id(started.payment_id).await;
    let rebill = shop.fake.payment(&first_id).rebill_id.unwrap();
    let (card, token, mask): (i64, String, String) = sqlx::query_as(
        "select card_id, token, mask from saved_cards where resident_id = ? and provider = 'tbank'",
    )
    .bind(resident)
    .fetch_one(shop.app.pool())
    .await
    .unwrap();
    assert_eq!(token, rebill, "the card token is Т-Банк's RebillId");
    assert_eq!(mask, "•••• 4242");

    // Paying with it: Init, then Charge — whose answer is lost; the retry does not
    // charge again.
    let (_, second, _) = shop.invoice("tbank-save-2").await;
    shop.fake.fault("Charge", Fault::LoseAnswer, 1);
    let refused = shop.start(second, PayMethod::Card, Some(card), false).await;
    assert!(matches!(refused, Err(AppError::Rule(_))), "{refused:?}");
    let charges = shop.fake.requests("Charge");
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].body["RebillId"], rebill);
    let second_init = &shop.fake.requests("Init")[1].body;
    assert!(second_init.get("Recurrent").is_none());
    jobs::tick(
        &shop.app.state,
        now() + payments::RETRY_NEW_AFTER_SECONDS + 5,
    )
    .await;
    let payment: i64 = sqlx::query_scalar("select payment_id from payments where invoice_id = ?")
        .bind(second)
        .fetch_one(shop.app.pool())
        .await
        .unwrap();
    assert_eq!(shop.status(payment).await.0, "succeeded");
    assert_eq!(shop.fake.requests("Charge").len(), 1, "charged once");
    let id = shop.provider_id(payment).await;
    assert_eq!(shop.fake.payment(&id).charges, 1);
    shop.fake.deliver_queued().await.iter().for_each(ok);
    assert_eq!(
        shop.count(
            "select count(*) from ledger_entries where payment_id = ?",
            payment
        )
        .await,
        1
    );

    // A declined charge fails the payment at once.
    let (_, third, _) = shop.invoice("tbank-save-3").await;
    shop.fake.decline_charges(true);
    let started = shop
        .start(third, PayMethod::Card, Some(card), false)
        .await
        .unwrap();
    assert_eq!(started.redirect_url, None);
    assert_eq!(shop.status(started.payment_id).await.0, "failed");
    shop.no_violations();
}

#[tokio::test]
async fn sbp_pays_by_the_qr_payload_and_refunds_asynchronously() {
    let shop = Shop::new().await;
    let (order, invoice, _) = shop.invoice("tbank-sbp").await;
    let started = shop
        .start(invoice, PayMethod::Sbp, None, false)
        .await
        .unwrap();
    let qrs = shop.fake.requests("GetQr");
    assert_eq!(qrs.len(), 1);
    assert_eq!(qrs[0].body["DataType"], "PAYLOAD");
    let url = started.redirect_url.unwrap();
    assert!(url.contains("/sbp/"), "{url}");
    shop.fake.pay_sbp(&url, sbp_banks::PAY).await;
    assert_eq!(shop.status(started.payment_id).await.0, "succeeded");
    assert_eq!(
        shop.count(
            "select count(*) from invoices where invoice_id = ? and paid_method = 'sbp'",
            invoice
        )
        .await,
        1
    );
    let master = shop.app.staff_user("master@demo.ru").await;
    shop.app.start_work(&master, order).await;
    let id = shop.provider_id(started.payment_id).await;

    let refund = refunds::create(
        &shop.app.state,
        &master,
        refund_input(invoice, None, "tbank-sbp-refund"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(shop.fake.payment(&id).status, "ASYNC_REFUNDING");
    assert_eq!(refund_state(&shop, refund).await.0, "processing");
    shop.fake.deliver_queued().await.iter().for_each(ok);
    assert_eq!(refund_state(&shop, refund).await.0, "processing");
    ok(&shop.fake.finish_async_refund(&id, true).await);
    assert_eq!(refund_state(&shop, refund).await.0, "succeeded");
    assert_eq!(
        shop.count(
            "select refunded_kopecks from invoices where invoice_id = ?",
            invoice
        )
        .await,
        TOTAL
    );
    shop.no_violations();
}

#[tokio::test]
async fn an_sbp_refund_that_fails_at_the_bank_fails() {
    let shop = Shop::new().await;
    let (order, invoice, _) = shop.invoice("tbank-sbp-fail").await;
    let started = shop
        .start(invoice, PayMethod::Sbp, None, false)
        .await
        .unwrap();
    shop.fake
        .pay_sbp(&started.redirect_url.unwrap(), sbp_banks::PAY)
        .await;
    let master = shop.app.staff_user("master@demo.ru").await;
    shop.app.start_work(&master, order).await;
    let id = shop.provider_id(started.payment_id).await;
    let refund = refunds::create(
        &shop.app.state,
        &master,
        refund_input(invoice, None, "tbank-sbp-refund-f"),
        now(),
    )
    .await
    .unwrap();
    // The bank refuses later; the app finds out by polling.
    shop.fake.finish_async_refund(&id, false).await;
    jobs::tick(&shop.app.state, now() + refunds::POLL_AFTER_SECONDS + 5).await;
    assert_eq!(refund_state(&shop, refund).await.0, "failed");
    assert_eq!(
        shop.count(
            "select refunded_kopecks from invoices where invoice_id = ?",
            invoice
        )
        .await,
        0
    );
}

#[tokio::test]
async fn the_fiscal_notification_is_answered_ok_and_stored_on_the_receipt() {
    let shop = Shop::new().await;
    let (_, invoice, _) = shop.invoice("tbank-receipt").await;
    let (payment, _) = shop.pay(invoice, cards::SUCCESS).await;
    let id = shop.provider_id(payment).await;
    let sent = shop
        .fake
        .payment(&id)
        .receipt
        .clone()
        .expect("Init carried the receipt");
    assert_eq!(sent["Items"][0]["PaymentMethod"], "full_prepayment");
    let d = shop
        .fake
        .notify_receipt(&id, "Income", TOTAL, sent.clone(), 101)
        .await;
    ok(&d);
    // Repeated: acknowledged, applied once.
    ok(&shop
        .fake
        .notify_receipt(&id, "Income", TOTAL, sent, 101)
        .await);
    let (state, fn_number, url): (String, Option<String>, Option<String>) = sqlx::query_as(
        "select state, fn_number, url from receipts where payment_id = ? and kind in ('prepayment', 'full_payment')",
    )
    .bind(payment)
    .fetch_one(shop.app.pool())
    .await
    .unwrap();
    assert_eq!(state, "registered");
    assert_eq!(fn_number.as_deref(), Some("7380440700076549"));
    assert_eq!(url.as_deref(), Some("https://ofd.example/check/17"));
    shop.no_violations();
}

#[tokio::test]
async fn the_closing_receipt_offsets_the_prepayment_once_when_the_order_is_done() {
    let shop = Shop::new().await;
    let (order, _, payment, id) = paid(&shop, "tbank-closing").await;
    let prepaid = shop.fake.payment(&id).receipt.clone();
    let prepaid = prepaid.expect("the demo entity's receipts go through the acquirer");
    assert_eq!(prepaid["Items"][0]["PaymentMethod"], "full_prepayment");
    let master = shop.app.staff_user("master@demo.ru").await;
    suz::orders::service::change_state(
        shop.app.pool(),
        &master,
        suz::orders::service::StateChange {
            order_id: order,
            version: shop.app.order_version(order).await,
            status: suz::orders::status::OrderStatus::Done,
            assignee_id: Some(master.staff_id),
            comment: String::new(),
        },
        now(),
    )
    .await
    .unwrap();
    for dt in [5, 30, 90] {
        jobs::tick(&shop.app.state, now() + dt).await;
    }
    let sent = shop.fake.requests("SendClosingReceipt");
    assert_eq!(sent.len(), 1, "sent once");
    assert_eq!(sent[0].body["PaymentId"], id);
    let receipt = &sent[0].body["Receipt"];
    assert_eq!(receipt["Payments"]["AdvancePayment"], TOTAL);
    assert_eq!(receipt["Payments"]["Electronic"], 0);
    assert!(receipt["Items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["PaymentMethod"] == "full_payment"));
    assert_eq!(shop.fake.payment(&id).closing_receipts.len(), 1);

    // Its fiscal data arrives by notification and is stored on the offset receipt.
    ok(&shop
        .fake
        .notify_receipt(&id, "Income", TOTAL, receipt.clone(), 202)
        .await);
    let (state, document): (String, Option<String>) = sqlx::query_as(
        "select state, fiscal_document from receipts where payment_id = ? and kind = 'offset'",
    )
    .bind(payment)
    .fetch_one(shop.app.pool())
    .await
    .unwrap();
    assert_eq!(state, "registered");
    assert_eq!(document.as_deref(), Some("202"));
    shop.no_violations();
}
