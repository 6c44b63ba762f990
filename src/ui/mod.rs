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

/// Data loaded by the browser only (never during server rendering, so it never holds up a
/// `Suspense` around it): fetched again whenever what `track` reads changes; the newest
/// answer wins over a slower older one.
pub fn browser_load<T, Fut>(
    track: impl Fn() + 'static,
    fetch: impl Fn() -> Fut + 'static,
) -> RwSignal<Option<T>>
where
    T: Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let value = RwSignal::new(None::<T>);
    let latest = StoredValue::new(0u64);
    Effect::new(move |_| {
        track();
        latest.update_value(|n| *n += 1);
        let mine = latest.get_value();
        let pending = fetch();
        leptos::task::spawn_local(async move {
            let answer = pending.await;
            if latest.try_get_value() == Some(mine) {
                value.set(Some(answer));
            }
        });
    });
    value
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
    // A page rendered whole on the server (`SsrMode::Async`) answers with the error's own
    // status: an order the viewer may not see is a 404, not a 200 with a message.
    #[cfg(feature = "ssr")]
    if let (Some(resp), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(error.status_code()),
    ) {
        resp.set_status(status);
    }
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
