//! HTTP tests against the real router: sign-in, redirects, permissions.

use crate::common;

use axum::body::Body;
use http::{Request, StatusCode};

#[tokio::test]
async fn visitors_are_redirected_to_the_right_sign_in_page() {
    let app = common::spawn().await;
    let staff = app.get("/staff/orders?status=waiting", None).await;
    assert_eq!(staff.status, StatusCode::SEE_OTHER);
    assert_eq!(
        staff.location(),
        Some("/staff/login?next=/staff/orders%3Fstatus%3Dwaiting")
    );
    let resident = app.get("/requests", None).await;
    assert_eq!(resident.status, StatusCode::SEE_OTHER);
    assert_eq!(resident.location(), Some("/login"));
    let login = app.get("/staff/login", None).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("Вход для сотрудников"));
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn staff_sign_in_sets_a_safe_cookie_and_opens_orders() {
    let app = common::spawn().await;
    let reply = app
        .call(
            "staff_sign_in",
            &[("email", "dispatcher@demo.ru"), ("password", "demo12345")],
            None,
        )
        .await;
    // The browser app follows the redirect the server function asks for.
    assert_eq!(reply.location(), Some("/staff/orders"), "{}", reply.body);
    let set_cookie = reply
        .headers
        .get(http::header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = reply.session_cookie().unwrap();
    let page = app.get("/staff/orders", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Заказы — все"), "{}", page.body);
    // A signed-in staff member opening the sign-in page goes home.
    assert_eq!(
        app.get("/staff/login", Some(&cookie)).await.location(),
        Some("/staff/orders")
    );
}

#[tokio::test]
async fn wrong_password_is_refused_then_rate_limited() {
    let app = common::spawn().await;
    for _ in 0..5 {
        let reply = app
            .call(
                "staff_sign_in",
                &[("email", "admin@demo.ru"), ("password", "bad")],
                None,
            )
            .await;
        assert!(reply.session_cookie().is_none());
        assert!(
            reply.body.contains("Неверный e-mail или пароль"),
            "{}",
            reply.body
        );
    }
    let reply = app
        .call(
            "staff_sign_in",
            &[("email", "admin@demo.ru"), ("password", "demo12345")],
            None,
        )
        .await;
    assert!(reply.session_cookie().is_none());
    assert!(
        reply.body.contains("Слишком много попыток"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn sign_in_rotates_the_session_and_sign_out_ends_it() {
    let app = common::spawn().await;
    let first = app.staff_cookie("admin@demo.ru").await;
    let reply = app
        .call(
            "staff_sign_in",
            &[("email", "admin@demo.ru"), ("password", "demo12345")],
            Some(&first),
        )
        .await;
    let second = reply.session_cookie().unwrap();
    assert_ne!(first, second);
    assert_eq!(
        app.get("/staff/orders", Some(&first)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get("/staff/orders", Some(&second)).await.status,
        StatusCode::OK
    );
    let out = app.call("sign_out", &[], Some(&second)).await;
    assert_eq!(out.location(), Some("/staff/login"));
    assert_eq!(
        app.get("/staff/orders", Some(&second)).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn server_functions_refuse_callers_without_the_permission() {
    let app = common::spawn().await;
    // A contractor («Назначенные мне» only) may not read the list of all orders.
    let master = app.staff_cookie("master@demo.ru").await;
    let all = app
        .call_json("list_orders", r#"{"scope":"All","filter":{}}"#, &master)
        .await;
    assert!(all.body.contains("Forbidden"), "{}", all.body);
    let mine = app
        .call_json("list_orders", r#"{"scope":"Mine","filter":{}}"#, &master)
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let page: serde_json::Value = serde_json::from_str(&mine.body).unwrap();
    let rows = page["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    let master_id = app.staff_id("master@demo.ru").await;
    let assigned: i64 = sqlx::query_scalar("select count(*) from orders where assignee_id = ?")
        .bind(master_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, assigned.min(50));
    // The accountant has no orders section at all.
    let accountant = app.staff_cookie("accountant@demo.ru").await;
    let refused = app
        .call_json(
            "list_orders",
            r#"{"scope":"Mine","filter":{}}"#,
            &accountant,
        )
        .await;
    assert!(refused.body.contains("Forbidden"), "{}", refused.body);
    // Nobody signed in.
    let anonymous = app
        .call_json("list_orders", r#"{"scope":"All","filter":{}}"#, "")
        .await;
    assert!(
        anonymous.body.contains("Unauthorized"),
        "{}",
        anonymous.body
    );
}

#[tokio::test]
async fn a_resident_reaches_only_their_own_data() {
    let app = common::spawn().await;
    let ivanov = app.resident_cookie("+79000000001").await;
    // Staff functions are closed to residents.
    let staff_fn = app
        .call_json("list_orders", r#"{"scope":"All","filter":{}}"#, &ivanov)
        .await;
    assert!(staff_fn.body.contains("Forbidden"), "{}", staff_fn.body);
    // Another resident's premises cannot be chosen.
    let other_premises: i64 = sqlx::query_scalar(
        "select premises_id from resident_premises rp join residents r using (resident_id) where r.phone = '+79000000002'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let reply = app
        .call(
            "select_premises",
            &[("premises_id", &other_premises.to_string())],
            Some(&ivanov),
        )
        .await;
    assert!(reply.body.contains("NotFound"), "{}", reply.body);
    // The requests list holds only this resident's orders.
    let list: serde_json::Value = serde_json::from_str(
        &app.call("my_requests", &[("query", "")], Some(&ivanov))
            .await
            .body,
    )
    .unwrap();
    let rows = list["rows"].as_array().unwrap().clone();
    assert!(!rows.is_empty());
    let ivanov_id = app.resident_id("+79000000001").await;
    for row in rows {
        let owner: i64 = sqlx::query_scalar("select resident_id from orders where order_id = ?")
            .bind(row["order_id"].as_i64().unwrap())
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(owner, ivanov_id);
    }
    // A resident's cookie does not open staff pages.
    assert_eq!(
        app.get("/staff/orders", Some(&ivanov)).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn dev_sms_shows_codes_in_demo_mode() {
    let app = common::spawn().await;
    app.call(
        "resident_request_code",
        &[("phone", "+7 900 000-00-09")],
        None,
    )
    .await;
    let from = |ip: &str, forwarded: bool| {
        let mut req = Request::get("/dev/sms");
        if forwarded {
            req = req.header("x-forwarded-for", "203.0.113.7");
        }
        let mut req = req.body(Body::empty()).unwrap();
        let peer: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        req
    };
    let page = app.send_raw(from("127.0.0.1", false)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("+79000000009") && page.body.contains("Код для входа"));
    // Only this machine may read the codes: not another address, not through a proxy,
    // not a request that says nothing of where it came from.
    for req in [
        from("192.0.2.10", false),
        from("127.0.0.1", true),
        Request::get("/dev/sms").body(Body::empty()).unwrap(),
    ] {
        let page = app.send_raw(req).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(!page.body.contains("+79000000009"));
    }
}
