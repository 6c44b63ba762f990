//! Limits on every write (issue 16 §4): a script-speed burst gets «Слишком много …»
//! (429) once the limit is reached and nothing more is stored; the limits are counted in
//! the database, so parallel requests cannot outrun them.

use crate::chat::order_of;
use crate::common;

use futures::future::join_all;
use http::StatusCode;
use suz::auth::rate_limit;

async fn count(app: &common::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

/// The refusal of a limit: 429 with the Russian message saying when to retry.
fn assert_limited(reply: &common::Reply, what: &str) {
    assert_429_saying(reply, &format!("Слишком много {what}. Попробуйте через"));
}

/// A 429 whose body says `text`.
fn assert_429_saying(reply: &common::Reply, text: &str) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert!(reply.body.contains(text), "{}", reply.body);
}

/// Fires `n` requests at once and splits the replies into passed and limited.
async fn burst<F, Fut>(n: usize, send: F) -> (Vec<common::Reply>, Vec<common::Reply>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = common::Reply>,
{
    let replies = join_all((0..n).map(send)).await;
    replies
        .into_iter()
        .partition(|r| r.status != StatusCode::TOO_MANY_REQUESTS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_chat_messages_stops_at_the_limit_on_both_sides() {
    let app = common::spawn().await;
    let (order, _, phone) = order_of(&app, "master@demo.ru").await;
    let resident = app.resident_cookie(&phone).await;
    let dispatcher = app.staff_cookie("dispatcher@demo.ru").await;
    let per_minute = rate_limit::CHAT_MESSAGES.burst();
    let stored = format!("select count(*) from messages where order_id = {order}");
    let before = count(&app, &stored).await;

    let (passed, limited) = burst(per_minute as usize + 10, |i| {
        let body = format!(r#"{{"order_id":{order},"body":"спам {i}","key":"r{i}","photos":[]}}"#);
        let app = &app;
        let cookie = resident.clone();
        async move { app.call_json("send_request_message", &body, &cookie).await }
    })
    .await;
    assert_eq!(passed.len() as i64, per_minute);
    assert!(passed.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(limited.len(), 10);
    assert_limited(&limited[0], "сообщений");
    assert_eq!(count(&app, &stored).await, before + per_minute);

    // Staff «Переписка с клиентом» has its own count, limited alike.
    let (passed, limited) = burst(per_minute as usize + 5, |i| {
        let body = format!(r#"{{"order_id":{order},"body":"ответ {i}","key":"s{i}","photos":[]}}"#);
        let app = &app;
        let cookie = dispatcher.clone();
        async move { app.call_json("send_order_message", &body, &cookie).await }
    })
    .await;
    assert_eq!(passed.len() as i64, per_minute, "{}", passed[0].body);
    assert_eq!(limited.len(), 5);
    assert_limited(&limited[0], "сообщений");
    assert_eq!(count(&app, &stored).await, before + 2 * per_minute);

    // Refused messages (here: empty ones) do not use up the limit.
    let (own_order, _, other_phone): (i64, i64, String) = sqlx::query_as(
        "select o.order_id, o.resident_id, r.phone from orders o join residents r using (resident_id) \
         where o.is_draft = 0 and r.phone <> ? order by o.order_id limit 1",
    )
    .bind(&phone)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let other = app.resident_cookie(&other_phone).await;
    for i in 0..per_minute + 5 {
        let body = format!(r#"{{"order_id":{own_order},"body":" ","key":"e{i}","photos":[]}}"#);
        let reply = app.call_json("send_request_message", &body, &other).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    let body =
        format!(r#"{{"order_id":{own_order},"body":"Здравствуйте","key":"ok","photos":[]}}"#);
    let reply = app.call_json("send_request_message", &body, &other).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// A request form for «Устранение засора» with a visit a week from now.
async fn request_form(app: &common::TestApp, key: &str) -> String {
    let service: i64 =
        sqlx::query_scalar("select service_id from services where name = 'Устранение засора'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let t = suz::time::LocalDateTime::from_unix(
        suz::time::now() + 7 * 86_400,
        app.state.config.utc_offset_minutes,
    );
    let visit = format!("{:04}-{:02}-{:02}T12:00", t.year, t.month, t.day);
    format!(
        r#"{{"service_id":{service},"values":[["where","Ванна"],["visit","{visit}"]],"submit_key":"{key}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_order_submissions_stops_at_the_limit() {
    let app = common::spawn().await;
    let cookie = app.resident_cookie("+79000000004").await;
    let resident = app.resident_id("+79000000004").await;
    let orders = format!("select count(*) from orders where resident_id = {resident}");
    let before = count(&app, &orders).await;
    let limit = rate_limit::RESIDENT_ORDERS.burst();
    let mut forms = Vec::new();
    for i in 0..limit + 5 {
        forms.push(request_form(&app, &format!("burst-key-{i:03}")).await);
    }
    let (passed, limited) = burst(forms.len(), |i| {
        let (app, cookie, form) = (&app, cookie.clone(), forms[i].clone());
        async move { app.call_json("submit_request", &form, &cookie).await }
    })
    .await;
    assert!(
        passed.iter().all(|r| r.status == StatusCode::OK),
        "{}",
        passed[0].body
    );
    assert_eq!(passed.len() as i64, limit);
    assert_eq!(limited.len(), 5);
    assert_limited(&limited[0], "заявок");
    assert_eq!(count(&app, &orders).await, before + limit);
}

async fn upload_chat_photo(app: &common::TestApp, cookie: &str, name: &str) -> common::Reply {
    let boundary = "----suz-limits-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"\x89PNG\r\n\x1a\nnot really an image, but named like one");
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = http::Request::post("/api/chat/photos")
        .header(http::header::COOKIE, cookie)
        .header(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    app.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_uploads_stops_at_the_limit() {
    let app = common::spawn().await;
    let cookie = app.resident_cookie("+79000000003").await;
    let per_minute = rate_limit::UPLOADS.burst();
    let before = count(&app, "select count(*) from message_photos").await;
    let files = || {
        std::fs::read_dir(app.data_dir().join("files"))
            .map(|d| d.count() as i64)
            .unwrap_or(0)
    };
    let files_before = files();
    let (passed, limited) = burst(per_minute as usize + 5, |i| {
        let (app, cookie) = (&app, cookie.clone());
        async move { upload_chat_photo(app, &cookie, &format!("фото{i}.png")).await }
    })
    .await;
    assert_eq!(passed.len() as i64, per_minute);
    assert!(
        passed.iter().all(|r| r.status == StatusCode::OK),
        "{}",
        passed[0].body
    );
    assert_eq!(limited.len(), 5);
    assert_limited(&limited[0], "загрузок файлов");
    assert_eq!(
        count(&app, "select count(*) from message_photos").await,
        before + per_minute
    );
    // Nothing of the refused uploads reached the disk either.
    assert_eq!(files(), files_before + per_minute);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_push_subscriptions_stops_at_the_limit() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("viewer@demo.ru").await;
    let limit = rate_limit::PUSH_SUBSCRIPTIONS.burst();
    let (passed, limited) = burst(limit as usize + 5, |i| {
        let body = serde_json::json!({
            "endpoint": format!("https://push.example.org/sub/{i}"),
            "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
            "auth": "tBHItJI5svbpez7KI4CCXg",
        })
        .to_string();
        let (app, cookie) = (&app, cookie.clone());
        async move { app.call_json("subscribe_push", &body, &cookie).await }
    })
    .await;
    assert_eq!(passed.len() as i64, limit);
    assert!(
        passed.iter().all(|r| r.status == StatusCode::OK),
        "{}",
        passed[0].body
    );
    assert_limited(&limited[0], "подписок на уведомления");
    let staff_id = app.staff_id("viewer@demo.ru").await;
    assert_eq!(
        count(
            &app,
            &format!("select count(*) from push_subscriptions where recipient = 's{staff_id}'")
        )
        .await,
        limit
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_export_starts_leave_exactly_one_running() {
    let app = common::spawn().await;
    let staff_id = app.staff_id("admin@demo.ru").await;
    let now = suz::time::now();
    let all_counting = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let starts = (0..50)
        .map(|_| {
            let pool = app.pool().clone();
            // The worst interleaving: every start has passed the check for a running export
            // and is counting its rows before any of them records its export.
            let all_counting = all_counting.clone();
            let total = async move {
                all_counting.wait().await;
                Ok(10)
            };
            tokio::spawn(
                async move { suz::orders::export::begin(&pool, staff_id, now, total).await },
            )
        })
        .collect::<Vec<_>>();
    let mut started = 0;
    for s in starts {
        match s.await.unwrap() {
            Ok(_) => started += 1,
            Err(e) => assert_eq!(
                e,
                suz::error::AppError::rule("Дождитесь окончания предыдущей выгрузки")
            ),
        }
    }
    assert_eq!(started, 1);
    assert_eq!(
        count(
            &app,
            &format!("select count(*) from exports where staff_id = {staff_id}")
        )
        .await,
        1
    );
    // Once it is over, the next one may start.
    sqlx::query("update exports set state = 'done'")
        .execute(app.pool())
        .await
        .unwrap();
    assert!(
        suz::orders::export::begin(app.pool(), staff_id, now, async { Ok(10) })
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exports_are_limited_over_http() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("accountant@demo.ru").await;
    let limit = rate_limit::EXPORTS.burst();
    let period = suz::finance::rules::Period::of(suz::time::now(), 180).to_string();
    let entity: i64 = sqlx::query_scalar("select min(legal_entity_id) from legal_entities")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let export = format!("/staff/finance/export?entity={entity}&period={period}");
    for _ in 0..limit {
        let reply = app.get(&export, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let reply = app.get(&export, Some(&cookie)).await;
    assert_429_saying(&reply, "Слишком много выгрузок");
}

#[tokio::test]
async fn live_streams_per_session_are_bounded_and_freed_when_closed() {
    let app = common::spawn().await;
    let cookie = app.staff_cookie("viewer@demo.ru").await;
    let max = rate_limit::LIVE_STREAMS_PER_SESSION;
    let open = |cookie: String| {
        let router = app.router.clone();
        async move {
            let req = http::Request::get("/api/live")
                .header(http::header::COOKIE, cookie)
                .body(axum::body::Body::empty())
                .unwrap();
            tower::ServiceExt::oneshot(router, req).await.unwrap()
        }
    };
    let mut streams = Vec::new();
    for _ in 0..max {
        let res = open(cookie.clone()).await;
        assert_eq!(res.status(), StatusCode::OK);
        streams.push(res);
    }
    let refused = open(cookie.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another session of the same person is counted on its own.
    let other = app.staff_cookie("viewer@demo.ru").await;
    assert_eq!(open(other).await.status(), StatusCode::OK);
    // Closing a stream frees its place.
    drop(streams.pop());
    assert_eq!(open(cookie.clone()).await.status(), StatusCode::OK);
}
