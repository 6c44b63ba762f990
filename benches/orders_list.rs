//! Orders list and export speed on a large database.
//!
//!     cargo bench --features ssr --bench orders_list
//!
//! Uses `SUZ_BENCH_DB` (default `target/bench/orders.db`), generating `SUZ_BENCH_ORDERS`
//! orders (default 1,000,000) into it first when it holds fewer. Prints p50/p99/max per
//! query shape, through the application's repository (page + names) and as the bare page
//! query on the same file, then the time and memory of a ~100,000-row export.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suz::orders::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use suz::orders::repo::{self, ListQuery};
use suz::orders::status::OrderStatus;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name:<58} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let path = std::env::var("SUZ_BENCH_DB").unwrap_or_else(|_| "target/bench/orders.db".into());
    let want: u64 = std::env::var("SUZ_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    std::fs::create_dir_all(std::path::Path::new(&path).parent().expect("a folder"))
        .expect("bench folder");
    let pool = suz::server::db::connect(&format!("sqlite://{path}"))
        .await
        .expect("database");
    suz::demo::seed(&pool).await.expect("demo catalog");
    let indexed = suz::orders::repo::index_missing(&pool)
        .await
        .expect("search index");
    if indexed > 0 {
        println!("indexed {indexed} orders for search");
    }
    let have: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&pool)
        .await
        .expect("count");
    if (have as u64) < want {
        let started = Instant::now();
        suz::orders::generate::generate_orders(&pool, want - have as u64, 7)
            .await
            .expect("generate");
        println!(
            "generated {} orders in {:.1} s",
            want - have as u64,
            started.elapsed().as_secs_f64()
        );
        sqlx::query("analyze")
            .execute(&pool)
            .await
            .expect("analyze");
        // The generation's write-ahead log back into the file, as a server's idle
        // checkpoints would do, so the lists below do not read through it.
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&pool)
            .await
            .expect("checkpoint");
    }
    let total: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&pool)
        .await
        .expect("count");
    println!("database {path}: {total} orders\n");

    let words = [
        "иванов",
        "смирнова",
        "ленина",
        "уборка",
        "замена",
        "семенов",
        "садовая",
        "мира",
        "петрова",
        "розетки",
    ];
    let pairs = [
        "иванов ленина",
        "смирнова мира",
        "уборка садовая",
        "замена гагарина",
        "петров пушкина",
    ];
    // A month in the middle of the data.
    let mid: i64 = sqlx::query_scalar("select created_at from orders where order_id = ?")
        .bind(total / 2)
        .fetch_one(&pool)
        .await
        .expect("middle order");
    let day = |ts: i64| {
        let t = suz::time::LocalDateTime::from_unix(ts, 180);
        format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
    };
    let (month_from, month_to) = (day(mid), day(mid + 30 * 86_400));
    let q = |text: &str, status: Option<OrderStatus>, sort: SortKey| ListQuery {
        filter: OrderFilter {
            q: text.into(),
            status,
            sort,
            ..Default::default()
        },
        after: None,
        only_assignee: None,
        limit: 50,
        utc_offset_minutes: 180,
    };
    let statuses = [
        OrderStatus::Waiting,
        OrderStatus::InProgress,
        OrderStatus::Done,
        OrderStatus::Cancelled,
    ];
    let entity: i64 = sqlx::query_scalar(
        "select legal_entity_id from legal_entities where kind = 'partner' order by legal_entity_id limit 1",
    )
    .fetch_one(&pool)
    .await
    .expect("entity");
    // Cursors of page 20 of a search sorted by total, found by paging there.
    let mut deep = Vec::new();
    for w in words {
        let mut lq = q(w, None, SortKey::Total);
        for _ in 0..19 {
            let (_, next) = repo::list_orders(&pool, &lq).await.expect("list");
            lq.after = next;
        }
        deep.push(lq);
    }
    type Shape = (&'static str, Box<dyn Fn(usize) -> ListQuery>);
    let shapes: Vec<Shape> = vec![
        (
            "one word + status, newest first",
            Box::new(move |i| {
                q(
                    words[i % words.len()],
                    Some(statuses[i % 4]),
                    SortKey::Number,
                )
            }),
        ),
        (
            "two words + status, newest first",
            Box::new(move |i| {
                q(
                    pairs[i % pairs.len()],
                    Some(statuses[i % 4]),
                    SortKey::Number,
                )
            }),
        ),
        (
            "one word + status, by total (largest first)",
            Box::new(move |i| {
                q(
                    words[i % words.len()],
                    Some(statuses[i % 4]),
                    SortKey::Total,
                )
            }),
        ),
        (
            "one word + status, by total (smallest first)",
            Box::new(move |i| {
                let mut lq = q(
                    words[i % words.len()],
                    Some(statuses[i % 4]),
                    SortKey::Total,
                );
                lq.filter.ascending = true;
                lq
            }),
        ),
        (
            "one word + status, by updated",
            Box::new(move |i| {
                q(
                    words[i % words.len()],
                    Some(statuses[i % 4]),
                    SortKey::Updated,
                )
            }),
        ),
        (
            "two words + status, by total",
            Box::new(move |i| {
                q(
                    pairs[i % pairs.len()],
                    Some(statuses[i % 4]),
                    SortKey::Total,
                )
            }),
        ),
        (
            "one word + legal entity + paid, by created",
            Box::new(move |i| {
                let mut lq = q(words[i % words.len()], None, SortKey::Created);
                lq.filter.legal_entity_id = Some(entity);
                lq.filter.payment = Some(PaymentFilter::Paid);
                lq
            }),
        ),
        (
            "one word + status + created in a month, by total",
            Box::new(move |i| {
                let mut lq = q(
                    words[i % words.len()],
                    Some(statuses[i % 4]),
                    SortKey::Total,
                );
                lq.filter.created_from = Some(month_from.clone());
                lq.filter.created_to = Some(month_to.clone());
                lq
            }),
        ),
        (
            "one word, by total, page 20 (keyset)",
            Box::new(move |i| deep[i % deep.len()].clone()),
        ),
        (
            "no search + status, by updated",
            Box::new(move |i| q("", Some(statuses[i % 4]), SortKey::Updated)),
        ),
        (
            "no search, newest first, page 200 (keyset)",
            Box::new(move |_| {
                let mut lq = q("", None, SortKey::Number);
                lq.after = Some(Cursor {
                    value: 0,
                    order_id: total - 200 * 50,
                });
                lq
            }),
        ),
    ];
    let runs = 500;
    for (name, make) in &shapes {
        // Warm the cache once.
        let _ = repo::list_orders(&pool, &make(0)).await.expect("list");
        let mut app = Vec::with_capacity(runs);
        let mut raw = Vec::with_capacity(runs);
        for i in 0..runs {
            let lq = make(i);
            let t = Instant::now();
            let (rows, _) = repo::list_orders(&pool, &lq).await.expect("list");
            app.push(t.elapsed());
            std::hint::black_box(rows);
            let ctx = repo::SearchContext::load(&pool, &lq)
                .await
                .expect("context");
            let t = Instant::now();
            let rows = repo::build_page_query(&lq, &ctx)
                .build()
                .fetch_all(&pool)
                .await
                .expect("raw");
            raw.push(t.elapsed());
            std::hint::black_box(rows);
        }
        report(&format!("{name} [app]"), app);
        report(&format!("{name} [raw SQL]"), raw);
    }

    // Export: the newest 100,000 orders or so — every order created since the day of the
    // 100,000th newest.
    let since: i64 = sqlx::query_scalar(
        "select created_at from orders where is_draft = 0 order by order_id desc limit 1 offset 99999",
    )
    .fetch_one(&pool)
    .await
    .expect("100,000th order");
    let lq = ListQuery {
        filter: OrderFilter {
            created_from: Some(day(since + 86_400)),
            ..Default::default()
        },
        after: None,
        only_assignee: None,
        limit: 2000,
        utc_offset_minutes: 180,
    };
    let ctx = repo::SearchContext::load(&pool, &lq)
        .await
        .expect("context");
    let rows: i64 = repo::build_count_query(&lq, &ctx)
        .build_query_scalar()
        .fetch_one(&pool)
        .await
        .expect("count");
    // The reading half alone: every page of the export, decoded.
    let t = Instant::now();
    let mut read_rows = 0usize;
    let mut page = lq.clone();
    loop {
        let (rows, next) = repo::export_page(&pool, &page, &ctx).await.expect("page");
        read_rows += rows.len();
        std::hint::black_box(rows);
        match next {
            Some(c) => page.after = Some(c),
            None => break,
        }
    }
    println!(
        "\nreading the {read_rows} rows of the export alone: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let out = std::path::PathBuf::from(&path).with_extension("export.xlsx");
    // The process's own memory (heap: RssAnon), sampled while the export runs; VmRSS also
    // counts the pages of the memory-mapped database file.
    let heap_before = rss_kib("RssAnon:");
    let sampling = Arc::new(AtomicBool::new(true));
    let heap_peak = Arc::new(AtomicU64::new(heap_before));
    let sampler = {
        let (sampling, heap_peak) = (sampling.clone(), heap_peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                heap_peak.fetch_max(rss_kib("RssAnon:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t = Instant::now();
    suz::orders::export::write_xlsx(&pool, lq, &out, 180, None)
        .await
        .expect("export");
    let elapsed = t.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    // The file holds every row (read back outside the timing).
    let written = {
        use calamine::{open_workbook, Reader, Xlsx};
        let mut book: Xlsx<_> = open_workbook(&out).expect("xlsx");
        book.worksheet_range("Заказы").expect("sheet").height() as i64 - 1
    };
    assert_eq!(written, rows, "every matching order is in the file");
    println!(
        "\nexport of {rows} rows: {:.2} s, file {:.1} MB, heap {} MB before, peak {} MB during \
         (VmRSS with the mapped database file {} MB)",
        elapsed.as_secs_f64(),
        size as f64 / 1e6,
        heap_before / 1024,
        heap_peak.load(Ordering::Relaxed) / 1024,
        rss_kib("VmRSS:") / 1024,
    );
}
