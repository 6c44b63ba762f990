//! Notification delivery from the outbox: recipients by role settings and scope, exactly
//! once per recipient and channel, the notification centre over HTTP, and Web Push to a
//! local push service (VAPID-signed, RFC 8291-encrypted, gone subscriptions removed).

use crate::chat::order_of;
use crate::common;

use axum::routing::post;
use http::StatusCode;
use std::sync::{Arc, Mutex};
use suz::chat::service as chat;
use suz::notifications::push;
use suz::notifications::rules::{Channel, NotificationSettings, StaffEvent};
use suz::notifications::service::deliver_outbox;
use suz::notifications::webpush;

const NOW: i64 = 1_900_000_000;

async fn set_role_settings(app: &common::TestApp, role: &str, settings: &NotificationSettings) {
    sqlx::query("update roles set notification_settings = ? where name = ?")
        .bind(settings.to_json())
        .bind(role)
        .execute(app.pool())
        .await
        .unwrap();
}

async fn count(app: &common::TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// Subscribes a browser for the person signed in with `cookie` (its session made valid
/// at the tests' fixed time).
async fn subscribe(
    app: &common::TestApp,
    recipient: &str,
    cookie: &str,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) {
    let token = cookie.trim_start_matches("suz_session=");
    let session_hash = suz::auth::service::sha256_hex(token);
    sqlx::query("update sessions set expires_at = ? where token_hash = ?")
        .bind(NOW + 86_400)
        .bind(&session_hash)
        .execute(app.pool())
        .await
        .unwrap();
    let s = push::NewSubscription {
        recipient,
        session_hash: &session_hash,
        endpoint,
        p256dh,
        auth,
        allow_http: true,
    };
    push::subscribe(app.pool(), s, NOW).await.unwrap();
}

/// Processes everything already in the outbox (the demo seed's events included).
async fn drain(app: &common::TestApp) {
    while deliver_outbox(app.pool(), "http://suz.test", NOW)
        .await
        .unwrap()
        > 0
    {}
}

#[tokio::test]
async fn each_event_reaches_each_recipient_on_each_channel_once() {
    let app = common::spawn().await;
    drain(&app).await;
    let (order, resident, _) = order_of(&app, "master@demo.ru").await;
    let master = app.staff_user("master@demo.ru").await;
    let master_key = format!("s{}", master.staff_id);
    let mut settings = NotificationSettings::default();
    settings.set(StaffEvent::ClientMessage, Channel::Email, true);
    settings.set(StaffEvent::ClientMessage, Channel::Push, true);
    set_role_settings(&app, "Исполнитель", &settings).await;
    let master_cookie = app.staff_cookie("master@demo.ru").await;
    subscribe(
        &app,
        &master_key,
        &master_cookie,
        "http://127.0.0.1:9/push/a",
        &"B".repeat(87),
        &"A".repeat(22),
    )
    .await;

    chat::resident_send_order(app.pool(), resident, order, "Добрый день", "n1", &[], NOW)
        .await
        .unwrap();
    // Two workers at once and a third run later: still one of each.
    let (a, b) = tokio::join!(
        deliver_outbox(app.pool(), "http://suz.test", NOW),
        deliver_outbox(app.pool(), "http://suz.test", NOW)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        deliver_outbox(app.pool(), "http://suz.test", NOW)
            .await
            .unwrap(),
        0
    );

    assert_eq!(
        count(
            &app,
            "select count(*) from notifications where recipient = ?",
            &master_key
        )
        .await,
        1
    );
    let email = master.email.clone();
    assert_eq!(
        count(
            &app,
            "select count(*) from emails where to_address = ?",
            &email
        )
        .await,
        1
    );
    let body: String = sqlx::query_scalar("select body from emails where to_address = ?")
        .bind(&email)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(
        body.contains(&format!("http://suz.test/staff/orders/{order}")),
        "{body}"
    );
    let pushes: i64 = sqlx::query_scalar("select count(*) from push_messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(pushes, 1);
    // The resident is not told about their own message; colleagues outside the scope hear nothing.
    assert_eq!(
        count(
            &app,
            "select count(*) from notifications where recipient = ?",
            &format!("r{resident}")
        )
        .await,
        0
    );
    let cleaner = app.staff_id("cleaner@demo.ru").await;
    assert_eq!(
        count(
            &app,
            "select count(*) from notifications where recipient = ?",
            &format!("s{cleaner}")
        )
        .await,
        0
    );

    // The reply reaches the resident (in the app) and leads to the request.
    chat::staff_send_order(app.pool(), &master, order, "Ответ", "n2", &[], NOW + 1)
        .await
        .unwrap();
    drain(&app).await;
    let items = suz::notifications::service::list(app.pool(), &format!("r{resident}"), false)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].link, format!("/requests/{order}"));
    assert!(items[0].text.contains(&format!("№ {order}")));
}

#[tokio::test]
async fn role_settings_choose_events_and_channels() {
    let app = common::spawn().await;
    drain(&app).await;
    let (order, resident, _) = order_of(&app, "master@demo.ru").await;
    let master = app.staff_user("master@demo.ru").await;
    let mut settings = NotificationSettings::default();
    settings.set(StaffEvent::ClientMessage, Channel::App, false);
    set_role_settings(&app, "Исполнитель", &settings).await;
    chat::resident_send_order(app.pool(), resident, order, "Алло", "r1", &[], NOW)
        .await
        .unwrap();
    drain(&app).await;
    let key = format!("s{}", master.staff_id);
    assert_eq!(
        count(
            &app,
            "select count(*) from notifications where recipient = ?",
            &key
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from emails where to_address = ?",
            &master.email
        )
        .await,
        0
    );

    // A pre-order dialogue message reaches every employee whose role has «Чат с клиентами».
    let mixer: i64 =
        sqlx::query_scalar("select service_id from services where name = 'Замена смесителя'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let dialogue = chat::open_dialogue(app.pool(), resident, None, mixer, NOW)
        .await
        .unwrap();
    chat::send_dialogue(
        app.pool(),
        chat::Who::Resident(resident),
        dialogue,
        "Вопрос",
        "r2",
        &[],
        NOW,
    )
    .await
    .unwrap();
    drain(&app).await;
    let dispatcher = app.staff_id("dispatcher@demo.ru").await;
    let link: String = sqlx::query_scalar(
        "select text from notifications where recipient = ? and dialogue_id = ?",
    )
    .bind(format!("s{dispatcher}"))
    .bind(dialogue)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(link.contains("Замена смесителя"));
    assert_eq!(
        count(
            &app,
            "select count(*) from notifications where recipient = ?",
            &key
        )
        .await,
        0,
        "no chat role"
    );
}

#[tokio::test]
async fn the_notification_centre_over_http() {
    let app = common::spawn().await;
    drain(&app).await;
    let (order, resident, phone) = order_of(&app, "master@demo.ru").await;
    let master = app.staff_user("master@demo.ru").await;
    chat::staff_send_order(app.pool(), &master, order, "Первое", "c1", &[], NOW)
        .await
        .unwrap();
    chat::staff_send_order(app.pool(), &master, order, "Второе", "c2", &[], NOW)
        .await
        .unwrap();
    drain(&app).await;
    let cookie = app.resident_cookie(&phone).await;
    let count = app.call("notification_count", &[], Some(&cookie)).await;
    assert_eq!(count.body, "2");
    let list = app.call("my_notifications", &[], Some(&cookie)).await;
    let items: Vec<serde_json::Value> = serde_json::from_str(&list.body).unwrap();
    let id = items[0]["notification_id"].as_i64().unwrap().to_string();
    let opened = app
        .call(
            "open_notification",
            &[("notification_id", &id)],
            Some(&cookie),
        )
        .await;
    assert_eq!(opened.body, format!("\"/requests/{order}\""));
    assert_eq!(
        app.call("notification_count", &[], Some(&cookie))
            .await
            .body,
        "1"
    );
    // Someone else's notification is not found and stays unread.
    let other = app.staff_cookie("dispatcher@demo.ru").await;
    let refused = app
        .call(
            "open_notification",
            &[("notification_id", &id)],
            Some(&other),
        )
        .await;
    assert_ne!(refused.status, StatusCode::OK);
    app.call("read_all_notifications", &[], Some(&cookie)).await;
    assert_eq!(
        app.call("notification_count", &[], Some(&cookie))
            .await
            .body,
        "0"
    );
    let _ = resident;

    // Only administrators edit the roles' settings.
    let json = r#"{"role_id":1,"settings":{"new_order":["app","email"]}}"#;
    let refused = app.call_json("save_role_notifications", json, &other).await;
    assert_ne!(refused.status, StatusCode::OK);
    let admin = app.staff_cookie("admin@demo.ru").await;
    let saved = app.call_json("save_role_notifications", json, &admin).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let stored: String =
        sqlx::query_scalar("select notification_settings from roles where role_id = 1")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(NotificationSettings::parse(&stored).allows(StaffEvent::NewOrder, Channel::Email));
}

/// What the local push service received.
#[derive(Default, Clone)]
struct Received(Arc<Mutex<Vec<Delivery>>>);

/// Authorization, Content-Encoding and body of one push request.
type Delivery = (String, String, Vec<u8>);

async fn push_service(received: Received) -> String {
    let app = axum::Router::new()
        .route(
            "/push/{id}",
            post(
                |axum::extract::Path(id): axum::extract::Path<String>,
                 axum::extract::State(r): axum::extract::State<Received>,
                 headers: http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let encoding = headers
                        .get("content-encoding")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    r.0.lock().unwrap().push((auth, encoding, body.to_vec()));
                    if id == "gone" {
                        StatusCode::GONE
                    } else {
                        StatusCode::CREATED
                    }
                },
            ),
        )
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn web_push_is_signed_encrypted_sent_once_and_gone_subscriptions_are_dropped() {
    use base64::Engine;
    let app = common::spawn().await;
    drain(&app).await;
    let received = Received::default();
    let base = push_service(received.clone()).await;
    let (order, resident, phone) = order_of(&app, "master@demo.ru").await;
    let r_key = format!("r{resident}");
    let cookie = app.resident_cookie(&phone).await;
    // The browser's side: its key pair and auth secret.
    let browser = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let public = b64.encode(
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&browser.public_key(), false)
            .as_bytes(),
    );
    let auth_secret = [7u8; 16];
    let auth = b64.encode(auth_secret);
    subscribe(
        &app,
        &r_key,
        &cookie,
        &format!("{base}/push/phone"),
        &public,
        &auth,
    )
    .await;
    subscribe(
        &app,
        &r_key,
        &cookie,
        &format!("{base}/push/gone"),
        &public,
        &auth,
    )
    .await;

    let master = app.staff_user("master@demo.ru").await;
    chat::staff_send_order(app.pool(), &master, order, "Мастер выехал", "p1", &[], NOW)
        .await
        .unwrap();
    drain(&app).await;
    let s = &app.state;
    let sent = push::deliver_due(
        &s.pool,
        &s.push_http,
        &s.vapid,
        "mailto:test@suz.local",
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(sent, 1);
    assert_eq!(
        push::deliver_due(
            &s.pool,
            &s.push_http,
            &s.vapid,
            "mailto:test@suz.local",
            NOW + 600
        )
        .await
        .unwrap(),
        0
    );

    let got = received.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one to each subscription, nothing twice");
    for (authorization, encoding, body) in &got {
        assert_eq!(encoding, "aes128gcm");
        let claims = webpush::verify_vapid(authorization, &s.vapid.public_base64url())
            .expect("a valid VAPID token");
        assert_eq!(claims["aud"], base.as_str());
        let plain =
            webpush::decrypt(body, &browser, &auth_secret).expect("decryptable by the browser");
        let json: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(json["url"], format!("/requests/{order}"));
        assert!(json["body"]
            .as_str()
            .unwrap()
            .contains(&format!("№ {order}")));
    }
    let left: i64 =
        sqlx::query_scalar("select count(*) from push_subscriptions where recipient = ?")
            .bind(&r_key)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(
        left, 1,
        "the subscription the push service called gone is removed"
    );
    // Nonsense from a browser is refused; plain HTTP only where configured.
    assert!(push::check_subscription("ftp://x", &public, &auth, true).is_err());
    assert!(push::check_subscription("http://push.example/x", &public, &auth, false).is_err());
    assert!(push::check_subscription("https://push.example/x", &public, &auth, false).is_ok());

    // Signing out ends the pushes to that browser.
    app.call("sign_out", &[], Some(&cookie)).await;
    chat::staff_send_order(app.pool(), &master, order, "Ещё одно", "p2", &[], NOW)
        .await
        .unwrap();
    drain(&app).await;
    let queued: i64 =
        sqlx::query_scalar("select count(*) from push_messages where sent_at is null")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(queued, 0, "nothing is queued for a signed-out browser");
}
