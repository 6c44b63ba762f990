//! Administration: roles, staff, legal entities and price lists (with .xlsx import and
//! export), categories and services with their order forms, residents and premises
//! (with import), SLA marks, the audit — and that only administrators get in.

use crate::common;

use http::StatusCode;
use suz::admin::api::{RoleInput, StaffInput};
use suz::admin::rules::{self, ServiceForm};
use suz::admin::service as admin;
use suz::auth::permissions::OrdersScope;
use suz::catalog::form::{FieldKind, FormField};
use suz::error::AppError;

fn now() -> i64 {
    suz::time::now()
}

fn role(name: &str, orders: OrdersScope) -> RoleInput {
    RoleInput {
        name: name.into(),
        orders,
        orders_edit: true,
        clients_chat: false,
        finance: false,
        admin: false,
    }
}

fn field_keys(e: &AppError) -> Vec<String> {
    match e {
        AppError::Fields(f) => f.iter().map(|(k, _)| k.clone()).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

async fn audit_count(app: &common::TestApp, entity: &str) -> i64 {
    sqlx::query_scalar("select count(*) from admin_audit where entity = ?")
        .bind(entity)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn roles_are_created_renamed_and_deleted_only_when_unused() {
    let app = common::spawn().await;
    let me = app.staff_user("admin@demo.ru").await;
    let id = admin::save_role(
        app.pool(),
        &me,
        None,
        role("Мастер участка", OrdersScope::Assigned),
        now(),
    )
    .await
    .unwrap();
    // Names are unique, whatever the case.
    let dup = admin::save_role(
        app.pool(),
        &me,
        None,
        role("мастер УЧАСТКА", OrdersScope::All),
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(field_keys(&dup), ["name"]);
    let empty = admin::save_role(app.pool(), &me, None, role("  ", OrdersScope::All), now())
        .await
        .unwrap_err();
    assert_eq!(field_keys(&empty), ["name"]);
    // Editing without the orders section drops «редактирование» too.
    admin::save_role(
        app.pool(),
        &me,
        Some(id),
        role("Мастер", OrdersScope::None),
        now(),
    )
    .await
    .unwrap();
    let saved = admin::roles(app.pool())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.role_id == id)
        .unwrap();
    assert_eq!(saved.input.name, "Мастер");
    assert!(!saved.input.orders_edit);
    // A role in use cannot go.
    let dispatcher_role: i64 =
        sqlx::query_scalar("select role_id from roles where name = 'Диспетчер'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let refused = admin::delete_role(app.pool(), &me, dispatcher_role, now())
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::Rule(_)));
    admin::delete_role(app.pool(), &me, id, now())
        .await
        .unwrap();
    assert!(admin::roles(app.pool())
        .await
        .unwrap()
        .iter()
        .all(|r| r.role_id != id));
    // The administrators' role cannot lose its switch while it is the only one.
    let admin_role: i64 =
        sqlx::query_scalar("select role_id from roles where name = 'Администратор'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let mut off = role("Администратор", OrdersScope::All);
    off.admin = false;
    let last = admin::save_role(app.pool(), &me, Some(admin_role), off, now())
        .await
        .unwrap_err();
    assert_eq!(
        last.to_string(),
        "Должен остаться хотя бы один активный администратор"
    );
    // create, update, delete: three records, with before and after.
    assert_eq!(audit_count(&app, "role").await, 3);
    let log = admin::audit_log(app.pool(), Some("role"), None)
        .await
        .unwrap();
    let update = log.iter().find(|r| r.action == "update").unwrap();
    assert!(update
        .changes
        .iter()
        .any(|c| c.field == "Название" && c.before == "Мастер участка" && c.after == "Мастер"));
    assert!(update
        .changes
        .iter()
        .any(|c| c.field == "Заказы" && c.before == "Назначенные мне" && c.after == "нет"));
    assert_eq!(update.staff_name, me.full_name);
}

#[tokio::test]
async fn staff_are_invited_reset_and_deactivated_and_their_history_stays() {
    let app = common::spawn().await;
    let me = app.staff_user("admin@demo.ru").await;
    let role_id: i64 = sqlx::query_scalar("select role_id from roles where name = 'Исполнитель'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let input = |email: &str| StaffInput {
        email: email.into(),
        full_name: "Пётр Новиков".into(),
        role_id,
        legal_entity_id: 2,
    };
    let bad = admin::create_staff(
        app.pool(),
        &me,
        input("not-an-email"),
        "short".into(),
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(field_keys(&bad), ["email", "password"]);
    let taken = admin::create_staff(
        app.pool(),
        &me,
        input("Master@Demo.ru"),
        "long enough".into(),
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(field_keys(&taken), ["email"]);
    let id = admin::create_staff(
        app.pool(),
        &me,
        input("new@demo.ru"),
        "first-pass".into(),
        now(),
    )
    .await
    .unwrap();
    let signed = suz::auth::service::staff_sign_in(
        app.pool(),
        "new@demo.ru",
        "first-pass",
        "10.0.0.1",
        now(),
    )
    .await
    .unwrap();
    assert_eq!(signed.0.staff_id, id);
    // A new password ends the sessions and replaces the old one.
    admin::set_password(app.pool(), &me, id, "second-pass".into(), now())
        .await
        .unwrap();
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions where staff_id = ?")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    assert!(suz::auth::service::staff_sign_in(
        app.pool(),
        "new@demo.ru",
        "first-pass",
        "10.0.0.2",
        now()
    )
    .await
    .is_err());
    suz::auth::service::staff_sign_in(app.pool(), "new@demo.ru", "second-pass", "10.0.0.3", now())
        .await
        .unwrap();
    // Deactivated: no sign-in, no sessions; the row and its history stay.
    admin::set_active(app.pool(), &me, id, false, now())
        .await
        .unwrap();
    assert!(suz::auth::service::staff_sign_in(
        app.pool(),
        "new@demo.ru",
        "second-pass",
        "10.0.0.4",
        now()
    )
    .await
    .is_err());
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions where staff_id = ?")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    assert!(admin::staff_list(app.pool())
        .await
        .unwrap()
        .iter()
        .any(|s| s.staff_id == id && !s.active));
    // Nobody switches themselves off.
    let own = admin::set_active(app.pool(), &me, me.staff_id, false, now())
        .await
        .unwrap_err();
    assert!(matches!(own, AppError::Rule(_)));
    let log = admin::audit_log(app.pool(), Some("staff"), None)
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["deactivate", "password", "create"]);
    // The password itself is never written to the audit.
    let raw: Vec<Option<String>> =
        sqlx::query_scalar("select after_json from admin_audit where entity = 'staff'")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert!(raw.iter().flatten().all(|j| !j.contains("pass")));
}

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, cells) in rows.iter().enumerate() {
        for (c, v) in cells.iter().enumerate() {
            match v.parse::<f64>() {
                Ok(n) if r > 0 && c == 2 => ws.write_number(r as u32, c as u16, n).unwrap(),
                _ => ws.write_string(r as u32, c as u16, *v).unwrap(),
            };
        }
    }
    wb.save_to_buffer().unwrap()
}

#[tokio::test]
async fn price_lists_import_and_export_and_never_touch_issued_invoices() {
    let app = common::spawn().await;
    let me = app.staff_user("admin@demo.ru").await;
    let bad = admin::save_entity(app.pool(), &me, None, "", "other", "123", "", now())
        .await
        .unwrap_err();
    assert_eq!(field_keys(&bad), ["name", "kind", "inn"]);
    let entity = admin::save_entity(
        app.pool(),
        &me,
        None,
        "ООО «Лифтсервис»",
        "partner",
        "7711223344",
        "",
        now(),
    )
    .await
    .unwrap();
    admin::save_price_item(
        app.pool(),
        &me,
        entity,
        None,
        rules::price_item("Осмотр лифта", "выезд", "2 000", true).unwrap(),
        now(),
    )
    .await
    .unwrap();
    let rows: Vec<Vec<String>> = suz::admin::files::rows_of(
        "prices.xlsx",
        xlsx(&[
            &["Наименование", "Ед. изм.", "Цена", "Активна"],
            &["Осмотр лифта", "выезд", "2500", "да"],
            &["Замена троса", "м", "1200.5", ""],
            &["", "шт.", "100", "да"],
            &["Смазка", "шт.", "-3", "да"],
            &["Замена троса", "м", "1300", "да"],
            &["Кнопка", "шт.", "400", "может быть"],
        ]),
    )
    .unwrap();
    let id = admin::import_price_list(app.pool(), &me, entity, rows, now())
        .await
        .unwrap();
    let report = admin::import_report(app.pool(), &me, &id).await.unwrap();
    assert_eq!((report.created, report.updated), (1, 1));
    let rejected: Vec<usize> = report.rejected.iter().map(|r| r.0).collect();
    assert_eq!(rejected, [4, 5, 6, 7], "{:?}", report.rejected);
    let (_, items) = admin::price_list(app.pool(), entity).await.unwrap();
    let prices: Vec<(String, i64)> = items
        .iter()
        .map(|i| (i.name.clone(), i.price.kopecks()))
        .collect();
    assert_eq!(
        prices,
        [
            ("Замена троса".to_owned(), 120_050),
            ("Осмотр лифта".to_owned(), 250_000)
        ]
    );
    // Another administrator cannot read this report.
    let other = app.staff_user("dispatcher@demo.ru").await;
    assert!(admin::import_report(app.pool(), &other, &id).await.is_err());

    // A price change leaves an issued invoice as it was.
    let staff = app.staff_user("dispatcher@demo.ru").await;
    let order: i64 = sqlx::query_scalar(
        "select order_id from orders where legal_entity_id = 2 and status = 'in_progress' order by order_id limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let item = app.price_item("Прочистка засора").await;
    let invoice = app
        .issue_invoice(
            &staff,
            order,
            &[suz::invoices::rules::LineInput {
                price_item_id: item,
                quantity: "1".into(),
                discount_kind: suz::invoices::rules::DiscountKind::None,
                discount_value: String::new(),
            }],
        )
        .await;
    admin::save_price_item(
        app.pool(),
        &me,
        2,
        Some(item),
        rules::price_item("Прочистка засора", "шт.", "9 999", true).unwrap(),
        now(),
    )
    .await
    .unwrap();
    let (line_price, total): (i64, i64) = sqlx::query_as(
        "select l.unit_price_kopecks, i.total_kopecks from invoice_lines l join invoices i on i.invoice_id = l.invoice_id \
         where l.invoice_id = ?",
    )
    .bind(invoice)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((line_price, total), (120_000, 120_000));
    assert_eq!(audit_count(&app, "price_list").await, 1);
    assert_eq!(audit_count(&app, "price_item").await, 2);
}

fn form_field(
    key: &str,
    label: &str,
    kind: FieldKind,
    required: bool,
    choices: &[&str],
) -> FormField {
    FormField {
        key: key.into(),
        label: label.into(),
        kind,
        required,
        choices: choices.iter().map(|c| c.to_string()).collect(),
        min: None,
        max: None,
        max_length: None,
    }
}

#[tokio::test]
async fn a_new_category_and_service_with_a_form_reach_the_resident_and_forms_change_safely() {
    let app = common::spawn().await;
    let me = app.staff_user("admin@demo.ru").await;
    let bad = admin::save_category(
        app.pool(),
        &me,
        None,
        "Лифты",
        "red; position: fixed",
        "",
        5,
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(field_keys(&bad), ["background", "icon"]);
    let category = admin::save_category(app.pool(), &me, None, "Лифты", "#336699", "🛗", 5, now())
        .await
        .unwrap();
    let item = app.price_item("Замена смесителя").await;
    let mut form = ServiceForm {
        service_id: None,
        category_id: category,
        legal_entity_id: 2,
        name: "Ремонт кабины".into(),
        short_description: "Мастер приедет за день".into(),
        description: String::new(),
        cover: String::new(),
        default_assignee_id: None,
        sla_take_hours: "2".into(),
        sla_done_hours: "1".into(),
        prepaid: false,
        preorder_chat: false,
        refunds_allowed: true,
        require_attachment: false,
        published: true,
        fields: vec![
            form_field("f1", "Что сломано", FieldKind::Text, true, &[]),
            form_field("f2", "Этаж", FieldKind::Choice, true, &["1"]),
            form_field("f3", "Когда удобно", FieldKind::DateTime, false, &[]),
        ],
        price_item_ids: vec![item],
    };
    let refused = admin::save_service(app.pool(), &me, form.clone(), now())
        .await
        .unwrap_err();
    assert_eq!(field_keys(&refused), ["sla_done_hours", "field.1"]);
    form.sla_done_hours = "48".into();
    form.fields[1].choices = vec!["1".into(), "2".into(), "3".into()];
    let service = admin::save_service(app.pool(), &me, form.clone(), now())
        .await
        .unwrap();
    // The resident's catalog shows it with its price; the resident orders it.
    let view = suz::catalog::repo::category(app.pool(), category)
        .await
        .unwrap();
    assert_eq!(view.services.len(), 1);
    assert_eq!(view.services[0].name, "Ремонт кабины");
    assert_eq!(view.services[0].min_price.unwrap().kopecks(), 150_000);
    let resident = app.resident_id("+79000000002").await;
    let done = suz::requests::service::submit(
        app.pool(),
        resident,
        suz::requests::service::SubmitInput {
            service_id: service,
            values: vec![
                ("f1".into(), "Не закрываются двери".into()),
                ("f2".into(), "3".into()),
            ],
            submit_key: "admin-new-service-1".into(),
        },
        180,
        now(),
    )
    .await
    .unwrap();
    // The form changes: the order keeps its answers with the labels it was made with.
    form.service_id = Some(service);
    form.fields.remove(0);
    form.fields[0].label = "На каком этаже".into();
    admin::save_service(app.pool(), &me, form.clone(), now())
        .await
        .unwrap();
    let answers: String = sqlx::query_scalar("select answers from orders where order_id = ?")
        .bind(done.order_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(answers.contains("Что сломано") && answers.contains("Не закрываются двери"));
    assert!(answers.contains("\"Этаж\""));
    // Renamed, the order is found by the new name; hidden, it cannot be ordered.
    form.name = "Ремонт лифтовой кабины".into();
    form.published = false;
    admin::save_service(app.pool(), &me, form.clone(), now())
        .await
        .unwrap();
    let app = &app;
    let search = |words: &'static str| async move {
        staff_list(app, words)
            .await
            .iter()
            .map(|r| r.order_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(search("лифтовой").await, [done.order_id]);
    assert_eq!(search("ремонт лифтовой кабины").await, [done.order_id]);
    let mut conn = app.pool().acquire().await.unwrap();
    assert!(suz::catalog::repo::orderable(&mut conn, service)
        .await
        .is_err());
    drop(conn);
    assert_eq!(audit_count(app, "service").await, 3);
    assert_eq!(audit_count(app, "category").await, 1);
}

/// The first 500 rows of the staff orders list searched for `words` (none: every order).
async fn staff_list(app: &common::TestApp, words: &str) -> Vec<suz::orders::model::OrderRow> {
    suz::orders::repo::list_orders(
        app.pool(),
        &suz::orders::repo::ListQuery {
            filter: suz::orders::filter::OrderFilter {
                q: words.into(),
                ..Default::default()
            },
            after: None,
            only_assignee: None,
            limit: 500,
            utc_offset_minutes: 180,
        },
    )
    .await
    .unwrap()
    .0
}

#[tokio::test]
async fn orders_past_their_sla_are_marked_in_the_staff_list() {
    let app = common::spawn().await;
    let (waiting, service): (i64, i64) = sqlx::query_as(
        "select order_id, service_id from orders where status = 'waiting' order by order_id limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    sqlx::query("update orders set created_at = ? where order_id = ?")
        .bind(now() - 3 * 3600)
        .bind(waiting)
        .execute(app.pool())
        .await
        .unwrap();
    let marked = |rows: &[suz::orders::model::OrderRow]| {
        rows.iter()
            .find(|r| r.order_id == waiting)
            .map(|r| r.overdue)
    };
    let list = || staff_list(&app, "");
    assert_eq!(marked(&list().await), Some(false));
    sqlx::query("update services set sla_take_hours = 2 where service_id = ?")
        .bind(service)
        .execute(app.pool())
        .await
        .unwrap();
    assert_eq!(marked(&list().await), Some(true));
}

#[tokio::test]
async fn residents_import_with_a_report_and_blocking_ends_sign_in() {
    let app = common::spawn().await;
    let me = app.staff_user("admin@demo.ru").await;
    let csv = "Телефон;ФИО;E-mail;Адрес\n\
               +7 901 111-22-33;Смирнова Анна;anna@mail.ru;ул. Садовая, 1, кв. 5\n\
               89011112233;Смирнова Анна Петровна;;ул. Садовая, 1, кв. 6\n\
               123;Кто-то;;ул. Садовая, 1\n\
               +79000000001;Иванов Иван Петрович;;ул. Садовая, 1, кв. 5\n\
               +79012223344;;;ул. Садовая, 2\n";
    let rows = suz::admin::files::rows_of("people.csv", csv.as_bytes().to_vec()).unwrap();
    let id = admin::import_residents(app.pool(), &me, rows, now())
        .await
        .unwrap();
    let r = admin::import_report(app.pool(), &me, &id).await.unwrap();
    assert_eq!(r.created, 1);
    assert_eq!(r.updated, 1, "the second row renames the same phone");
    assert_eq!(r.unchanged, 1);
    assert_eq!(r.premises_created, 2);
    assert_eq!(r.links_added, 3);
    let rejected: Vec<usize> = r.rejected.iter().map(|x| x.0).collect();
    assert_eq!(rejected, [4, 6]);
    let page = admin::residents(app.pool(), "садовая", None).await.unwrap();
    let anna = page
        .residents
        .iter()
        .find(|x| x.phone == "+79011112233")
        .unwrap();
    assert_eq!(anna.full_name, "Смирнова Анна Петровна");
    assert_eq!(anna.email, "anna@mail.ru");
    assert_eq!(anna.premises.len(), 2);
    // Shared flat: the demo resident is linked to the same premises.
    assert!(page.residents.iter().any(|x| x.phone == "+79000000001"));
    // Blocked: no code signs her in. The request is answered like any phone's (nobody
    // learns which phones are residents); she is told by text that access is blocked.
    admin::set_blocked(app.pool(), &me, anna.resident_id, true, now())
        .await
        .unwrap();
    suz::auth::service::request_code(
        app.pool(),
        &*app.state.sms,
        "+79011112233",
        "10.1.1.1",
        now(),
    )
    .await
    .unwrap();
    let text: String = sqlx::query_scalar(
        "select body from dev_sms where phone = '+79011112233' order by dev_sms_id desc limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(text.contains("заблокирован"), "{text}");
    let code: String = text
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(6)
        .collect();
    for code in [code.as_str(), "000000", "123456"] {
        let refused =
            suz::auth::service::verify_code(app.pool(), "+79011112233", code, "10.1.1.1", now())
                .await;
        assert!(refused.is_err(), "{code}");
    }
    let dup = admin::save_resident(
        app.pool(),
        &me,
        None,
        "+7 901 111 22 33",
        "Другая",
        "",
        now(),
    )
    .await
    .unwrap_err();
    assert_eq!(field_keys(&dup), ["phone"]);
}

#[tokio::test]
async fn only_administrators_get_in_anywhere() {
    let app = common::spawn().await;
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;
    let accountant = app.staff_cookie("accountant@demo.ru").await;
    let resident = app.resident_cookie("+79000000002").await;
    let calls: [(&str, &[(&str, &str)]); 19] = [
        ("fetch_admin_roles", &[]),
        ("admin_delete_role", &[("role_id", "4")]),
        ("fetch_admin_staff", &[]),
        (
            "admin_save_staff",
            &[
                ("email", "x@y.ru"),
                ("full_name", "X"),
                ("role_id", "1"),
                ("legal_entity_id", "1"),
                ("password", "12345678"),
            ],
        ),
        (
            "admin_staff_password",
            &[("staff_id", "1"), ("password", "12345678")],
        ),
        (
            "admin_staff_active",
            &[("staff_id", "1"), ("active", "false")],
        ),
        ("fetch_admin_entities", &[]),
        (
            "admin_save_entity",
            &[
                ("name", "X"),
                ("kind", "partner"),
                ("inn", ""),
                ("details", ""),
            ],
        ),
        ("fetch_admin_price_list", &[("legal_entity_id", "1")]),
        (
            "admin_save_price_item",
            &[
                ("legal_entity_id", "1"),
                ("name", "X"),
                ("unit", "шт."),
                ("price", "1"),
            ],
        ),
        ("fetch_admin_import_report", &[("import_id", "x")]),
        ("fetch_admin_catalog", &[]),
        (
            "admin_save_category",
            &[
                ("name", "X"),
                ("background", "#fff"),
                ("icon", "X"),
                ("position", "1"),
            ],
        ),
        ("fetch_admin_residents", &[("q", "")]),
        (
            "admin_save_resident",
            &[("phone", "+79005550000"), ("full_name", "X"), ("email", "")],
        ),
        (
            "admin_resident_blocked",
            &[("resident_id", "1"), ("blocked", "true")],
        ),
        (
            "admin_add_premises",
            &[("resident_id", "1"), ("address", "X")],
        ),
        (
            "admin_remove_premises",
            &[("resident_id", "1"), ("premises_id", "1")],
        ),
        ("fetch_admin_audit", &[]),
    ];
    for cookie in [&dispatcher, &accountant, &resident] {
        for (endpoint, form) in calls {
            let reply = app.call(endpoint, form, Some(cookie)).await;
            assert!(
                !reply.status.is_success() && reply.body.contains("Forbidden"),
                "{endpoint}: {} {}",
                reply.status,
                reply.body
            );
        }
        for json_call in [
            "admin_save_role",
            "admin_save_service",
            "fetch_admin_service",
        ] {
            let body = match json_call {
                "admin_save_role" => {
                    r#"{"role_id":null,"role":{"name":"X","orders":"All","orders_edit":true,"clients_chat":true,"finance":true,"admin":true}}"#
                }
                "fetch_admin_service" => r#"{"service_id":1}"#,
                _ => r#"{"form":{}}"#,
            };
            let reply = app.call_json(json_call, body, cookie).await;
            assert!(!reply.status.is_success(), "{json_call}: {}", reply.status);
        }
        for path in ["/staff/admin/entities/1/prices/export"] {
            let reply = app.get(path, Some(cookie)).await;
            assert!(
                matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::SEE_OTHER),
                "{path}: {} {}",
                reply.status,
                reply.body
            );
        }
    }
    // Nothing changed: no role, staff, resident or audit record appeared.
    let audit: i64 = sqlx::query_scalar("select count(*) from admin_audit")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(audit, 0);
    let blocked: i64 = sqlx::query_scalar("select count(*) from residents where blocked = 1")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(blocked, 0);
    // An upload by a non-administrator is refused too.
    let req = http::Request::post("/staff/admin/residents/import")
        .header(http::header::COOKIE, &dispatcher)
        .header(
            http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=b",
        )
        .body(axum::body::Body::from(
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nТелефон\n+79005551111;X;;Y\r\n--b--\r\n",
        ))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    // The administrator gets the export.
    let admin_cookie = app.staff_cookie("admin@demo.ru").await;
    let file = app
        .get_bytes("/staff/admin/entities/2/prices/export", &admin_cookie)
        .await;
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(file)).unwrap();
    let sheet = book.worksheet_range("Прайс-лист").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows[0][0].to_string(), "Наименование");
    assert!(rows
        .iter()
        .any(|r| r[0] == "Прочистка засора" && r[2] == 1200.0));
}

#[tokio::test]
async fn a_cover_image_is_uploaded_for_a_service_and_shown_to_everyone() {
    let app = common::spawn().await;
    let admin_cookie = app.staff_cookie("admin@demo.ru").await;
    let service: i64 =
        sqlx::query_scalar("select service_id from services order by service_id limit 1")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let png: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let upload = |cookie: String, name: &'static str| {
        let mut body = format!(
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(png);
        body.extend_from_slice(b"\r\n--b--\r\n");
        http::Request::post(format!("/staff/admin/services/{service}/cover"))
            .header(http::header::COOKIE, cookie)
            .header(
                http::header::CONTENT_TYPE,
                "multipart/form-data; boundary=b",
            )
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    // Not an image: refused, and the service keeps no cover.
    let refused = app.send(upload(admin_cookie.clone(), "notes.txt")).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(refused.location().unwrap().contains("cover_error="));
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;
    assert_eq!(
        app.send(upload(dispatcher, "a.png")).await.status,
        StatusCode::FORBIDDEN
    );
    let ok = app.send(upload(admin_cookie, "lift.png")).await;
    assert_eq!(
        ok.location(),
        Some(format!("/staff/admin/services/{service}").as_str())
    );
    let cover: String = sqlx::query_scalar("select cover from services where service_id = ?")
        .bind(service)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(cover.starts_with("/covers/"), "{cover}");
    // Residents see it in the catalog (no session needed for the picture itself).
    let image = app.get(&cover, None).await;
    assert_eq!(image.status, StatusCode::OK);
    let audit: i64 = sqlx::query_scalar(
        "select count(*) from admin_audit where entity = 'service' and action = 'update'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(audit, 1);
}
