//! Database tests of the staff orders list (search, filters, keyset pages, visibility)
//! and of the order rules (status, assignee, phone, comments).

use crate::common;

use suz::auth::model::StaffUser;
use suz::auth::repo::staff_by_id;
use suz::error::AppError;
use suz::orders::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use suz::orders::repo::{self, ListQuery};
use suz::orders::service::{self, StateChange};
use suz::orders::status::OrderStatus;

fn query(filter: OrderFilter) -> ListQuery {
    ListQuery {
        filter,
        after: None,
        only_assignee: None,
        limit: 1000,
        utc_offset_minutes: 180,
    }
}

async fn ids(app: &common::TestApp, q: &ListQuery) -> Vec<i64> {
    repo::list_orders(app.pool(), q)
        .await
        .unwrap()
        .0
        .iter()
        .map(|o| o.order_id)
        .collect()
}

async fn staff(app: &common::TestApp, email: &str) -> StaffUser {
    staff_by_id(app.pool(), app.staff_id(email).await)
        .await
        .unwrap()
        .unwrap()
}

async fn order_status(app: &common::TestApp, id: i64) -> String {
    sqlx::query_scalar("select status from orders where order_id = ?")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn assignee_of(app: &common::TestApp, id: i64) -> Option<i64> {
    sqlx::query_scalar("select assignee_id from orders where order_id = ?")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// The orders with, for every word, a word of their number, service name, client or
/// address that starts with it — worked out here from the rows, not by the search.
async fn words_match(app: &common::TestApp, words: &str) -> Vec<i64> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "select o.order_id, s.name, r.full_name, p.address from orders o \
         join services s on s.service_id = o.service_id \
         join residents r on r.resident_id = o.resident_id \
         join premises p on p.premises_id = o.premises_id \
         where o.is_draft = 0 order by o.order_id desc",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let terms = suz::search::terms(words);
    rows.into_iter()
        .filter(|(id, service, client, address)| {
            let text = suz::search::normalize(&format!("{id} {service} {client} {address}"));
            terms
                .iter()
                .all(|t| suz::search::has_word_starting_with(&text, t))
        })
        .map(|(id, ..)| id)
        .collect()
}

fn search(q: &str) -> OrderFilter {
    OrderFilter {
        q: q.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn search_finds_by_client_service_address_and_number_folding_yo() {
    let app = common::spawn().await;
    let semenova = app.resident_id("+79000000002").await;
    let expected: Vec<i64> = sqlx::query_scalar(
        "select order_id from orders where resident_id = ? order by order_id desc",
    )
    .bind(semenova)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert!(!expected.is_empty());
    // Typed with «е» for «ё» and in capitals.
    assert_eq!(ids(&app, &query(search("СЕМЕНОВА"))).await, expected);
    assert_eq!(ids(&app, &query(search("семёнова мария"))).await, expected);
    // Address words, in any order.
    // Семёнова lives at «ул. Ленина, д. 10, кв. 42»; order № 42 on Ленина matches the number too.
    let flat: Vec<i64> = ids(&app, &query(search("42 Ленина")))
        .await
        .into_iter()
        .filter(|id| !id.to_string().starts_with("42"))
        .collect();
    assert_eq!(flat, expected);
    // Service name prefix.
    let mixers: Vec<i64> = sqlx::query_scalar(
        "select o.order_id from orders o join services s using (service_id) where s.name = 'Замена смесителя' order by o.order_id desc",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(ids(&app, &query(search("смесит"))).await, mixers);
    // The order number.
    assert!(ids(&app, &query(search("17"))).await.contains(&17));
    // Nothing matches nonsense, and FTS syntax is not interpreted.
    assert!(ids(&app, &query(search("щщщщ"))).await.is_empty());
    assert!(ids(&app, &query(search("NEAR(\"a\" OR"))).await.is_empty());
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = common::spawn().await;
    let all = ids(&app, &query(OrderFilter::default())).await;
    assert_eq!(all.len(), 50);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first");

    for status in OrderStatus::ALL {
        let rows = repo::list_orders(
            app.pool(),
            &query(OrderFilter {
                status: Some(status),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .0;
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|o| o.status == status));
    }
    let master = app.staff_id("master@demo.ru").await;
    let by_assignee = ids(
        &app,
        &query(OrderFilter {
            assignee_id: Some(master),
            ..Default::default()
        }),
    )
    .await;
    let expected: Vec<i64> = sqlx::query_scalar(
        "select order_id from orders where assignee_id = ? order by order_id desc",
    )
    .bind(master)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(by_assignee, expected);

    let entity: i64 = sqlx::query_scalar(
        "select legal_entity_id from legal_entities where name like '%ЧистоДом%'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let expected: Vec<i64> = sqlx::query_scalar(
        "select order_id from orders where legal_entity_id = ? order by order_id desc",
    )
    .bind(entity)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        ids(
            &app,
            &query(OrderFilter {
                legal_entity_id: Some(entity),
                ..Default::default()
            })
        )
        .await,
        expected
    );

    sqlx::query("update orders set all_paid = 1, total_kopecks = 150000 where order_id in (3, 7)")
        .execute(app.pool())
        .await
        .unwrap();
    sqlx::query(
        "update orders set refund_state = 'requested', refund_kopecks = 5000 where order_id = 7",
    )
    .execute(app.pool())
    .await
    .unwrap();
    assert_eq!(
        ids(
            &app,
            &query(OrderFilter {
                payment: Some(PaymentFilter::Paid),
                ..Default::default()
            })
        )
        .await,
        vec![7, 3]
    );
    assert_eq!(
        ids(
            &app,
            &query(OrderFilter {
                payment: Some(PaymentFilter::Unpaid),
                ..Default::default()
            })
        )
        .await
        .len(),
        48
    );
    assert_eq!(
        ids(
            &app,
            &query(OrderFilter {
                has_refund: true,
                ..Default::default()
            })
        )
        .await,
        vec![7]
    );

    // Created-date range in Moscow time: move two orders to known days.
    sqlx::query("update orders set created_at = 1767214800 where order_id = 5")
        .execute(app.pool())
        .await
        .unwrap(); // 2026-01-01 00:00 MSK
    sqlx::query("update orders set created_at = 1767214799 where order_id = 6")
        .execute(app.pool())
        .await
        .unwrap(); // 2025-12-31 23:59:59 MSK
    let f = OrderFilter {
        created_from: Some("2025-12-31".into()),
        created_to: Some("2026-01-01".into()),
        ..Default::default()
    };
    assert_eq!(ids(&app, &query(f)).await, vec![6, 5]);
    let f = OrderFilter {
        created_from: Some("2026-01-01".into()),
        created_to: Some("2026-01-01".into()),
        ..Default::default()
    };
    assert_eq!(ids(&app, &query(f)).await, vec![5]);
}

#[tokio::test]
async fn keyset_pages_cover_every_row_once_in_every_sort() {
    let app = common::spawn().await;
    // Ties on the sort value must still page correctly.
    sqlx::query("update orders set total_kopecks = (order_id % 3) * 1000, updated_at = 1800000000 + (order_id % 4)")
        .execute(app.pool())
        .await
        .unwrap();
    for sort in SortKey::ALL {
        for ascending in [false, true] {
            for q in ["", "ул"] {
                let filter = OrderFilter {
                    q: q.into(),
                    sort,
                    ascending,
                    ..Default::default()
                };
                let full = ids(&app, &query(filter.clone())).await;
                let mut paged = Vec::new();
                let mut after: Option<Cursor> = None;
                loop {
                    let lq = ListQuery {
                        filter: filter.clone(),
                        after,
                        only_assignee: None,
                        limit: 7,
                        utc_offset_minutes: 180,
                    };
                    let (rows, next) = repo::list_orders(app.pool(), &lq).await.unwrap();
                    assert!(rows.len() <= 7);
                    paged.extend(rows.iter().map(|r| r.order_id));
                    match next {
                        Some(c) => after = Some(c),
                        None => break,
                    }
                }
                assert_eq!(paged, full, "{sort:?} asc={ascending} q={q:?}");
                assert!(!full.is_empty());
            }
        }
    }
}

#[tokio::test]
async fn assigned_only_lists_hold_only_own_orders() {
    let app = common::spawn().await;
    let cleaner = app.staff_id("cleaner@demo.ru").await;
    for q in ["", "уборка", "ул"] {
        let lq = ListQuery {
            only_assignee: Some(cleaner),
            ..query(search(q))
        };
        let rows = repo::list_orders(app.pool(), &lq).await.unwrap().0;
        for r in &rows {
            let a: Option<i64> =
                sqlx::query_scalar("select assignee_id from orders where order_id = ?")
                    .bind(r.order_id)
                    .fetch_one(app.pool())
                    .await
                    .unwrap();
            assert_eq!(a, Some(cleaner));
        }
        if q.is_empty() {
            assert!(!rows.is_empty());
        }
    }
}

#[tokio::test]
async fn search_is_driven_from_the_full_text_index_in_every_sort() {
    let app = common::spawn().await;
    for sort in SortKey::ALL {
        for ascending in [false, true] {
            let q = ListQuery {
                after: Some(Cursor {
                    value: 100,
                    order_id: 40,
                }),
                ..query(OrderFilter {
                    q: "иванов ленина".into(),
                    status: Some(OrderStatus::Waiting),
                    legal_entity_id: Some(1),
                    sort,
                    ascending,
                    ..Default::default()
                })
            };
            let ctx = repo::SearchContext::load(app.pool(), &q).await.unwrap();
            let sql = repo::build_page_query(&q, &ctx).sql().to_owned();
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("explain query plan {sql}"))
                    .bind("\"иванов\"* \"ленина\"* \"_swaiting\"")
                    .bind(1i64)
                    .bind(51i64)
                    .fetch_all(app.pool())
                    .await
                    .unwrap();
            assert!(
                plan[0].3.starts_with("SCAN f VIRTUAL TABLE"),
                "the FTS table drives the page: {plan:?}"
            );
            assert!(
                plan.iter().all(|p| !p.3.contains("TEMP B-TREE")),
                "{sort:?} asc={ascending}: the index's rowid order is the sort, no sort step: {plan:?}"
            );
        }
    }
}

/// Every combination of search words, filters and sort gives exactly the rows of the
/// same filters and sort without words (another query: `orders` by its indexes) that
/// the words match — also after the orders change under the indexes.
#[tokio::test]
async fn searches_with_filters_agree_with_the_unsearched_list_in_every_sort() {
    let app = common::spawn().await;
    let pool = app.pool();
    let master = app.staff_id("master@demo.ru").await;
    let entity: i64 = sqlx::query_scalar(
        "select legal_entity_id from legal_entities where name like '%ЧистоДом%'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    // Another legal entity than the cleaning partner, and the partner's cleaning service:
    // the word «уборка» is in that service's name only.
    let other_entity: i64 = sqlx::query_scalar(
        "select legal_entity_id from legal_entities where legal_entity_id <> ? limit 1",
    )
    .bind(entity)
    .fetch_one(pool)
    .await
    .unwrap();
    let cleaning: i64 = sqlx::query_scalar(
        "select service_id from services where name like '%борка%' and legal_entity_id = ? limit 1",
    )
    .bind(entity)
    .fetch_one(pool)
    .await
    .unwrap();
    let check = |round: &'static str| {
        let app = &app;
        async move {
            let filters = [
                OrderFilter::default(),
                OrderFilter {
                    status: Some(OrderStatus::Waiting),
                    ..Default::default()
                },
                OrderFilter {
                    status: Some(OrderStatus::Done),
                    payment: Some(PaymentFilter::Paid),
                    ..Default::default()
                },
                OrderFilter {
                    assignee_id: Some(master),
                    ..Default::default()
                },
                OrderFilter {
                    legal_entity_id: Some(entity),
                    payment: Some(PaymentFilter::Unpaid),
                    ..Default::default()
                },
                OrderFilter {
                    has_refund: true,
                    ..Default::default()
                },
                OrderFilter {
                    created_from: Some("2026-01-01".into()),
                    ..Default::default()
                },
                // Ranges over months (tokens) and within one, both bounds or one.
                OrderFilter {
                    created_from: Some("2026-01-20".into()),
                    created_to: Some("2026-03-05".into()),
                    ..Default::default()
                },
                OrderFilter {
                    created_from: Some("2026-11-02".into()),
                    created_to: Some("2026-11-20".into()),
                    status: Some(OrderStatus::InProgress),
                    ..Default::default()
                },
                OrderFilter {
                    created_to: Some("2026-06-30".into()),
                    ..Default::default()
                },
                OrderFilter {
                    created_from: Some("2026-10-01".into()),
                    ..Default::default()
                },
                // Words of service names, with the filters that decide which services count.
                OrderFilter {
                    created_from: Some("2026-02-01".into()),
                    created_to: Some("2026-02-28".into()),
                    ..Default::default()
                },
                OrderFilter {
                    service_id: Some(cleaning),
                    ..Default::default()
                },
                OrderFilter {
                    legal_entity_id: Some(other_entity),
                    ..Default::default()
                },
                OrderFilter {
                    legal_entity_id: Some(entity),
                    ..Default::default()
                },
            ];
            let mut compared = 0;
            for words in ["ул", "уборка", "замена ул", "2", "уборка ул"] {
                let matched = words_match(app, words).await;
                assert!(!matched.is_empty(), "{words:?} matches orders");
                assert_eq!(
                    ids(app, &query(search(words))).await,
                    matched,
                    "{round}: {words:?}"
                );
                for filter in &filters {
                    for only_assignee in [None, Some(master)] {
                        for sort in SortKey::ALL {
                            for ascending in [false, true] {
                                let plain = ListQuery {
                                    only_assignee,
                                    ..query(OrderFilter {
                                        sort,
                                        ascending,
                                        ..filter.clone()
                                    })
                                };
                                let expected: Vec<i64> = ids(app, &plain)
                                    .await
                                    .into_iter()
                                    .filter(|id| matched.contains(id))
                                    .collect();
                                let searched = ListQuery {
                                    filter: OrderFilter {
                                        q: words.into(),
                                        ..plain.filter.clone()
                                    },
                                    ..plain
                                };
                                let ctx = repo::SearchContext::load(app.pool(), &searched)
                                    .await
                                    .unwrap();
                                let counted: i64 = repo::build_count_query(&searched, &ctx)
                                    .build_query_scalar()
                                    .fetch_one(app.pool())
                                    .await
                                    .unwrap();
                                assert_eq!(counted, expected.len() as i64, "{words:?} {filter:?}");
                                assert_eq!(
                                    ids(app, &searched).await,
                                    expected,
                                    "{round}: {words:?} {filter:?} {sort:?} asc={ascending} only={only_assignee:?}"
                                );
                                compared += expected.len();
                            }
                        }
                    }
                }
            }
            assert!(compared > 1000, "{round}: the cases hold rows ({compared})");
        }
    };
    check("as seeded").await;
    // Change what the indexes hold, the way services do: plain updates of `orders`.
    sqlx::query(
        "update orders set total_kopecks = (order_id * 7919) % 500000, all_paid = order_id % 2, \
         updated_at = updated_at + (order_id % 5) * 3600 where order_id % 3 = 0",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("update orders set status = 'done', assignee_id = ? where order_id % 4 = 1")
        .bind(master)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("update orders set refund_state = 'processing' where order_id % 6 = 0")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "update orders set created_at = 1767214800 + order_id * 86400 where order_id % 5 = 2",
    )
    .execute(pool)
    .await
    .unwrap();
    // The cleaning service moves to another provider; its orders keep theirs and are
    // still found by its name with their own legal entity's filter.
    sqlx::query("update services set legal_entity_id = ? where service_id = ?")
        .bind(other_entity)
        .bind(cleaning)
        .execute(pool)
        .await
        .unwrap();
    check("after changes").await;

    // No stale entries: each index holds every order once.
    let orders: i64 = sqlx::query_scalar("select count(*) from orders where is_draft = 0")
        .fetch_one(pool)
        .await
        .unwrap();
    for table in [
        "orders_fts",
        "orders_fts_created",
        "orders_fts_updated",
        "orders_fts_total",
    ] {
        let mut n = 0;
        for status in OrderStatus::ALL {
            let c: i64 = sqlx::query_scalar(&format!(
                "select count(*) from {table} where {table} match ?"
            ))
            .bind(format!("\"_s{}\"", status.as_db()))
            .fetch_one(pool)
            .await
            .unwrap();
            n += c;
        }
        assert_eq!(n, orders, "{table}");
    }
    // A user's words never reach the filter tokens.
    assert!(ids(&app, &query(search("_swaiting"))).await.len() < 50);
    assert!(ids(&app, &query(search("swaiting"))).await.is_empty());
}

/// The export's pages (packed by SQLite) hold exactly the list's rows in the list's
/// order, with ties on the sort value across page ends.
#[tokio::test]
async fn export_pages_hold_the_list_in_its_order() {
    let app = common::spawn().await;
    sqlx::query("update orders set total_kopecks = (order_id % 4) * 2500, updated_at = 1800000000 + (order_id % 3)")
        .execute(app.pool())
        .await
        .unwrap();
    for sort in SortKey::ALL {
        for ascending in [false, true] {
            for (q, status) in [
                ("", None),
                ("ул", None),
                ("", Some(OrderStatus::Waiting)),
                ("ул", Some(OrderStatus::Waiting)),
            ] {
                let lq = query(OrderFilter {
                    q: q.into(),
                    status,
                    sort,
                    ascending,
                    ..Default::default()
                });
                let listed = repo::list_orders(app.pool(), &lq).await.unwrap().0;
                let mut exported = Vec::new();
                let ctx = repo::SearchContext::load(app.pool(), &lq).await.unwrap();
                let mut page = ListQuery { limit: 4, ..lq };
                loop {
                    let (rows, next) = repo::export_page(app.pool(), &page, &ctx).await.unwrap();
                    assert!(rows.len() <= 4);
                    exported.extend(rows);
                    match next {
                        Some(c) => page.after = Some(c),
                        None => break,
                    }
                }
                assert!(!listed.is_empty());
                assert_eq!(
                    exported, listed,
                    "{sort:?} asc={ascending} q={q:?} {status:?}"
                );
            }
        }
    }
}

/// Orders without search text (all of them right after migration 0010) are indexed at
/// start, batch after batch, and found again in every sort.
#[tokio::test]
async fn orders_missing_from_the_index_are_indexed_at_start() {
    let app = common::spawn().await;
    let pool = app.pool();
    let before = ids(&app, &query(search("ул"))).await;
    assert!(!before.is_empty());
    let orders: i64 = sqlx::query_scalar("select count(*) from orders where is_draft = 0")
        .fetch_one(pool)
        .await
        .unwrap();
    sqlx::query("delete from order_search")
        .execute(pool)
        .await
        .unwrap();
    assert!(ids(&app, &query(search("ул"))).await.is_empty());
    // Start-up looks only above the last order it checked (migration 0021): a migration
    // that empties the index says so by forgetting that mark, as this one does.
    assert_eq!(
        repo::index_missing(pool).await.unwrap(),
        0,
        "checked before"
    );
    sqlx::query("delete from search_checked")
        .execute(pool)
        .await
        .unwrap();
    let trigger = || async {
        sqlx::query_scalar::<_, String>(
            "select sql from sqlite_master where type = 'trigger' and name = 'order_search_insert'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let trigger_before = trigger().await;
    assert_eq!(repo::index_missing(pool).await.unwrap() as i64, orders);
    assert_eq!(repo::index_missing(pool).await.unwrap(), 0, "nothing twice");
    // The bulk indexing set the insert trigger aside and put it back as it was.
    assert_eq!(trigger().await, trigger_before);
    for table in [
        "orders_fts",
        "orders_fts_created",
        "orders_fts_updated",
        "orders_fts_total",
    ] {
        let held: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(held, orders, "{table} holds every order once");
    }
    // And it works: one order indexed again row by row is found the same way.
    let mut conn = pool.acquire().await.unwrap();
    repo::index_order(&mut conn, before[0]).await.unwrap();
    drop(conn);
    for sort in SortKey::ALL {
        let mut found = ids(
            &app,
            &query(OrderFilter {
                sort,
                ..search("ул")
            }),
        )
        .await;
        found.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(found, before, "{sort:?}");
    }
}

/// The month and day tokens the indexes hold (SQL, from the order's creation time) are
/// the ones the list asks for (Rust), before 2020, at month ends and across local midnight.
#[tokio::test]
async fn month_and_day_tokens_agree_between_the_index_and_the_query() {
    let app = common::spawn().await;
    let pool = app.pool();
    let order: i64 = sqlx::query_scalar("select order_id from order_search limit 1")
        .fetch_one(pool)
        .await
        .unwrap();
    for ts in [
        -86_400 * 400,
        0,
        1_577_836_799, // 2019-12-31 23:59:59 UTC
        1_577_836_800, // 2020-01-01
        1_580_515_199, // 2020-01-31 23:59:59
        1_580_515_200, // 2020-02-01
        1_769_893_200, // 2026-02-01 00:00 in Moscow, still January in UTC
        1_798_761_599, // 2026-12-31 23:59:59
        1_798_761_600, // 2027-01-01
    ] {
        sqlx::query("update orders set created_at = ? where order_id = ?")
            .bind(ts)
            .bind(order)
            .execute(pool)
            .await
            .unwrap();
        let doc: String =
            sqlx::query_scalar("select doc from order_search_docs where order_id = ?")
                .bind(order)
                .fetch_one(pool)
                .await
                .unwrap();
        assert!(
            doc.ends_with(&format!(
                " _m{} _d{}",
                repo::month_token(ts),
                repo::day_token(ts)
            )),
            "{ts}: {doc}"
        );
    }
    assert_eq!(repo::day_token(-86_400 * 400), 0);
    assert_eq!(repo::day_token(1_577_836_799), 0);
    assert_eq!(repo::day_token(1_577_836_800), 0);
    assert_eq!(repo::day_token(1_577_836_800 + 86_399), 0);
    assert_eq!(repo::day_token(1_577_836_800 + 86_400), 1);
    assert_eq!(repo::day_token(1_580_515_200), 31);
    assert_eq!(repo::month_token(1_577_836_799), 0);
    assert_eq!(repo::month_token(1_580_515_200), 1);
    assert_eq!(repo::month_token(1_769_893_200), 72);
    assert_eq!(repo::month_token(1_798_761_600), 84);
}

/// The sort keys of the indexes: the value's order, then the number's; clamped values
/// keep their place at the ends.
#[test]
fn sort_keys_order_like_their_value_then_number() {
    let k = |v, id| repo::sort_key(SortKey::Total, v, id);
    assert!(k(100, 5) < k(100, 6));
    assert!(k(100, 6) < k(101, 1));
    assert!(k(-5, 9) < k(1, 1));
    assert_eq!(k(-5, 9), k(0, 9));
    assert!(k(i64::MAX, 1) > k(8_589_934_590, 9));
    assert!(k(i64::MAX, 1) > 0);
    let t = |v, id| repo::sort_key(SortKey::Updated, v, id);
    assert!(t(1_800_000_000, 3) < t(1_800_000_001, 2));
    assert_eq!(repo::sort_key(SortKey::Number, 123, 7), 7);
}

async fn first_order(
    app: &common::TestApp,
    status: &str,
    assignee_email: Option<&str>,
) -> (i64, i64) {
    let assignee = match assignee_email {
        Some(e) => Some(app.staff_id(e).await),
        None => None,
    };
    sqlx::query_as("select order_id, version from orders where status = ? and (?2 is null or assignee_id = ?2) order by order_id limit 1")
        .bind(status)
        .bind(assignee)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

fn change(
    order_id: i64,
    version: i64,
    status: OrderStatus,
    assignee_id: Option<i64>,
    comment: &str,
) -> StateChange {
    StateChange {
        order_id,
        version,
        status,
        assignee_id,
        comment: comment.into(),
    }
}

#[tokio::test]
async fn taking_cancelling_and_reassigning_record_history_and_notifications() {
    let app = common::spawn().await;
    let dispatcher = staff(&app, "dispatcher@demo.ru").await;
    let (id, v) = first_order(&app, "waiting", None).await;
    let assignee = assignee_of(&app, id).await;

    service::change_state(
        app.pool(),
        &dispatcher,
        change(id, v, OrderStatus::InProgress, assignee, ""),
        1_800_000_000,
    )
    .await
    .unwrap();
    // Cancelling needs a reason.
    let refused = service::change_state(
        app.pool(),
        &dispatcher,
        change(id, v + 1, OrderStatus::Cancelled, assignee, " "),
        1_800_000_001,
    )
    .await;
    assert_eq!(
        refused.unwrap_err(),
        AppError::Rule("Укажите причину отмены в поле «Комментарий»".into())
    );
    // Reassign with a comment.
    let cleaner = app.staff_id("cleaner@demo.ru").await;
    service::change_state(
        app.pool(),
        &dispatcher,
        change(id, v + 1, OrderStatus::InProgress, Some(cleaner), "Передаю"),
        1_800_000_002,
    )
    .await
    .unwrap();
    service::change_state(
        app.pool(),
        &dispatcher,
        change(
            id,
            v + 2,
            OrderStatus::Cancelled,
            Some(cleaner),
            "Клиент передумал",
        ),
        1_800_000_003,
    )
    .await
    .unwrap();
    // Final.
    let again = service::change_state(
        app.pool(),
        &dispatcher,
        change(id, v + 3, OrderStatus::Waiting, Some(cleaner), "x"),
        1_800_000_004,
    )
    .await;
    assert!(matches!(again, Err(AppError::Rule(m)) if m.contains("больше не меняется")));

    let history = repo::history(app.pool(), id).await.unwrap();
    let whats: Vec<&str> = history.iter().map(|h| h.what.as_str()).collect();
    assert_eq!(
        whats,
        vec![
            "Заказ создан, статус «Ожидание»",
            "Статус: «Ожидание» → «В работе»",
            "Ответственный: Ольга Чистякова",
            "Статус: «В работе» → «Отменено»",
        ]
    );
    assert_eq!(history[2].comment, "Передаю");
    assert_eq!(history[3].comment, "Клиент передумал");
    assert_eq!(history[3].who, "Дмитрий Диспетчеров");
    let events: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "select event, staff_id, resident_id from outbox where order_id = ? order by outbox_id",
    )
    .bind(id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    let resident: i64 = sqlx::query_scalar("select resident_id from orders where order_id = ?")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(
        events,
        vec![
            ("status_changed".into(), None, Some(resident)),
            ("assigned".into(), Some(cleaner), None),
            ("status_changed".into(), None, Some(resident)),
        ]
    );
}

#[tokio::test]
async fn done_needs_paid_invoices_and_the_document_when_required() {
    let app = common::spawn().await;
    let admin = staff(&app, "admin@demo.ru").await;
    // A service that requires a document: «Замена смесителя».
    let (id, v): (i64, i64) = sqlx::query_as(
        "select o.order_id, o.version from orders o join services s using (service_id) \
         where s.require_attachment = 1 and o.status = 'in_progress' order by o.order_id limit 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let a = assignee_of(&app, id).await;
    let done = |v| change(id, v, OrderStatus::Done, a, "");
    let r = service::change_state(app.pool(), &admin, done(v), 1).await;
    assert!(matches!(r, Err(AppError::Rule(m)) if m.contains("без счета")));
    sqlx::query("insert into invoices (order_id, status, total_kopecks, created_at) values (?, 'active', 100000, 1)").bind(id).execute(app.pool()).await.unwrap();
    let r = service::change_state(app.pool(), &admin, done(v), 1).await;
    assert!(matches!(r, Err(AppError::Rule(m)) if m.contains("не все счета оплачены")));
    sqlx::query("update invoices set status = 'paid' where order_id = ?")
        .bind(id)
        .execute(app.pool())
        .await
        .unwrap();
    let r = service::change_state(app.pool(), &admin, done(v), 1).await;
    assert!(matches!(r, Err(AppError::Rule(m)) if m.contains("Приложите документ")));
    sqlx::query("insert into attachments (order_id, staff_id, file_name, content_type, size_bytes, stored_name, created_at) values (?, ?, 'акт.pdf', 'application/pdf', 10, 'x.pdf', 1)")
        .bind(id)
        .bind(admin.staff_id)
        .execute(app.pool())
        .await
        .unwrap();
    service::change_state(app.pool(), &admin, done(v), 2)
        .await
        .unwrap();
    let status = order_status(&app, id).await;
    assert_eq!(status, "done");
}

#[tokio::test]
async fn the_second_of_two_concurrent_saves_gets_a_conflict() {
    let app = common::spawn().await;
    let dispatcher = staff(&app, "dispatcher@demo.ru").await;
    let admin = staff(&app, "admin@demo.ru").await;
    let (id, v) = first_order(&app, "waiting", None).await;
    let a = assignee_of(&app, id).await;
    service::change_state(
        app.pool(),
        &dispatcher,
        change(id, v, OrderStatus::InProgress, a, ""),
        1,
    )
    .await
    .unwrap();
    let second = service::change_state(
        app.pool(),
        &admin,
        change(id, v, OrderStatus::Cancelled, a, "дубль"),
        2,
    )
    .await;
    assert_eq!(
        second.unwrap_err(),
        AppError::Conflict(service::CONFLICT_MESSAGE.into())
    );
    let status = order_status(&app, id).await;
    assert_eq!(status, "in_progress");
}

#[tokio::test]
async fn roles_without_editing_or_outside_their_orders_are_refused() {
    let app = common::spawn().await;
    let viewer = staff(&app, "viewer@demo.ru").await;
    let master = staff(&app, "master@demo.ru").await;
    let (id, v) = first_order(&app, "waiting", Some("cleaner@demo.ru")).await;
    let r = service::change_state(
        app.pool(),
        &viewer,
        change(id, v, OrderStatus::InProgress, None, ""),
        1,
    )
    .await;
    assert_eq!(r.unwrap_err(), AppError::Forbidden);
    assert_eq!(
        service::add_comment(app.pool(), &viewer, id, "нельзя", 1)
            .await
            .unwrap_err(),
        AppError::Forbidden
    );
    // The contractor does not even learn the order exists.
    assert_eq!(
        service::card(app.pool(), &master, id).await.unwrap_err(),
        AppError::NotFound
    );
    let r = service::change_state(
        app.pool(),
        &master,
        change(id, v, OrderStatus::InProgress, None, ""),
        1,
    )
    .await;
    assert_eq!(r.unwrap_err(), AppError::NotFound);
    // The viewer may read it.
    let card = service::card(app.pool(), &viewer, id).await.unwrap();
    assert!(!card.can_edit);
}

#[tokio::test]
async fn the_phone_is_hidden_until_in_progress_and_views_are_recorded() {
    let app = common::spawn().await;
    let admin = staff(&app, "admin@demo.ru").await;
    let (id, v) = first_order(&app, "waiting", None).await;
    let card = service::card(app.pool(), &admin, id).await.unwrap();
    assert!(card.phone_masked.contains("***"));
    let r = service::reveal_phone(app.pool(), &admin, id, 1).await;
    assert!(matches!(r, Err(AppError::Rule(m)) if m.contains("В работе")));
    let a = assignee_of(&app, id).await;
    service::change_state(
        app.pool(),
        &admin,
        change(id, v, OrderStatus::InProgress, a, ""),
        2,
    )
    .await
    .unwrap();
    let phone = service::reveal_phone(app.pool(), &admin, id, 3)
        .await
        .unwrap();
    assert!(phone.starts_with("+7900000000"));
    let views: Vec<(i64, i64)> =
        sqlx::query_as("select staff_id, at from phone_views where order_id = ?")
            .bind(id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(views, vec![(admin.staff_id, 3)]);
}

#[tokio::test]
async fn internal_comments_are_stored_with_their_author() {
    let app = common::spawn().await;
    let dispatcher = staff(&app, "dispatcher@demo.ru").await;
    let (id, _) = first_order(&app, "waiting", None).await;
    assert!(matches!(
        service::add_comment(app.pool(), &dispatcher, id, "   ", 1).await,
        Err(AppError::Validation(_))
    ));
    service::add_comment(
        app.pool(),
        &dispatcher,
        id,
        "Клиент просил звонить после 18:00",
        5,
    )
    .await
    .unwrap();
    let list = repo::comments(app.pool(), id).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].author, "Дмитрий Диспетчеров");
    assert_eq!(list[0].body, "Клиент просил звонить после 18:00");
}
