//! Server functions for signing in and out.

use super::model::Viewer;
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {super::service, super::session, crate::server::state::app_state};

/// A safe place to go after staff sign-in: only paths inside the staff area.
pub fn safe_staff_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with("/staff/") && !n.starts_with("/staff/login") && !n.contains("//"))
        .map(str::to_owned)
}

/// Signs a staff member in with e-mail and password, then opens their home page.
#[server(prefix = "/api", endpoint = "staff_sign_in")]
pub async fn staff_sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let state = app_state()?;
    let previous = session::current_token();
    let (staff, token) = service::staff_sign_in(
        &state.pool,
        &email,
        &password,
        &session::current_ip(),
        crate::time::now(),
    )
    .await?;
    // Rotate: a token that existed before sign-in never becomes a signed-in session.
    if let Some(old) = previous {
        service::sign_out(&state.pool, &old).await?;
    }
    session::set_session_cookie(&token, true, state.config.cookies_secure());
    let target = safe_staff_next(next.as_deref())
        .unwrap_or_else(|| staff.permissions.home_path().to_owned());
    leptos_axum::redirect(&target);
    Ok(())
}

/// Sends a one-time code to a resident's phone.
#[server(prefix = "/api", endpoint = "resident_request_code")]
pub async fn resident_request_code(phone: String) -> Result<String, AppError> {
    let state = app_state()?;
    let sent = service::request_code(
        &state.pool,
        state.sms.as_ref(),
        &phone,
        &session::current_ip(),
        crate::time::now(),
    )
    .await?;
    Ok(sent.phone)
}

/// Signs a resident in with the code from the text message.
#[server(prefix = "/api", endpoint = "resident_sign_in")]
pub async fn resident_sign_in(phone: String, code: String) -> Result<(), AppError> {
    let state = app_state()?;
    let previous = session::current_token();
    let (_resident, token) = service::verify_code(
        &state.pool,
        &phone,
        &code,
        &session::current_ip(),
        crate::time::now(),
    )
    .await?;
    if let Some(old) = previous {
        service::sign_out(&state.pool, &old).await?;
    }
    session::set_session_cookie(&token, false, state.config.cookies_secure());
    leptos_axum::redirect("/");
    Ok(())
}

/// Ends the current session and goes to the matching sign-in page.
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let state = app_state()?;
    let was_staff = matches!(session::current_viewer()?, Some(Viewer::Staff(_)));
    if let Some(token) = session::current_token() {
        service::sign_out(&state.pool, &token).await?;
    }
    session::clear_session_cookie(state.config.cookies_secure());
    leptos_axum::redirect(if was_staff { "/staff/login" } else { "/login" });
    Ok(())
}

/// Who is signed in, for the shells.
#[server(prefix = "/api", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Viewer>, AppError> {
    session::current_viewer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_staff_area() {
        assert_eq!(
            safe_staff_next(Some("/staff/orders?q=1")).as_deref(),
            Some("/staff/orders?q=1")
        );
        assert_eq!(safe_staff_next(Some("https://evil.example")), None);
        assert_eq!(safe_staff_next(Some("//evil.example/staff/")), None);
        assert_eq!(safe_staff_next(Some("/staff//evil")), None);
        assert_eq!(safe_staff_next(Some("/staff/login")), None);
        assert_eq!(safe_staff_next(None), None);
    }
}
