//! Order chat and pre-order dialogues: unread counters, idempotent sending, who may read
//! and write (over HTTP), and the live event stream.

use crate::common;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use suz::chat::service::{self as chat, Who};
use tower::ServiceExt;

const NOW: i64 = 1_900_000_000;

/// An open order assigned to `email`: (order, resident, resident's phone).
pub async fn order_of(app: &common::TestApp, email: &str) -> (i64, i64, String) {
    sqlx::query_as(
        "select o.order_id, o.resident_id, r.phone from orders o join residents r using (resident_id) \
         join staff s on s.staff_id = o.assignee_id \
         where s.email = ? and o.is_draft = 0 and o.status in ('waiting', 'in_progress') order by o.order_id limit 1",
    )
    .bind(email)
    .fetch_one(app.pool())
    .await
    .expect("an open order")
}

/// A resident other than the one with `phone`.
async fn another_resident(app: &common::TestApp, phone: &str) -> String {
    sqlx::query_scalar("select phone from residents where phone <> ? order by resident_id limit 1")
        .bind(phone)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn unread(app: &common::TestApp, order_id: i64) -> i64 {
    sqlx::query_scalar("select unread_client_messages from orders where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn messages_in(app: &common::TestApp, order_id: i64) -> i64 {
    sqlx::query_scalar("select count(*) from messages where order_id = ?")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn client_messages_count_until_staff_read_them_and_retries_store_one() {
    let app = common::spawn().await;
    let (order, resident, _) = order_of(&app, "master@demo.ru").await;
    let pool = app.pool();
    let before = unread(&app, order).await;
    chat::resident_send_order(pool, resident, order, "Здравствуйте", "k1", &[], NOW)
        .await
        .unwrap();
    // The same key again (a retry after a lost answer): one message, counted once.
    chat::resident_send_order(pool, resident, order, "Здравствуйте", "k1", &[], NOW)
        .await
        .unwrap();
    chat::resident_send_order(pool, resident, order, "Когда придёте?", "k2", &[], NOW)
        .await
        .unwrap();
    assert_eq!(messages_in(&app, order).await, 2);
    assert_eq!(unread(&app, order).await, before + 2);

    // A staff member who may see the order reads the chat: nothing unread any more.
    let viewer = app.staff_user("viewer@demo.ru").await;
    let (list, _) = chat::staff_order_messages(pool, &viewer, order)
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|m| m.from_client && !m.mine));
    assert_eq!(unread(&app, order).await, 0);
    chat::resident_send_order(pool, resident, order, "Ещё вопрос", "k3", &[], NOW + 1)
        .await
        .unwrap();
    assert_eq!(unread(&app, order).await, 1);

    // A staff reply makes the request unread for the resident until they open it.
    let master = app.staff_user("master@demo.ru").await;
    chat::staff_send_order(pool, &master, order, "Завтра в 10:00", "s1", &[], NOW + 2)
        .await
        .unwrap();
    let (changed, seen): (i64, i64) = sqlx::query_as(
        "select resident_changed_at, resident_seen_at from orders where order_id = ?",
    )
    .bind(order)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(changed > seen, "the reply marks the request unread");
    chat::resident_read_order(pool, resident, order)
        .await
        .unwrap();
    let (changed, seen): (i64, i64) = sqlx::query_as(
        "select resident_changed_at, resident_seen_at from orders where order_id = ?",
    )
    .bind(order)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(changed, seen);
    let mine = chat::messages(
        &mut pool.acquire().await.unwrap(),
        chat::Conversation::Order(order),
        Who::Resident(resident),
    )
    .await
    .unwrap();
    assert_eq!(mine.len(), 4);
    assert!(!mine[3].mine && !mine[3].from_client && mine[3].author == "Сергей Мастеров");
    assert!(mine[0].mine);
}

#[tokio::test]
async fn bad_messages_change_nothing() {
    let app = common::spawn().await;
    let (order, resident, _) = order_of(&app, "master@demo.ru").await;
    let pool = app.pool();
    let empty = chat::resident_send_order(pool, resident, order, "   ", "e1", &[], NOW).await;
    assert!(empty
        .unwrap_err()
        .to_string()
        .contains("Напишите сообщение"));
    let long = "я".repeat(4001);
    assert!(
        chat::resident_send_order(pool, resident, order, &long, "e2", &[], NOW)
            .await
            .is_err()
    );
    // A photo id that is not this resident's unsent upload.
    let foreign =
        chat::resident_send_order(pool, resident, order, "фото", "e3", &[999_999], NOW).await;
    assert!(foreign.unwrap_err().to_string().contains("Фото не найдено"));
    assert_eq!(messages_in(&app, order).await, 0);
    // Another resident's order does not exist for this resident.
    let other: i64 = sqlx::query_scalar(
        "select order_id from orders where resident_id <> ? and is_draft = 0 limit 1",
    )
    .bind(resident)
    .fetch_one(pool)
    .await
    .unwrap();
    let refused = chat::resident_send_order(pool, resident, other, "чужой", "e4", &[], NOW).await;
    assert_eq!(refused.unwrap_err().to_string(), "Не найдено");
}

#[tokio::test]
async fn only_those_who_may_read_or_write_a_chat_do_so_over_http() {
    let app = common::spawn().await;
    let (order, _, phone) = order_of(&app, "master@demo.ru").await;
    let owner = app.resident_cookie(&phone).await;
    let other_phone = another_resident(&app, &phone).await;
    let stranger = app.resident_cookie(&other_phone).await;
    let id = order.to_string();

    let sent = app
        .call_json(
            "send_request_message",
            &format!(r#"{{"order_id":{order},"body":"<b>Привет</b>","key":"h1","photos":[]}}"#),
            &owner,
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let read = app
        .call("request_chat", &[("order_id", &id)], Some(&owner))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(
        read.body.contains("<b>Привет</b>"),
        "stored as typed, shown as text: {}",
        read.body
    );

    // Another resident can neither read nor write this order's chat.
    let peek = app
        .call("request_chat", &[("order_id", &id)], Some(&stranger))
        .await;
    assert_ne!(peek.status, StatusCode::OK);
    assert!(!peek.body.contains("Привет"));
    let write = app
        .call_json(
            "send_request_message",
            &format!(r#"{{"order_id":{order},"body":"чужое","key":"h2","photos":[]}}"#),
            &stranger,
        )
        .await;
    assert_ne!(write.status, StatusCode::OK);

    // Staff without «Заказы: редактирование» read but cannot write.
    let viewer = app.staff_cookie("viewer@demo.ru").await;
    let read = app
        .call("order_chat", &[("order_id", &id)], Some(&viewer))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(
        read.body.contains("Заказы: редактирование"),
        "{}",
        read.body
    );
    let write = app
        .call_json(
            "send_order_message",
            &format!(r#"{{"order_id":{order},"body":"ответ","key":"v1","photos":[]}}"#),
            &viewer,
        )
        .await;
    assert_ne!(write.status, StatusCode::OK);
    // An assigned-only employee does not see another's order's chat at all.
    let cleaner = app.staff_cookie("cleaner@demo.ru").await;
    let read = app
        .call("order_chat", &[("order_id", &id)], Some(&cleaner))
        .await;
    assert_ne!(read.status, StatusCode::OK);
    assert!(!read.body.contains("Привет"));
    // The assignee writes.
    let master = app.staff_cookie("master@demo.ru").await;
    let write = app
        .call_json(
            "send_order_message",
            &format!(r#"{{"order_id":{order},"body":"Буду завтра","key":"m1","photos":[]}}"#),
            &master,
        )
        .await;
    assert_eq!(write.status, StatusCode::OK, "{}", write.body);
    assert_eq!(messages_in(&app, order).await, 2);
}

#[tokio::test]
async fn a_pre_order_dialogue_becomes_an_order_draft_and_continues_in_its_chat() {
    let app = common::spawn().await;
    let pool = app.pool();
    let phone = "+79000000001";
    let resident = app.resident_id(phone).await;
    let mixer: i64 =
        sqlx::query_scalar("select service_id from services where name = 'Замена смесителя'")
            .fetch_one(pool)
            .await
            .unwrap();
    let no_chat: i64 =
        sqlx::query_scalar("select service_id from services where preorder_chat = 0 limit 1")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(chat::open_dialogue(pool, resident, None, no_chat, NOW)
        .await
        .is_err());
    let dialogue = chat::open_dialogue(pool, resident, None, mixer, NOW)
        .await
        .unwrap();
    assert_eq!(
        chat::open_dialogue(pool, resident, None, mixer, NOW)
            .await
            .unwrap(),
        dialogue,
        "one open dialogue per service"
    );
    chat::send_dialogue(
        pool,
        Who::Resident(resident),
        dialogue,
        "Сколько стоит замена?",
        "d1",
        &[],
        NOW,
    )
    .await
    .unwrap();

    // Staff with «Чат с клиентами» see it; others are refused over HTTP.
    let rows = chat::dialogues(pool).await.unwrap();
    assert_eq!(rows[0].dialogue_id, dialogue);
    assert_eq!(rows[0].unread, 1);
    let master = app.staff_cookie("master@demo.ru").await;
    let refused = app.call("staff_dialogues", &[], Some(&master)).await;
    assert_ne!(refused.status, StatusCode::OK);
    let dispatcher_cookie = app.staff_cookie("dispatcher@demo.ru").await;
    let seen = app
        .call(
            "fetch_dialogue",
            &[("dialogue_id", &dialogue.to_string())],
            Some(&dispatcher_cookie),
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert!(seen.body.contains("Сколько стоит замена?"));
    assert_eq!(
        chat::dialogues(pool).await.unwrap()[0].unread,
        0,
        "reading clears the counter"
    );

    let dispatcher = app.staff_user("dispatcher@demo.ru").await;
    chat::send_dialogue(
        pool,
        Who::Staff(dispatcher.staff_id),
        dialogue,
        "От 1500 ₽, оформим?",
        "d2",
        &[],
        NOW + 1,
    )
    .await
    .unwrap();
    let order = chat::dialogue_to_order(pool, &dispatcher, dialogue, NOW + 2)
        .await
        .unwrap();
    assert_eq!(
        chat::dialogue_to_order(pool, &dispatcher, dialogue, NOW + 3)
            .await
            .unwrap(),
        order,
        "once"
    );
    let (draft, service, owner): (bool, i64, i64) =
        sqlx::query_as("select is_draft, service_id, resident_id from orders where order_id = ?")
            .bind(order)
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(draft);
    assert_eq!((service, owner), (mixer, resident));
    assert_eq!(
        messages_in(&app, order).await,
        2,
        "the dialogue's messages are the order's chat"
    );

    // While a draft, the conversation goes on in the dialogue and reaches the order too.
    chat::send_dialogue(
        pool,
        Who::Resident(resident),
        dialogue,
        "Да, давайте",
        "d3",
        &[],
        NOW + 4,
    )
    .await
    .unwrap();
    assert_eq!(messages_in(&app, order).await, 3);
    // Once the order is submitted the dialogue points to it and takes no more messages.
    sqlx::query("update orders set is_draft = 0 where order_id = ?")
        .bind(order)
        .execute(pool)
        .await
        .unwrap();
    let closed = chat::send_dialogue(
        pool,
        Who::Resident(resident),
        dialogue,
        "ещё",
        "d4",
        &[],
        NOW + 5,
    )
    .await;
    assert!(closed
        .unwrap_err()
        .to_string()
        .contains(&format!("№ {order}")));
    chat::resident_send_order(pool, resident, order, "Жду мастера", "d5", &[], NOW + 6)
        .await
        .unwrap();
    assert_eq!(messages_in(&app, order).await, 4);
}

/// Reads server-sent events until one contains `needle` (or the time runs out).
async fn wait_for_event(
    body: &mut Body,
    needle: &str,
    within: std::time::Duration,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = String::new();
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .ok()??
            .ok()?;
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
            if seen.contains(needle) {
                return Some(seen);
            }
        }
    }
}

async fn live_stream(app: &common::TestApp, cookie: &str) -> Body {
    let req = Request::get("/api/live")
        .header(http::header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[http::header::CONTENT_TYPE],
        "text/event-stream"
    );
    res.into_body()
}

#[tokio::test]
async fn live_events_reach_those_who_see_the_order_and_nobody_else() {
    let app = common::spawn().await;
    let (order, _, phone) = order_of(&app, "master@demo.ru").await;
    let owner = app.resident_cookie(&phone).await;
    let other_phone = another_resident(&app, &phone).await;
    let stranger = app.resident_cookie(&other_phone).await;
    let cleaner = app.staff_cookie("cleaner@demo.ru").await;
    let mut owner_stream = live_stream(&app, &owner).await;
    let mut stranger_stream = live_stream(&app, &stranger).await;
    let mut cleaner_stream = live_stream(&app, &cleaner).await;
    let unauthenticated = app.get("/api/live", None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    let master = app.staff_user("master@demo.ru").await;
    chat::staff_send_order(app.pool(), &master, order, "Выезжаю", "live1", &[], NOW)
        .await
        .unwrap();
    // The message, then the order (now unread for the resident), in commit order.
    let needle = format!(r#"{{"kind":"order","order_id":{order},"#);
    let got = wait_for_event(
        &mut owner_stream,
        &needle,
        std::time::Duration::from_secs(5),
    )
    .await;
    let got = got.expect("the resident hears about the new message");
    assert!(
        got.contains(&format!(r#"{{"kind":"message","order_id":{order},"#)),
        "{got}"
    );
    let wait = std::time::Duration::from_millis(700);
    assert!(
        wait_for_event(&mut stranger_stream, "order_id", wait)
            .await
            .is_none(),
        "another resident hears nothing"
    );
    assert!(
        wait_for_event(&mut cleaner_stream, "order_id", wait)
            .await
            .is_none(),
        "an assigned-only colleague hears nothing"
    );

    // A rolled-back change publishes nothing.
    let mut tx = app.pool().begin().await.unwrap();
    sqlx::query("update orders set rating = 5 where order_id = ?")
        .bind(order)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        wait_for_event(&mut owner_stream, "order_id", wait)
            .await
            .is_none(),
        "nothing after a rollback"
    );
}

async fn upload_chat_photo(
    app: &common::TestApp,
    cookie: &str,
    name: &str,
    bytes: &[u8],
) -> common::Reply {
    let boundary = "----suz-chat-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = Request::post("/api/chat/photos")
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
async fn chat_photos_are_served_only_to_those_who_read_the_chat() {
    let app = common::spawn().await;
    let (order, _, phone) = order_of(&app, "master@demo.ru").await;
    let owner = app.resident_cookie(&phone).await;
    let png = b"\x89PNG\r\n\x1a\nnot really an image, but named like one";
    let refused = upload_chat_photo(&app, &owner, "script.html", b"<script>").await;
    assert_ne!(refused.status, StatusCode::OK);
    assert!(refused.body.contains("Приложите фото"), "{}", refused.body);
    let uploaded = upload_chat_photo(&app, &owner, "кран.png", png).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    let photo = serde_json::from_str::<serde_json::Value>(&uploaded.body).unwrap()["upload_id"]
        .as_i64()
        .unwrap();
    let url = format!("/api/chat/photos/{photo}");

    // Before it is sent, only the uploader sees it.
    let master = app.staff_cookie("master@demo.ru").await;
    assert_eq!(app.get(&url, Some(&owner)).await.status, StatusCode::OK);
    assert_ne!(app.get(&url, Some(&master)).await.status, StatusCode::OK);

    let sent = app
        .call_json(
            "send_request_message",
            &format!(r#"{{"order_id":{order},"body":"","key":"ph1","photos":[{photo}]}}"#),
            &owner,
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    // Sent: staff who see the order get it; an assigned-only colleague and another
    // resident do not; nobody signed out does.
    let fetched = app.get_bytes(&url, &master).await;
    assert_eq!(fetched, png.to_vec());
    let cleaner = app.staff_cookie("cleaner@demo.ru").await;
    assert_ne!(app.get(&url, Some(&cleaner)).await.status, StatusCode::OK);
    let other_phone = another_resident(&app, &phone).await;
    let stranger = app.resident_cookie(&other_phone).await;
    assert_ne!(app.get(&url, Some(&stranger)).await.status, StatusCode::OK);
    assert_ne!(app.get(&url, None).await.status, StatusCode::OK);
    // The same photo cannot be attached twice.
    let again = app
        .call_json(
            "send_request_message",
            &format!(r#"{{"order_id":{order},"body":"ещё","key":"ph2","photos":[{photo}]}}"#),
            &owner,
        )
        .await;
    assert_ne!(again.status, StatusCode::OK);
    assert_eq!(messages_in(&app, order).await, 1);
}
