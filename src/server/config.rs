//! Configuration from environment variables, with defaults that run on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Outgoing mail settings; without them mail is written as .eml files (later issues).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub starttls: bool,
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
    /// `SUZ_SECURE_COOKIES=1` when served over HTTPS.
    pub secure_cookies: bool,
    /// `SUZ_TRUST_FORWARDED_FOR=1` behind a reverse proxy that sets `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// `SUZ_UTC_OFFSET_MINUTES`, default 180 (Europe/Moscow).
    pub utc_offset_minutes: i32,
    /// `LEPTOS_SITE_ROOT`, default `target/site`: the built wasm, js, css and public files.
    pub site_root: String,
    /// `SUZ_SMTP_HOST`, `SUZ_SMTP_PORT`, `SUZ_SMTP_USER`, `SUZ_SMTP_PASSWORD`, `SUZ_SMTP_FROM`,
    /// `SUZ_SMTP_STARTTLS`.
    pub smtp: Option<SmtpConfig>,
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
                starttls: !matches!(var("SUZ_SMTP_STARTTLS").as_deref(), Some("0" | "false")),
            }),
            None => None,
        };
        Ok(Config {
            listen,
            database_url,
            data_dir,
            demo: flag("SUZ_DEMO"),
            secure_cookies: flag("SUZ_SECURE_COOKIES"),
            trust_forwarded_for: flag("SUZ_TRUST_FORWARDED_FOR"),
            utc_offset_minutes,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            smtp,
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
        }
    }
}
