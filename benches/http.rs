//! Speed where people click, over HTTP against the real server binary (issue 18).
//!
//!     cargo bench --features ssr --bench http
//!     SUZ_BENCH_ORDERS=100000 cargo bench --features ssr --bench http
//!
//! Builds `target/bench/http-<N>.db` once with the project's generator (`SUZ_BENCH_ORDERS`
//! orders, default 1,000,000; `SUZ_BENCH_DB` names another file), starts the release
//! server (`CARGO_BIN_EXE_suz`) on a free loopback port and prints:
//!
//! - start-up time (spawn until `/healthz` answers) and the server's memory after it;
//! - an export of ~100,000 filtered orders, start to downloaded .xlsx, with the server's
//!   peak RSS (right after start-up, so the peak is the export's or the start's);
//! - every list view a person can reach — the default page, every sort both ways, every
//!   filter alone and combined, with and without search, deep keyset pages, «Назначенные
//!   мне» — one request at a time over one keep-alive connection: the server function
//!   (`POST /api/list_orders`), the SSR page (`GET /staff/orders?…`) and the page's list
//!   SQL run raw on the same file in this process (`repo::build_list_query`), p50/p99, the
//!   ratio and the goals;
//! - throughput at 64 keep-alive connections for a few seconds: the default page and the
//!   order card (page and server function) and a static file of the same server (the ceiling);
//! - a chat message fanned out to 1,000 open `/api/live` streams.
//!
//! Requests carry what Chromium sends (`Accept-Encoding: gzip, deflate, br`, `Origin` on
//! posts), so compression is part of every figure. One request per view is also made
//! uncompressed first and checked: the function returns the same orders as the raw SQL,
//! the page shows the first of them.
//!
//! The server holds at most 5 live streams per session, so the fan-out signs in 200
//! sessions. Sign-in failures are limited per address: the server is started with
//! `SUZ_TRUST_FORWARDED_FOR=1` and each sign-in comes with its own `X-Forwarded-For`
//! address, so parallel sign-ins never meet those limits.
//!
//! Also: `SUZ_BENCH_RUNS` (requests per view and kind, default 200, each series also
//! stopped after 3 s), `SUZ_BENCH_SECS` (seconds per throughput run, default 5),
//! `SUZ_BENCH_STREAMS` (live streams, default 1,000), `SUZ_BENCH_PARTS` (a comma list of
//! `export`, `views`, `throughput`, `live`; default all). Loopback only; every loop is bounded.

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sqlx::{Row, SqlitePool};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suz::orders::api::{ListScope, PAGE_SIZE};
use suz::orders::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use suz::orders::repo::{self, ListQuery, SearchContext};
use suz::orders::status::OrderStatus;

// The goals of issue 18.
const GOAL_FN_P99_MS: f64 = 10.0;
const GOAL_PAGE_P99_MS: f64 = 20.0;
const GOAL_RATIO: f64 = 1.5;
const GOAL_LIST_RPS: f64 = 1_000.0;
const GOAL_CARD_RPS: f64 = 3_000.0;
const GOAL_CARD_P99_MS: f64 = 20.0;
const GOAL_EXPORT_S: f64 = 2.0;
const GOAL_EXPORT_MB: f64 = 150.0;
const GOAL_LIVE_P99_MS: f64 = 50.0;

const PASSWORD: &str = suz::demo::DEMO_PASSWORD;
const DISPATCHER: &str = "dispatcher@demo.ru";
/// «Исполнитель»: «Назначенные мне» only.
const CONTRACTOR: &str = "master@demo.ru";
const ACCEPT_ENCODING: &str = "gzip, deflate, br";
const UTC_OFFSET: i32 = 180;
/// Longest any one request may take before the bench gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const SERIES_BUDGET: Duration = Duration::from_secs(3);
const CONNECTIONS: usize = 64;

struct Settings {
    orders: u64,
    db: PathBuf,
    /// The file is the bench's own (may be rebuilt), not one named by `SUZ_BENCH_DB`.
    own_db: bool,
    runs: usize,
    load_secs: u64,
    streams: usize,
    /// `SUZ_BENCH_PARTS`: which parts run (default all).
    parts: Vec<String>,
}

impl Settings {
    fn runs(&self, part: &str) -> bool {
        self.parts.is_empty() || self.parts.iter().any(|p| p == part)
    }

    fn from_env() -> Settings {
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or(default)
        };
        let orders = num("SUZ_BENCH_ORDERS", 1_000_000);
        let named = std::env::var("SUZ_BENCH_DB").ok();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Settings {
            orders,
            own_db: named.is_none(),
            db: root.join(named.unwrap_or_else(|| format!("target/bench/http-{orders}.db"))),
            runs: num("SUZ_BENCH_RUNS", 200).max(1) as usize,
            load_secs: num("SUZ_BENCH_SECS", 5).max(1),
            streams: num("SUZ_BENCH_STREAMS", 1_000).max(1) as usize,
            parts: std::env::var("SUZ_BENCH_PARTS")
                .unwrap_or_default()
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_env();
    let pool = prepare_database(&settings).await;
    let facts = Facts::load(&pool).await;
    println!(
        "database {}: {} orders; SQLite statistics (sqlite_stat1) {}",
        settings.db.display(),
        facts.total,
        if has_statistics(&pool).await {
            "present"
        } else {
            "absent"
        }
    );

    println!(
        "«Назначенные мне» of {CONTRACTOR}: {} orders; card and chat order № {}; search words «{}», «{}»",
        facts.contractor_orders, facts.order_id, facts.surname, facts.street
    );

    // Anything else running on the machine shows in every figure.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average before the server starts: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let server = Server::start(&settings.db).await;
    let mem = server.memory();
    println!(
        "\nstart-up: {:.2} s to /healthz (goal: does not grow with the orders); server RSS {} MB, peak {} MB; pid {}",
        server.started_in.as_secs_f64(),
        mem.rss_kib / 1024,
        mem.hwm_kib / 1024,
        server.child.id()
    );
    let staff = server.sign_in(DISPATCHER, None).await;
    let contractor = server.sign_in(CONTRACTOR, None).await;

    // First on the fresh process, so its peak memory is the export's (or the start's).
    if settings.runs("export") {
        export(&server, &staff, &pool, &facts).await;
    }
    if settings.runs("views") {
        list_views(&server, &staff, &contractor, &pool, &facts, &settings).await;
    }
    if settings.runs("throughput") {
        throughput(&server, &staff, &facts, settings.load_secs).await;
    }
    if settings.runs("live") {
        live_fanout(&server, &facts, settings.streams).await;
    }
    println!();
    server.print_memory("at the end");
}

async fn list_views(
    server: &Server,
    staff: &Client,
    contractor: &Client,
    pool: &SqlitePool,
    facts: &Facts,
    settings: &Settings,
) {
    floor(server, staff, settings.runs).await;
    let views = views(pool, facts).await;
    println!(
        "\nlist views, one request at a time ({} per view and kind, at most {} s each); \
         goals: fn p99 ≤ {GOAL_FN_P99_MS} ms, page p99 ≤ {GOAL_PAGE_P99_MS} ms, fn/raw (p50) ≤ {GOAL_RATIO}×",
        settings.runs,
        SERIES_BUDGET.as_secs()
    );
    println!("{}", ViewResult::header());
    let mut missed = 0;
    for view in &views {
        let who = match view.scope {
            ListScope::All => staff,
            ListScope::Mine => contractor,
        };
        let only = (view.scope == ListScope::Mine).then_some(facts.contractor_id);
        let result = measure_view(server, who, pool, view, only, settings.runs).await;
        println!("{}", result.line());
        missed += usize::from(!result.missed().is_empty());
    }
    println!("{missed} of {} views miss a goal", views.len());
    server.print_memory("after the list views");
}

/// The smallest answers of the same server one at a time: what HTTP alone costs.
async fn floor(server: &Server, staff: &Client, runs: usize) {
    let mut conn = Conn::open(server.addr).await.expect("connect");
    let health = series(&mut conn, runs, || staff.get("/healthz", true)).await;
    let file = series(&mut conn, runs, || staff.get("/favicon.svg", true)).await;
    let whoami = series(&mut conn, runs, || {
        staff.form("/api/whoami", String::new(), true)
    })
    .await;
    println!(
        "\nthe HTTP floor, one at a time: /healthz p50 {:.2} ms p99 {:.2} ms; /favicon.svg p50 {:.2} ms p99 {:.2} ms; \
         server function whoami p50 {:.2} ms p99 {:.2} ms",
        health.p50, health.p99, file.p50, file.p99, whoami.p50, whoami.p99
    );
}

// ---------------------------------------------------------------------------------------
// The database

/// Opens (and first fills, when it holds fewer than asked) the benchmark database with the
/// project's generator: demo catalog and staff (`demo::seed`), then generated orders.
async fn prepare_database(s: &Settings) -> SqlitePool {
    std::fs::create_dir_all(s.db.parent().expect("a folder")).expect("bench folder");
    let url = format!("sqlite://{}", s.db.display());
    let remove = || {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", s.db.display()));
        }
    };
    let mut pool = match suz::server::db::connect(&url).await {
        Ok(pool) => pool,
        // Made by a build whose migrations have changed since: the bench's own file is
        // made again.
        Err(e) if s.own_db => {
            println!("{} does not open ({e:?}): made again", s.db.display());
            remove();
            suz::server::db::connect(&url).await.expect("database")
        }
        Err(e) => panic!("{}: {e:?}", s.db.display()),
    };
    let have = count_orders(&pool).await;
    if s.own_db && have > 0 && have < s.orders as i64 {
        // A run cut short: the generator cannot add to its own residents (same seed).
        pool.close().await;
        remove();
        pool = suz::server::db::connect(&url).await.expect("database");
    }
    suz::demo::seed(&pool)
        .await
        .expect("demo catalog and staff");
    let indexed = repo::index_missing(&pool).await.expect("search index");
    if indexed > 0 {
        println!("indexed {indexed} orders for search");
    }
    let have = count_orders(&pool).await as u64;
    if have < s.orders {
        let started = Instant::now();
        println!("generating {} orders…", s.orders - have);
        suz::orders::generate::generate_orders(&pool, s.orders - have, 7)
            .await
            .expect("generate");
        println!(
            "generated {} orders in {:.1} s",
            s.orders - have,
            started.elapsed().as_secs_f64()
        );
        // The generation's write-ahead log back into the file, as the server's idle
        // checkpoints would do. No ANALYZE: statistics are the application's business.
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(&pool)
            .await
            .expect("checkpoint");
    }
    pool
}

async fn count_orders(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("select count(*) from orders")
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn has_statistics(pool: &SqlitePool) -> bool {
    sqlx::query_scalar::<_, i64>("select count(*) from sqlite_master where name = 'sqlite_stat1'")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
        > 0
}

/// What the views are made of, read from the generated data.
struct Facts {
    total: i64,
    partner_entity: i64,
    busiest_service: i64,
    busiest_assignee: i64,
    contractor_id: i64,
    contractor_orders: i64,
    /// A client's surname and a street, both from the middle order.
    surname: String,
    street: String,
    /// A month in the middle of the data (`YYYY-MM-DD`, inclusive).
    month: (String, String),
    /// The order the card and chat figures use: in progress, in the middle.
    order_id: i64,
}

impl Facts {
    async fn load(pool: &SqlitePool) -> Facts {
        let one = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        };
        let total = count_orders(pool).await;
        let max_id = one("select max(order_id) from orders").await;
        let (name, address, created): (String, String, i64) = sqlx::query_as(
            "select r.full_name, p.address, o.created_at from orders o \
             join residents r on r.resident_id = o.resident_id \
             join premises p on p.premises_id = o.premises_id \
             where o.order_id <= ? and o.is_draft = 0 order by o.order_id desc limit 1",
        )
        .bind(max_id / 2)
        .fetch_one(pool)
        .await
        .expect("middle order");
        let contractor_id: i64 = sqlx::query_scalar("select staff_id from staff where email = ?")
            .bind(CONTRACTOR)
            .fetch_one(pool)
            .await
            .expect("contractor");
        let contractor_orders: i64 = sqlx::query_scalar(
            "select count(*) from orders where assignee_id = ? and is_draft = 0",
        )
        .bind(contractor_id)
        .fetch_one(pool)
        .await
        .expect("contractor's orders");
        let order_id: i64 = sqlx::query_scalar(
            "select order_id from orders where status = 'in_progress' and is_draft = 0 \
             and order_id <= ? order by order_id desc limit 1",
        )
        .bind(max_id / 2)
        .fetch_one(pool)
        .await
        .expect("an order in progress");
        Facts {
            total,
            partner_entity: one(
                "select legal_entity_id from legal_entities where kind = 'partner' order by legal_entity_id limit 1",
            )
            .await,
            busiest_service: one(
                "select service_id from orders where is_draft = 0 group by service_id order by count(*) desc limit 1",
            )
            .await,
            busiest_assignee: one(
                "select assignee_id from orders where is_draft = 0 and assignee_id is not null \
                 group by assignee_id order by count(*) desc limit 1",
            )
            .await,
            contractor_id,
            contractor_orders,
            surname: name.split_whitespace().next().unwrap_or("иванов").to_lowercase(),
            street: address
                .split([' ', ','])
                .find(|w| w.chars().count() > 3)
                .unwrap_or("ленина")
                .to_lowercase(),
            month: (day(created), day(created + 30 * 86_400)),
            order_id,
        }
    }
}

fn day(ts: i64) -> String {
    let t = suz::time::LocalDateTime::from_unix(ts, UTC_OFFSET);
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

// ---------------------------------------------------------------------------------------
// The server and HTTP

/// The real server binary as a child process; killed when dropped (a panic included).
struct Server {
    child: Child,
    addr: SocketAddr,
    started_in: Duration,
    log: PathBuf,
    _data: tempfile::TempDir,
}

struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
    anon_kib: u64,
}

impl Server {
    async fn start(db: &Path) -> Server {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // The built site, or (not built) the public files it is made of: pages render
        // either way, and the static file below exists in both.
        let site = if root.join("target/site/favicon.svg").exists() {
            root.join("target/site")
        } else {
            root.join("public")
        };
        let data = tempfile::tempdir().expect("data dir");
        let log = data.path().join("server.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_suz"))
            .current_dir(root)
            .env("SUZ_DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("SUZ_DATA_DIR", data.path())
            .env("SUZ_LISTEN", addr.to_string())
            .env("LEPTOS_SITE_ROOT", &site)
            .env("RUST_LOG", "warn")
            .env("SUZ_TRUST_FORWARDED_FOR", "1")
            .env_remove("SUZ_DEMO")
            .env_remove("SUZ_PUBLIC_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the server");
        let mut server = Server {
            child,
            addr,
            started_in: Duration::ZERO,
            log,
            _data: data,
        };
        server.started_in = server.wait_healthy(started).await;
        server
    }

    async fn wait_healthy(&mut self, started: Instant) -> Duration {
        let give_up = started + Duration::from_secs(900);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}):\n{}", self.log_tail());
            }
            if let Ok(mut conn) = Conn::open(self.addr).await {
                if let Ok(reply) = conn.fetch(self.anonymous().get("/healthz", false)).await {
                    if reply.status == StatusCode::OK {
                        return started.elapsed();
                    }
                }
            }
            assert!(
                Instant::now() < give_up,
                "no /healthz in 15 min:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn anonymous(&self) -> Client {
        Client {
            host: self.addr.to_string(),
            origin: format!("http://{}", self.addr),
            cookie: None,
            forwarded_for: None,
        }
    }

    /// Signs in the way the sign-in form does (`POST /api/staff_sign_in`).
    async fn sign_in(&self, email: &str, forwarded_for: Option<String>) -> Client {
        let mut client = self.anonymous();
        client.forwarded_for = forwarded_for;
        let body = format!(
            "email={}&password={}",
            suz::url::encode(email),
            suz::url::encode(PASSWORD)
        );
        let mut conn = Conn::open(self.addr).await.expect("connect");
        let reply = conn
            .fetch(client.form("/api/staff_sign_in", body, false))
            .await
            .expect("sign in");
        let cookie = reply
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("suz_session=") && !v.starts_with("suz_session=;"))
            .and_then(|v| v.split(';').next())
            .unwrap_or_else(|| {
                panic!(
                    "{email} not signed in: {} {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                )
            });
        client.cookie = Some(cookie.to_owned());
        client
    }

    fn print_memory(&self, when: &str) {
        let m = self.memory();
        println!(
            "server memory {when}: RSS {} MB (heap RssAnon {} MB), peak {} MB",
            m.rss_kib / 1024,
            m.anon_kib / 1024,
            m.hwm_kib / 1024
        );
    }

    fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            anon_kib: field("RssAnon:"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who a request is from: the browser's headers, with or without a session.
#[derive(Clone)]
struct Client {
    host: String,
    origin: String,
    cookie: Option<String>,
    forwarded_for: Option<String>,
}

impl Client {
    fn request(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&'static str, Bytes)>,
        compressed: bool,
    ) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, &self.host)
            .header(header::ACCEPT, accept);
        if compressed {
            b = b.header(header::ACCEPT_ENCODING, ACCEPT_ENCODING);
        }
        if let Some(c) = &self.cookie {
            b = b.header(header::COOKIE, c);
        }
        if let Some(ip) = &self.forwarded_for {
            b = b.header("x-forwarded-for", ip);
        }
        if method == Method::POST {
            b = b.header(header::ORIGIN, &self.origin);
        }
        let (kind, body) = body.unwrap_or(("", Bytes::new()));
        if !kind.is_empty() {
            b = b.header(header::CONTENT_TYPE, kind);
        }
        b.body(Full::new(body)).expect("request")
    }

    fn get(&self, path: &str, compressed: bool) -> Request<Full<Bytes>> {
        self.request(Method::GET, path, "text/html", None, compressed)
    }

    fn json(&self, path: &str, body: serde_json::Value, compressed: bool) -> Request<Full<Bytes>> {
        let body = Bytes::from(body.to_string());
        self.request(
            Method::POST,
            path,
            "application/json",
            Some(("application/json", body)),
            compressed,
        )
    }

    fn form(&self, path: &str, body: String, compressed: bool) -> Request<Full<Bytes>> {
        self.request(
            Method::POST,
            path,
            "application/json",
            Some(("application/x-www-form-urlencoded", Bytes::from(body))),
            compressed,
        )
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    addr: SocketAddr,
    send: SendRequest<Full<Bytes>>,
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { addr, send })
    }

    /// Sends and reads the whole answer; a connection the server closed is opened again.
    async fn fetch(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let res = tokio::time::timeout(REQUEST_TIMEOUT, self.send_once(req))
            .await
            .map_err(|_| format!("no answer in {} s", REQUEST_TIMEOUT.as_secs()))?;
        let (parts, body) = res?.into_parts();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, body.collect())
            .await
            .map_err(|_| "body too slow".to_owned())?
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn send_once(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        if self.send.ready().await.is_err() {
            *self = Conn::open(self.addr).await.map_err(|e| e.to_string())?;
        }
        self.send.send_request(req).await.map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Figures

struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(mut times: Vec<Duration>) -> Stats {
        times.sort();
        let at = |p: f64| {
            if times.is_empty() {
                return f64::NAN;
            }
            let i = ((times.len() as f64 - 1.0) * p).round() as usize;
            times[i].as_secs_f64() * 1000.0
        };
        Stats {
            n: times.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

/// Repeats one request over one connection: `runs` times or until the time budget is
/// spent (at least 5 times).
async fn series(conn: &mut Conn, runs: usize, make: impl Fn() -> Request<Full<Bytes>>) -> Stats {
    for _ in 0..3 {
        let _ = conn.fetch(make()).await;
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(runs);
    while times.len() < runs && (times.len() < 5 || started.elapsed() < SERIES_BUDGET) {
        let t = Instant::now();
        let reply = conn.fetch(make()).await.expect("answer");
        times.push(t.elapsed());
        assert!(
            reply.status == StatusCode::OK,
            "{}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    Stats::of(times)
}

// ---------------------------------------------------------------------------------------
// List views

/// One list view as a person reaches it: scope, filter and sort, and the page.
struct View {
    name: String,
    scope: ListScope,
    filter: OrderFilter,
    after: Option<Cursor>,
}

impl View {
    fn list_query(&self, only_assignee: Option<i64>, limit: i64) -> ListQuery {
        ListQuery {
            filter: self.filter.clone(),
            after: self.after,
            only_assignee,
            limit,
            utc_offset_minutes: UTC_OFFSET,
        }
    }

    fn page_path(&self) -> String {
        let base = match self.scope {
            ListScope::All => "/staff/orders",
            ListScope::Mine => "/staff/orders/mine",
        };
        let query = self.filter.to_query(self.after);
        if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{query}")
        }
    }

    fn fn_body(&self) -> serde_json::Value {
        serde_json::json!({ "scope": self.scope, "filter": self.filter, "after": self.after })
    }
}

fn filter(f: impl FnOnce(&mut OrderFilter)) -> OrderFilter {
    let mut out = OrderFilter::default();
    f(&mut out);
    out
}

/// Every kind of list view: the default page, each sort both ways, each filter alone, some
/// combinations, search, deep pages and «Назначенные мне».
async fn views(pool: &SqlitePool, f: &Facts) -> Vec<View> {
    let all = |name: &str, filter: OrderFilter| View {
        name: name.to_owned(),
        scope: ListScope::All,
        filter,
        after: None,
    };
    let word = f.surname.clone();
    let (from, to) = f.month.clone();
    let mut v = vec![all("default page (newest first)", OrderFilter::default())];
    for sort in SortKey::ALL {
        for ascending in [false, true] {
            if sort == SortKey::Number && !ascending {
                continue;
            }
            let dir = if ascending { "asc" } else { "desc" };
            v.push(all(
                &format!("sort {} {dir}", sort.as_param()),
                filter(|x| {
                    x.sort = sort;
                    x.ascending = ascending;
                }),
            ));
        }
    }
    for status in OrderStatus::ALL {
        v.push(all(
            &format!("status {}", status.as_db()),
            filter(|x| x.status = Some(status)),
        ));
    }
    v.push(all(
        "service",
        filter(|x| x.service_id = Some(f.busiest_service)),
    ));
    v.push(all(
        "assignee",
        filter(|x| x.assignee_id = Some(f.busiest_assignee)),
    ));
    v.push(all(
        "legal entity",
        filter(|x| x.legal_entity_id = Some(f.partner_entity)),
    ));
    v.push(all(
        "created in a month",
        filter(|x| {
            x.created_from = Some(from.clone());
            x.created_to = Some(to.clone());
        }),
    ));
    v.push(all(
        "created since a date",
        filter(|x| x.created_from = Some(from.clone())),
    ));
    v.push(all(
        "paid",
        filter(|x| x.payment = Some(PaymentFilter::Paid)),
    ));
    v.push(all(
        "unpaid",
        filter(|x| x.payment = Some(PaymentFilter::Unpaid)),
    ));
    v.push(all("with refund", filter(|x| x.has_refund = true)));
    v.push(all(
        "in progress + entity, by total",
        filter(|x| {
            x.status = Some(OrderStatus::InProgress);
            x.legal_entity_id = Some(f.partner_entity);
            x.sort = SortKey::Total;
        }),
    ));
    v.push(all(
        "unpaid + service, by created asc",
        filter(|x| {
            x.payment = Some(PaymentFilter::Unpaid);
            x.service_id = Some(f.busiest_service);
            x.sort = SortKey::Created;
            x.ascending = true;
        }),
    ));
    v.push(all(
        "entity + month + paid, by updated",
        filter(|x| {
            x.legal_entity_id = Some(f.partner_entity);
            x.created_from = Some(from.clone());
            x.created_to = Some(to.clone());
            x.payment = Some(PaymentFilter::Paid);
            x.sort = SortKey::Updated;
        }),
    ));
    v.push(all(
        "assignee + done",
        filter(|x| {
            x.assignee_id = Some(f.busiest_assignee);
            x.status = Some(OrderStatus::Done);
        }),
    ));
    v.push(all(
        "done + refund, by total asc",
        filter(|x| {
            x.status = Some(OrderStatus::Done);
            x.has_refund = true;
            x.sort = SortKey::Total;
            x.ascending = true;
        }),
    ));
    v.push(all(
        &format!("search «{word}»"),
        filter(|x| x.q = word.clone()),
    ));
    for (sort, ascending) in [(SortKey::Total, false), (SortKey::Created, true)] {
        let dir = if ascending { "asc" } else { "desc" };
        v.push(all(
            &format!("search «{word}», by {} {dir}", sort.as_param()),
            filter(|x| {
                x.q = word.clone();
                x.sort = sort;
                x.ascending = ascending;
            }),
        ));
    }
    v.push(all(
        &format!("search «{word}» + waiting"),
        filter(|x| {
            x.q = word.clone();
            x.status = Some(OrderStatus::Waiting);
        }),
    ));
    v.push(all(
        &format!("search «{word}» + entity + paid"),
        filter(|x| {
            x.q = word.clone();
            x.legal_entity_id = Some(f.partner_entity);
            x.payment = Some(PaymentFilter::Paid);
        }),
    ));
    v.push(all(
        &format!("search «{word} {}»", f.street),
        filter(|x| x.q = format!("{word} {}", f.street)),
    ));
    v.push(all(
        &format!("search «{word}» + month, by total"),
        filter(|x| {
            x.q = word.clone();
            x.created_from = Some(from.clone());
            x.created_to = Some(to.clone());
            x.sort = SortKey::Total;
        }),
    ));
    // Deep pages: the cursor of page 20, found by paging there as the «Следующие →» links do.
    let deep = [
        ("default, page 20", OrderFilter::default()),
        ("by total, page 20", filter(|x| x.sort = SortKey::Total)),
        (
            "waiting, by updated asc, page 20",
            filter(|x| {
                x.status = Some(OrderStatus::Waiting);
                x.sort = SortKey::Updated;
                x.ascending = true;
            }),
        ),
    ];
    for (name, fl) in deep {
        let mut view = all(name, fl);
        view.after = page_20(pool, &view, None).await;
        v.push(view);
    }
    let mut view = all(
        &format!("search «{word}», by total, page 20"),
        filter(|x| {
            x.q = word.clone();
            x.sort = SortKey::Total;
        }),
    );
    view.after = page_20(pool, &view, None).await;
    v.push(view);
    let mut middle = all("default, from the middle (keyset)", OrderFilter::default());
    middle.after = Some(Cursor {
        value: 0,
        order_id: f.order_id,
    });
    v.push(middle);
    // «Назначенные мне» of the contractor.
    let mine = |name: &str, filter: OrderFilter| View {
        name: format!("mine: {name}"),
        scope: ListScope::Mine,
        filter,
        after: None,
    };
    v.push(mine("default", OrderFilter::default()));
    v.push(mine("by total", filter(|x| x.sort = SortKey::Total)));
    v.push(mine(
        "in progress",
        filter(|x| x.status = Some(OrderStatus::InProgress)),
    ));
    v.push(mine(
        &format!("search «{word}»"),
        filter(|x| x.q = word.clone()),
    ));
    let mut view = mine("page 20", OrderFilter::default());
    view.after = page_20(pool, &view, Some(f.contractor_id)).await;
    v.push(view);
    v
}

/// The cursor of page 20 of a view (page 1 when there are fewer pages).
async fn page_20(pool: &SqlitePool, view: &View, only: Option<i64>) -> Option<Cursor> {
    let mut q = view.list_query(only, PAGE_SIZE);
    for _ in 0..19 {
        let (_, next) = repo::list_orders(pool, &q).await.expect("list");
        match next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    q.after
}

struct ViewResult {
    name: String,
    rows: usize,
    function: Stats,
    page: Stats,
    raw: Stats,
}

impl ViewResult {
    fn header() -> String {
        format!(
            "{:<46} {:>4} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7} | {:>6} {:>6} | goals\n{}",
            "view (ms)",
            "rows",
            "fn p50",
            "fn p99",
            "pg p50",
            "pg p99",
            "raw p50",
            "raw p99",
            "x p50",
            "x p99",
            "-".repeat(130)
        )
    }

    fn ratio(&self) -> (f64, f64) {
        (
            self.function.p50 / self.raw.p50,
            self.function.p99 / self.raw.p99,
        )
    }

    fn missed(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.function.p99 > GOAL_FN_P99_MS {
            out.push("fn p99");
        }
        if self.page.p99 > GOAL_PAGE_P99_MS {
            out.push("page p99");
        }
        if self.ratio().0 > GOAL_RATIO {
            out.push("ratio");
        }
        out
    }

    fn line(&self) -> String {
        let (x50, x99) = self.ratio();
        let missed = self.missed();
        let verdict = if missed.is_empty() {
            "ok".to_owned()
        } else {
            format!("MISSED {}", missed.join(", "))
        };
        let name: String = self.name.chars().take(46).collect();
        format!(
            "{name:<46} {:>4} | {:>7.2} {:>7.2} | {:>7.2} {:>7.2} | {:>7.2} {:>7.2} | {:>5.1}× {:>5.1}× | {verdict}{}",
            self.rows,
            self.function.p50,
            self.function.p99,
            self.page.p50,
            self.page.p99,
            self.raw.p50,
            self.raw.p99,
            x50,
            x99,
            if self.function.n < 100 || self.page.n < 100 {
                format!(" (n fn {}, page {})", self.function.n, self.page.n)
            } else {
                String::new()
            }
        )
    }
}

/// The page's list SQL as the application builds it (`PAGE_SIZE + 1` rows, names joined),
/// run on a pooled connection of this process; the search context is loaded beforehand.
async fn raw_series(pool: &SqlitePool, q: &ListQuery, runs: usize) -> (Stats, Vec<i64>) {
    let ctx = SearchContext::load(pool, q).await.expect("search context");
    let run = || async {
        repo::build_list_query(q, &ctx, repo::LIST_COLUMNS)
            .build()
            .fetch_all(pool)
            .await
            .expect("raw list")
    };
    let rows = run().await;
    let ids = rows
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|r| r.get::<i64, _>("order_id"))
        .collect();
    let started = Instant::now();
    let mut times = Vec::with_capacity(runs);
    while times.len() < runs && (times.len() < 5 || started.elapsed() < SERIES_BUDGET) {
        let t = Instant::now();
        std::hint::black_box(run().await);
        times.push(t.elapsed());
    }
    (Stats::of(times), ids)
}

async fn measure_view(
    server: &Server,
    who: &Client,
    pool: &SqlitePool,
    view: &View,
    only: Option<i64>,
    runs: usize,
) -> ViewResult {
    let (raw, ids) = raw_series(pool, &view.list_query(only, PAGE_SIZE + 1), runs).await;
    let mut conn = Conn::open(server.addr).await.expect("connect");
    check_view(&mut conn, who, view, &ids).await;
    let function = series(&mut conn, runs, || {
        who.json("/api/list_orders", view.fn_body(), true)
    })
    .await;
    let path = view.page_path();
    let page = series(&mut conn, runs, || who.get(&path, true)).await;
    ViewResult {
        name: view.name.clone(),
        rows: ids.len(),
        function,
        page,
        raw,
    }
}

/// The server function returns the raw SQL's orders, and the page shows the first.
async fn check_view(conn: &mut Conn, who: &Client, view: &View, ids: &[i64]) {
    let reply = conn
        .fetch(who.json("/api/list_orders", view.fn_body(), false))
        .await
        .expect("list_orders");
    assert_eq!(reply.status, StatusCode::OK, "{}: list_orders", view.name);
    let page: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    let got: Vec<i64> = page["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["order_id"].as_i64())
        .collect();
    assert_eq!(
        got, ids,
        "{}: the function and the raw SQL differ",
        view.name
    );
    let reply = conn
        .fetch(who.get(&view.page_path(), false))
        .await
        .expect("page");
    assert_eq!(reply.status, StatusCode::OK, "{}: page", view.name);
    if let Some(first) = ids.first() {
        let html = String::from_utf8_lossy(&reply.body);
        assert!(
            html.contains(&format!("data-order=\"{first}\"")),
            "{}: the page does not show order {first}",
            view.name
        );
    }
}

// ---------------------------------------------------------------------------------------
// Throughput

struct Load {
    done: usize,
    failed: usize,
    elapsed: Duration,
    stats: Stats,
}

/// `CONNECTIONS` keep-alive connections sending `make()` back to back for `secs`; a
/// request still running then may finish within `REQUEST_TIMEOUT`.
async fn load(server: &Server, secs: u64, make: Make) -> Load {
    let mut warm = Conn::open(server.addr).await.expect("connect");
    for _ in 0..5 {
        let _ = warm.fetch(make()).await;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (addr, make) = (server.addr, make.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failed = 0;
            let Ok(mut conn) = Conn::open(addr).await else {
                return (times, 1);
            };
            while Instant::now() < deadline {
                let t = Instant::now();
                match conn.fetch(make()).await {
                    Ok(r) if r.status == StatusCode::OK => times.push(t.elapsed()),
                    Ok(_) => failed += 1,
                    Err(_) => {
                        failed += 1;
                        break;
                    }
                }
            }
            (times, failed)
        }));
    }
    let (mut times, mut failed) = (Vec::new(), 0);
    for t in tasks {
        let (ts, f) = t.await.expect("load task");
        times.extend(ts);
        failed += f;
    }
    Load {
        done: times.len(),
        failed,
        elapsed: started.elapsed(),
        stats: Stats::of(times),
    }
}

async fn throughput(server: &Server, staff: &Client, facts: &Facts, secs: u64) {
    println!(
        "\nthroughput, {CONNECTIONS} keep-alive connections, {secs} s each; goals: default page ≥ {GOAL_LIST_RPS} req/s, \
         card ≥ {GOAL_CARD_RPS} req/s with p99 ≤ {GOAL_CARD_P99_MS} ms"
    );
    println!(
        "{:<34} {:>9} {:>8} {:>8} {:>8} {:>7} {:>8} | goals\n{}",
        "what",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "failed",
        "RSS MB",
        "-".repeat(105)
    );
    let card = facts.order_id;
    let page = |path: String, compressed: bool, who: &Client| -> Make {
        let who = who.clone();
        Arc::new(move || who.get(&path, compressed))
    };
    let c = staff.clone();
    let list_fn: Make = Arc::new(move || {
        c.json(
            "/api/list_orders",
            serde_json::json!({ "scope": ListScope::All, "filter": OrderFilter::default(), "after": null }),
            true,
        )
    });
    let c = staff.clone();
    let card_fn: Make =
        Arc::new(move || c.form("/api/order_card", format!("order_id={card}"), true));
    let list = Some(Goal {
        rps: GOAL_LIST_RPS,
        p99_ms: None,
    });
    let card_goal = Some(Goal {
        rps: GOAL_CARD_RPS,
        p99_ms: Some(GOAL_CARD_P99_MS),
    });
    let targets = [
        Target {
            name: "default page, SSR",
            make: page("/staff/orders".into(), true, staff),
            goal: list,
        },
        Target {
            name: "default page, SSR, uncompressed",
            make: page("/staff/orders".into(), false, staff),
            goal: None,
        },
        Target {
            name: "default page, fn",
            make: list_fn,
            goal: list,
        },
        Target {
            name: "order card, SSR",
            make: page(format!("/staff/orders/{card}"), true, staff),
            goal: card_goal,
        },
        Target {
            name: "order card, fn (order_card)",
            make: card_fn,
            goal: card_goal,
        },
        Target {
            name: "static file /favicon.svg (ceiling)",
            make: page("/favicon.svg".into(), true, &server.anonymous()),
            goal: None,
        },
    ];
    for t in targets {
        let l = load(server, secs, t.make).await;
        let rps = l.done as f64 / l.elapsed.as_secs_f64();
        let verdict = t
            .goal
            .map(|g| mark(rps >= g.rps && g.p99_ms.is_none_or(|p| l.stats.p99 <= p)))
            .unwrap_or_default();
        println!(
            "{:<34} {rps:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>8} | {verdict}",
            t.name,
            l.stats.p50,
            l.stats.p99,
            l.stats.max,
            l.failed,
            server.memory().rss_kib / 1024
        );
    }
}

type Make = Arc<dyn Fn() -> Request<Full<Bytes>> + Send + Sync>;

/// What one throughput run sends, and its goal.
struct Target {
    name: &'static str,
    make: Make,
    goal: Option<Goal>,
}

#[derive(Clone, Copy)]
struct Goal {
    rps: f64,
    p99_ms: Option<f64>,
}

// ---------------------------------------------------------------------------------------
// Export

/// «Выгрузить в Excel» of ~100,000 orders: every order created since the day after the
/// 100,000th newest one's. Start, poll the progress as the page does, download.
async fn export(server: &Server, staff: &Client, pool: &SqlitePool, facts: &Facts) {
    let offset = (facts.total - 1).clamp(0, 99_999);
    let since: i64 = sqlx::query_scalar(
        "select created_at from orders where is_draft = 0 order by created_at desc limit 1 offset ?",
    )
    .bind(offset)
    .fetch_one(pool)
    .await
    .expect("the 100,000th newest order");
    let filter = OrderFilter {
        created_from: Some(day(since + 86_400)),
        ..Default::default()
    };
    let before = server.memory();
    let sampling = Arc::new(AtomicBool::new(true));
    let (rss_peak, anon_peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (sampling, rss_peak, anon_peak) =
            (sampling.clone(), rss_peak.clone(), anon_peak.clone());
        let status = format!("/proc/{}/status", server.child.id());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&status).unwrap_or_default();
                for (field, peak) in [("VmRSS:", &rss_peak), ("RssAnon:", &anon_peak)] {
                    let kib = text
                        .lines()
                        .find(|l| l.starts_with(field))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut conn = Conn::open(server.addr).await.expect("connect");
    let started = Instant::now();
    let reply = conn
        .fetch(staff.json(
            "/api/start_export",
            serde_json::json!({ "scope": ListScope::All, "filter": filter }),
            false,
        ))
        .await
        .expect("start_export");
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "start_export: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let mut progress: serde_json::Value = serde_json::from_slice(&reply.body).expect("progress");
    let id = progress["export_id"]
        .as_str()
        .expect("export id")
        .to_owned();
    while !progress["finished"].as_bool().unwrap_or(false) {
        assert!(
            !progress["failed"].as_bool().unwrap_or(false),
            "the export failed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "export over 10 min"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reply = conn
            .fetch(staff.form("/api/export_progress", format!("export_id={id}"), false))
            .await
            .expect("export_progress");
        progress = serde_json::from_slice(&reply.body).expect("progress");
    }
    let written = started.elapsed();
    let file = conn
        .fetch(staff.get(&format!("/staff/exports/{id}"), true))
        .await
        .expect("download");
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler");
    assert_eq!(file.status, StatusCode::OK, "download");
    let after = server.memory();
    let rows = progress["total_rows"].as_i64().unwrap_or(0);
    // Browsers accept compressed answers, so the timed download was one; the file is read
    // back from a plain one.
    let encoding = file
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(", sent with Content-Encoding: {v}"))
        .unwrap_or_default();
    let plain = conn
        .fetch(staff.get(&format!("/staff/exports/{id}"), false))
        .await
        .expect("download");
    let in_file = xlsx_rows(&plain.body);
    assert_eq!(in_file, rows, "every exported order is in the file");
    // VmHWM is the process's peak since it started: it moved, so it is the export's;
    // otherwise the export stayed under the start's peak, and the samples tell.
    let peak_kib = if after.hwm_kib > before.hwm_kib {
        after.hwm_kib
    } else {
        rss_peak.load(Ordering::Relaxed)
    };
    let peak_mb = peak_kib as f64 / 1024.0;
    println!(
        "\nexport of {rows} orders (created from {}): {:.2} s to the downloaded file ({:.2} s written, \
         {:.1} MB{encoding}) — goal ≤ {GOAL_EXPORT_S} s: {}",
        filter.created_from.as_deref().unwrap_or_default(),
        elapsed.as_secs_f64(),
        written.as_secs_f64(),
        plain.body.len() as f64 / 1e6,
        mark(elapsed.as_secs_f64() <= GOAL_EXPORT_S)
    );
    println!(
        "server RSS during the export: peak {peak_mb:.0} MB (sampled VmRSS {} MB, heap RssAnon {} MB; \
         VmHWM {} MB before, {} MB after; RSS counts the mapped database pages) — goal ≤ {GOAL_EXPORT_MB} MB: {}",
        rss_peak.load(Ordering::Relaxed) / 1024,
        anon_peak.load(Ordering::Relaxed).max(before.anon_kib) / 1024,
        before.hwm_kib / 1024,
        after.hwm_kib / 1024,
        mark(peak_mb <= GOAL_EXPORT_MB)
    );
}

/// Data rows of the «Заказы» sheet of an .xlsx.
fn xlsx_rows(bytes: &[u8]) -> i64 {
    use calamine::{Reader, Xlsx};
    let mut book = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    book.worksheet_range("Заказы").expect("sheet").height() as i64 - 1
}

// ---------------------------------------------------------------------------------------
// Live fan-out

/// `streams` open `/api/live` streams of staff who see the order (5 per session, the
/// server's limit); a chat message on the order, three times: how long until each stream
/// has it, from the moment the message is sent.
async fn live_fanout(server: &Server, facts: &Facts, streams: usize) {
    let per_session = suz::auth::rate_limit::LIVE_STREAMS_PER_SESSION;
    let sessions = streams.div_ceil(per_session);
    let started = Instant::now();
    let mut clients = Vec::with_capacity(sessions);
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(4) {
        let signing = chunk.iter().map(|i| {
            // One address per session (SUZ_TRUST_FORWARDED_FOR=1): see the module note.
            let ip = format!("10.77.{}.{}", i / 250, i % 250 + 1);
            server.sign_in(DISPATCHER, Some(ip))
        });
        clients.extend(futures::future::join_all(signing).await);
    }
    println!(
        "\nlive fan-out: {sessions} sessions signed in ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let needle = format!("\"order_id\":{},", facts.order_id);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let mut tasks = Vec::with_capacity(streams);
    for i in 0..streams {
        let client = clients[i / per_session].clone();
        let (addr, needle) = (server.addr, needle.clone());
        let (ready, seen) = (ready_tx.clone(), seen_tx.clone());
        tasks.push(tokio::spawn(async move {
            watch(addr, client, needle, ready, seen).await;
        }));
    }
    let mut open = 0;
    let give_up = Instant::now() + Duration::from_secs(60);
    while open < streams {
        match tokio::time::timeout_at(give_up.into(), ready_rx.recv()).await {
            Ok(Some(true)) => open += 1,
            Ok(Some(false)) | Ok(None) | Err(_) => break,
        }
    }
    println!("{open} of {streams} streams open");
    server.print_memory(&format!("with {open} streams open"));
    let sender = server.sign_in(DISPATCHER, Some("10.78.0.1".into())).await;
    let mut conn = Conn::open(server.addr).await.expect("connect");
    let mut times = Vec::new();
    let mut missing = 0;
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        while seen_rx.try_recv().is_ok() {}
        let sent = Instant::now();
        let reply = conn
            .fetch(sender.json(
                "/api/send_order_message",
                serde_json::json!({
                    "order_id": facts.order_id,
                    "body": format!("Замер доставки {round}"),
                    "key": format!("bench-{}-{round}", suz::time::now()),
                    "photos": [],
                }),
                true,
            ))
            .await
            .expect("send_order_message");
        assert_eq!(reply.status, StatusCode::OK, "send_order_message");
        let wait_until = sent + Duration::from_secs(5);
        let mut got = 0;
        while got < open {
            match tokio::time::timeout_at(wait_until.into(), seen_rx.recv()).await {
                Ok(Some(at)) => {
                    times.push(at - sent);
                    got += 1;
                }
                _ => break,
            }
        }
        missing += open - got;
    }
    for t in &tasks {
        t.abort();
    }
    let s = Stats::of(times);
    println!(
        "a chat message to {open} streams, 3 messages: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {missing} not received in 5 s \
         — goal p99 ≤ {GOAL_LIVE_P99_MS} ms: {}",
        s.p50,
        s.p99,
        s.max,
        mark(s.p99 <= GOAL_LIVE_P99_MS && missing == 0 && open == streams)
    );
}

/// One open live stream: says when it is open, then when each event about the order comes.
async fn watch(
    addr: SocketAddr,
    client: Client,
    needle: String,
    ready: tokio::sync::mpsc::UnboundedSender<bool>,
    seen: tokio::sync::mpsc::UnboundedSender<Instant>,
) {
    let Ok(mut conn) = Conn::open(addr).await else {
        let _ = ready.send(false);
        return;
    };
    let req = client.request(Method::GET, "/api/live", "text/event-stream", None, true);
    let res = match conn.send_once(req).await {
        Ok(r) if r.status() == StatusCode::OK => r,
        _ => {
            let _ = ready.send(false);
            return;
        }
    };
    let _ = ready.send(true);
    let mut body = res.into_body();
    let mut buf = String::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if event.contains("\"kind\":\"message\"") && event.contains(&needle) {
                let _ = seen.send(Instant::now());
            }
        }
    }
}
