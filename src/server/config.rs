//! Configuration from environment variables, with defaults that run on a fresh machine.

use rust_decimal::Decimal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// Outgoing mail settings; without them mail is written as .eml files (later issues).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `SUZ_LISTEN`, default `127.0.0.1:3000`.
    pub listen: SocketAddr,
    /// `SUZ_DATABASE_URL`, default a SQLite file under the data directory.
    pub database_url: String,
    /// `SUZ_DATA_DIR`, default `./data`: database, uploaded files, mail outbox.
    pub data_dir: PathBuf,
    /// `SUZ_DEMO=1`: seed demo data and show one-time codes at `/dev/sms`.
    pub demo: bool,
    /// `SUZ_SECURE_COOKIES=1`, or a public URL with https: the session cookie is `Secure`.
    pub secure_cookies: bool,
    /// `SUZ_TRUST_FORWARDED_FOR=1` behind a reverse proxy that sets `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// `SUZ_UTC_OFFSET_MINUTES`, default 180 (Europe/Moscow).
    pub utc_offset_minutes: i32,
    /// `LEPTOS_SITE_ROOT`, default `target/site`: the built wasm, js, css and public files.
    pub site_root: String,
    /// `SUZ_SMTP_HOST`, `SUZ_SMTP_PORT`, `SUZ_SMTP_USER`, `SUZ_SMTP_PASSWORD`, `SUZ_SMTP_FROM`
    /// (plain SMTP to a relay).
    pub smtp: Option<SmtpConfig>,
    /// `SUZ_PUBLIC_URL`: how browsers reach the app, default `http://<listen>`. Its origin
    /// is the one whose pages may change state (the cross-site check).
    pub public_url: String,
    /// `SUZ_ALLOWED_ORIGINS`: more origins whose pages may change state, comma-separated
    /// (another name of the app behind a reverse proxy).
    pub allowed_origins: Vec<String>,
    /// `SUZ_PAYMENTS_URL`: the payment provider's API, default the sandbox inside the app
    /// (`<public_url>/sandbox`).
    pub payments_url: String,
    /// `SUZ_PAYMENTS_SECRET`: API key and webhook signing secret shared with the provider;
    /// default: generated on first start and kept in the database.
    pub payments_secret: Option<String>,
    /// `SUZ_SECRETS_KEY`: the passphrase stored provider secrets are sealed with
    /// (AES-256-GCM); without it, accounts name an environment variable instead.
    pub secrets_key: Option<String>,
    /// `SUZ_EMBEDDED_SANDBOX=0` when the sandbox runs as its own process.
    pub embedded_sandbox: bool,
    /// `SUZ_SANDBOX_WEBHOOK_URL`: where the sandbox sends webhooks, default
    /// `<public_url>/payments/webhook`.
    pub sandbox_webhook_url: String,
    /// `SUZ_PAYER_COMMISSION_PERCENT`: what the payer pays on top of an invoice paid by
    /// card, in percent (default 0).
    pub payer_commission_percent: Decimal,
    /// `SUZ_PUSH_ALLOW_HTTP=1`: accept plain-HTTP push endpoints (a local push service in
    /// tests); otherwise only `https://` endpoints are taken.
    pub push_allow_http: bool,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn flag(name: &str) -> bool {
    matches!(var(name).as_deref(), Some("1" | "true" | "yes" | "on"))
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let data_dir = PathBuf::from(var("SUZ_DATA_DIR").unwrap_or_else(|| "data".into()));
        let listen = var("SUZ_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| format!("SUZ_LISTEN: {e}"))?;
        let database_url = var("SUZ_DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("suz.db").display()));
        let utc_offset_minutes = match var("SUZ_UTC_OFFSET_MINUTES") {
            Some(v) => v
                .parse()
                .map_err(|e| format!("SUZ_UTC_OFFSET_MINUTES: {e}"))?,
            None => crate::time::DEFAULT_UTC_OFFSET_MINUTES,
        };
        let smtp = match var("SUZ_SMTP_HOST") {
            Some(host) => Some(SmtpConfig {
                host,
                port: var("SUZ_SMTP_PORT")
                    .map(|p| p.parse().map_err(|e| format!("SUZ_SMTP_PORT: {e}")))
                    .transpose()?
                    .unwrap_or(587),
                username: var("SUZ_SMTP_USER"),
                password: var("SUZ_SMTP_PASSWORD"),
                from: var("SUZ_SMTP_FROM").unwrap_or_else(|| "noreply@localhost".into()),
            }),
            None => None,
        };
        let public_url = var("SUZ_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        let payer_commission_percent = match var("SUZ_PAYER_COMMISSION_PERCENT") {
            Some(v) => Decimal::from_str(v.trim().replace(',', ".").as_str())
                .ok()
                .filter(|d| *d >= Decimal::ZERO && *d <= Decimal::from(20))
                .ok_or("SUZ_PAYER_COMMISSION_PERCENT: a percent from 0 to 20")?,
            None => Decimal::ZERO,
        };
        Ok(Config {
            listen,
            database_url,
            data_dir,
            demo: flag("SUZ_DEMO"),
            secure_cookies: flag("SUZ_SECURE_COOKIES"),
            allowed_origins: var("SUZ_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trust_forwarded_for: flag("SUZ_TRUST_FORWARDED_FOR"),
            utc_offset_minutes,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            smtp,
            payments_url: var("SUZ_PAYMENTS_URL")
                .unwrap_or_else(|| format!("{public_url}/sandbox")),
            payments_secret: var("SUZ_PAYMENTS_SECRET"),
            secrets_key: var("SUZ_SECRETS_KEY"),
            embedded_sandbox: !matches!(
                var("SUZ_EMBEDDED_SANDBOX").as_deref(),
                Some("0" | "false")
            ),
            sandbox_webhook_url: var("SUZ_SANDBOX_WEBHOOK_URL")
                .unwrap_or_else(|| format!("{public_url}/payments/webhook")),
            public_url,
            payer_commission_percent,
            push_allow_http: flag("SUZ_PUSH_ALLOW_HTTP"),
        })
    }

    /// A configuration for tests: a database in `dir`, demo mode on.
    pub fn for_tests(dir: &std::path::Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            database_url: format!("sqlite://{}", dir.join("test.db").display()),
            data_dir: dir.to_path_buf(),
            demo: true,
            secure_cookies: false,
            trust_forwarded_for: false,
            utc_offset_minutes: crate::time::DEFAULT_UTC_OFFSET_MINUTES,
            site_root: "target/site".into(),
            smtp: None,
            public_url: "http://127.0.0.1:0".into(),
            allowed_origins: Vec::new(),
            payments_url: "http://127.0.0.1:0/sandbox".into(),
            payments_secret: Some("test-secret".into()),
            secrets_key: Some("test-secrets-key".into()),
            embedded_sandbox: true,
            sandbox_webhook_url: "http://127.0.0.1:0/payments/webhook".into(),
            payer_commission_percent: Decimal::ZERO,
            push_allow_http: true,
        }
    }

    /// Whether the session cookie is `Secure`: asked for, or the app is public over https.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies || self.public_url.starts_with("https://")
    }

    /// Points every URL at the address the app actually listens on (tests bind port 0).
    pub fn with_address(mut self, addr: SocketAddr) -> Config {
        self.listen = addr;
        self.public_url = format!("http://{addr}");
        self.payments_url = format!("{}/sandbox", self.public_url);
        self.sandbox_webhook_url = format!("{}/payments/webhook", self.public_url);
        self
    }
}
