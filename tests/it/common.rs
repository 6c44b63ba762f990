//! A real application on a fresh, migrated, demo-seeded SQLite file per test.
#![allow(dead_code)]

use axum::body::Body;
use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use suz::server::config::Config;
use suz::server::state::AppState;
use tower::ServiceExt;

use crate::fake_tbank::FakeTbank;
use crate::fake_yookassa::FakeYookassa;

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    /// The contract fakes the legal entities take money through ([`spawn_on`]).
    pub fakes: Fakes,
    _dir: tempfile::TempDir,
}

/// Which provider an app's legal entities take money through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The embedded sandbox (the default of every app).
    Sandbox,
    /// A payment account of every legal entity on its own fake ЮKassa shop.
    Yookassa,
    /// A payment account of every legal entity on the fake Т-Банк.
    Tbank,
}

/// The fakes behind an app's payment accounts.
#[derive(Default)]
pub enum Fakes {
    #[default]
    Sandbox,
    Yookassa(Vec<FakeYookassa>),
    Tbank(FakeTbank),
}

/// The provider's own books: (succeeded payments, the fees it kept if it reports them,
/// succeeded refunds), in kopecks.
pub type ProviderBooks = (i64, Option<i64>, i64);

/// Runs a test body once per provider behind the `PaymentGateway` trait: the sandbox, the
/// fake ЮKassa and the fake Т-Банк (`name::sandbox`, `name::yookassa`, `name::tbank`). The
/// body gets the app (from [`spawn_on`]) as `$app` and drives it through the
/// provider-neutral helpers ([`TestApp::pay_on_page`], [`TestApp::tick`], …).
macro_rules! each_provider {
    ($(#[doc = $doc:expr])* async fn $name:ident($app:ident) $body:block) => {
        each_provider!(@tests [tokio::test] $(#[doc = $doc])* $name $app $body);
    };
    ($(#[doc = $doc:expr])* multi_thread async fn $name:ident($app:ident) $body:block) => {
        each_provider!(@tests [tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[doc = $doc])* $name $app $body);
    };
    (@tests [$($test:tt)*] $(#[doc = $doc:expr])* $name:ident $app:ident $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::common::{spawn_on, Provider, TestApp};

            async fn body($app: TestApp) $body

            #[$($test)*]
            async fn sandbox() {
                body(spawn_on(Provider::Sandbox).await).await
            }

            #[$($test)*]
            async fn yookassa() {
                body(spawn_on(Provider::Yookassa).await).await
            }

            #[$($test)*]
            async fn tbank() {
                body(spawn_on(Provider::Tbank).await).await
            }
        }
    };
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The session token this response sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        session_cookie_in(&self.headers)
    }
}

/// The session token (`suz_session=…`, for a `Cookie` header) that response headers set,
/// if any; a cleared one does not count.
pub fn session_cookie_in(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("suz_session=") && !c.starts_with("suz_session=;"))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// A visit the order forms take: a week from now (the demo's houses are at UTC+3).
pub fn visit_in_a_week() -> String {
    suz::catalog::form::datetime_local(suz::time::now() + 7 * 86_400, 180)
}

/// An order of resident +79000000002 for «Устранение засора», invoiced by the master,
/// paid by card and «В работе» (see [`TestApp::paid_order`]).
pub struct PaidOrder {
    pub order_id: i64,
    pub resident: i64,
    pub invoice: i64,
    /// The invoice's line ids, in the order the lines were given.
    pub lines: Vec<i64>,
}

/// A number the query (with `id` bound to its one `?`) selects.
pub async fn scalar(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub async fn spawn() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = suz::server::build_state(Config::for_tests(dir.path()))
        .await
        .expect("state");
    let router = suz::server::router(state.clone());
    TestApp {
        state,
        router,
        fakes: Fakes::Sandbox,
        _dir: dir,
    }
}

/// An app listening on a real local port, so the payment provider (the sandbox inside
/// it), its webhooks and the app can call each other over HTTP. Background jobs are not
/// running: tests drive them with `suz::server::jobs::tick`.
pub async fn spawn_served() -> TestApp {
    spawn_served_with(|_| {}).await
}

/// [`spawn_served`] whose legal entities all take money through `provider`: for a fake,
/// each legal entity gets an active payment account on it (ЮKassa: a shop of its own,
/// notifications from 127.0.0.1; Т-Банк: one terminal), as an administrator would set up.
pub async fn spawn_on(provider: Provider) -> TestApp {
    // Internal causes and the adapters' warnings are shown if a run fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let mut app = spawn_served().await;
    let entities: Vec<i64> =
        sqlx::query_scalar("select legal_entity_id from legal_entities order by legal_entity_id")
            .fetch_all(app.pool())
            .await
            .expect("legal entities");
    let secrets = app.state.gateways.secrets();
    let add = |provider: &'static str, shop: &'static str, secret: &'static str, url: String| {
        let pool = app.state.pool.clone();
        let sealed = secrets.seal(secret).expect("sealed");
        move |entity: i64| async move {
            let t = suz::time::now();
            let networks = if provider == "yookassa" {
                "127.0.0.1/32"
            } else {
                ""
            };
            sqlx::query_scalar::<_, i64>(
                "insert into payment_accounts (legal_entity_id, provider, shop_id, secret_sealed, api_url, \
                 notify_networks, active, created_at, updated_at) values (?, ?, ?, ?, ?, ?, 1, ?, ?) returning account_id",
            )
            .bind(entity)
            .bind(provider)
            .bind(shop)
            .bind(sealed)
            .bind(url)
            .bind(networks)
            .bind(t)
            .bind(t)
            .fetch_one(&pool)
            .await
            .expect("payment account")
        }
    };
    app.fakes = match provider {
        Provider::Sandbox => Fakes::Sandbox,
        Provider::Yookassa => {
            let mut shops = Vec::new();
            for &entity in &entities {
                let fake = FakeYookassa::start().await;
                // The shop's contract: 2,2 % of a card payment, as the demo's rate of
                // «Комиссии и эквайринг» says.
                fake.script(|s| s.fee_permille = Some(22));
                let account = add(
                    "yookassa",
                    crate::fake_yookassa::SHOP_ID,
                    crate::fake_yookassa::SECRET,
                    fake.api_url(),
                )(entity)
                .await;
                fake.notify_to(&app.state.gateways.webhook_url(account));
                shops.push(fake);
            }
            Fakes::Yookassa(shops)
        }
        Provider::Tbank => {
            let fake = FakeTbank::start().await;
            for &entity in &entities {
                add(
                    "tbank",
                    crate::fake_tbank::TERMINAL_KEY,
                    crate::fake_tbank::PASSWORD,
                    fake.api_url(),
                )(entity)
                .await;
            }
            Fakes::Tbank(fake)
        }
    };
    app
}

/// [`spawn_served`] with changes to the configuration.
pub async fn spawn_served_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut config = Config::for_tests(dir.path()).with_address(addr);
    change(&mut config);
    let state = suz::server::build_state(config).await.expect("state");
    let router = suz::server::router(state.clone());
    let served = router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            served.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    TestApp {
        state,
        router,
        fakes: Fakes::Sandbox,
        _dir: dir,
    }
}

impl TestApp {
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.state.pool
    }

    /// Sends a request as the app's own pages would: a state-changing request without an
    /// `Origin` or `Referer` gets the app's own origin (the cross-site check needs one).
    /// Use [`TestApp::send_raw`] to send exactly what was built.
    pub async fn send(&self, mut req: Request<Body>) -> Reply {
        let headers = req.headers();
        if req.method() != http::Method::GET
            && req.method() != http::Method::HEAD
            && !headers.contains_key(http::header::ORIGIN)
            && !headers.contains_key(http::header::REFERER)
        {
            let origin = http::HeaderValue::from_str(&self.state.config.public_url)
                .expect("public URL is a header value");
            req.headers_mut().insert(http::header::ORIGIN, origin);
        }
        self.send_raw(req).await
    }

    /// Sends the request exactly as built.
    pub async fn send_raw(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(http::header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    /// Calls a server function the way the browser app does (form-encoded POST).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", suz::url::encode(k), suz::url::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = Request::post(format!("/api/{endpoint}"))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        if let Some(c) = cookie {
            req = req.header(http::header::COOKIE, c);
        }
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    /// Signs a demo staff member in over HTTP and returns the `Cookie` header value.
    /// Calls a server function that takes JSON.
    pub async fn call_json(&self, endpoint: &str, json: &str, cookie: &str) -> Reply {
        let req = Request::post(format!("/api/{endpoint}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::COOKIE, cookie)
            .body(Body::from(json.to_owned()))
            .expect("request");
        self.send(req).await
    }

    /// A GET whose body is binary.
    pub async fn get_bytes(&self, path: &str, cookie: &str) -> Vec<u8> {
        let req = Request::get(path)
            .header(http::header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request");
        let res = self.router.clone().oneshot(req).await.expect("response");
        assert_eq!(res.status(), StatusCode::OK);
        res.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.state.config.data_dir.clone()
    }

    pub async fn staff_cookie(&self, email: &str) -> String {
        let reply = self
            .call(
                "staff_sign_in",
                &[("email", email), ("password", suz::demo::DEMO_PASSWORD)],
                None,
            )
            .await;
        reply
            .session_cookie()
            .unwrap_or_else(|| panic!("sign-in of {email} failed: {}", reply.body))
    }

    /// Signs a demo resident in with a code read from the demo SMS table.
    pub async fn resident_cookie(&self, phone: &str) -> String {
        let reply = self
            .call("resident_request_code", &[("phone", phone)], None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let code = self.last_code(phone).await;
        let reply = self
            .call(
                "resident_sign_in",
                &[("phone", phone), ("code", &code)],
                None,
            )
            .await;
        reply
            .session_cookie()
            .unwrap_or_else(|| panic!("sign-in of {phone} failed: {}", reply.body))
    }

    pub async fn last_code(&self, phone: &str) -> String {
        let body: String = sqlx::query_scalar(
            "select body from dev_sms where phone = ? order by dev_sms_id desc limit 1",
        )
        .bind(phone)
        .fetch_one(self.pool())
        .await
        .expect("an sms");
        body.chars()
            .filter(|c| c.is_ascii_digit())
            .take(6)
            .collect()
    }

    pub async fn staff_id(&self, email: &str) -> i64 {
        sqlx::query_scalar("select staff_id from staff where email = ?")
            .bind(email)
            .fetch_one(self.pool())
            .await
            .expect("staff")
    }

    pub async fn resident_id(&self, phone: &str) -> i64 {
        sqlx::query_scalar("select resident_id from residents where phone = ?")
            .bind(phone)
            .fetch_one(self.pool())
            .await
            .expect("resident")
    }

    /// A demo employee as the services see them.
    pub async fn staff_user(&self, email: &str) -> suz::auth::model::StaffUser {
        suz::auth::repo::staff_by_id(self.pool(), self.staff_id(email).await)
            .await
            .expect("staff lookup")
            .expect("staff")
    }

    pub async fn price_item(&self, name: &str) -> i64 {
        sqlx::query_scalar("select price_item_id from price_items where name = ?")
            .bind(name)
            .fetch_one(self.pool())
            .await
            .expect("price item")
    }

    /// Pays on the sandbox's hosted page the way a browser does; returns where it
    /// redirects.
    pub async fn pay_on_sandbox_page(&self, url: &str, card: &str) -> String {
        let path = url
            .split_once("/sandbox/")
            .map(|(_, p)| format!("/sandbox/{p}"))
            .expect("a sandbox URL");
        let req = Request::post(path)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Body::from(format!("number={card}&expiry=12%2F35&cvc=123")))
            .expect("request");
        let reply = self.send(req).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        reply.location().expect("a redirect").to_owned()
    }

    /// The provider the app's legal entities take money through.
    pub fn provider(&self) -> Provider {
        match self.fakes {
            Fakes::Sandbox => Provider::Sandbox,
            Fakes::Yookassa(_) => Provider::Yookassa,
            Fakes::Tbank(_) => Provider::Tbank,
        }
    }

    /// Pays with `card` on the hosted page of whichever provider `url` belongs to, the way
    /// a browser does, and lets a fake send the notifications it has waiting (the
    /// sandbox's go out with the app's jobs, [`TestApp::tick`]). Returns where the page
    /// redirects.
    pub async fn pay_on_page(&self, url: &str, card: &str) -> String {
        if url.contains("/sandbox/") {
            return self.pay_on_sandbox_page(url, card).await;
        }
        let location = match &self.fakes {
            Fakes::Sandbox => panic!("not a sandbox page: {url}"),
            Fakes::Yookassa(shops) => {
                let (status, location) = shops[0].pay_on_page(url, card).await;
                assert_eq!(status, 303, "the page of {url}");
                location
            }
            Fakes::Tbank(fake) => fake.pay_page(url, card).await,
        };
        self.pump().await;
        location
    }

    /// A fake provider sends the notifications it has waiting (payments, refunds; ЮKassa's
    /// cash register registers the receipts it was given).
    pub async fn pump(&self) {
        match &self.fakes {
            Fakes::Sandbox => {}
            Fakes::Yookassa(shops) => {
                for shop in shops {
                    shop.register_receipts();
                    shop.deliver().await;
                }
            }
            Fakes::Tbank(fake) => {
                fake.deliver_queued().await;
            }
        }
    }

    /// The app's background jobs at `at`, with the provider's notifications before and
    /// after (what the jobs sent, a fake answers at once).
    pub async fn tick(&self, at: i64) {
        self.pump().await;
        suz::server::jobs::tick(&self.state, at).await;
        self.pump().await;
    }

    /// How many payments the provider has been asked to create.
    pub async fn provider_payments(&self) -> usize {
        match &self.fakes {
            Fakes::Sandbox => sqlx::query_scalar::<_, i64>("select count(*) from sandbox_payments")
                .fetch_one(self.pool())
                .await
                .expect("sandbox payments") as usize,
            Fakes::Yookassa(shops) => shops.iter().map(|s| s.payments().len()).sum(),
            Fakes::Tbank(fake) => fake.payments().len(),
        }
    }

    /// The provider's own books ([`ProviderBooks`]).
    pub async fn provider_books(&self) -> ProviderBooks {
        match &self.fakes {
            Fakes::Sandbox => {
                use suz::finance::simulate::Provider as _;
                suz::finance::simulate::Sandbox
                    .books(&self.state)
                    .await
                    .expect("sandbox books")
            }
            Fakes::Yookassa(shops) => {
                let kopecks = |v: &serde_json::Value| {
                    crate::fake_yookassa::kopecks(&v["value"]).expect("an amount")
                };
                let (mut paid, mut fees, mut refunded) = (0, 0, 0);
                for shop in shops {
                    for p in shop.payments() {
                        if p["status"] == "succeeded" {
                            paid += kopecks(&p["amount"]);
                            fees += kopecks(&p["amount"]) - kopecks(&p["income_amount"]);
                        }
                    }
                    for r in shop.refunds() {
                        if r["status"] == "succeeded" {
                            refunded += kopecks(&r["amount"]);
                        }
                    }
                }
                (paid, Some(fees), refunded)
            }
            Fakes::Tbank(fake) => {
                let (mut paid, mut refunded) = (0, 0);
                for p in fake.payments() {
                    if [
                        "CONFIRMED",
                        "PARTIAL_REFUNDED",
                        "REFUNDED",
                        "ASYNC_REFUNDING",
                    ]
                    .contains(&p.status.as_str())
                    {
                        paid += p.original;
                        refunded += p.original - p.amount;
                    }
                }
                (paid, None, refunded)
            }
        }
    }

    /// Creates an invoice from lines and activates it for the resident; returns its id.
    pub async fn issue_invoice(
        &self,
        staff: &suz::auth::model::StaffUser,
        order_id: i64,
        lines: &[suz::invoices::rules::LineInput],
    ) -> i64 {
        let now = suz::time::now();
        let invoice = suz::invoices::service::create(self.pool(), staff, order_id, lines, now)
            .await
            .expect("invoice created");
        suz::invoices::service::act(
            self.pool(),
            staff,
            invoice,
            suz::invoices::rules::InvoiceAction::Activate,
            now,
        )
        .await
        .expect("invoice activated");
        invoice
    }

    pub async fn service_id(&self, name: &str) -> i64 {
        sqlx::query_scalar("select service_id from services where name = ?")
            .bind(name)
            .fetch_one(self.pool())
            .await
            .expect("service")
    }

    pub async fn order_version(&self, order_id: i64) -> i64 {
        sqlx::query_scalar("select version from orders where order_id = ?")
            .bind(order_id)
            .fetch_one(self.pool())
            .await
            .expect("order")
    }

    /// The invoice's line ids, in the order they were added.
    pub async fn invoice_line_ids(&self, invoice: i64) -> Vec<i64> {
        sqlx::query_scalar(
            "select line_id from invoice_lines where invoice_id = ? order by line_id",
        )
        .bind(invoice)
        .fetch_all(self.pool())
        .await
        .expect("invoice lines")
    }

    /// The resident submits «Устранение засора» (in the bathroom, a visit in a week);
    /// returns the order id.
    pub async fn submit_clog(&self, resident: i64, key: &str) -> i64 {
        let input = suz::requests::service::SubmitInput {
            service_id: self.service_id("Устранение засора").await,
            values: vec![
                ("where".into(), "Ванна".into()),
                ("visit".into(), visit_in_a_week()),
            ],
            submit_key: key.into(),
        };
        suz::requests::service::submit(self.pool(), resident, input, 180, suz::time::now())
            .await
            .expect("request submitted")
            .order_id
    }

    /// The resident pays the invoice with a new card on the provider's page (the card is
    /// not saved), and the provider's notifications are delivered.
    pub async fn pay_by_card(&self, resident: i64, invoice: i64) {
        let now = suz::time::now();
        let choice = suz::payments::service::PayChoice {
            method: suz::payments::gateway::PayMethod::Card,
            email: "r@example.ru".into(),
            card_id: None,
            save_card: false,
        };
        let started = suz::payments::service::start(&self.state, resident, invoice, choice, now)
            .await
            .expect("payment started");
        self.pay_on_page(
            &started.redirect_url.expect("a hosted page"),
            suz::payments::sandbox::cards::SUCCESS,
        )
        .await;
        self.tick(now + 5).await;
    }

    /// `staff` puts the order «В работе», assigned to themself.
    pub async fn start_work(&self, staff: &suz::auth::model::StaffUser, order_id: i64) {
        suz::orders::service::change_state(
            self.pool(),
            staff,
            suz::orders::service::StateChange {
                order_id,
                version: self.order_version(order_id).await,
                status: suz::orders::status::OrderStatus::InProgress,
                assignee_id: Some(staff.staff_id),
                comment: String::new(),
            },
            suz::time::now(),
        )
        .await
        .expect("order in progress");
    }

    /// An order of +79000000002 for «Устранение засора» with an invoice of `lines` issued
    /// by the master, paid by card, then «В работе» with the master.
    pub async fn paid_order(
        &self,
        key: &str,
        lines: &[suz::invoices::rules::LineInput],
    ) -> PaidOrder {
        let resident = self.resident_id("+79000000002").await;
        let order_id = self.submit_clog(resident, key).await;
        let master = self.staff_user("master@demo.ru").await;
        let invoice = self.issue_invoice(&master, order_id, lines).await;
        self.pay_by_card(resident, invoice).await;
        self.start_work(&master, order_id).await;
        PaidOrder {
            order_id,
            resident,
            invoice,
            lines: self.invoice_line_ids(invoice).await,
        }
    }
}

/// The simulator's provider side: a fake's notifications are sent before the app's jobs
/// run; the books are the provider's own ([`TestApp::provider_books`]).
#[async_trait::async_trait]
impl suz::finance::simulate::Provider for TestApp {
    async fn deliver(&self) {
        self.pump().await;
    }

    async fn books(&self, _state: &AppState) -> suz::error::AppResult<(i64, Option<i64>, i64)> {
        Ok(self.provider_books().await)
    }
}
