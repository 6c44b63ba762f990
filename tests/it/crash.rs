//! Crash recovery: the real server binary is SIGKILLed a few times during a burst of card
//! payments (the embedded sandbox's hosted page) and staff refunds over HTTP, restarted on
//! the same data directory, left to recover by its own background jobs (payment and refund
//! outboxes, polling, the sandbox's webhook retries), and then the money is checked in the
//! SQLite file: nothing paid twice, refunds never above what was paid (per invoice, per
//! line, per provider payment), one ledger entry per money event, every provider payment
//! and refund known to the books, and the reconciliation of every month clean.
//!
//! CI runs 4 kills. The long version (the figures of the hardening issue):
//! `SUZ_CRASH_KILLS=100 cargo test --features ssr --test it crash:: -- --nocapture`.

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sqlx::SqlitePool;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suz::finance::rules::Period;
use suz::invoices::rules::{DiscountKind, LineInput};
use suz::orders::service::StateChange;
use suz::orders::status::OrderStatus;
use suz::payments::sandbox::cards;
use suz::requests::service::SubmitInput;

const DEFAULT_KILLS: usize = 4;
/// Refund attempts per invoice: one unit of the 3-unit line each, so the fourth must be
/// refused («не больше» what is left).
const REFUNDS_PER_INVOICE: usize = 4;
/// Parallel clients of the burst.
const CLIENTS: usize = 6;
const SECRET: &str = "crash-test-secret";
const RESIDENTS: [&str; 3] = ["+79000000001", "+79000000002", "+79000000003"];
const STAFF: &str = "dispatcher@demo.ru";

fn now() -> i64 {
    suz::time::now()
}

/// A tiny deterministic generator (no timing-dependent randomness in what is sent).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

// ---------------------------------------------------------------------------------------
// The server process

struct Server {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
    starts: usize,
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.join("suz.db").display())
    }

    async fn start(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("server log");
        let child = Command::new(env!("CARGO_BIN_EXE_suz"))
            .env("SUZ_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("SUZ_DATA_DIR", &self.dir)
            .env("SUZ_DATABASE_URL", self.database_url())
            .env("SUZ_DEMO", "1")
            .env("SUZ_PAYMENTS_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("SUZ_PUBLIC_URL")
            .env_remove("SUZ_PAYMENTS_URL")
            .env_remove("SUZ_SANDBOX_WEBHOOK_URL")
            .env_remove("SUZ_EMBEDDED_SANDBOX")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("the suz binary starts");
        self.child = Some(child);
        let http = Http::new(self.url());
        for _ in 0..600 {
            if let Ok(a) = http.get("/healthz").await {
                if a.status == 200 {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the server exited at start ({status}):\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not answer /healthz:\n{}", self.log_tail());
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------
// A small HTTP client (hyper), with the Origin header the CSRF check wants

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn session_cookie(&self) -> Option<String> {
        crate::common::session_cookie_in(&self.headers)
    }
}

#[derive(Clone)]
struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    fn new(base: String) -> Http {
        // No idle connections kept: a killed server leaves none to stumble on.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(HttpConnector::new());
        Http { client, base }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        cookie: Option<&str>,
        body: String,
    ) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if method != Method::GET {
            req = req.header(http::header::ORIGIN, &self.base);
        }
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        if let Some(c) = cookie {
            req = req.header(http::header::COOKIE, c);
        }
        req = req.header(http::header::ACCEPT, "application/json");
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let call = async {
            let res = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let bytes = res
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok(Answer {
                status,
                headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(Method::GET, path, None, None, String::new())
            .await
    }

    /// A server function called the way the browser app calls it (form-encoded).
    async fn call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Result<Answer, String> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", suz::url::encode(k), suz::url::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            Method::POST,
            &format!("/api/{endpoint}"),
            Some("application/x-www-form-urlencoded"),
            cookie,
            body,
        )
        .await
    }

    async fn call_json(
        &self,
        endpoint: &str,
        json: String,
        cookie: &str,
    ) -> Result<Answer, String> {
        self.send(
            Method::POST,
            &format!("/api/{endpoint}"),
            Some("application/json"),
            Some(cookie),
            json,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------
// What the burst works on

#[derive(Clone)]
struct Plan {
    invoice_id: i64,
    /// Index into the residents' cookies.
    payer: usize,
    /// The 3-unit line refunded one unit at a time.
    line_id: i64,
    unit_price: String,
    card: &'static str,
}

/// Orders «В работе» with an active invoice each (3 × «Прочистка засора» + «Выезд
/// сантехника»), made through the services on the running server's file.
async fn prepare(pool: &SqlitePool, count: usize) -> Vec<Plan> {
    let service_id: i64 =
        sqlx::query_scalar("select service_id from services where name = 'Устранение засора'")
            .fetch_one(pool)
            .await
            .expect("demo service");
    let staff_id: i64 = sqlx::query_scalar("select staff_id from staff where email = ?")
        .bind(STAFF)
        .fetch_one(pool)
        .await
        .expect("demo staff");
    let staff = suz::auth::repo::staff_by_id(pool, staff_id)
        .await
        .expect("staff lookup")
        .expect("staff");
    let item = |name: &'static str| async move {
        sqlx::query_as::<_, (i64, i64)>(
            "select price_item_id, price_kopecks from price_items where name = ?",
        )
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("price item")
    };
    let (clearing, clearing_price) = item("Прочистка засора").await;
    let (visit, _) = item("Выезд сантехника").await;
    let visit_at = suz::time::LocalDateTime::from_unix(now() + 7 * 86_400, 180);
    let visit_at = format!(
        "{:04}-{:02}-{:02}T10:00",
        visit_at.year, visit_at.month, visit_at.day
    );
    let mut plans = Vec::new();
    for n in 0..count {
        let payer = n % RESIDENTS.len();
        let resident: i64 = sqlx::query_scalar("select resident_id from residents where phone = ?")
            .bind(RESIDENTS[payer])
            .fetch_one(pool)
            .await
            .expect("demo resident");
        let input = SubmitInput {
            service_id,
            values: vec![
                ("where".into(), "Ванна".into()),
                ("visit".into(), visit_at.clone()),
            ],
            submit_key: format!("crash-order-{n:04}"),
        };
        let order_id = suz::requests::service::submit(pool, resident, input, 180, now())
            .await
            .expect("order submitted")
            .order_id;
        let lines = [
            LineInput {
                price_item_id: clearing,
                quantity: "3".into(),
                discount_kind: DiscountKind::None,
                discount_value: String::new(),
            },
            LineInput {
                price_item_id: visit,
                quantity: "1".into(),
                discount_kind: DiscountKind::None,
                discount_value: String::new(),
            },
        ];
        let invoice_id = suz::invoices::service::create(pool, &staff, order_id, &lines, now())
            .await
            .expect("invoice");
        suz::invoices::service::act(
            pool,
            &staff,
            invoice_id,
            suz::invoices::rules::InvoiceAction::Activate,
            now(),
        )
        .await
        .expect("invoice activated");
        let version: i64 = sqlx::query_scalar("select version from orders where order_id = ?")
            .bind(order_id)
            .fetch_one(pool)
            .await
            .expect("version");
        let master: i64 =
            sqlx::query_scalar("select staff_id from staff where email = 'master@demo.ru'")
                .fetch_one(pool)
                .await
                .expect("master");
        suz::orders::service::change_state(
            pool,
            &staff,
            StateChange {
                order_id,
                version,
                status: OrderStatus::InProgress,
                assignee_id: Some(master),
                comment: String::new(),
            },
            now(),
        )
        .await
        .expect("order in progress");
        let line_id: i64 = sqlx::query_scalar(
            "select line_id from invoice_lines where invoice_id = ? order by line_id limit 1",
        )
        .bind(invoice_id)
        .fetch_one(pool)
        .await
        .expect("line");
        // Most pay with the plain test card; some with the one whose webhooks come twice
        // with a stale one last.
        let card = if n % 4 == 3 {
            cards::REPEATED_WEBHOOKS
        } else {
            cards::SUCCESS
        };
        plans.push(Plan {
            invoice_id,
            payer,
            line_id,
            unit_price: suz::money::Money::from_kopecks(clearing_price)
                .format_number()
                .replace('\u{202f}', ""),
            card,
        });
    }
    plans
}

/// What every client shares: cookies, progress per invoice and counters.
struct Burst {
    http: Http,
    pool: SqlitePool,
    residents: Vec<String>,
    staff: String,
    /// Per invoice: how many refund keys got an answer (the next key to send).
    refunds_done: Vec<AtomicUsize>,
    /// Per invoice: the refund with this key was refused (nothing left): finished.
    finished: Vec<AtomicUsize>,
    /// Requests sent, and of them answered.
    sent: AtomicUsize,
    answered: AtomicUsize,
}

enum Step {
    /// Worth another go soon.
    Again,
    /// Nothing more to do for this invoice.
    Done,
    /// The server is gone (killed): stop this round.
    Down,
}

impl Burst {
    async fn invoice_status(&self, invoice_id: i64) -> String {
        sqlx::query_scalar("select status from invoices where invoice_id = ?")
            .bind(invoice_id)
            .fetch_one(&self.pool)
            .await
            .expect("invoice status")
    }

    async fn request(
        &self,
        call: impl std::future::Future<Output = Result<Answer, String>>,
    ) -> Option<Answer> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let answer = call.await.ok()?;
        self.answered.fetch_add(1, Ordering::Relaxed);
        Some(answer)
    }

    /// One step of an invoice's life: pay it, then refund it unit by unit.
    async fn step(&self, i: usize, plan: &Plan) -> Step {
        if self.finished[i].load(Ordering::Relaxed) > 0 {
            return Step::Done;
        }
        match self.invoice_status(plan.invoice_id).await.as_str() {
            "active" => {
                let cookie = &self.residents[plan.payer];
                let invoice = plan.invoice_id.to_string();
                let form = [
                    ("invoice_id", invoice.as_str()),
                    ("email", "crash@example.ru"),
                    ("save_card", "false"),
                ];
                let Some(a) = self
                    .request(self.http.call("start_payment", &form, Some(cookie)))
                    .await
                else {
                    return Step::Down;
                };
                if !a.ok() {
                    // «Счёт уже оплачен» between the read and the call, or a provider that
                    // did not answer: look again.
                    return Step::Again;
                }
                let started: serde_json::Value =
                    serde_json::from_str(&a.body).expect("Started as JSON");
                let payment_id = started["payment_id"].as_i64().expect("a payment id");
                if let Some(url) = started["redirect_url"].as_str() {
                    let path = url
                        .split_once("/sandbox/")
                        .map(|(_, p)| format!("/sandbox/{p}"))
                        .expect("a sandbox URL");
                    let body = format!("number={}&expiry=12%2F35&cvc=123", plan.card);
                    let paid = self
                        .request(self.http.send(
                            Method::POST,
                            &path,
                            Some("application/x-www-form-urlencoded"),
                            None,
                            body,
                        ))
                        .await;
                    if paid.is_none() {
                        return Step::Down;
                    }
                }
                // Back in the app, the request page asks how the payment went (which asks
                // the provider while the webhook is still on its way).
                let id = payment_id.to_string();
                let form = [("payment_id", id.as_str())];
                if self
                    .request(self.http.call("payment_result", &form, Some(cookie)))
                    .await
                    .is_none()
                {
                    return Step::Down;
                }
                Step::Again
            }
            "paid" => {
                let k = self.refunds_done[i].load(Ordering::Relaxed);
                if k >= REFUNDS_PER_INVOICE {
                    return Step::Done;
                }
                // The same key after a cut-off answer: the server returns the refund it
                // made, never a second one.
                let body = serde_json::json!({
                    "invoice_id": plan.invoice_id,
                    "full": false,
                    "lines": [{"line_id": plan.line_id, "quantity": "1", "unit_price": plan.unit_price}],
                    "reason": "Проверка восстановления после сбоя",
                    "request_id": null,
                    "key": format!("crash-{}-{k}", plan.invoice_id),
                })
                .to_string();
                let Some(a) = self
                    .request(self.http.call_json("create_refund", body, &self.staff))
                    .await
                else {
                    return Step::Down;
                };
                if a.ok() {
                    self.refunds_done[i].fetch_add(1, Ordering::Relaxed);
                    Step::Again
                } else if a.body.contains("Validation") || a.body.contains("Rule") {
                    // Nothing left of the line to return: the refusal that must come.
                    self.finished[i].store(1, Ordering::Relaxed);
                    Step::Done
                } else {
                    Step::Again
                }
            }
            other => panic!("invoice {} is {other}", plan.invoice_id),
        }
    }
}

/// One client: takes invoices round-robin until each is done or the server goes down.
async fn client(burst: Arc<Burst>, plans: Arc<Vec<Plan>>, me: usize, deadline: Instant) {
    let mut idle = 0;
    while Instant::now() < deadline {
        let mut any = false;
        for i in (me..plans.len()).step_by(CLIENTS) {
            match burst.step(i, &plans[i]).await {
                Step::Done => {}
                Step::Again => any = true,
                Step::Down => return,
            }
        }
        if !any {
            return;
        }
        idle += 1;
        // Payments wait for their webhook: a short pause between passes.
        tokio::time::sleep(Duration::from_millis(100 + 50 * (idle % 4))).await;
    }
}

async fn sign_in(http: &Http, pool: &SqlitePool) -> (Vec<String>, String) {
    let mut residents = Vec::new();
    for phone in RESIDENTS {
        let a = http
            .call("resident_request_code", &[("phone", phone)], None)
            .await
            .expect("code requested");
        assert!(a.ok(), "code for {phone}: {} {}", a.status, a.body);
        let body: String = sqlx::query_scalar(
            "select body from dev_sms where phone = ? order by dev_sms_id desc limit 1",
        )
        .bind(phone)
        .fetch_one(pool)
        .await
        .expect("a demo sms");
        let code: String = body
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(6)
            .collect();
        let a = http
            .call(
                "resident_sign_in",
                &[("phone", phone), ("code", &code)],
                None,
            )
            .await
            .expect("signed in");
        residents.push(
            a.session_cookie()
                .unwrap_or_else(|| panic!("sign-in of {phone}: {} {}", a.status, a.body)),
        );
    }
    let a = http
        .call(
            "staff_sign_in",
            &[("email", STAFF), ("password", suz::demo::DEMO_PASSWORD)],
            None,
        )
        .await
        .expect("staff signed in");
    let staff = a
        .session_cookie()
        .unwrap_or_else(|| panic!("sign-in of {STAFF}: {} {}", a.status, a.body));
    (residents, staff)
}

// ---------------------------------------------------------------------------------------
// The money, read from the file

#[derive(Debug, Default)]
struct Books {
    /// Provider payments and refunds that succeeded but the app does not show as such.
    lost: Vec<String>,
    /// Anything paid, refunded or booked more than once, or refunded beyond what was paid.
    doubled: Vec<String>,
    /// Reconciliation differences and unbalanced months.
    unreconciled: Vec<String>,
    /// Still moving (a refund processing, a payment not final at the provider).
    open: Vec<String>,
}

async fn rows(pool: &SqlitePool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
}

async fn books(pool: &SqlitePool) -> Books {
    let mut b = Books::default();
    // Lost: the provider took or returned money the app does not know of as done.
    b.lost.extend(rows(pool,
        "select 'provider payment ' || s.id || ' succeeded, app: ' || coalesce(p.status, 'none') \
         from sandbox_payments s left join payments p on p.provider_payment_id = s.id \
         where s.status = 'succeeded' and coalesce(p.status, '') <> 'succeeded'").await);
    b.lost.extend(rows(pool,
        "select 'provider refund ' || s.id || ' succeeded, app: ' || coalesce(r.state, 'none') \
         from sandbox_refunds s left join refunds r on r.provider_refund_id = s.id \
         where s.status = 'succeeded' and coalesce(r.state, '') <> 'succeeded'").await);
    b.lost.extend(rows(pool,
        "select 'payment ' || payment_id || ' succeeded without its ledger entry' from payments p \
         where status = 'succeeded' and (select count(*) from ledger_entries e where e.event_key = 'payment:' || p.payment_id) <> 1").await);
    b.lost.extend(rows(pool,
        "select 'refund ' || refund_id || ' succeeded without its ledger entry' from refunds r \
         where state = 'succeeded' and (select count(*) from ledger_entries e where e.event_key = 'refund:' || r.refund_id) <> 1").await);
    b.lost.extend(rows(pool,
        "select 'invoice ' || i.invoice_id || ' paid by card without a succeeded payment' from invoices i \
         where i.status = 'paid' and i.paid_method = 'card' \
         and not exists (select 1 from payments p where p.invoice_id = i.invoice_id and p.status = 'succeeded')").await);
    // Doubled.
    b.doubled.extend(rows(pool,
        "select 'invoice ' || invoice_id || ' has ' || count(*) || ' succeeded payments' from payments \
         where status = 'succeeded' group by invoice_id having count(*) > 1").await);
    b.doubled.extend(rows(pool,
        "select 'provider charged «' || description || '» ' || count(*) || ' times' from sandbox_payments \
         where status = 'succeeded' group by description having count(*) > 1").await);
    b.doubled.extend(rows(pool,
        "select 'ledger entry for money event ' || e.event_key || ' of a payment not succeeded' from ledger_entries e \
         join payments p on e.event_key = 'payment:' || p.payment_id where p.status <> 'succeeded'").await);
    b.doubled.extend(rows(pool,
        "select 'ledger entry for money event ' || e.event_key || ' of a refund not succeeded' from ledger_entries e \
         join refunds r on e.event_key = 'refund:' || r.refund_id where r.state <> 'succeeded'").await);
    b.doubled.extend(rows(pool,
        "select 'invoice ' || i.invoice_id || ' refunds ' || sum(r.amount_kopecks) || ' of ' || i.total_kopecks \
         from invoices i join refunds r on r.invoice_id = i.invoice_id and r.state <> 'failed' \
         group by i.invoice_id having sum(r.amount_kopecks) > i.total_kopecks").await);
    b.doubled.extend(rows(pool,
        "select 'invoice ' || i.invoice_id || ' shows ' || i.refunded_kopecks || ' refunded, succeeded refunds ' || \
         coalesce((select sum(amount_kopecks) from refunds r where r.invoice_id = i.invoice_id and r.state = 'succeeded'), 0) \
         from invoices i where i.refunded_kopecks <> \
         coalesce((select sum(amount_kopecks) from refunds r where r.invoice_id = i.invoice_id and r.state = 'succeeded'), 0)").await);
    b.doubled.extend(rows(pool,
        "select 'line ' || l.line_id || ' refunds ' || sum(rl.amount_kopecks) || ' of ' || l.amount_kopecks \
         from invoice_lines l join refund_lines rl on rl.line_id = l.line_id \
         join refunds r on r.refund_id = rl.refund_id and r.state <> 'failed' \
         group by l.line_id having sum(rl.amount_kopecks) > l.amount_kopecks").await);
    b.doubled.extend(rows(pool,
        "select 'refund ' || r.refund_id || ' of ' || r.amount_kopecks || ' has lines of ' || coalesce(sum(rl.amount_kopecks), 0) \
         from refunds r left join refund_lines rl on rl.refund_id = r.refund_id \
         group by r.refund_id having coalesce(sum(rl.amount_kopecks), 0) <> r.amount_kopecks").await);
    b.doubled.extend(rows(pool,
        "select 'provider payment ' || s.id || ' refunded ' || sum(f.amount_kopecks) || ' of ' || s.amount_kopecks \
         from sandbox_payments s join sandbox_refunds f on f.payment_id = s.id and f.status <> 'failed' \
         group by s.id having sum(f.amount_kopecks) > s.amount_kopecks").await);
    b.doubled.extend(rows(pool,
        "select 'provider refund key ' || idempotency_key || ' used ' || count(*) || ' times' from sandbox_refunds \
         group by idempotency_key having count(*) > 1").await);
    // Still moving.
    b.open.extend(rows(pool,
        "select 'refund ' || refund_id || ' still processing' from refunds where state = 'processing'").await);
    b.open.extend(rows(pool,
        "select 'provider refund ' || id || ' still pending' from sandbox_refunds where status = 'pending'").await);
    b.open.extend(rows(pool,
        "select 'invoice ' || invoice_id || ' still ' || status from invoices where invoice_id in \
         (select invoice_id from refunds union select invoice_id from payments) and status <> 'paid'").await);
    // Reconciliation of every month of every legal entity, and the provider's books.
    let pairs: Vec<(i64, String)> = sqlx::query_as(
        "select distinct legal_entity_id, period from ledger_entries order by period, legal_entity_id",
    )
    .fetch_all(pool)
    .await
    .expect("periods");
    for (entity, p) in pairs {
        let period = Period::parse(&p).expect("a period");
        let r = suz::finance::service::reconcile(pool, entity, period)
            .await
            .expect("reconciliation");
        if !r.totals.balances() {
            b.unreconciled.push(format!(
                "{p}, entity {entity}: card − refunds ≠ fees + commission + payout"
            ));
        }
        if !r.invoices_balance() {
            b.unreconciled.push(format!(
                "{p}, entity {entity}: invoiced ≠ paid + open + cancelled"
            ));
        }
        for d in r.differences {
            b.unreconciled.push(format!(
                "{p}, entity {entity}, order {}: {}",
                d.order_id, d.text
            ));
        }
    }
    let (provider_paid, provider_refunded): (i64, i64) = sqlx::query_as(
        "select coalesce((select sum(amount_kopecks) from sandbox_payments where status = 'succeeded'), 0), \
         coalesce((select sum(amount_kopecks) from sandbox_refunds where status = 'succeeded'), 0)",
    )
    .fetch_one(pool)
    .await
    .expect("provider totals");
    let (booked_paid, booked_refunded): (i64, i64) = sqlx::query_as(
        "select coalesce((select sum(amount_kopecks) from ledger_entries where kind = 'card_payment'), 0), \
         coalesce((select -sum(amount_kopecks) from ledger_entries where kind = 'refund'), 0)",
    )
    .fetch_one(pool)
    .await
    .expect("ledger totals");
    if provider_paid != booked_paid {
        b.unreconciled.push(format!(
            "the provider took {provider_paid}, the ledger has {booked_paid} by card"
        ));
    }
    if provider_refunded != booked_refunded {
        b.unreconciled.push(format!(
            "the provider returned {provider_refunded}, the ledger has {booked_refunded}"
        ));
    }
    b
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_during_card_payments_and_refunds_lose_and_double_nothing() {
    let kills: usize = std::env::var("SUZ_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_KILLS)
        .max(1);
    let invoices = (kills * 4).max(16);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = Server {
        child: None,
        port,
        dir: dir.path().to_path_buf(),
        starts: 0,
    };
    server.start().await;
    let pool = suz::server::db::connect(&server.database_url())
        .await
        .expect("the server's database");
    let before = books(&pool).await;
    assert!(
        before.lost.is_empty() && before.doubled.is_empty() && before.unreconciled.is_empty(),
        "the demo books are not clean to begin with: {before:?}"
    );
    let paid_before: i64 =
        sqlx::query_scalar("select count(*) from payments where status = 'succeeded'")
            .fetch_one(&pool)
            .await
            .expect("payments");
    let plans = Arc::new(prepare(&pool, invoices).await);
    let http = Http::new(server.url());
    let (residents, staff) = sign_in(&http, &pool).await;
    let burst = Arc::new(Burst {
        http,
        pool: pool.clone(),
        residents,
        staff,
        refunds_done: (0..plans.len()).map(|_| AtomicUsize::new(0)).collect(),
        finished: (0..plans.len()).map(|_| AtomicUsize::new(0)).collect(),
        sent: AtomicUsize::new(0),
        answered: AtomicUsize::new(0),
    });

    // The burst, cut by a SIGKILL after a varying number of requests; the server comes
    // back on the same files and the clients go on where they were.
    let mut rng = Lcg(0x5EED_C0DE);
    let work_per_round = (plans.len() * (REFUNDS_PER_INVOICE + 3) / kills).max(4) as u64;
    for round in 0..kills {
        if round > 0 {
            server.start().await;
        }
        let mut clients = tokio::task::JoinSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for me in 0..CLIENTS {
            clients.spawn(client(burst.clone(), plans.clone(), me, deadline));
        }
        let from = burst.sent.load(Ordering::Relaxed);
        let cut_after = 2 + rng.next(work_per_round) as usize;
        let waited = Instant::now();
        while burst.sent.load(Ordering::Relaxed) < from + cut_after
            && waited.elapsed() < Duration::from_secs(20)
            && !clients.is_empty()
        {
            tokio::time::sleep(Duration::from_millis(5 + rng.next(20))).await;
            while clients.try_join_next().is_some() {}
        }
        server.kill();
        clients.abort_all();
        while clients.join_next().await.is_some() {}
    }

    // The last start: the clients finish what is left and the jobs recover the rest.
    server.start().await;
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut clients = tokio::task::JoinSet::new();
    for me in 0..CLIENTS {
        clients.spawn(client(burst.clone(), plans.clone(), me, deadline));
    }
    while clients.join_next().await.is_some() {}
    // Refunds complete at the provider a few seconds later; a webhook lost with a kill is
    // found by polling after a minute. Wait (bounded) until nothing is moving.
    let mut settled = books(&pool).await;
    while (!settled.open.is_empty() || !settled.lost.is_empty()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        settled = books(&pool).await;
    }
    server.kill();
    let after = books(&pool).await;

    let refunds: i64 = sqlx::query_scalar("select count(*) from refunds where state = 'succeeded'")
        .fetch_one(&pool)
        .await
        .expect("refunds");
    let payments: i64 =
        sqlx::query_scalar("select count(*) from payments where status = 'succeeded'")
            .fetch_one(&pool)
            .await
            .expect("payments");
    println!(
        "crash recovery: kills {kills}, starts {}, operations {} sent / {} answered, \
         {payments} payments and {refunds} refunds succeeded, lost {}, doubled {}, unreconciled {}",
        server.starts,
        burst.sent.load(Ordering::Relaxed),
        burst.answered.load(Ordering::Relaxed),
        after.lost.len(),
        after.doubled.len(),
        after.unreconciled.len(),
    );
    let log = server.log_tail();
    assert!(after.lost.is_empty(), "lost: {:#?}\n{log}", after.lost);
    assert!(
        after.doubled.is_empty(),
        "doubled: {:#?}\n{log}",
        after.doubled
    );
    assert!(
        after.unreconciled.is_empty(),
        "reconciliation: {:#?}\n{log}",
        after.unreconciled
    );
    assert!(
        after.open.is_empty(),
        "still open: {:#?}\n{log}",
        after.open
    );
    // Every invoice was paid once and refunded exactly its three units of the line.
    assert_eq!((payments - paid_before) as usize, plans.len());
    for (i, plan) in plans.iter().enumerate() {
        assert_eq!(
            burst.finished[i].load(Ordering::Relaxed),
            1,
            "invoice {} did not reach the refusal of a fourth refund",
            plan.invoice_id
        );
        let (count, sum, line): (i64, i64, i64) = sqlx::query_as(
            "select count(*), coalesce(sum(r.amount_kopecks), 0), \
             (select amount_kopecks from invoice_lines where line_id = ?) \
             from refunds r where r.invoice_id = ? and r.state = 'succeeded'",
        )
        .bind(plan.line_id)
        .bind(plan.invoice_id)
        .fetch_one(&pool)
        .await
        .expect("refunds of an invoice");
        assert_eq!(
            (count, sum),
            (3, line),
            "invoice {}: three one-unit refunds of its line",
            plan.invoice_id
        );
    }
}
