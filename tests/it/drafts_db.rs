//! Database tests of orders that staff create from a draft.

use crate::common;

use suz::auth::repo::staff_by_id;
use suz::error::AppError;
use suz::orders::drafts::ssr::{self, DraftInput};
use suz::orders::filter::OrderFilter;
use suz::orders::repo::{self, ListQuery};

async fn service(app: &common::TestApp, name: &str) -> (i64, Option<i64>) {
    sqlx::query_as("select service_id, default_assignee_id from services where name = ?")
        .bind(name)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// A visit date the form takes: these saves run at moments just after the epoch, and a
/// visit lies from today to a year ahead.
const VISIT: &str = "1970-01-03T10:00";

fn vals(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

#[tokio::test]
async fn a_draft_is_kept_then_submitted_as_a_waiting_order() {
    let app = common::spawn().await;
    let dispatcher = staff_by_id(app.pool(), app.staff_id("dispatcher@demo.ru").await)
        .await
        .unwrap()
        .unwrap();
    let resident = app.resident_id("+79000000004").await;
    let premises: i64 = sqlx::query_scalar("select premises_id from resident_premises where resident_id = ? order by premises_id limit 1")
        .bind(resident)
        .fetch_one(app.pool())
        .await
        .unwrap();
    let (service_id, default_assignee) = service(&app, "Замена смесителя").await;
    let input = |values| DraftInput {
        draft_id: None,
        resident_id: resident,
        premises_id: premises,
        service_id,
        values,
    };

    // A draft may be incomplete…
    let id = ssr::save(
        app.pool(),
        &dispatcher,
        input(vals(&[("model", "Grohe Eurosmart")])),
        false,
        180,
        100,
    )
    .await
    .unwrap();
    let listed = repo::list_orders(
        app.pool(),
        &ListQuery {
            filter: OrderFilter::default(),
            after: None,
            only_assignee: None,
            limit: 100,
            utc_offset_minutes: 180,
        },
    )
    .await
    .unwrap()
    .0;
    assert!(
        listed.iter().all(|o| o.order_id != id),
        "drafts stay out of the list"
    );
    assert_eq!(
        ssr::list(app.pool(), &dispatcher).await.unwrap()[0].order_id,
        id
    );

    // …but not submitted so.
    let mut again = input(vals(&[("model", "Grohe Eurosmart")]));
    again.draft_id = Some(id);
    let refused = ssr::save(app.pool(), &dispatcher, again, true, 180, 101)
        .await
        .unwrap_err();
    let AppError::Fields(errors) = refused else {
        panic!("field errors expected")
    };
    let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["room", "visit"]);

    let mut complete = input(vals(&[
        ("model", "Grohe Eurosmart"),
        ("room", "Кухня"),
        ("visit", VISIT),
    ]));
    complete.draft_id = Some(id);
    assert_eq!(
        ssr::save(app.pool(), &dispatcher, complete, true, 180, 102)
            .await
            .unwrap(),
        id
    );
    let (status, is_draft, assignee, created_at, visit_at): (
        String,
        bool,
        Option<i64>,
        i64,
        Option<i64>,
    ) = sqlx::query_as(
        "select status, is_draft, assignee_id, created_at, visit_at from orders where order_id = ?",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), is_draft, assignee, created_at),
        ("waiting", false, default_assignee, 102)
    );
    assert!(visit_at.is_some());
    let found = repo::list_orders(
        app.pool(),
        &ListQuery {
            filter: OrderFilter {
                q: "кузнецова смесител".into(),
                ..Default::default()
            },
            after: None,
            only_assignee: None,
            limit: 100,
            utc_offset_minutes: 180,
        },
    )
    .await
    .unwrap()
    .0;
    assert!(
        found.iter().any(|o| o.order_id == id),
        "a submitted draft is searchable"
    );
    let event: (String, Option<i64>) =
        sqlx::query_as("select event, staff_id from outbox where order_id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(event, ("new_order".into(), default_assignee));
    // Submitted once: it cannot be submitted again.
    let mut twice = input(vals(&[("room", "Кухня"), ("visit", VISIT)]));
    twice.draft_id = Some(id);
    assert!(matches!(
        ssr::save(app.pool(), &dispatcher, twice, true, 180, 103).await,
        Err(AppError::Rule(_))
    ));
}

#[tokio::test]
async fn drafts_are_private_to_their_author_unless_the_role_sees_all() {
    let app = common::spawn().await;
    let master = staff_by_id(app.pool(), app.staff_id("master@demo.ru").await)
        .await
        .unwrap()
        .unwrap();
    let cleaner = staff_by_id(app.pool(), app.staff_id("cleaner@demo.ru").await)
        .await
        .unwrap()
        .unwrap();
    let admin = staff_by_id(app.pool(), app.staff_id("admin@demo.ru").await)
        .await
        .unwrap()
        .unwrap();
    let resident = app.resident_id("+79000000003").await;
    let premises: i64 =
        sqlx::query_scalar("select premises_id from resident_premises where resident_id = ?")
            .bind(resident)
            .fetch_one(app.pool())
            .await
            .unwrap();
    let (service_id, _) = service(&app, "Устранение засора").await;
    let id = ssr::save(
        app.pool(),
        &master,
        DraftInput {
            draft_id: None,
            resident_id: resident,
            premises_id: premises,
            service_id,
            values: vec![],
        },
        false,
        180,
        1,
    )
    .await
    .unwrap();
    assert_eq!(
        ssr::load(app.pool(), &cleaner, id).await.unwrap_err(),
        AppError::NotFound
    );
    assert!(ssr::list(app.pool(), &cleaner).await.unwrap().is_empty());
    assert_eq!(
        ssr::load(app.pool(), &admin, id).await.unwrap().order_id,
        id
    );
    // Premises of another resident are refused.
    let other: i64 = sqlx::query_scalar(
        "select premises_id from resident_premises where resident_id <> ? limit 1",
    )
    .bind(resident)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let r = ssr::save(
        app.pool(),
        &master,
        DraftInput {
            draft_id: None,
            resident_id: resident,
            premises_id: other,
            service_id,
            values: vec![],
        },
        false,
        180,
        2,
    )
    .await;
    assert!(matches!(r, Err(AppError::Validation(_))));
}
