//! Live money in the administration (issue 17): a legal entity's shop / terminal at ЮKassa
//! or Т-Банк with its secret sealed and never shown back, its taxation system and who
//! issues its receipts, VAT rates and payment subjects of price-list items (only rates in
//! force), the Excel columns for them — and that only administrators get in.

use crate::common::{self, TestApp};

use http::StatusCode;
use suz::admin::rules;
use suz::admin::service as admin;

type AccountRow = (i64, String, String, Option<String>, Option<String>, bool);
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

const SECRET: &str = "live_TopSecret_4242";

async fn partner(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select legal_entity_id from legal_entities where name = 'ООО «СантехСервис»'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Everything the app stores about accounts and the audit, to compare before and after a
/// refused call.
async fn snapshot(app: &TestApp) -> String {
    let accounts: Vec<AccountRow> = sqlx::query_as(
        "select account_id, provider, shop_id, secret_sealed, secret_env, active from payment_accounts order by account_id",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let entities: Vec<(i64, String, String)> = sqlx::query_as(
        "select legal_entity_id, taxation, receipts_via from legal_entities order by 1",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let items: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "select price_item_id, price_kopecks, vat_code, payment_subject from price_items order by 1",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let audit = count(app, "select count(*) from admin_audit").await;
    format!("{accounts:?} {entities:?} {items:?} {audit}")
}

async fn save_account(
    app: &TestApp,
    cookie: &str,
    entity: i64,
    fields: &[(&str, &str)],
) -> common::Reply {
    let entity = entity.to_string();
    let mut form = vec![("legal_entity_id", entity.as_str())];
    form.extend_from_slice(fields);
    app.call("admin_save_payment_account", &form, Some(cookie))
        .await
}

/// The answers of every administration read that could show an account.
async fn every_read(app: &TestApp, cookie: &str, entity: i64) -> String {
    let id = entity.to_string();
    let mut all = String::new();
    for (endpoint, form) in [
        (
            "fetch_admin_payment_settings",
            vec![("legal_entity_id", id.as_str())],
        ),
        ("fetch_admin_entities", vec![]),
        (
            "fetch_admin_price_list",
            vec![("legal_entity_id", id.as_str())],
        ),
        ("fetch_admin_audit", vec![]),
        ("fetch_admin_vat_rates", vec![]),
    ] {
        let reply = app.call(endpoint, &form, Some(cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{endpoint}: {}", reply.body);
        all.push_str(&reply.body);
    }
    all
}

#[tokio::test]
async fn an_administrator_sets_up_yookassa_with_a_sealed_secret_that_no_answer_shows() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("admin@demo.ru").await;
    let entity = partner(&app).await;

    let reply = save_account(
        &app,
        &cookie,
        entity,
        &[
            ("provider", "yookassa"),
            ("shop_id", "123456"),
            ("secret", SECRET),
            ("notify_networks", "185.71.76.0/27 77.75.156.11"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let first: i64 = serde_json::from_str(&reply.body).unwrap();

    // Stored sealed: the column is not the secret, and opens back to it.
    let (sealed, env, networks): (Option<String>, Option<String>, String) = sqlx::query_as(
        "select secret_sealed, secret_env, notify_networks from payment_accounts where account_id = ?",
    )
    .bind(first)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let sealed = sealed.expect("a sealed secret");
    assert!(!sealed.contains(SECRET) && !sealed.contains("TopSecret"));
    assert_eq!(env, None);
    assert_eq!(networks, "185.71.76.0/27,77.75.156.11");
    assert_eq!(app.state.gateways.secrets().open(&sealed).unwrap(), SECRET);
    let sealed_elsewhere = suz::payments::accounts::SecretBox::new(Some("another key"));
    assert!(sealed_elsewhere.open(&sealed).is_err());

    // The settings show «Задан» and the notification URL, never the secret.
    let reads = every_read(&app, &cookie, entity).await;
    assert!(
        !reads.contains(SECRET) && !reads.contains("TopSecret"),
        "{reads}"
    );
    assert!(
        !reads.contains(&sealed),
        "the sealed text is not sent either"
    );
    let settings: serde_json::Value = serde_json::from_str(
        &app.call(
            "fetch_admin_payment_settings",
            &[("legal_entity_id", &entity.to_string())],
            Some(&cookie),
        )
        .await
        .body,
    )
    .unwrap();
    let account = &settings["account"];
    assert_eq!(account["account_id"], first);
    assert_eq!(account["provider"], "yookassa");
    assert_eq!(account["secret_sealed"], true);
    assert_eq!(
        account["webhook_url"],
        format!("{}/payments/webhook/{first}", app.state.config.public_url)
    );
    assert_eq!(
        account["webhook_url"],
        app.state.gateways.webhook_url(first)
    );
    let audit: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "select summary, before_json, after_json from admin_audit where entity = 'payment_account'",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!format!("{audit:?}").contains("TopSecret"));
    assert!(!format!("{audit:?}").contains(&sealed));
    assert!(audit[0].0.contains("ЮKassa"), "{audit:?}");

    // Replacing it: the old row stays, inactive (its payments are polled there).
    let reply = save_account(
        &app,
        &cookie,
        entity,
        &[
            ("provider", "tbank"),
            ("shop_id", "1700000000001DEMO"),
            ("secret", "tbank-password-1"),
            ("api_url", "https://rest-api-test.tinkoff.ru/v2/"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let second: i64 = serde_json::from_str(&reply.body).unwrap();
    assert_ne!(first, second);
    let rows: Vec<(i64, bool, String)> = sqlx::query_as(
        "select account_id, active, api_url from payment_accounts where legal_entity_id = ? order by account_id",
    )
    .bind(entity)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (first, false, String::new()),
            (second, true, "https://rest-api-test.tinkoff.ru/v2".into())
        ]
    );
    // Another provider without a secret: refused; the same one keeps the stored secret.
    let before = snapshot(&app).await;
    let refused = save_account(
        &app,
        &cookie,
        entity,
        &[("provider", "yookassa"), ("shop_id", "123456")],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("secret"), "{}", refused.body);
    assert_eq!(snapshot(&app).await, before);
    let reply = save_account(
        &app,
        &cookie,
        entity,
        &[("provider", "tbank"), ("shop_id", "1700000000002DEMO")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let third: i64 = serde_json::from_str(&reply.body).unwrap();
    let kept: String =
        sqlx::query_scalar("select secret_sealed from payment_accounts where account_id = ?")
            .bind(third)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(
        app.state.gateways.secrets().open(&kept).unwrap(),
        "tbank-password-1"
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from payment_accounts where active = 1"
        )
        .await,
        1
    );
    let reads = every_read(&app, &cookie, entity).await;
    assert!(
        !reads.contains("tbank-password-1") && !reads.contains(SECRET),
        "{reads}"
    );

    // «Отключить»: back to the default provider; a second time there is nothing to disable.
    let reply = app
        .call(
            "admin_disable_payment_account",
            &[("legal_entity_id", &entity.to_string())],
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        count(
            &app,
            "select count(*) from payment_accounts where active = 1"
        )
        .await,
        0
    );
    assert_eq!(
        count(&app, "select count(*) from payment_accounts").await,
        3
    );
    let (account, _) = app
        .state
        .gateways
        .for_entity(app.pool(), entity)
        .await
        .unwrap();
    assert_eq!(account, None);
    let before = snapshot(&app).await;
    let again = app
        .call(
            "admin_disable_payment_account",
            &[("legal_entity_id", &entity.to_string())],
            Some(&cookie),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.body
    );
    assert_eq!(snapshot(&app).await, before);
    let audit = count(
        &app,
        "select count(*) from admin_audit where entity = 'payment_account'",
    )
    .await;
    assert_eq!(audit, 4);
    let all_audit: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("select before_json, after_json from admin_audit")
            .fetch_all(app.pool())
            .await
            .unwrap();
    let all_audit = format!("{all_audit:?}");
    assert!(!all_audit.contains("tbank-password-1") && !all_audit.contains("TopSecret"));
}

#[tokio::test]
async fn only_administrators_see_or_change_payment_settings() {
    let app = common::spawn().await;
    let entity = partner(&app).await.to_string();
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;
    let accountant = app.staff_cookie("accountant@demo.ru").await;
    let resident = app.resident_cookie("+79000000002").await;
    let e = entity.as_str();
    let calls: [(&str, Vec<(&str, &str)>); 6] = [
        ("fetch_admin_payment_settings", vec![("legal_entity_id", e)]),
        (
            "admin_save_payment_account",
            vec![
                ("legal_entity_id", e),
                ("provider", "yookassa"),
                ("shop_id", "123456"),
                ("secret", SECRET),
            ],
        ),
        (
            "admin_disable_payment_account",
            vec![("legal_entity_id", e)],
        ),
        (
            "admin_save_entity_receipts",
            vec![
                ("legal_entity_id", e),
                ("taxation", "osn"),
                ("receipts_via", "own_register"),
            ],
        ),
        ("fetch_admin_vat_rates", vec![]),
        (
            "admin_save_price_item",
            vec![
                ("legal_entity_id", e),
                ("name", "Проверка"),
                ("unit", "шт."),
                ("price", "100"),
                ("vat_code", "vat22"),
            ],
        ),
    ];
    let before = snapshot(&app).await;
    for (cookie, status) in [
        (Some(dispatcher.as_str()), StatusCode::FORBIDDEN),
        (Some(accountant.as_str()), StatusCode::FORBIDDEN),
        (Some(resident.as_str()), StatusCode::FORBIDDEN),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for (endpoint, form) in &calls {
            let reply = app.call(endpoint, form, cookie).await;
            assert_eq!(reply.status, status, "{endpoint}: {}", reply.body);
            assert!(
                !reply.body.contains("webhook"),
                "{endpoint}: {}",
                reply.body
            );
        }
    }
    assert_eq!(snapshot(&app).await, before);
    assert_eq!(
        count(&app, "select count(*) from payment_accounts").await,
        0
    );
}

#[tokio::test]
async fn bad_providers_taxations_and_vat_codes_are_refused_and_change_nothing() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("admin@demo.ru").await;
    let entity = partner(&app).await;
    let id = entity.to_string();
    let item = app.price_item("Прочистка засора").await.to_string();
    let before = snapshot(&app).await;
    let refused: [Refusal; 8] = [
        (
            "admin_save_payment_account",
            vec![
                ("legal_entity_id", &id),
                ("provider", "paypal"),
                ("shop_id", "1"),
                ("secret", SECRET),
            ],
            "provider",
            "Выберите провайдера из списка",
        ),
        (
            "admin_save_payment_account",
            vec![
                ("legal_entity_id", &id),
                ("provider", "yookassa"),
                ("shop_id", "shop"),
                ("secret", SECRET),
            ],
            "shop_id",
            "shopId ЮKassa — число",
        ),
        (
            "admin_save_payment_account",
            vec![
                ("legal_entity_id", &id),
                ("provider", "tbank"),
                ("shop_id", "T1"),
                ("secret", SECRET),
                ("api_url", "http://attacker.example/v2"),
            ],
            "api_url",
            "Адрес API",
        ),
        (
            "admin_save_entity_receipts",
            vec![
                ("legal_entity_id", &id),
                ("taxation", "usn"),
                ("receipts_via", "acquirer"),
            ],
            "taxation",
            "Выберите систему налогообложения из списка",
        ),
        (
            "admin_save_entity_receipts",
            vec![
                ("legal_entity_id", &id),
                ("taxation", "osn"),
                ("receipts_via", "ofd"),
            ],
            "receipts_via",
            "Выберите, кто выдаёт чеки",
        ),
        (
            "admin_save_price_item",
            vec![
                ("legal_entity_id", &id),
                ("price_item_id", &item),
                ("name", "Прочистка засора"),
                ("unit", "шт."),
                ("price", "1 300"),
                ("active", "on"),
                ("vat_code", "vat99"),
            ],
            "vat_code",
            "Выберите ставку НДС из списка",
        ),
        // НДС 20% applied up to 31.12.2025.
        (
            "admin_save_price_item",
            vec![
                ("legal_entity_id", &id),
                ("price_item_id", &item),
                ("name", "Прочистка засора"),
                ("unit", "шт."),
                ("price", "1 300"),
                ("active", "on"),
                ("vat_code", "vat20"),
            ],
            "vat_code",
            "Ставка «НДС 20%» действовала по 31.12.2025: выберите действующую ставку",
        ),
        (
            "admin_save_price_item",
            vec![
                ("legal_entity_id", &id),
                ("name", "Новая позиция"),
                ("unit", "шт."),
                ("price", "100"),
                ("payment_subject", "work"),
            ],
            "payment_subject",
            "«Услуга» или «Товар»",
        ),
    ];
    for (endpoint, form, key, message) in &refused {
        let reply = app.call(endpoint, form, Some(&cookie)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint} {key}: {}",
            reply.body
        );
        assert!(
            reply.body.contains(key) && reply.body.contains(message),
            "{endpoint} {key}: {}",
            reply.body
        );
    }
    assert_eq!(snapshot(&app).await, before);

    // What is valid is saved, with its audit.
    let reply = app
        .call(
            "admin_save_entity_receipts",
            &[
                ("legal_entity_id", &id),
                ("taxation", "usn_income_outcome"),
                ("receipts_via", "own_register"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let stored: (String, String) = sqlx::query_as(
        "select taxation, receipts_via from legal_entities where legal_entity_id = ?",
    )
    .bind(entity)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(stored, ("usn_income_outcome".into(), "own_register".into()));
    let summary: String = sqlx::query_scalar(
        "select after_json from admin_audit where entity = 'legal_entity' order by audit_id desc limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(
        summary.contains("УСН доход − расход") && summary.contains("Своя касса"),
        "{summary}"
    );

    let reply = app
        .call(
            "admin_save_price_item",
            &[
                ("legal_entity_id", &id),
                ("price_item_id", &item),
                ("name", "Прочистка засора"),
                ("unit", "шт."),
                ("price", "1 300"),
                ("active", "on"),
                ("vat_code", "vat22"),
                ("payment_subject", "commodity"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (price, vat, subject): (i64, String, String) = sqlx::query_as(
        "select price_kopecks, vat_code, payment_subject from price_items where price_item_id = ?",
    )
    .bind(item.parse::<i64>().unwrap())
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(
        (price, vat.as_str(), subject.as_str()),
        (130_000, "vat22", "commodity")
    );
    let list = app
        .call(
            "fetch_admin_price_list",
            &[("legal_entity_id", &id)],
            Some(&cookie),
        )
        .await;
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    let row = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "Прочистка засора")
        .unwrap();
    assert_eq!(
        (row["vat_code"].as_str(), row["payment_subject"].as_str()),
        (Some("vat22"), Some("commodity"))
    );
    assert!(list["vat"]["rates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "vat20" && r["effective_to"] == "2025-12-31"));

    // An item whose stored rate went out of force must get another before it is saved.
    sqlx::query("update price_items set vat_code = 'vat20' where price_item_id = ?")
        .bind(item.parse::<i64>().unwrap())
        .execute(app.pool())
        .await
        .unwrap();
    let before = snapshot(&app).await;
    let price_only = [
        ("legal_entity_id", id.as_str()),
        ("price_item_id", &item),
        ("name", "Прочистка засора"),
        ("unit", "шт."),
        ("price", "1 400"),
        ("active", "on"),
    ];
    let reply = app
        .call("admin_save_price_item", &price_only, Some(&cookie))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("действовала по 31.12.2025"),
        "{}",
        reply.body
    );
    assert_eq!(snapshot(&app).await, before);
    let mut with_rate = price_only.to_vec();
    with_rate.push(("vat_code", "none"));
    let reply = app
        .call("admin_save_price_item", &with_rate, Some(&cookie))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn without_a_secrets_key_a_secret_is_named_as_an_environment_variable() {
    let app = common::spawn_served_with(|c| c.secrets_key = None).await;
    let cookie = app.staff_cookie("admin@demo.ru").await;
    let entity = partner(&app).await;
    let before = snapshot(&app).await;
    let refused = save_account(
        &app,
        &cookie,
        entity,
        &[
            ("provider", "yookassa"),
            ("shop_id", "123456"),
            ("secret", SECRET),
        ],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(rules::NO_SECRETS_KEY),
        "{}",
        refused.body
    );
    assert_eq!(snapshot(&app).await, before);

    let settings = app
        .call(
            "fetch_admin_payment_settings",
            &[("legal_entity_id", &entity.to_string())],
            Some(&cookie),
        )
        .await;
    let settings: serde_json::Value = serde_json::from_str(&settings.body).unwrap();
    assert_eq!(settings["can_seal"], false);
    assert_eq!(settings["account"], serde_json::Value::Null);

    let reply = save_account(
        &app,
        &cookie,
        entity,
        &[
            ("provider", "yookassa"),
            ("shop_id", "123456"),
            ("secret_env", "SUZ_TEST_UNSET_YOOKASSA_SECRET"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id: i64 = serde_json::from_str(&reply.body).unwrap();
    let stored: (Option<String>, Option<String>) = sqlx::query_as(
        "select secret_sealed, secret_env from payment_accounts where account_id = ?",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(
        stored,
        (None, Some("SUZ_TEST_UNSET_YOOKASSA_SECRET".into()))
    );
    let settings = app
        .call(
            "fetch_admin_payment_settings",
            &[("legal_entity_id", &entity.to_string())],
            Some(&cookie),
        )
        .await;
    let settings: serde_json::Value = serde_json::from_str(&settings.body).unwrap();
    assert_eq!(
        settings["account"]["secret_env"],
        "SUZ_TEST_UNSET_YOOKASSA_SECRET"
    );
    // The page warns that the variable is not set on the server.
    assert_eq!(settings["account"]["secret_env_set"], false);
}

#[tokio::test]
async fn price_lists_import_and_export_vat_and_payment_subject_columns() {
    let app = common::spawn().await;
    let me = app.staff_user("admin@demo.ru").await;
    let entity = partner(&app).await;
    let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let rows = vec![
        row(&[
            "Наименование",
            "Ед. изм.",
            "Цена",
            "Активна",
            "НДС",
            "Признак предмета расчёта",
        ]),
        row(&["Прочистка засора", "шт.", "1300", "да", "НДС 22%", "Услуга"]),
        row(&["Гибкая подводка", "шт.", "500", "да", "", "Товар"]),
        row(&["Сифон", "шт.", "700", "да", "18%", "Товар"]),
        row(&["Прокладка", "шт.", "50", "да", "Без НДС", "Работа"]),
        row(&["Кран", "шт.", "900", "да", "НДС 20%", "Товар"]),
        row(&["Смеситель", "шт.", "3000", "да", "vat10", "commodity"]),
    ];
    let id = admin::import_price_list(app.pool(), &me, entity, rows, suz::time::now())
        .await
        .unwrap();
    let report = admin::import_report(app.pool(), &me, &id).await.unwrap();
    assert_eq!((report.created, report.updated), (1, 2), "{report:?}");
    let rejected: Vec<(usize, String)> = report.rejected.clone();
    assert_eq!(
        rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
        [4, 5, 6],
        "{rejected:?}"
    );
    assert!(
        rejected[0].1.contains("«НДС»: нет ставки «18%»"),
        "{rejected:?}"
    );
    assert!(
        rejected[1]
            .1
            .contains("«Признак предмета расчёта»: «Услуга» или «Товар»"),
        "{rejected:?}"
    );
    assert!(
        rejected[2]
            .1
            .contains("«НДС 20%» действовала по 31.12.2025"),
        "{rejected:?}"
    );
    let items: Vec<(String, String, String)> = sqlx::query_as(
        "select name, vat_code, payment_subject from price_items where legal_entity_id = ? \
         and name in ('Прочистка засора', 'Гибкая подводка', 'Смеситель', 'Сифон', 'Кран') order by name",
    )
    .bind(entity)
    .fetch_all(app.pool())
    .await
    .unwrap();
    let items: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        items,
        [
            ("Гибкая подводка", "none", "commodity"),
            ("Прочистка засора", "vat22", "service"),
            ("Смеситель", "vat10", "commodity"),
        ]
    );

    let cookie = app.staff_cookie("admin@demo.ru").await;
    let file = app
        .get_bytes(
            &format!("/staff/admin/entities/{entity}/prices/export"),
            &cookie,
        )
        .await;
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(file)).unwrap();
    let sheet = book.worksheet_range("Прайс-лист").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows[0][4].to_string(), "НДС");
    assert_eq!(rows[0][5].to_string(), "Признак предмета расчёта");
    assert!(rows
        .iter()
        .any(|r| r[0] == "Прочистка засора" && r[4] == "НДС 22%" && r[5] == "Услуга"));
    assert!(rows
        .iter()
        .any(|r| r[0] == "Смеситель" && r[4] == "НДС 10%" && r[5] == "Товар"));
}

#[tokio::test]
async fn the_entity_page_shows_the_secret_only_as_set_and_the_notification_url() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("admin@demo.ru").await;
    let entity = partner(&app).await;
    let reply = save_account(
        &app,
        &cookie,
        entity,
        &[
            ("provider", "tbank"),
            ("shop_id", "1700000000001DEMO"),
            ("secret", "tbank-page-password"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let account: i64 = serde_json::from_str(&reply.body).unwrap();
    sqlx::query("update price_items set vat_code = 'vat20' where name = 'Прочистка засора'")
        .execute(app.pool())
        .await
        .unwrap();
    let page = app
        .get(&format!("/staff/admin/entities/{entity}"), Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.body;
    assert!(
        html.contains("Приём платежей") && html.contains("Т-Банк"),
        "{html}"
    );
    assert!(html.contains("TerminalKey") && html.contains("1700000000001DEMO"));
    assert!(
        html.contains(">Задан<"),
        "the password is shown only as set"
    );
    assert!(html.contains(&app.state.gateways.webhook_url(account)));
    assert!(!html.contains("tbank-page-password"));
    // The lapsed rate of an item is marked; the select offers the rates in force.
    assert!(html.contains("НДС 20% — не действует"), "{html}");
    assert!(html.contains("действовала по 31.12.2025"));
    assert!(html.contains(r#"<option value="vat22""#));
    let entities = app.get("/staff/admin/entities", Some(&cookie)).await.body;
    assert!(entities.contains("Ставки НДС") && entities.contains(r#"data-vat="vat20""#));
}
