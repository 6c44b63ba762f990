//! What every request passes through before and after the application: the cross-site
//! check of state-changing requests, the body kinds server functions take, true HTTP
//! statuses for refusals, same-origin redirects only, and the security headers.

use super::config::Config;
use crate::error::{AppError, MAX_SERVER_FN_BODY_BYTES};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, ORIGIN,
    REFERER, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use std::sync::Arc;

/// The header server functions put on their error answers (`server_fn`'s own name).
const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";

/// An error answer of a server function is a short JSON value; anything longer is left as is.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The settings the checks need, made once from the configuration.
#[derive(Debug, Clone)]
pub struct Security {
    /// Origins whose pages may change state: the public URL's and `SUZ_ALLOWED_ORIGINS`.
    origins: Vec<String>,
    /// The public URL is https: send HSTS.
    https: bool,
}

impl Security {
    pub fn from_config(config: &Config) -> Security {
        let mut origins: Vec<String> = std::iter::once(config.public_url.as_str())
            .chain(config.allowed_origins.iter().map(String::as_str))
            .filter_map(origin_of)
            .collect();
        origins.dedup();
        Security {
            origins,
            https: config.public_url.starts_with("https://"),
        }
    }

    fn allows_origin(&self, origin: &str) -> bool {
        origin_of(origin).is_some_and(|o| self.origins.contains(&o))
    }

    /// Did this state-changing request come from one of the app's own pages?
    /// `Origin` decides; without it, the origin of `Referer`; without either, no.
    pub fn same_origin(&self, headers: &http::HeaderMap) -> bool {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        match (text(ORIGIN), text(REFERER)) {
            (Some(origin), _) => self.allows_origin(origin),
            (None, Some(referer)) => self.allows_origin(referer),
            (None, None) => false,
        }
    }

    /// The Content-Security-Policy of the app's pages; `nonce` marks Leptos's own scripts.
    pub fn page_policy(nonce: &str) -> String {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
             connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    }

    /// The policy of the sandbox provider's hosted page: no scripts at all; its form
    /// posts to itself and then returns the payer to the app.
    fn sandbox_policy(&self) -> String {
        format!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self' {}; base-uri 'none'; frame-ancestors 'none'",
            self.origins.join(" ")
        )
    }
}

/// `scheme://host[:port]` of a URL, lower case, without a default port; `None` for
/// anything that is not an absolute http(s) URL (an `Origin: null` among them).
pub fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Requests that are authenticated by other means than the session cookie: the payment
/// provider's signed webhooks and the sandbox provider's own page and API.
fn exempt_from_origin_check(path: &str) -> bool {
    path == "/payments/webhook"
        || path.starts_with("/payments/webhook/")
        || path == "/sandbox"
        || path.starts_with("/sandbox/")
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Server functions: `/api/<name>`, except the routes that stream or take files there.
fn is_server_fn(path: &str) -> bool {
    path.starts_with("/api/") && path != "/api/live" && !path.starts_with("/api/chat/photos")
}

/// The body kinds server functions are sent as (Leptos's form-encoded and JSON codecs).
fn server_fn_body_kind_ok(headers: &http::HeaderMap) -> bool {
    let kind = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    matches!(
        kind.as_deref(),
        Some("application/x-www-form-urlencoded" | "application/json")
    )
}

/// A refusal in the shape the caller reads: server functions get the JSON of the
/// error (the browser app shows its message), everyone else the message as text.
pub fn refusal(path: &str, err: AppError) -> Response {
    let status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    if path.starts_with("/api/") {
        let body = serde_json::to_string(&err).unwrap_or_else(|_| "\"Internal\"".into());
        (
            status,
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (
                    http::HeaderName::from_static(SERVER_FN_ERROR_HEADER),
                    HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/api")),
                ),
            ],
            body,
        )
            .into_response()
    } else {
        (
            status,
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            err.to_string(),
        )
            .into_response()
    }
}

/// The request checks (before the application) and the answer fixes (after it).
pub async fn guard(State(security): State<Arc<Security>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = checked(&security, &path, req, next).await;
    add_headers(&security, &path, &mut res);
    res
}

/// [`guard`] before its headers: a refusal, or the application's answer with its fixes.
async fn checked(security: &Security, path: &str, req: Request, next: Next) -> Response {
    let path = path.to_owned();
    if changes_state(req.method()) && !exempt_from_origin_check(&path) {
        if !security.same_origin(req.headers()) {
            tracing::warn!(%path, origin = ?req.headers().get(ORIGIN), "cross-site request refused");
            return refusal(&path, AppError::CrossSite);
        }
        if is_server_fn(&path) {
            if !server_fn_body_kind_ok(req.headers()) {
                return refusal(&path, AppError::UnsupportedMediaType);
            }
            let declared = req
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > MAX_SERVER_FN_BODY_BYTES) {
                return refusal(
                    &path,
                    AppError::TooLarge(crate::error::too_large_message(MAX_SERVER_FN_BODY_BYTES)),
                );
            }
        }
    }
    let res = next.run(req).await;
    let res = if res.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        with_error_status(res).await
    } else {
        res
    };
    same_origin_redirect(security, &path, res)
}

/// Server functions answer every error with 500; this gives a refusal its own status
/// (401, 403, 404, 409, 413, 415, 422, 429) from the error itself.
async fn with_error_status(res: Response) -> Response {
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_ERROR_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response(),
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(err.status_code()) {
            parts.status = status;
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A no-JS form post is answered with a redirect back to the page it came from; never
/// to another site, whatever the request's `Referer` said.
fn same_origin_redirect(security: &Security, path: &str, mut res: Response) -> Response {
    if !path.starts_with("/api/") {
        return res;
    }
    let Some(location) = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return res;
    };
    let local =
        location.starts_with('/') && !location.starts_with("//") && !location.contains('\\');
    if !local && !security.allows_origin(&location) {
        res.headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/"));
    }
    res
}

/// Files that may be cached: the built assets, public site files, service covers.
fn is_public_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path.starts_with("/covers/")
        || crate::auth::session::is_site_file(path)
}

fn add_headers(security: &Security, path: &str, res: &mut Response) {
    let is_html = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if security.https {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let sandbox = path == "/sandbox" || path.starts_with("/sandbox/");
    if sandbox && is_html {
        if let Ok(v) = HeaderValue::from_str(&security.sandbox_policy()) {
            headers.insert(CONTENT_SECURITY_POLICY, v);
        }
    } else if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        // Pages of the app set their own policy with the nonce of their scripts; anything
        // else (files, answers, plain pages) may run nothing and be framed by no one.
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                 base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
    }
    if !headers.contains_key(CACHE_CONTROL) && !is_public_asset(path) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security() -> Security {
        let mut config = Config::for_tests(std::path::Path::new("/tmp"));
        config.public_url = "https://uk.example.ru".into();
        config.allowed_origins = vec!["https://crm.example.ru:8443".into()];
        Security::from_config(&config)
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin_of("https://UK.example.ru:443/staff?x=1").as_deref(),
            Some("https://uk.example.ru")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:3000").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(origin_of("http://a.ru:80/").as_deref(), Some("http://a.ru"));
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("/staff/orders"), None);
        assert_eq!(origin_of("ftp://a.ru"), None);
        assert_eq!(origin_of("https://uk.example.ru@evil.ru"), None);
    }

    #[test]
    fn only_the_apps_own_origins_pass() {
        let s = security();
        let h = |name: http::HeaderName, v: &'static str| {
            let mut m = http::HeaderMap::new();
            m.insert(name, HeaderValue::from_static(v));
            m
        };
        assert!(s.same_origin(&h(ORIGIN, "https://uk.example.ru")));
        assert!(s.same_origin(&h(ORIGIN, "https://crm.example.ru:8443")));
        assert!(!s.same_origin(&h(ORIGIN, "https://uk.example.ru:8443")));
        assert!(!s.same_origin(&h(ORIGIN, "http://uk.example.ru")));
        assert!(!s.same_origin(&h(ORIGIN, "https://uk.example.ru.evil.ru")));
        assert!(!s.same_origin(&h(ORIGIN, "null")));
        assert!(s.same_origin(&h(REFERER, "https://uk.example.ru/staff/orders/5")));
        assert!(!s.same_origin(&h(REFERER, "https://evil.ru/?https://uk.example.ru")));
        assert!(!s.same_origin(&http::HeaderMap::new()));
    }

    #[test]
    fn server_functions_take_form_or_json_bodies_only() {
        let h = |v: &'static str| {
            let mut m = http::HeaderMap::new();
            m.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            m
        };
        assert!(server_fn_body_kind_ok(&h(
            "application/x-www-form-urlencoded"
        )));
        assert!(server_fn_body_kind_ok(&h(
            "application/json; charset=utf-8"
        )));
        assert!(!server_fn_body_kind_ok(&h("text/plain")));
        assert!(!server_fn_body_kind_ok(&h(
            "multipart/form-data; boundary=x"
        )));
        assert!(!server_fn_body_kind_ok(&http::HeaderMap::new()));
    }
}
