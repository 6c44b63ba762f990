//! HTTP tests of the staff orders: visibility, read-only roles, attachments and export.

use crate::common;

use axum::body::Body;
use http::{Request, StatusCode};

fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----suz-test-boundary".to_owned();
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

async fn upload(
    app: &common::TestApp,
    order_id: i64,
    cookie: &str,
    files: &[(&str, &[u8])],
) -> common::Reply {
    let (boundary, body) = multipart(files);
    let req = Request::post(format!("/staff/orders/{order_id}/files"))
        .header(http::header::COOKIE, cookie)
        .header(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    app.send(req).await
}

async fn order_of(app: &common::TestApp, email: &str, status: &str) -> i64 {
    sqlx::query_scalar("select order_id from orders where assignee_id = ? and status = ? order by order_id limit 1")
        .bind(app.staff_id(email).await)
        .bind(status)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_assigned_only_role_cannot_read_others_orders() {
    let app = common::spawn().await;
    let master = app.staff_cookie("master@demo.ru").await;
    let other = order_of(&app, "cleaner@demo.ru", "waiting").await;
    let mine = order_of(&app, "master@demo.ru", "waiting").await;

    let all = app
        .call_json(
            "list_orders",
            r#"{"scope":"All","filter":{"q":""},"after":null}"#,
            &master,
        )
        .await;
    assert!(all.body.contains("Forbidden"), "{}", all.body);
    let page = app
        .call_json(
            "list_orders",
            r#"{"scope":"Mine","filter":{"q":"ул"},"after":null}"#,
            &master,
        )
        .await;
    let page: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let rows = page["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["assignee_name"] == "Сергей Мастеров"));

    let card = app
        .call(
            "order_card",
            &[("order_id", &other.to_string())],
            Some(&master),
        )
        .await;
    assert!(card.body.contains("NotFound"), "{}", card.body);
    let card = app
        .call(
            "order_card",
            &[("order_id", &mine.to_string())],
            Some(&master),
        )
        .await;
    assert_eq!(card.status, StatusCode::OK, "{}", card.body);
    let history = app
        .call(
            "order_history",
            &[("order_id", &other.to_string())],
            Some(&master),
        )
        .await;
    assert!(history.body.contains("NotFound"));
    let export = app
        .call_json(
            "start_export",
            r#"{"scope":"All","filter":{"q":""}}"#,
            &master,
        )
        .await;
    assert!(export.body.contains("Forbidden"), "{}", export.body);

    // A file of someone else's order is not served to the contractor.
    let admin = app.staff_cookie("admin@demo.ru").await;
    let reply = upload(&app, other, &admin, &[("фото.png", b"\x89PNG fake")]).await;
    assert_eq!(
        reply.location(),
        Some(format!("/staff/orders/{other}").as_str())
    );
    let file_id: i64 =
        sqlx::query_scalar("select attachment_id from attachments where order_id = ?")
            .bind(other)
            .fetch_one(app.pool())
            .await
            .unwrap();
    let denied = app
        .get(&format!("/staff/files/{file_id}"), Some(&master))
        .await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    let served = app
        .get(&format!("/staff/files/{file_id}"), Some(&admin))
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers.get("content-type").unwrap(), "image/png");
    assert_eq!(
        app.get_bytes(&format!("/staff/files/{file_id}"), &admin)
            .await,
        b"\x89PNG fake"
    );
}

#[tokio::test]
async fn a_read_only_role_cannot_change_anything() {
    let app = common::spawn().await;
    let viewer = app.staff_cookie("viewer@demo.ru").await;
    let id = order_of(&app, "cleaner@demo.ru", "waiting").await;
    let before: (String, i64) =
        sqlx::query_as("select status, version from orders where order_id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    let r = app
        .call(
            "change_order_state",
            &[
                ("order_id", &id.to_string()),
                ("version", &before.1.to_string()),
                ("status", "in_progress"),
                ("assignee_id", ""),
                ("comment", ""),
            ],
            Some(&viewer),
        )
        .await;
    assert!(r.body.contains("Forbidden"), "{}", r.body);
    let r = app
        .call(
            "add_order_comment",
            &[("order_id", &id.to_string()), ("body", "привет")],
            Some(&viewer),
        )
        .await;
    assert!(r.body.contains("Forbidden"), "{}", r.body);
    let r = upload(&app, id, &viewer, &[("акт.pdf", b"%PDF-1.4")]).await;
    assert!(
        r.location().unwrap().contains("files_error"),
        "{:?}",
        r.location()
    );
    let after: (String, i64) =
        sqlx::query_as("select status, version from orders where order_id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(before, after);
    let counts: (i64, i64) = sqlx::query_as(
        "select (select count(*) from order_comments), (select count(*) from attachments)",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(counts, (0, 0));
    // Reading is allowed.
    let card = app
        .call(
            "order_card",
            &[("order_id", &id.to_string())],
            Some(&viewer),
        )
        .await;
    assert_eq!(card.status, StatusCode::OK);
}

#[tokio::test]
async fn uploads_refuse_unknown_types_and_keep_nothing_of_a_refused_batch() {
    let app = common::spawn().await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let id = order_of(&app, "master@demo.ru", "waiting").await;
    let r = upload(
        &app,
        id,
        &admin,
        &[("акт.pdf", b"%PDF"), ("evil.html", b"<script>")],
    )
    .await;
    let location = r.location().unwrap().to_owned();
    assert!(location.contains("files_error"), "{location}");
    let count: i64 = sqlx::query_scalar("select count(*) from attachments")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
    let r = upload(
        &app,
        id,
        &admin,
        &[("акт.pdf", b"%PDF"), ("фото.jpg", b"jpeg")],
    )
    .await;
    assert_eq!(r.location(), Some(format!("/staff/orders/{id}").as_str()));
    let names: Vec<String> = sqlx::query_scalar(
        "select file_name from attachments where order_id = ? order by attachment_id",
    )
    .bind(id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(names, vec!["акт.pdf", "фото.jpg"]);
    let stored: Vec<String> = sqlx::query_scalar("select stored_name from attachments")
        .fetch_all(app.pool())
        .await
        .unwrap();
    for s in stored {
        assert!(app.data_dir().join("files").join(s).exists());
    }
    // Deleting: by the uploader (the admin here) — the row is hidden, history records it.
    let file_id: i64 = sqlx::query_scalar("select min(attachment_id) from attachments")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let master = app.staff_cookie("master@demo.ru").await;
    let r = app
        .call(
            "delete_attachment",
            &[("attachment_id", &file_id.to_string())],
            Some(&master),
        )
        .await;
    assert!(r.body.contains("Удалить файл может только"), "{}", r.body);
    let r = app
        .call(
            "delete_attachment",
            &[("attachment_id", &file_id.to_string())],
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.get(&format!("/staff/files/{file_id}"), Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn export_writes_the_filtered_rows_to_a_real_xlsx() {
    use calamine::{Reader, Xlsx};
    let app = common::spawn().await;
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;
    let filter = r#"{"scope":"All","filter":{"q":"","status":"InProgress"}}"#;
    let started = app.call_json("start_export", filter, &dispatcher).await;
    let progress: serde_json::Value =
        serde_json::from_str(&started.body).unwrap_or_else(|_| panic!("{}", started.body));
    let id = progress["export_id"].as_str().unwrap().to_owned();
    let expected: Vec<i64> = sqlx::query_scalar(
        "select order_id from orders where status = 'in_progress' order by order_id desc",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        progress["total_rows"].as_i64().unwrap(),
        expected.len() as i64
    );
    let mut finished = false;
    for _ in 0..100 {
        let p = app
            .call("export_progress", &[("export_id", &id)], Some(&dispatcher))
            .await;
        let p: serde_json::Value = serde_json::from_str(&p.body).unwrap();
        if p["finished"].as_bool().unwrap() {
            assert!(!p["failed"].as_bool().unwrap());
            assert_eq!(p["done_rows"].as_i64().unwrap(), expected.len() as i64);
            finished = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(finished);
    // Another employee cannot fetch it.
    let viewer = app.staff_cookie("viewer@demo.ru").await;
    assert_eq!(
        app.get(&format!("/staff/exports/{id}"), Some(&viewer))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The .xlsx is an archive already: it goes uncompressed to a browser that accepts br,
    // while a page still is compressed.
    let encoding = |path: String| {
        let req = Request::get(path)
            .header(http::header::COOKIE, &dispatcher)
            .header(http::header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")
            .body(Body::empty())
            .unwrap();
        async {
            let reply = app.send(req).await;
            assert_eq!(reply.status, StatusCode::OK);
            reply
                .headers
                .get(http::header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(encoding(format!("/staff/exports/{id}")).await, None);
    assert_eq!(
        encoding("/staff/orders".into()).await.as_deref(),
        Some("br")
    );
    let file = app
        .get_bytes(&format!("/staff/exports/{id}"), &dispatcher)
        .await;
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(file)).expect("a valid xlsx");
    let sheet = book.worksheet_range("Заказы").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows[0][0].to_string(), "Номер");
    assert_eq!(rows[0][7].to_string(), "Сумма, ₽");
    let numbers: Vec<i64> = rows[1..]
        .iter()
        .map(|r| r[0].to_string().parse::<f64>().unwrap() as i64)
        .collect();
    assert_eq!(numbers, expected);
    assert!(rows[1..].iter().all(|r| r[1] == "В работе"));
}

/// A staff page is built once on the server: each of its loads runs once and its data
/// travels to the browser once. (The shell's `Suspense` walked its children again and
/// again and built the page below it three times: three list queries, and the rows three
/// times in the hydration data.) The card loads all its blocks in one request.
#[tokio::test]
async fn a_staff_page_sends_each_load_once() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("dispatcher@demo.ru").await;
    let list = app.get("/staff/orders", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    // Resolved loads are JSON inside a script's string: quotes come escaped.
    assert_eq!(
        list.body.matches(r#"\"rows\":["#).count(),
        1,
        "{}",
        list.body
    );
    assert_eq!(list.body.matches(r#"\"services\":["#).count(), 1);
    let order_id: i64 = sqlx::query_scalar("select min(order_id) from orders where is_draft = 0")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let card = app
        .get(&format!("/staff/orders/{order_id}"), Some(&cookie))
        .await;
    assert_eq!(card.status, StatusCode::OK);
    assert!(
        card.body.contains(&format!("Заказ № {order_id}")),
        "{}",
        card.body
    );
    assert_eq!(card.body.matches(r#"\"invoices\":["#).count(), 1);
    assert_eq!(card.body.matches(r#"\"receipts\":["#).count(), 1);
}
