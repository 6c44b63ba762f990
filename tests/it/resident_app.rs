//! The resident app: catalog search and prices, submitting requests (with photos, once),
//! «Заявки» per premises with search, sorts and unread marks, and ratings.

use crate::common;

use axum::body::Body;
use http::{Request, StatusCode};
use suz::catalog::repo as catalog;
use suz::error::AppError;
use suz::orders::service::{self as orders, StateChange};
use suz::orders::status::OrderStatus;
use suz::requests::rules::RequestsSort;
use suz::requests::service::{self as requests, SubmitInput};

const NOW: i64 = 1_900_000_000;

fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn mixer_form() -> Vec<(String, String)> {
    values(&[("room", "Кухня"), ("visit", "2030-03-20T10:30")])
}

async fn submit(
    app: &common::TestApp,
    resident_id: i64,
    service: &str,
    vals: Vec<(String, String)>,
    key: &str,
) -> Result<i64, AppError> {
    let input = SubmitInput {
        service_id: app.service_id(service).await,
        values: vals,
        submit_key: key.to_owned(),
    };
    requests::submit(app.pool(), resident_id, input, 180, NOW)
        .await
        .map(|s| s.order_id)
}

async fn orders_count(app: &common::TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from orders")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn set_status(
    app: &common::TestApp,
    order_id: i64,
    status: OrderStatus,
    comment: &str,
    now: i64,
) {
    let dispatcher = app.staff_user("dispatcher@demo.ru").await;
    let assignee: Option<i64> =
        sqlx::query_scalar("select assignee_id from orders where order_id = ?")
            .bind(order_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    orders::change_state(
        app.pool(),
        &dispatcher,
        StateChange {
            order_id,
            version: app.order_version(order_id).await,
            status,
            assignee_id: assignee,
            comment: comment.to_owned(),
        },
        now,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn catalog_search_covers_form_fields_case_yo_typos_and_shows_min_price() {
    let app = common::spawn().await;
    let names = |found: Vec<suz::catalog::api::ServiceTile>| {
        found.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    // «Модель замка» and «Модель смесителя» are form fields, not in the services' names.
    assert_eq!(
        names(catalog::search(app.pool(), "модель").await.unwrap()),
        vec!["Замена замка", "Замена смесителя"]
    );
    let found = catalog::search(app.pool(), "СМЕСИТЕЛЬ").await.unwrap();
    assert_eq!(found[0].name, "Замена смесителя");
    // The cheapest active item linked from the provider's list: «Гибкая подводка».
    assert_eq!(found[0].min_price.map(|m| m.kopecks()), Some(45_000));
    assert_eq!(found[0].min_price.unwrap().to_string(), "450,00\u{a0}₽");
    assert_eq!(
        names(catalog::search(app.pool(), "счетчик").await.unwrap()),
        vec!["Установка счётчиков воды"]
    );
    assert_eq!(
        names(catalog::search(app.pool(), "смеситль").await.unwrap()),
        vec!["Замена смесителя"]
    );
    assert!(catalog::search(app.pool(), "вертолёт")
        .await
        .unwrap()
        .is_empty());

    // A deactivated price item no longer counts; a hidden service is not found.
    sqlx::query("update price_items set active = 0 where name = 'Гибкая подводка'")
        .execute(app.pool())
        .await
        .unwrap();
    let found = catalog::search(app.pool(), "смеситель").await.unwrap();
    assert_eq!(found[0].min_price.map(|m| m.kopecks()), Some(50_000));
    sqlx::query("update services set published = 0 where name = 'Замена замка'")
        .execute(app.pool())
        .await
        .unwrap();
    assert_eq!(
        names(catalog::search(app.pool(), "модель").await.unwrap()),
        vec!["Замена смесителя"]
    );

    let card = catalog::service_card(app.pool(), app.service_id("Замена смесителя").await)
        .await
        .unwrap();
    assert_eq!(card.tile.provider, "ООО «СантехСервис»");
    assert!(card.provider_is_partner);
    assert_eq!(card.prices.len(), 2);
    assert!(card.fields.iter().any(|f| f.label == "Модель смесителя"));
}

#[tokio::test]
async fn a_submission_creates_one_waiting_order_with_the_default_assignee() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000002").await;
    let before = orders_count(&app).await;

    let missing = submit(
        &app,
        resident,
        "Замена смесителя",
        values(&[("visit", "2030-03-20T10:30")]),
        "key-000001",
    )
    .await;
    match missing {
        Err(AppError::Fields(errs)) => {
            assert_eq!(
                errs,
                vec![("room".to_owned(), "Заполните это поле".to_owned())]
            );
        }
        other => panic!("expected field errors, got {other:?}"),
    }
    assert_eq!(
        orders_count(&app).await,
        before,
        "a refused form creates nothing"
    );

    let id = submit(
        &app,
        resident,
        "Замена смесителя",
        mixer_form(),
        "key-000001",
    )
    .await
    .unwrap();
    // The same key (a double tap, a retried request) returns the same order.
    let again = submit(
        &app,
        resident,
        "Замена смесителя",
        mixer_form(),
        "key-000001",
    )
    .await
    .unwrap();
    assert_eq!(again, id);
    assert_eq!(orders_count(&app).await, before + 1);

    let (status, assignee, premises, visit_at): (String, Option<i64>, i64, Option<i64>) =
        sqlx::query_as(
            "select status, assignee_id, premises_id, visit_at from orders where order_id = ?",
        )
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(status, "waiting");
    assert_eq!(assignee, Some(app.staff_id("master@demo.ru").await));
    let own_premises: i64 =
        sqlx::query_scalar("select premises_id from resident_premises where resident_id = ?")
            .bind(resident)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(premises, own_premises);
    assert!(visit_at.is_some());
    let events: i64 = sqlx::query_scalar(
        "select count(*) from outbox where event = 'new_order' and order_id = ?",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(events, 1);

    // Staff find it in the full-text search by the resident's name.
    let found: i64 = sqlx::query_scalar(
        "select count(*) from orders_fts where orders_fts match '\"семенова\"*' and rowid = ?",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(found, 1);

    // A hidden service cannot be ordered.
    sqlx::query("update services set published = 0 where name = 'Мойка окон'")
        .execute(app.pool())
        .await
        .unwrap();
    assert!(matches!(
        submit(
            &app,
            resident,
            "Мойка окон",
            values(&[("windows", "2")]),
            "key-000002"
        )
        .await,
        Err(AppError::Validation(_))
    ));
}

#[tokio::test]
async fn requests_follow_the_premises_search_and_the_remembered_sort() {
    let app = common::spawn().await;
    let phone = "+79000000001";
    let resident = app.resident_id(phone).await;
    let premises: Vec<i64> = sqlx::query_scalar(
        "select premises_id from resident_premises where resident_id = ? order by premises_id",
    )
    .bind(resident)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(premises.len(), 2);
    // Start from a clean slate for this resident.
    sqlx::query("update orders set resident_id = (select resident_id from residents where phone = '+79000000010'), premises_id = (select premises_id from resident_premises rp join residents r using (resident_id) where r.phone = '+79000000010' limit 1) where resident_id = ?")
        .bind(resident)
        .execute(app.pool())
        .await
        .unwrap();

    suz::residents::repo::select_premises(app.pool(), resident, premises[0])
        .await
        .unwrap();
    let a = submit(
        &app,
        resident,
        "Замена смесителя",
        mixer_form(),
        "key-a-0001",
    )
    .await
    .unwrap();
    let b = submit(
        &app,
        resident,
        "Мойка окон",
        values(&[("windows", "3"), ("visit", "2030-03-21T09:00")]),
        "key-b-0001",
    )
    .await
    .unwrap();
    suz::residents::repo::select_premises(app.pool(), resident, premises[1])
        .await
        .unwrap();
    let c = submit(
        &app,
        resident,
        "Замена смесителя",
        mixer_form(),
        "key-c-0001",
    )
    .await
    .unwrap();

    let ids = |l: &suz::requests::api::RequestsList| {
        l.rows.iter().map(|r| r.order_id).collect::<Vec<_>>()
    };
    let second = requests::list(app.pool(), resident, "", None)
        .await
        .unwrap();
    assert_eq!(ids(&second), vec![c]);
    suz::residents::repo::select_premises(app.pool(), resident, premises[0])
        .await
        .unwrap();

    let newest = requests::list(app.pool(), resident, "", Some(RequestsSort::Newest))
        .await
        .unwrap();
    assert_eq!(ids(&newest), vec![b, a]);
    let oldest = requests::list(app.pool(), resident, "", Some(RequestsSort::Oldest))
        .await
        .unwrap();
    assert_eq!(ids(&oldest), vec![a, b]);
    // The choice is remembered.
    let remembered = requests::list(app.pool(), resident, "", None)
        .await
        .unwrap();
    assert_eq!(remembered.sort, RequestsSort::Oldest);
    assert_eq!(ids(&remembered), vec![a, b]);

    // Staff take the older one: it becomes unread and comes first.
    set_status(&app, a, OrderStatus::InProgress, "", NOW + 60).await;
    let unread = requests::list(app.pool(), resident, "", Some(RequestsSort::Unread))
        .await
        .unwrap();
    assert_eq!(ids(&unread), vec![a, b]);
    assert!(unread.rows[0].unread && !unread.rows[1].unread);
    assert_eq!(unread.unread, 1);

    // Search by number or by service name.
    let by_number = requests::list(app.pool(), resident, &b.to_string(), None)
        .await
        .unwrap();
    assert_eq!(ids(&by_number), vec![b]);
    let by_name = requests::list(app.pool(), resident, "мойка", None)
        .await
        .unwrap();
    assert_eq!(ids(&by_name), vec![b]);
    let yo = requests::list(app.pool(), resident, "СМЕСИТЕЛЯ", None)
        .await
        .unwrap();
    assert_eq!(ids(&yo), vec![a]);
}

#[tokio::test]
async fn opening_marks_read_and_every_staff_change_marks_unread_again() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000002").await;
    let id = submit(
        &app,
        resident,
        "Замена смесителя",
        mixer_form(),
        "key-read-01",
    )
    .await
    .unwrap();
    let unread_of = |l: suz::requests::api::RequestsList| {
        l.rows.iter().find(|r| r.order_id == id).unwrap().unread
    };
    assert!(
        !unread_of(
            requests::list(app.pool(), resident, "", None)
                .await
                .unwrap()
        ),
        "own new request is read"
    );

    set_status(&app, id, OrderStatus::InProgress, "", NOW + 10).await;
    assert!(unread_of(
        requests::list(app.pool(), resident, "", None)
            .await
            .unwrap()
    ));
    let view = requests::open(app.pool(), resident, id, NOW + 20)
        .await
        .unwrap();
    assert_eq!(view.status, OrderStatus::InProgress);
    assert!(view.history.iter().any(|e| e.text == "Статус: В работе"));
    assert!(!unread_of(
        requests::list(app.pool(), resident, "", None)
            .await
            .unwrap()
    ));

    // A change within the same second as the opening still counts as news.
    set_status(&app, id, OrderStatus::Cancelled, "Мастер заболел", NOW + 20).await;
    assert!(unread_of(
        requests::list(app.pool(), resident, "", None)
            .await
            .unwrap()
    ));
    let view = requests::open(app.pool(), resident, id, NOW + 20)
        .await
        .unwrap();
    assert_eq!(view.history.last().unwrap().comment, "Мастер заболел");
    assert!(!unread_of(
        requests::list(app.pool(), resident, "", None)
            .await
            .unwrap()
    ));
}

#[tokio::test]
async fn a_resident_rates_only_own_done_orders_and_may_change_the_rating() {
    let app = common::spawn().await;
    let resident = app.resident_id("+79000000002").await;
    let stranger = app.resident_id("+79000000003").await;
    let clog = values(&[("where", "Ванна"), ("visit", "2030-03-20T10:30")]);
    let id = submit(&app, resident, "Устранение засора", clog, "key-rate-01")
        .await
        .unwrap();

    let refused = requests::rate(app.pool(), resident, id, 5, "", NOW).await;
    assert!(
        matches!(refused, Err(AppError::Rule(ref m)) if m.contains("выполненную")),
        "{refused:?}"
    );

    set_status(&app, id, OrderStatus::InProgress, "", NOW + 1).await;
    sqlx::query("insert into invoices (order_id, status, total_kopecks, created_at) values (?, 'paid', 150000, ?)")
        .bind(id)
        .bind(NOW)
        .execute(app.pool())
        .await
        .unwrap();
    set_status(&app, id, OrderStatus::Done, "", NOW + 2).await;
    let asked: i64 = sqlx::query_scalar("select count(*) from outbox where event = 'rating_requested' and order_id = ? and resident_id = ?")
        .bind(id)
        .bind(resident)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(asked, 1, "the resident is asked to rate");

    // Another resident can neither open nor rate it.
    assert!(matches!(
        requests::open(app.pool(), stranger, id, NOW).await,
        Err(AppError::NotFound)
    ));
    assert!(matches!(
        requests::rate(app.pool(), stranger, id, 1, "", NOW).await,
        Err(AppError::NotFound)
    ));
    assert!(matches!(
        requests::rate(app.pool(), resident, id, 6, "", NOW).await,
        Err(AppError::Rule(_))
    ));

    requests::rate(app.pool(), resident, id, 5, "Отлично", NOW + 3)
        .await
        .unwrap();
    requests::rate(app.pool(), resident, id, 3, "  Опоздали на час ", NOW + 4)
        .await
        .unwrap();
    let (rating, text): (i64, String) =
        sqlx::query_as("select rating, rating_comment from orders where order_id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!((rating, text.as_str()), (3, "Опоздали на час"));

    // Staff see it in the card and in the list.
    let admin = app.staff_user("admin@demo.ru").await;
    let card = orders::card(app.pool(), &admin, id).await.unwrap();
    assert_eq!(card.rating, Some(3));
    assert_eq!(card.rating_text.as_deref(), Some("Опоздали на час"));
    let view = requests::open(app.pool(), resident, id, NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        (view.rating, view.rating_comment.as_str()),
        (Some(3), "Опоздали на час")
    );
}

fn photo_body(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----suz-photo-boundary".to_owned();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

async fn upload_photo(
    app: &common::TestApp,
    cookie: &str,
    name: &str,
    bytes: &[u8],
) -> common::Reply {
    let (boundary, body) = photo_body(name, bytes);
    let req = Request::post("/uploads")
        .header(http::header::COOKIE, cookie)
        .header(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    app.send(req).await
}

#[tokio::test]
async fn photos_are_uploaded_bound_once_and_shown_only_to_who_may_see_them() {
    let app = common::spawn().await;
    let owner = app.resident_cookie("+79000000002").await;
    let other = app.resident_cookie("+79000000003").await;

    let refused = upload_photo(&app, &owner, "virus.exe", b"MZ").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Приложите фото"), "{}", refused.body);
    let staff_cookie = app.staff_cookie("master@demo.ru").await;
    assert_eq!(
        upload_photo(&app, &staff_cookie, "a.jpg", b"x")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let reply = upload_photo(&app, &owner, "засор.jpg", b"\xff\xd8\xff fake jpeg").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let upload_id = json["upload_id"].as_i64().unwrap();
    assert_eq!(json["file_name"], "засор.jpg");

    // Someone else's photo cannot be put into a form.
    let service = app.service_id("Устранение засора").await;
    // Over HTTP the server's clock decides: the visit is a week from now.
    let visit = suz::catalog::form::datetime_local(suz::time::now() + 7 * 86_400, 180);
    let form = |key: &str| {
        format!(
            r#"{{"service_id":{service},"values":[["where","Ванна"],["photo","{upload_id}"],["visit","{visit}"]],"submit_key":"{key}"}}"#
        )
    };
    let stolen = app
        .call_json("submit_request", &form("key-photo-9"), &other)
        .await;
    assert!(
        stolen.body.contains(r#"["photo","Фото не загрузилось"#),
        "{}",
        stolen.body
    );

    let created = app
        .call_json("submit_request", &form("key-photo-1"), &owner)
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let order_id = serde_json::from_str::<serde_json::Value>(&created.body).unwrap()["order_id"]
        .as_i64()
        .unwrap();
    let repeated = app
        .call_json("submit_request", &form("key-photo-1"), &owner)
        .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&repeated.body).unwrap()["order_id"].as_i64(),
        Some(order_id)
    );
    let bound: Option<i64> = sqlx::query_scalar("select order_id from uploads where upload_id = ?")
        .bind(upload_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(bound, Some(order_id));
    // Bound once: it cannot be reused for another order.
    let reused = app
        .call_json("submit_request", &form("key-photo-2"), &owner)
        .await;
    assert!(
        reused.body.contains(r#"["photo","Фото не загрузилось"#),
        "{}",
        reused.body
    );

    let path = format!("/uploads/{upload_id}");
    assert_eq!(app.get(&path, Some(&owner)).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&path, Some(&other)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    // The assignee (master) sees it; an assigned-only colleague of another order does not.
    assert_eq!(
        app.get(&path, Some(&staff_cookie)).await.status,
        StatusCode::OK
    );
    let cleaner = app.staff_cookie("cleaner@demo.ru").await;
    assert_ne!(app.get(&path, Some(&cleaner)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn resident_functions_refuse_staff_and_visitors() {
    let app = common::spawn().await;
    let staff_cookie = app.staff_cookie("admin@demo.ru").await;
    let done: i64 = sqlx::query_scalar("select order_id from orders where status = 'done' limit 1")
        .fetch_one(app.pool())
        .await
        .unwrap();
    for cookie in [None, Some(staff_cookie.as_str())] {
        let list = app.call("my_requests", &[("query", "")], cookie).await;
        let expected = if cookie.is_some() {
            "\"Forbidden\""
        } else {
            "\"Unauthorized\""
        };
        assert_eq!(list.body, expected);
        let rate = app
            .call(
                "rate_request",
                &[
                    ("order_id", &done.to_string()),
                    ("stars", "1"),
                    ("comment", ""),
                ],
                cookie,
            )
            .await;
        assert_eq!(rate.body, expected);
    }
    let rating: Option<i64> = sqlx::query_scalar("select rating from orders where order_id = ?")
        .bind(done)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(rating, None, "staff can never set a rating");

    // A resident sees the catalog over HTTP, with minimum prices in search results.
    let resident = app.resident_cookie("+79000000004").await;
    let found = app
        .call("search_services", &[("query", "замок")], Some(&resident))
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert!(found.body.contains("Замена замка"), "{}", found.body);
    let listed = app
        .call("my_requests", &[("query", "")], Some(&resident))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
}
