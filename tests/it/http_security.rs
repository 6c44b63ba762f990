//! The web's hostile side: cross-site requests, body kinds, status codes of refusals,
//! security headers per response kind, redirects, and where static files live.

use crate::common;

use axum::body::Body;
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN, REFERER};
use http::{Request, StatusCode};

/// Another port of the same host: same site, another origin.
const FOREIGN: &str = "http://127.0.0.1:1";

/// Row counts of every table that holds business data (sessions and rate-limit counters
/// move on any request and are left out), so a refused request can be shown to change
/// nothing.
async fn fingerprint(app: &common::TestApp) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' \
         and name not like '%_data' and name not like '%_idx' and name not like '%_docsize' \
         and name not like '%_config' and name not like '%_content' \
         and name not in ('sessions', 'auth_attempts', '_sqlx_migrations') order by name",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let mut counts = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from \"{t}\""))
            .fetch_one(app.pool())
            .await
            .unwrap();
        counts.push((t, n));
    }
    let versions: i64 = sqlx::query_scalar("select coalesce(sum(version), 0) from orders")
        .fetch_one(app.pool())
        .await
        .unwrap();
    counts.push(("orders.version".into(), versions));
    counts
}

fn form_post(path: &str, cookie: Option<&str>) -> http::request::Builder {
    let mut req = Request::post(path)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req
}

async fn an_order(app: &common::TestApp, email: &str) -> i64 {
    sqlx::query_scalar(
        "select order_id from orders where assignee_id = ? and is_draft = 0 order by order_id limit 1",
    )
    .bind(app.staff_id(email).await)
    .fetch_one(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn cross_site_requests_to_any_server_function_or_upload_change_nothing() {
    let app = common::spawn().await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let order = an_order(&app, "master@demo.ru").await;
    let before = fingerprint(&app).await;

    // Every server function the app registers, whatever it does.
    let paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.to_owned())
        .collect();
    assert!(
        paths.len() > 80,
        "the registry lists the server functions: {}",
        paths.len()
    );
    for path in &paths {
        let body = format!("order_id={order}&body=csrf");
        // A foreign origin, an opaque one, a foreign page without Origin, and nothing.
        let attempts = [
            form_post(path, Some(&admin)).header(ORIGIN, FOREIGN),
            form_post(path, Some(&admin)).header(ORIGIN, "null"),
            form_post(path, Some(&admin)).header(REFERER, format!("{FOREIGN}/page")),
            form_post(path, Some(&admin)),
        ];
        for req in attempts {
            let reply = app
                .send_raw(req.body(Body::from(body.clone())).unwrap())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{path}: {}",
                reply.body
            );
            assert!(reply.body.contains("CrossSite"), "{path}: {}", reply.body);
        }
    }
    // A text/plain form (the kind a plain HTML form can send) and a no-cors fetch.
    let req = Request::post("/api/add_order_comment")
        .header(CONTENT_TYPE, "text/plain")
        .header(COOKIE, &admin)
        .header(ORIGIN, FOREIGN)
        .body(Body::from(format!(
            "{{\"order_id\":{order},\"body\":\"csrf\"}}"
        )))
        .unwrap();
    assert_eq!(app.send_raw(req).await.status, StatusCode::FORBIDDEN);

    // Uploads and imports are multipart routes: refused the same way.
    let boundary = "----x";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--{boundary}--\r\n"
    );
    for path in [
        format!("/staff/orders/{order}/files"),
        "/uploads".to_owned(),
        "/api/chat/photos".to_owned(),
        "/staff/admin/entities/1/prices/import".to_owned(),
        "/staff/admin/residents/import".to_owned(),
        "/staff/admin/services/1/cover".to_owned(),
    ] {
        let req = Request::post(&path)
            .header(COOKIE, &admin)
            .header(ORIGIN, FOREIGN)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(multipart.clone()))
            .unwrap();
        let reply = app.send_raw(req).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.body
        );
        // Text for the upload forms; the error's JSON where the browser app reads it.
        assert!(
            reply.body.contains("не со страницы приложения") || reply.body.contains("CrossSite"),
            "{path}: {}",
            reply.body
        );
    }
    assert_eq!(
        fingerprint(&app).await,
        before,
        "a refused request changed something"
    );
}

#[tokio::test]
async fn same_origin_requests_work_and_sign_in_is_refused_from_elsewhere() {
    let app = common::spawn().await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let order = an_order(&app, "master@demo.ru").await;
    let own = app.state.config.public_url.clone();
    let comments = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from order_comments")
            .fetch_one(app.pool())
            .await
            .unwrap()
    };
    let body = format!("order_id={order}&body=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82");
    // Origin of the app itself, and a page of the app as Referer without Origin.
    for req in [
        form_post("/api/add_order_comment", Some(&admin)).header(ORIGIN, own.as_str()),
        form_post("/api/add_order_comment", Some(&admin))
            .header(REFERER, format!("{own}/staff/orders/{order}")),
    ] {
        let reply = app
            .send_raw(req.body(Body::from(body.clone())).unwrap())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(comments().await, 2);

    // Same origin, but a body kind server functions do not take: refused, nothing stored.
    let req = Request::post("/api/add_order_comment")
        .header(CONTENT_TYPE, "text/plain")
        .header(COOKIE, &admin)
        .header(ORIGIN, own.as_str())
        .body(Body::from(body.clone()))
        .unwrap();
    let reply = app.send_raw(req).await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        reply.body
    );
    assert_eq!(comments().await, 2);

    // Login CSRF: a foreign page cannot sign the browser in as someone.
    let creds = format!(
        "email=admin%40demo.ru&password={}",
        suz::demo::DEMO_PASSWORD
    );
    let req = form_post("/api/staff_sign_in", None)
        .header(ORIGIN, FOREIGN)
        .body(Body::from(creds.clone()))
        .unwrap();
    let reply = app.send_raw(req).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.session_cookie().is_none());
    // Sign-out from elsewhere does not end the session either.
    let req = form_post("/api/sign_out", Some(&admin))
        .header(ORIGIN, FOREIGN)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send_raw(req).await.status, StatusCode::FORBIDDEN);
    let whoami = app.call("whoami", &[], Some(&admin)).await;
    assert!(whoami.body.contains("admin@demo.ru"), "{}", whoami.body);

    // The provider's webhook is authenticated by its signature, not by where it comes from.
    let req = Request::post("/payments/webhook")
        .header(CONTENT_TYPE, "application/json")
        .header(ORIGIN, FOREIGN)
        .body(Body::from("{}"))
        .unwrap();
    let reply = app.send_raw(req).await;
    assert_ne!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(!reply.body.contains("CrossSite"));
}

#[tokio::test]
async fn refusals_answer_with_their_own_status_and_message() {
    let app = common::spawn().await;
    let viewer = app.staff_cookie("viewer@demo.ru").await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let resident = app.resident_cookie("+79000000001").await;
    let order = an_order(&app, "master@demo.ru").await;
    let id = order.to_string();

    let r = app.call("order_card", &[("order_id", &id)], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app
        .call("order_card", &[("order_id", &id)], Some(&resident))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .call(
            "add_order_comment",
            &[("order_id", &id), ("body", "x")],
            Some(&viewer),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .call("order_card", &[("order_id", "99999999")], Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app
        .call(
            "add_order_comment",
            &[("order_id", &id), ("body", "   ")],
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // Someone else changed the order first.
    let r = app
        .call(
            "change_order_state",
            &[
                ("order_id", &id),
                ("version", "0"),
                ("status", "in_progress"),
                ("assignee_id", ""),
                ("comment", ""),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // Bodies of the wrong shape: a string for a number, broken or very deep JSON.
    let r = app
        .call("order_card", &[("order_id", "пять")], Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Не все поля заполнены верно"), "{}", r.body);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    for json in [
        "{\"scope\":5,\"filter\":\"x\"}".to_owned(),
        "{\"scope\":".to_owned(),
        deep,
    ] {
        let r = app.call_json("list_orders", &json, &admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{json:.40}: {}",
            r.body
        );
        assert!(r.body.contains("Не все поля заполнены верно"), "{}", r.body);
    }
    // 20 MB: refused by its size, with the limit in the message.
    let huge = format!(
        "{{\"scope\":\"All\",\"filter\":\"{}\"}}",
        "a".repeat(20 * 1024 * 1024)
    );
    let r = app.call_json("list_orders", &huge, &admin).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:.200}", r.body);
    assert!(r.body.contains("не больше 1 МБ"), "{:.200}", r.body);
    // The same without a declared length (a streamed body) is cut at the limit too.
    let stream = futures::stream::iter(
        (0..40).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; 512 * 1024]))),
    );
    let req = Request::post("/api/list_orders")
        .header(CONTENT_TYPE, "application/json")
        .header(COOKIE, &admin)
        .header(ORIGIN, app.state.config.public_url.as_str())
        .body(Body::from_stream(stream))
        .unwrap();
    let r = app.send_raw(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:.200}", r.body);
}

#[tokio::test]
async fn pages_of_orders_the_viewer_may_not_see_are_not_found() {
    let app = common::spawn().await;
    let master = app.staff_cookie("master@demo.ru").await;
    let own = an_order(&app, "master@demo.ru").await;
    let other = an_order(&app, "cleaner@demo.ru").await;
    let page = app
        .get(&format!("/staff/orders/{own}"), Some(&master))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let page = app
        .get(&format!("/staff/orders/{other}"), Some(&master))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Не найдено"));

    // A resident's request page: his own opens, another resident's is not found.
    let resident = app.resident_cookie("+79000000001").await;
    let mine: i64 = sqlx::query_scalar(
        "select order_id from orders where is_draft = 0 and resident_id = ? limit 1",
    )
    .bind(app.resident_id("+79000000001").await)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let theirs: i64 = sqlx::query_scalar(
        "select order_id from orders where is_draft = 0 and resident_id <> ? limit 1",
    )
    .bind(app.resident_id("+79000000001").await)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let page = app.get(&format!("/requests/{mine}"), Some(&resident)).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = app
        .get(&format!("/requests/{theirs}"), Some(&resident))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_dot_does_not_make_a_page_a_static_file() {
    let app = common::spawn().await;
    for path in [
        "/staff/orders/51.0",
        "/staff/exports/a.b",
        "/staff/admin/x.json",
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}: {}", r.body);
        assert!(r.location().unwrap().starts_with("/staff/login"), "{path}");
        assert!(
            !r.body.contains("Заказы"),
            "{path} rendered the staff shell"
        );
    }
}

#[tokio::test]
async fn every_kind_of_response_carries_its_security_headers() {
    let app = common::spawn().await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let common_headers = |r: &common::Reply, what: &str| {
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(r.headers["x-frame-options"], "DENY", "{what}");
        assert!(r.headers.contains_key("referrer-policy"), "{what}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(
            !r.headers.contains_key("strict-transport-security"),
            "{what}: http only"
        );
    };

    // A page of the app: scripts only by this response's nonce, nothing inline.
    let page = app.get("/staff/login", None).await;
    assert_eq!(page.status, StatusCode::OK);
    common_headers(&page, "page");
    assert_eq!(page.headers["cache-control"], "no-store");
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let script_src = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .expect("a script-src");
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    assert!(script_src.contains("'wasm-unsafe-eval'"), "{csp}");
    let nonce = script_src
        .split("'nonce-")
        .nth(1)
        .and_then(|n| n.split('\'').next())
        .expect("a nonce");
    assert!(nonce.len() >= 16);
    assert!(
        page.body.contains(&format!("nonce=\"{nonce}\"")),
        "the page's scripts carry it"
    );
    let again = app.get("/staff/login", None).await;
    assert_ne!(
        again.headers["content-security-policy"],
        page.headers["content-security-policy"]
    );

    // A server function's answer (names and addresses): never stored by a cache.
    let card = app.call("order_filter_options", &[], Some(&admin)).await;
    assert_eq!(card.status, StatusCode::OK);
    common_headers(&card, "server function");
    assert_eq!(card.headers["cache-control"], "no-store");
    let refused = app.call("order_filter_options", &[], None).await;
    common_headers(&refused, "refusal");
    assert_eq!(refused.headers["cache-control"], "no-store");
    let req = Request::post("/api/order_filter_options")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, FOREIGN)
        .body(Body::empty())
        .unwrap();
    let refused = app.send_raw(req).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    common_headers(&refused, "cross-site refusal");
    assert_eq!(refused.headers["cache-control"], "no-store");

    // An .xlsx download.
    let entity: i64 = sqlx::query_scalar("select legal_entity_id from legal_entities limit 1")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let xlsx = app
        .get(
            &format!("/staff/admin/entities/{entity}/prices/export"),
            Some(&admin),
        )
        .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    common_headers(&xlsx, "xlsx");
    assert!(xlsx.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));

    // The demo's text messages page and the health check.
    for path in ["/healthz", "/api/whoami-does-not-exist"] {
        let r = app.get(path, None).await;
        common_headers(&r, path);
    }
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_hsts_is_sent() {
    let app = common::spawn_served_with(|c| {
        c.public_url = "https://uk.example.ru".into();
        c.allowed_origins = vec!["https://crm.example.ru".into()];
    })
    .await;
    // `send` adds the public origin; the extra origin of a reverse proxy is accepted too.
    let reply = app
        .call(
            "staff_sign_in",
            &[
                ("email", "admin@demo.ru"),
                ("password", suz::demo::DEMO_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("suz_session="))
        .expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(reply.headers["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let creds = format!(
        "email=admin%40demo.ru&password={}",
        suz::demo::DEMO_PASSWORD
    );
    let req = form_post("/api/staff_sign_in", None)
        .header(ORIGIN, "https://crm.example.ru")
        .body(Body::from(creds.clone()))
        .unwrap();
    assert_eq!(app.send_raw(req).await.status, StatusCode::OK);
    let req = form_post("/api/staff_sign_in", None)
        .header(ORIGIN, "http://uk.example.ru")
        .body(Body::from(creds.clone()))
        .unwrap();
    assert_eq!(app.send_raw(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn no_js_form_posts_return_only_to_pages_of_the_app() {
    let app = common::spawn().await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let order = an_order(&app, "master@demo.ru").await;
    let own = app.state.config.public_url.clone();
    let body = format!("order_id={order}&body=ok");
    let post = |referer: String| {
        Request::post("/api/add_order_comment")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "text/html")
            .header(COOKIE, &admin)
            .header(ORIGIN, own.as_str())
            .header(REFERER, referer)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let back = app
        .send_raw(post(format!("{own}/staff/orders/{order}")))
        .await;
    assert!(back.status.is_redirection(), "{}", back.status);
    let location = back.location().unwrap();
    assert!(
        location.trim_end_matches('?') == format!("{own}/staff/orders/{order}"),
        "{location}"
    );
    let away = app
        .send_raw(post("https://evil.example/phish".into()))
        .await;
    assert!(away.status.is_redirection());
    assert_eq!(away.location(), Some("/"));
}
