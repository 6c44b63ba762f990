//! Shared building blocks of both interfaces.

pub mod resident_shell;
pub mod staff_shell;

use crate::error::AppError;
use leptos::prelude::*;

/// A key for one submission of a form (made in the browser): sending it again returns
/// what the first sending created instead of creating it twice.
pub fn new_key() -> String {
    #[cfg(feature = "hydrate")]
    {
        format!(
            "{:x}-{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 1e15) as u64
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

/// A Russian error message under a form, or nothing.
#[component]
pub fn ErrorNote(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! { <p class="error" role="alert">{e.to_string()}</p> }
        })
    }
}

/// What a page shows while its data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading">"Загрузка…"</p> }
}

/// A full-width message for a failed load, with a sign-in link when that is the cause.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    let sign_in = matches!(error, AppError::Unauthorized);
    view! {
        <div class="load-error" role="alert">
            <p>{error.to_string()}</p>
            {sign_in.then(|| view! { <a href="/login">"Войти"</a> })}
        </div>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <main class="not-found">
            <h1>"Страница не найдена"</h1>
            <p><a href="/">"На главную"</a></p>
        </main>
    }
}
