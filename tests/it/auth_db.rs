//! Database tests of sign-in: passwords, one-time codes, sessions and rate limits.

use crate::common;

use suz::auth::model::Viewer;
use suz::auth::permissions::OrdersScope;
use suz::auth::{rate_limit, repo, service};
use suz::demo::DEMO_PASSWORD;
use suz::error::AppError;

const NOW: i64 = 1_800_000_000;

#[tokio::test]
async fn staff_password_sign_in_opens_a_session_with_the_role() {
    let app = common::spawn().await;
    let (staff, token) = service::staff_sign_in(
        app.pool(),
        " Master@Demo.ru ",
        DEMO_PASSWORD,
        "1.1.1.1",
        NOW,
    )
    .await
    .expect("signed in");
    assert_eq!(staff.email, "master@demo.ru");
    assert_eq!(staff.permissions.orders, OrdersScope::Assigned);
    let viewer = repo::session_viewer(app.pool(), &service::sha256_hex(&token), NOW + 1)
        .await
        .unwrap();
    assert!(matches!(viewer, Some(Viewer::Staff(s)) if s.staff_id == staff.staff_id));
    // The token itself is never stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from sessions where token_hash = ?")
        .bind(&token)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = common::spawn().await;
    let wrong = service::staff_sign_in(app.pool(), "admin@demo.ru", "nope", "1.1.1.1", NOW).await;
    let unknown =
        service::staff_sign_in(app.pool(), "nobody@demo.ru", "nope", "1.1.1.1", NOW).await;
    assert_eq!(
        wrong.unwrap_err(),
        AppError::validation("Неверный e-mail или пароль")
    );
    assert_eq!(
        unknown.unwrap_err(),
        AppError::validation("Неверный e-mail или пароль")
    );
    let bad_email = service::staff_sign_in(app.pool(), "admin", "x", "1.1.1.1", NOW).await;
    assert!(matches!(bad_email, Err(AppError::Validation(m)) if m.contains("e-mail")));
}

#[tokio::test]
async fn a_strangers_wrong_passwords_do_not_lock_the_owner_out() {
    let app = common::spawn().await;
    let tight = rate_limit::PASSWORD_PER_ACCOUNT_AND_ADDRESS.limits[0];
    for i in 0..tight.max {
        let r =
            service::staff_sign_in(app.pool(), "admin@demo.ru", "nope", "6.6.6.6", NOW + i).await;
        assert!(matches!(r, Err(AppError::Validation(_))));
    }
    // The stranger's address is stopped, even with the right password...
    let r = service::staff_sign_in(
        app.pool(),
        "admin@demo.ru",
        DEMO_PASSWORD,
        "6.6.6.6",
        NOW + 10,
    )
    .await;
    assert!(matches!(r, Err(AppError::RateLimited(m)) if m.contains("Слишком много попыток")));
    // ...while the owner signs in from another address meanwhile.
    assert!(service::staff_sign_in(
        app.pool(),
        "admin@demo.ru",
        DEMO_PASSWORD,
        "10.9.9.9",
        NOW + 11
    )
    .await
    .is_ok());
    // After the window the stranger's address may try again.
    let later = NOW + tight.window_secs + 10;
    assert!(
        service::staff_sign_in(app.pool(), "admin@demo.ru", DEMO_PASSWORD, "6.6.6.6", later)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn brute_force_from_many_addresses_meets_the_daily_ceiling() {
    let app = common::spawn().await;
    let per_address = rate_limit::PASSWORD_PER_ACCOUNT_AND_ADDRESS.limits[0].max;
    let ceiling = rate_limit::PASSWORD_PER_ACCOUNT.limits[0];
    let mut guesses = 0;
    let mut address = 0;
    while guesses < ceiling.max {
        address += 1;
        for _ in 0..per_address.min(ceiling.max - guesses) {
            let r = service::staff_sign_in(
                app.pool(),
                "viewer@demo.ru",
                "nope",
                &format!("10.3.{}.{}", address / 200, address % 200),
                NOW + guesses,
            )
            .await;
            assert!(matches!(r, Err(AppError::Validation(_))), "{r:?}");
            guesses += 1;
        }
    }
    // A fresh address gets no further guess at this account today...
    let r = service::staff_sign_in(
        app.pool(),
        "viewer@demo.ru",
        DEMO_PASSWORD,
        "10.4.0.1",
        NOW + guesses,
    )
    .await;
    assert!(matches!(r, Err(AppError::RateLimited(m)) if m.contains("Слишком много попыток")));
    // ...other accounts are not affected, and the next day it may try again.
    assert!(
        service::staff_sign_in(app.pool(), "admin@demo.ru", DEMO_PASSWORD, "10.4.0.1", NOW)
            .await
            .is_ok()
    );
    assert!(service::staff_sign_in(
        app.pool(),
        "viewer@demo.ru",
        DEMO_PASSWORD,
        "10.4.0.1",
        NOW + ceiling.window_secs + guesses
    )
    .await
    .is_ok());
}

#[tokio::test]
async fn password_attempts_are_limited_per_address() {
    let app = common::spawn().await;
    for i in 0..rate_limit::PASSWORD_PER_ADDRESS.limits[0].max {
        let _ = service::staff_sign_in(
            app.pool(),
            &format!("guess{i}@demo.ru"),
            "nope",
            "6.6.6.6",
            NOW,
        )
        .await;
    }
    let r =
        service::staff_sign_in(app.pool(), "viewer@demo.ru", DEMO_PASSWORD, "6.6.6.6", NOW).await;
    assert!(matches!(r, Err(AppError::RateLimited(_))));
    assert!(
        service::staff_sign_in(app.pool(), "viewer@demo.ru", DEMO_PASSWORD, "7.7.7.7", NOW)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn deactivated_staff_cannot_sign_in_and_lose_their_sessions() {
    let app = common::spawn().await;
    let (_, token) =
        service::staff_sign_in(app.pool(), "viewer@demo.ru", DEMO_PASSWORD, "1.1.1.1", NOW)
            .await
            .unwrap();
    sqlx::query("update staff set active = 0 where email = 'viewer@demo.ru'")
        .execute(app.pool())
        .await
        .unwrap();
    let r =
        service::staff_sign_in(app.pool(), "viewer@demo.ru", DEMO_PASSWORD, "1.1.1.1", NOW).await;
    assert_eq!(
        r.unwrap_err(),
        AppError::validation("Неверный e-mail или пароль")
    );
    assert_eq!(
        repo::session_viewer(app.pool(), &service::sha256_hex(&token), NOW)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn sessions_expire() {
    let app = common::spawn().await;
    let (_, token) =
        service::staff_sign_in(app.pool(), "viewer@demo.ru", DEMO_PASSWORD, "1.1.1.1", NOW)
            .await
            .unwrap();
    let hash = service::sha256_hex(&token);
    assert!(
        repo::session_viewer(app.pool(), &hash, NOW + service::STAFF_SESSION_SECS - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        repo::session_viewer(app.pool(), &hash, NOW + service::STAFF_SESSION_SECS)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        repo::delete_expired_sessions(app.pool(), NOW + service::STAFF_SESSION_SECS)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn one_time_code_signs_a_resident_in_once() {
    let app = common::spawn().await;
    let sent = service::request_code(
        app.pool(),
        app.state.sms.as_ref(),
        "8 (900) 000-00-05",
        "1.1.1.1",
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(sent.phone, "+7 900 000-00-05");
    let code = app.last_code("+79000000005").await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    assert_eq!(
        service::verify_code(app.pool(), "+79000000005", wrong, "1.1.1.1", NOW + 5)
            .await
            .unwrap_err(),
        AppError::validation("Неверный код")
    );
    let (resident, token) =
        service::verify_code(app.pool(), "+79000000005", &code, "1.1.1.1", NOW + 6)
            .await
            .unwrap();
    assert_eq!(resident.full_name, "Смирнов Олег Николаевич");
    let viewer = repo::session_viewer(app.pool(), &service::sha256_hex(&token), NOW + 7)
        .await
        .unwrap();
    assert!(matches!(viewer, Some(Viewer::Resident(r)) if r.resident_id == resident.resident_id));
    // Single use.
    let again = service::verify_code(app.pool(), "+79000000005", &code, "1.1.1.1", NOW + 8).await;
    assert!(again.is_err());
}

#[tokio::test]
async fn codes_expire_and_burn_after_too_many_attempts() {
    let app = common::spawn().await;
    let sms = app.state.sms.clone();
    service::request_code(app.pool(), sms.as_ref(), "+79000000006", "1.1.1.1", NOW)
        .await
        .unwrap();
    let code = app.last_code("+79000000006").await;
    let expired = service::verify_code(
        app.pool(),
        "+79000000006",
        &code,
        "1.1.1.1",
        NOW + service::CODE_TTL_SECS,
    )
    .await;
    assert!(matches!(expired, Err(AppError::Validation(m)) if m.contains("истёк")));

    service::request_code(
        app.pool(),
        sms.as_ref(),
        "+79000000006",
        "1.1.1.1",
        NOW + 1000,
    )
    .await
    .unwrap();
    let code = app.last_code("+79000000006").await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for i in 0..service::CODE_MAX_ATTEMPTS {
        let _ = service::verify_code(app.pool(), "+79000000006", wrong, "1.1.1.1", NOW + 1001 + i)
            .await;
    }
    let burnt =
        service::verify_code(app.pool(), "+79000000006", &code, "1.1.1.1", NOW + 1010).await;
    assert!(matches!(burnt, Err(AppError::Validation(m)) if m.contains("Запросите новый код")));
}

#[tokio::test]
async fn code_requests_are_limited() {
    let app = common::spawn().await;
    let sms = app.state.sms.clone();
    service::request_code(app.pool(), sms.as_ref(), "+79000000007", "1.1.1.1", NOW)
        .await
        .unwrap();
    let soon = service::request_code(
        app.pool(),
        sms.as_ref(),
        "+79000000007",
        "1.1.1.1",
        NOW + 10,
    )
    .await;
    assert!(matches!(soon, Err(AppError::RateLimited(m)) if m.contains("через 50 с")));
    let per_address = rate_limit::CODE_REQUEST_PER_PHONE_AND_ADDRESS.limits[0].max;
    for i in 1..per_address {
        service::request_code(
            app.pool(),
            sms.as_ref(),
            "+79000000007",
            "1.1.1.1",
            NOW + i * 61,
        )
        .await
        .unwrap();
    }
    let too_many = service::request_code(
        app.pool(),
        sms.as_ref(),
        "+79000000007",
        "1.1.1.1",
        NOW + 1000,
    )
    .await;
    assert!(matches!(too_many, Err(AppError::RateLimited(m)) if m.contains("мин.")));
    let sent: i64 = sqlx::query_scalar("select count(*) from dev_sms where phone = '+79000000007'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(sent, per_address);
    // The phone's owner, at another address, still gets a code.
    service::request_code(
        app.pool(),
        sms.as_ref(),
        "+79000000007",
        "2.2.2.2",
        NOW + 1000,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn known_and_unknown_phones_get_the_same_answer_and_only_residents_a_code() {
    let app = common::spawn().await;
    let sms = app.state.sms.clone();
    let known =
        service::request_code(app.pool(), sms.as_ref(), "+79000000004", "1.1.1.1", NOW).await;
    let unknown =
        service::request_code(app.pool(), sms.as_ref(), "+79991112233", "1.1.1.1", NOW).await;
    assert_eq!(known.unwrap().resend_after_secs, service::CODE_RESEND_SECS);
    assert_eq!(
        unknown.unwrap(),
        service::CodeSent {
            phone: "+7 999 111-22-33".into(),
            resend_after_secs: service::CODE_RESEND_SECS,
        }
    );
    // Asking again at once is refused alike.
    let known_again =
        service::request_code(app.pool(), sms.as_ref(), "+79000000004", "1.1.1.1", NOW + 1).await;
    let unknown_again =
        service::request_code(app.pool(), sms.as_ref(), "+79991112233", "1.1.1.1", NOW + 1).await;
    assert_eq!(known_again.unwrap_err(), unknown_again.unwrap_err());
    // A code for the unknown phone fails like a wrong code, every one of them.
    for code in ["000000", "123456", "999999"] {
        assert_eq!(
            service::verify_code(app.pool(), "+79991112233", code, "1.1.1.1", NOW + 2)
                .await
                .unwrap_err(),
            AppError::validation("Неверный код")
        );
    }
    // A blocked resident gets the same answer on screen; the text message says why.
    sqlx::query("update residents set blocked = 1 where phone = '+79000000008'")
        .execute(app.pool())
        .await
        .unwrap();
    let blocked =
        service::request_code(app.pool(), sms.as_ref(), "+79000000008", "1.1.1.1", NOW).await;
    assert!(blocked.is_ok());
    let sent: Vec<(String, String)> =
        sqlx::query_as("select phone, body from dev_sms order by dev_sms_id")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, "+79000000004");
    assert!(sent[0].1.contains("Код для входа"));
    assert_eq!(sent[1].0, "+79000000008");
    assert!(sent[1].1.contains("заблокирован") && !sent[1].1.chars().any(|c| c.is_ascii_digit()));
}

#[tokio::test]
async fn demo_seed_is_idempotent_and_complete() {
    let app = common::spawn().await;
    suz::demo::seed(app.pool()).await.unwrap();
    let counts: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from legal_entities), (select count(*) from roles), (select count(*) from staff), \
         (select count(*) from residents), (select count(*) from services), (select count(*) from orders)",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(counts, (3, 5, 6, 10, 10, 50));
    let statuses: i64 = sqlx::query_scalar("select count(distinct status) from orders")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(statuses, 4);
}

#[tokio::test]
async fn parallel_password_guesses_cannot_outrun_the_limit() {
    let app = common::spawn().await;
    let pool = app.pool().clone();
    let guesses = (0..12).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            service::staff_sign_in(
                &pool,
                "admin@demo.ru",
                &format!("guess{i}"),
                "10.1.1.1",
                NOW,
            )
            .await
        })
    });
    let mut checked = 0;
    for g in guesses {
        match g.await.unwrap() {
            Err(AppError::Validation(_)) => checked += 1,
            Err(AppError::RateLimited(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        checked,
        rate_limit::PASSWORD_PER_ACCOUNT_AND_ADDRESS.limits[0].max,
        "only the allowed number of guesses is checked"
    );
}

#[tokio::test]
async fn parallel_code_guesses_cannot_exceed_the_code_attempts() {
    let app = common::spawn().await;
    service::request_code(
        app.pool(),
        app.state.sms.as_ref(),
        "+79000000010",
        "1.1.1.1",
        NOW,
    )
    .await
    .unwrap();
    let code = app.last_code("+79000000010").await;
    let pool = app.pool().clone();
    let guesses = (0..9).map(|i| {
        let pool = pool.clone();
        let wrong = if code == format!("{i:06}") {
            "999999".to_owned()
        } else {
            format!("{i:06}")
        };
        tokio::spawn(async move {
            service::verify_code(
                &pool,
                "+79000000010",
                &wrong,
                &format!("10.2.2.{i}"),
                NOW + 1,
            )
            .await
        })
    });
    for g in guesses {
        assert!(g.await.unwrap().is_err());
    }
    let attempts: i64 =
        sqlx::query_scalar("select attempts from login_codes where phone = '+79000000010'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(attempts, service::CODE_MAX_ATTEMPTS);
    // The code is spent: even the right one no longer signs in.
    assert!(
        service::verify_code(app.pool(), "+79000000010", &code, "1.1.1.1", NOW + 2)
            .await
            .is_err()
    );
}
