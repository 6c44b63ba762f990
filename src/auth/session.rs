//! The session cookie, the request middleware that resolves who is signed in and guards
//! pages, and the guards server functions call.

use super::model::{ResidentUser, StaffUser, Viewer};
use super::permissions::Action;
use super::repo;
use super::service::{sha256_hex, RESIDENT_SESSION_SECS, STAFF_SESSION_SECS};
use crate::error::{AppError, AppResult};
use crate::server::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method};
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "suz_session";

/// Who made the request, resolved once by the middleware.
#[derive(Debug, Clone)]
pub struct CurrentViewer(pub Option<Viewer>);

/// The caller's address, for rate limits.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The raw session token of the request, if any.
#[derive(Debug, Clone)]
pub struct SessionToken(pub Option<String>);

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session (`max_age` seconds) or for clearing it (`0`).
pub fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("suz_session=; Path=/; Max-Age=0"))
}

/// The client's address: the socket's peer, or the proxy's `X-Forwarded-For` when trusted.
pub fn client_ip(req: &Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for {
        if let Some(first) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            // The proxy appends the address it saw; earlier entries come from the client.
            .and_then(|v| v.rsplit(',').next())
        {
            return first.trim().to_owned();
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

/// Who may open a page path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Files, server functions, health checks, development pages.
    Open,
    StaffSignIn,
    ResidentSignIn,
    Staff,
    Resident,
}

/// A file of the site root (`/favicon.svg`, `/sw.js`, `/manifest.webmanifest`…): one
/// segment with an extension. Files are known by where they live, never by a dot alone:
/// `/staff/orders/51.0` is a page.
pub fn is_site_file(path: &str) -> bool {
    let Some(name) = path.strip_prefix('/') else {
        return false;
    };
    !name.contains('/')
        && name.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

pub fn audience(path: &str) -> Audience {
    if is_site_file(path)
        || path.starts_with("/api/")
        || path == "/uploads"
        || path.starts_with("/uploads/")
        || path.starts_with("/pkg/")
        || path.starts_with("/dev/")
        || path == "/sandbox"
        || path.starts_with("/sandbox/")
        || path == "/payments/webhook"
        || path.starts_with("/files/")
        || path.starts_with("/covers/")
        || path == "/healthz"
    {
        Audience::Open
    } else if path == "/staff/login" {
        Audience::StaffSignIn
    } else if path == "/login" {
        Audience::ResidentSignIn
    } else if path == "/staff" || path.starts_with("/staff/") {
        Audience::Staff
    } else {
        Audience::Resident
    }
}

/// Resolves the session of every request and sends visitors without one to sign in.
pub async fn session_middleware(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&req, state.config.trust_forwarded_for);
    req.extensions_mut().insert(ClientIp(ip));
    let path = req.uri().path().to_owned();
    let audience = audience(&path);
    // Open paths that still act for someone (server functions, photos) resolve the
    // session but answer for themselves instead of redirecting.
    let acts_for_viewer = path.starts_with("/api/") || path.starts_with("/uploads");
    if audience == Audience::Open && !acts_for_viewer {
        return next.run(req).await;
    }
    let token = cookie_value(req.headers(), SESSION_COOKIE);
    let viewer = match &token {
        Some(t) => {
            match repo::session_viewer(&state.pool, &sha256_hex(t), crate::time::now()).await {
                Ok(v) => v,
                Err(_) => {
                    return (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        "Сервис временно недоступен",
                    )
                        .into_response()
                }
            }
        }
        None => None,
    };
    if req.method() == Method::GET {
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let next_param = format!("{path}{query}");
        match (audience, &viewer) {
            (Audience::Staff, Some(Viewer::Staff(_)))
            | (Audience::Resident, Some(Viewer::Resident(_))) => {}
            (Audience::Staff, _) => {
                return Redirect::to(&format!(
                    "/staff/login?next={}",
                    crate::url::encode(&next_param)
                ))
                .into_response()
            }
            (Audience::Resident, _) => return Redirect::to("/login").into_response(),
            (Audience::StaffSignIn, Some(Viewer::Staff(s))) => {
                return Redirect::to(s.permissions.home_path()).into_response()
            }
            (Audience::ResidentSignIn, Some(Viewer::Resident(_))) => {
                return Redirect::to("/").into_response()
            }
            _ => {}
        }
    }
    req.extensions_mut().insert(CurrentViewer(viewer));
    req.extensions_mut().insert(SessionToken(token));
    next.run(req).await
}

fn request_parts() -> AppResult<http::request::Parts> {
    leptos::prelude::use_context::<http::request::Parts>()
        .ok_or_else(|| AppError::internal("request parts missing from the Leptos context"))
}

/// The signed-in person of the current request.
pub fn current_viewer() -> AppResult<Option<Viewer>> {
    Ok(request_parts()?
        .extensions
        .get::<CurrentViewer>()
        .and_then(|v| v.0.clone()))
}

pub fn current_ip() -> String {
    request_parts()
        .ok()
        .and_then(|p| p.extensions.get::<ClientIp>().map(|ip| ip.0.clone()))
        .unwrap_or_else(|| "local".into())
}

pub fn current_token() -> Option<String> {
    request_parts()
        .ok()
        .and_then(|p| p.extensions.get::<SessionToken>().and_then(|t| t.0.clone()))
}

/// The one permission check: a signed-in staff member whose role allows `action`.
pub fn require_staff(action: Action) -> AppResult<StaffUser> {
    let staff = require_any_staff()?;
    if staff.permissions.allows(action) {
        Ok(staff)
    } else {
        Err(AppError::Forbidden)
    }
}

/// Any signed-in staff member.
pub fn require_any_staff() -> AppResult<StaffUser> {
    match current_viewer()? {
        Some(Viewer::Staff(s)) => Ok(s),
        Some(Viewer::Resident(_)) => Err(AppError::Forbidden),
        None => Err(AppError::Unauthorized),
    }
}

/// A signed-in resident.
pub fn require_resident() -> AppResult<ResidentUser> {
    match current_viewer()? {
        Some(Viewer::Resident(r)) => Ok(r),
        Some(Viewer::Staff(_)) => Err(AppError::Forbidden),
        None => Err(AppError::Unauthorized),
    }
}

/// Sets the session cookie on the response of the current server function.
pub fn set_session_cookie(token: &str, is_staff: bool, secure: bool) {
    let max_age = if is_staff {
        STAFF_SESSION_SECS
    } else {
        RESIDENT_SESSION_SECS
    };
    if let Some(resp) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        resp.append_header(SET_COOKIE, session_cookie(token, max_age, secure));
    }
}

pub fn clear_session_cookie(secure: bool) {
    if let Some(resp) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        resp.append_header(SET_COOKIE, session_cookie("", 0, secure));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_have_the_right_audience() {
        assert_eq!(audience("/staff/orders"), Audience::Staff);
        assert_eq!(audience("/staff"), Audience::Staff);
        assert_eq!(audience("/staff/login"), Audience::StaffSignIn);
        assert_eq!(audience("/login"), Audience::ResidentSignIn);
        assert_eq!(audience("/"), Audience::Resident);
        assert_eq!(audience("/requests/5"), Audience::Resident);
        assert_eq!(audience("/pkg/suz.js"), Audience::Open);
        assert_eq!(audience("/favicon.ico"), Audience::Open);
        assert_eq!(audience("/api/staff_sign_in"), Audience::Open);
        assert_eq!(audience("/dev/sms"), Audience::Open);
        assert_eq!(audience("/sw.js"), Audience::Open);
        assert_eq!(audience("/manifest.webmanifest"), Audience::Open);
        // A dot does not make a page a file.
        assert_eq!(audience("/staff/orders/51.0"), Audience::Staff);
        assert_eq!(audience("/staff/exports/a.b"), Audience::Staff);
        assert_eq!(audience("/requests/5.json"), Audience::Resident);
        assert_eq!(audience("/.env"), Audience::Resident);
    }

    #[test]
    fn reads_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; suz_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "zzz"), None);
    }

    #[test]
    fn cookie_is_http_only_and_lax() {
        let c = session_cookie("t", 60, true);
        let s = c.to_str().unwrap();
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Secure"));
        assert!(!session_cookie("t", 60, false)
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
