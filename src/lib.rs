//! СУЗ: paid-services orders for property-management companies.
//! One crate, two builds: `ssr` (the axum server) and `hydrate` (the browser).

#![recursion_limit = "256"]

pub mod admin;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod chat;
pub mod error;
pub mod finance;
pub mod invoices;
pub mod live;
pub mod money;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod receipts;
pub mod refunds;
pub mod requests;
pub mod residents;
pub mod search;
pub mod text;
pub mod time;
pub mod ui;
pub mod url;

#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // A panic leaves the page's state half-updated and the app unusable: besides the
    // console message, tell the person and offer a reload instead of a silently dead page.
    console_error_panic_hook::set_once();
    let to_console = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        to_console(info);
        show_crash_overlay();
    }));
    leptos::mount::hydrate_body(app::App);
}

/// «Что-то пошло не так» over the page, with a reload button. Plain DOM calls: the reactive
/// system may be what broke. Shown once, however many panics follow.
#[cfg(feature = "hydrate")]
fn show_crash_overlay() {
    use wasm_bindgen::JsCast;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    if document.get_element_by_id("crash-overlay").is_some() {
        return;
    }
    let (Some(body), Ok(overlay), Ok(text), Ok(button)) = (
        document.body(),
        document.create_element("div"),
        document.create_element("p"),
        document.create_element("button"),
    ) else {
        return;
    };
    overlay.set_id("crash-overlay");
    overlay.set_class_name("crash-overlay");
    let _ = overlay.set_attribute("role", "alertdialog");
    let _ = overlay.set_attribute("aria-modal", "true");
    let _ = overlay.set_attribute("aria-labelledby", "crash-overlay-text");
    text.set_id("crash-overlay-text");
    text.set_text_content(Some("Что-то пошло не так. Обновите страницу."));
    let _ = button.set_attribute("type", "button");
    button.set_class_name("primary");
    button.set_text_content(Some("Обновить страницу"));
    let reload = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(|| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    });
    let _ = button.add_event_listener_with_callback("click", reload.as_ref().unchecked_ref());
    // The page is reloaded from here; the handler lives as long as it.
    reload.forget();
    let _ = overlay.append_child(&text);
    let _ = overlay.append_child(&button);
    let _ = body.append_child(&overlay);
}
