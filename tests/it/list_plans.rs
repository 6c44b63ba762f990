//! The staff list's query plans, for every shape the UI can produce: each sort in both
//! directions; no filter, every filter alone and in combinations; with and without a
//! search word; the first page and a keyset page further on — on a database with
//! statistics (as the app keeps it, `PRAGMA optimize` / `ANALYZE`) and without any.
//! A plan fails if it sorts every match (`USE TEMP B-TREE FOR ORDER BY`) or walks the
//! `orders` table other than in the page's own order.

use crate::common;

use sqlx::{Connection, Row, SqliteConnection};
use suz::orders::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use suz::orders::repo::{explain_list_queries, ListQuery, SearchContext};
use suz::orders::status::OrderStatus;

/// The filters a staff member can set, alone and combined (ids are the demo's).
fn filter_sets(word: &str, today: &str, a_month_ago: &str) -> Vec<(String, OrderFilter)> {
    let base = OrderFilter::default();
    let mut sets = vec![
        ("no filter".to_owned(), base.clone()),
        (
            "status".into(),
            OrderFilter {
                status: Some(OrderStatus::Done),
                ..base.clone()
            },
        ),
        (
            "service".into(),
            OrderFilter {
                service_id: Some(1),
                ..base.clone()
            },
        ),
        (
            "assignee".into(),
            OrderFilter {
                assignee_id: Some(2),
                ..base.clone()
            },
        ),
        (
            "legal entity".into(),
            OrderFilter {
                legal_entity_id: Some(1),
                ..base.clone()
            },
        ),
        (
            "created in the last month".into(),
            OrderFilter {
                created_from: Some(a_month_ago.into()),
                created_to: Some(today.into()),
                ..base.clone()
            },
        ),
        (
            "created since a month ago".into(),
            OrderFilter {
                created_from: Some(a_month_ago.into()),
                ..base.clone()
            },
        ),
        (
            "created since 2020 (wider than month tokens)".into(),
            OrderFilter {
                created_from: Some("2020-01-01".into()),
                ..base.clone()
            },
        ),
        (
            "paid".into(),
            OrderFilter {
                payment: Some(PaymentFilter::Paid),
                ..base.clone()
            },
        ),
        (
            "unpaid".into(),
            OrderFilter {
                payment: Some(PaymentFilter::Unpaid),
                ..base.clone()
            },
        ),
        (
            "with a refund".into(),
            OrderFilter {
                has_refund: true,
                ..base.clone()
            },
        ),
        (
            "status + legal entity".into(),
            OrderFilter {
                status: Some(OrderStatus::InProgress),
                legal_entity_id: Some(2),
                ..base.clone()
            },
        ),
        (
            "service + unpaid + refund".into(),
            OrderFilter {
                service_id: Some(3),
                payment: Some(PaymentFilter::Unpaid),
                has_refund: true,
                ..base.clone()
            },
        ),
        (
            "assignee + status + dates".into(),
            OrderFilter {
                assignee_id: Some(2),
                status: Some(OrderStatus::Waiting),
                created_from: Some(a_month_ago.into()),
                created_to: Some(today.into()),
                ..base.clone()
            },
        ),
    ];
    let searched: Vec<(String, OrderFilter)> = sets
        .iter()
        .map(|(name, f)| {
            (
                format!("{name}, search «{word}»"),
                OrderFilter {
                    q: word.to_owned(),
                    ..f.clone()
                },
            )
        })
        .collect();
    sets.extend(searched);
    sets
}

/// What is wrong with a plan, if anything.
fn plan_problem(details: &[String]) -> Option<String> {
    for d in details {
        if d.contains("USE TEMP B-TREE FOR ORDER BY") {
            return Some(format!("sorts every match: {d}"));
        }
        // `SCAN o` alone is the rowid walk in the order of numbers (the page's order when
        // sorted by number, stopped at the page); a scan of an index is in that index's
        // order. Anything else reads orders out of order.
        if d.starts_with("SCAN o ")
            && !d.contains("USING INDEX")
            && !d.contains("USING COVERING INDEX")
        {
            return Some(format!("walks orders: {d}"));
        }
    }
    None
}

/// Checks every shape's plans on a connection of its own, opened now (SQLite reads the
/// statistics when a connection loads the schema).
async fn check_plans(app: &common::TestApp, statistics: &str) -> (usize, Vec<String>) {
    let word: String = sqlx::query_scalar(
        "select lower(substr(full_name, 1, 5)) from residents order by resident_id limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let now = suz::time::now();
    let day = |t: i64| suz::catalog::form::datetime_local(t, 180)[..10].to_owned();
    let (today, a_month_ago) = (day(now), day(now - 30 * 86_400));
    let mut conn = SqliteConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, filter) in filter_sets(&word, &today, &a_month_ago) {
        for sort in [
            SortKey::Number,
            SortKey::Created,
            SortKey::Updated,
            SortKey::Total,
        ] {
            for ascending in [false, true] {
                for only_assignee in [None, Some(2)] {
                    for after in [
                        None,
                        Some(Cursor {
                            value: 120_000,
                            order_id: 1_500,
                        }),
                    ] {
                        let q = ListQuery {
                            filter: OrderFilter {
                                sort,
                                ascending,
                                ..filter.clone()
                            },
                            after: after.map(|c| Cursor {
                                value: if sort == SortKey::Total {
                                    c.value
                                } else if sort == SortKey::Number {
                                    c.order_id
                                } else {
                                    now - 86_400
                                },
                                ..c
                            }),
                            only_assignee,
                            limit: 51,
                            utc_offset_minutes: 180,
                        };
                        let ctx = SearchContext::load(app.pool(), &q).await.unwrap();
                        for mut explain in explain_list_queries(&q, &ctx) {
                            let rows = explain.build().fetch_all(&mut conn).await.unwrap();
                            let details: Vec<String> =
                                rows.iter().map(|r| r.get::<String, _>("detail")).collect();
                            checked += 1;
                            if let Some(problem) = plan_problem(&details) {
                                failures.push(format!(
                                    "{statistics}; {name}; {sort:?} {}; mine: {}; after: {}: {problem}\n    {}",
                                    if ascending { "asc" } else { "desc" },
                                    only_assignee.is_some(),
                                    after.is_some(),
                                    details.join("\n    ")
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    (checked, failures)
}

fn assert_fine((checked, failures): &(usize, Vec<String>)) {
    assert!(
        failures.is_empty(),
        "{} of {checked} plans:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_list_shape_reads_only_its_page_with_and_without_statistics() {
    let app = common::spawn().await;
    // Enough orders for statistics that say something (generation ends with ANALYZE).
    suz::orders::generate::generate_orders(app.pool(), 3_000, 5)
        .await
        .unwrap();
    let stats: i64 = sqlx::query_scalar("select count(*) from sqlite_stat1 where tbl = 'orders'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(stats > 0, "the bulk load analysed the orders");
    let with = check_plans(&app, "with statistics").await;
    assert_fine(&with);

    // The same without any (a database that was never analysed).
    sqlx::query("delete from sqlite_stat1")
        .execute(app.pool())
        .await
        .unwrap();
    let without = check_plans(&app, "without statistics").await;
    assert_fine(&without);
    assert_eq!(with.0, without.0);
    assert!(with.0 >= 28 * 4 * 2 * 2 * 2 * 2, "{} plans", with.0);

    // The index the list used to be drawn to (before migration 0021) is caught: the
    // default page then sorted every order.
    sqlx::query(
        "create index orders_drafts_before on orders (is_draft, created_by_staff_id, order_id)",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let (_, caught) = check_plans(&app, "the old index").await;
    assert!(
        caught
            .iter()
            .any(|f| f.contains("no filter; Number desc") && f.contains("sorts every match")),
        "{caught:#?}"
    );
}
