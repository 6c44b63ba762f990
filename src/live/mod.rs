//! Live updates: the server tells open pages that something they show changed, and the
//! pages fetch it again (so a dropped connection loses nothing: after a reconnect the page
//! reloads what it shows, and lists keyed by id never show a message twice).
//!
//! Server side: every committed change to `orders`, `messages`, `dialogues` and
//! `notifications` is seen by SQLite hooks on each pooled connection ([`hooks`]), turned
//! into routed events by one dispatcher task and published on a [`Bus`]. The in-process
//! bus is a broadcast channel; several app processes would put PostgreSQL LISTEN/NOTIFY
//! behind the same trait. `GET /api/live` streams the events a viewer may see (SSE).
//!
//! Browser side: [`LiveProvider`] keeps one `EventSource` open (it reconnects by itself)
//! and [`on_live`] lets a component react to events.

#[cfg(feature = "ssr")]
pub mod hooks;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What changed. Carries ids only: the page fetches the data through the usual checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    /// An order changed; `stamp` changes only when what its card shows changed (not when
    /// only its unread counters moved).
    Order { order_id: i64, stamp: i64 },
    /// A new chat message in an order's chat and/or a pre-order dialogue.
    Message {
        order_id: Option<i64>,
        dialogue_id: Option<i64>,
    },
    /// A pre-order dialogue changed (new, read, turned into an order).
    Dialogue { dialogue_id: i64 },
    /// The viewer's notifications changed.
    Notifications,
    /// Events may have been missed (a reconnect, a slow reader): reload what is shown.
    Resync,
}

/// The events of the open live connection, newest last; `None` before the first.
#[derive(Clone, Copy)]
pub struct LiveFeed(pub ReadSignal<Option<(u64, LiveEvent)>>);

/// Runs `f` for every live event (in the browser; never during server rendering).
pub fn on_live(f: impl Fn(&LiveEvent) + 'static) {
    let Some(LiveFeed(feed)) = use_context::<LiveFeed>() else {
        return;
    };
    Effect::new(move |_| {
        if let Some((_, event)) = feed.get() {
            f(&event);
        }
    });
}

/// Opens the live connection for the pages inside it.
#[component]
pub fn LiveProvider(children: Children) -> impl IntoView {
    let (feed, set_feed) = signal(None::<(u64, LiveEvent)>);
    provide_context(LiveFeed(feed));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| client::open(set_feed));
    #[cfg(not(feature = "hydrate"))]
    let _ = set_feed;
    children()
}

#[cfg(feature = "hydrate")]
mod client {
    use super::LiveEvent;
    use leptos::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    pub fn open(set_feed: WriteSignal<Option<(u64, LiveEvent)>>) {
        let Ok(source) = web_sys::EventSource::new("/api/live") else {
            return;
        };
        let counter = Rc::new(Cell::new(0u64));
        let push = {
            let counter = counter.clone();
            move |event: LiveEvent| {
                counter.set(counter.get() + 1);
                set_feed.set(Some((counter.get(), event)));
            }
        };
        let on_message = {
            let push = push.clone();
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(text) = e.data().as_string() {
                    if let Ok(event) = serde_json::from_str::<LiveEvent>(&text) {
                        push(event);
                    }
                }
            })
        };
        // The browser reconnects by itself; whatever happened meanwhile is reloaded.
        // Tests wait for `data-live="open"` on <body> before acting.
        let opened = Rc::new(Cell::new(false));
        let on_open = Closure::<dyn FnMut()>::new(move || {
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-live", "open");
            }
            if opened.replace(true) {
                push(LiveEvent::Resync);
            }
        });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        // The shells that open the connection live as long as the page.
        on_message.forget();
        on_open.forget();
    }
}
