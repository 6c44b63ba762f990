//! The bell with its live counter, the notification centre, the push switch and the
//! role editor's notification settings.

use super::api::{
    fetch_role_notifications, my_notifications, notification_count, open_notification,
    read_all_notifications, save_role_notifications, RoleNotifications,
};
use super::rules::{Channel, StaffEvent};
use crate::live::{on_live, LiveEvent};
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{LoadError, Loading};
use leptos::prelude::*;

/// The bell: unread notifications, counted live. Loaded in the browser only.
#[component]
pub fn Bell(href: &'static str) -> impl IntoView {
    let rev = RwSignal::new(0u32);
    let count = crate::ui::browser_load(move || rev.track(), notification_count);
    on_live(move |e| {
        if matches!(e, LiveEvent::Notifications | LiveEvent::Resync) {
            rev.update(|v| *v += 1);
        }
    });
    let n = move || count.get().and_then(|r| r.ok()).unwrap_or(0);
    view! {
        <a class="bell" href=href aria-label=move || format!("Уведомления: {} непрочитанных", n())>
            <span aria-hidden="true">"🔔"</span>
            <Show when=move || { n() > 0 }>
                <span class="badge" data-testid="bell-count">{n}</span>
            </Show>
        </a>
    }
}

/// «Уведомления»: newest first; opening one marks it read and opens its order.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let rev = RwSignal::new(0u32);
    let list = Resource::new(move || rev.get(), |_| my_notifications());
    on_live(move |e| {
        if matches!(e, LiveEvent::Notifications | LiveEvent::Resync) {
            rev.update(|v| *v += 1);
        }
    });
    let read_all = Action::new(move |_: &()| async move {
        let r = read_all_notifications().await;
        rev.update(|v| *v += 1);
        r
    });
    let navigate = leptos_router::hooks::use_navigate();
    let open = Action::new(move |id: &i64| open_notification(*id));
    Effect::new(move |_| {
        if let Some(Ok(link)) = open.value().get() {
            navigate(&link, Default::default());
        }
    });
    view! {
        <header class="page-header">
            <h1>"Уведомления"</h1>
            <button type="button" class="secondary" on:click=move |_| { read_all.dispatch(()); }>"Прочитать все"</button>
        </header>
        <PushSwitch/>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(items) if items.is_empty() => view! { <p class="muted">"Уведомлений нет"</p> }.into_any(),
                    Ok(items) => view! {
                        <ul class="notifications">
                            {items.into_iter().map(|n| {
                                let id = n.notification_id;
                                view! {
                                    <li class:unread=!n.read>
                                        <a href=n.link.clone() on:click=move |ev| { ev.prevent_default(); open.dispatch(id); }>
                                            <span class="notification-text">{n.text}</span>
                                            <span class="muted small">{format_datetime(n.at, DEFAULT_UTC_OFFSET_MINUTES)}</span>
                                        </a>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// «Включить push-уведомления»: asks the browser, subscribes with the server's key and
/// registers the subscription (the service worker shows what arrives).
#[component]
pub fn PushSwitch() -> impl IntoView {
    let state = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    let enable = move |_| {
        leptos::task::spawn_local(async move {
            state.set("Подключаем…".into());
            let result = browser::enable().await;
            state.set(match result {
                Ok(()) => "Push-уведомления включены на этом устройстве".into(),
                Err(e) => e,
            });
        });
    };
    #[cfg(not(feature = "hydrate"))]
    let enable = move |_: leptos::ev::MouseEvent| {};
    view! {
        <div class="push-switch">
            <button type="button" class="secondary" on:click=enable>"Включить push-уведомления"</button>
            <span class="muted small" role="status">{move || state.get()}</span>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;

    #[wasm_bindgen(inline_js = "
export async function subscribe(key) {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    throw new Error('Этот браузер не поддерживает push-уведомления');
  }
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') { throw new Error('Уведомления запрещены в настройках браузера'); }
  const reg = await navigator.serviceWorker.register('/sw.js');
  await navigator.serviceWorker.ready;
  const pad = '='.repeat((4 - key.length % 4) % 4);
  const raw = atob((key + pad).replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(raw, c => c.charCodeAt(0));
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes });
  return JSON.stringify(sub.toJSON());
}")]
    extern "C" {
        #[wasm_bindgen(catch)]
        fn subscribe(key: &str) -> Result<js_sys::Promise, JsValue>;
    }

    #[derive(serde::Deserialize)]
    struct Keys {
        p256dh: String,
        auth: String,
    }
    #[derive(serde::Deserialize)]
    struct Subscription {
        endpoint: String,
        keys: Keys,
    }

    fn message(e: JsValue) -> String {
        js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "Не удалось включить push-уведомления".into())
    }

    pub async fn enable() -> Result<(), String> {
        let key = super::super::api::push_key()
            .await
            .map_err(|e| e.to_string())?;
        let promise = subscribe(&key).map_err(message)?;
        let json = JsFuture::from(promise)
            .await
            .map_err(message)?
            .as_string()
            .unwrap_or_default();
        let sub: Subscription =
            serde_json::from_str(&json).map_err(|_| "Браузер не вернул подписку".to_owned())?;
        super::super::api::subscribe_push(sub.endpoint, sub.keys.p256dh, sub.keys.auth)
            .await
            .map_err(|e| e.to_string())
    }
}

/// «Уведомления ролей»: for each role, which events notify and by which channel.
#[component]
pub fn RoleNotificationsPage() -> impl IntoView {
    let roles = Resource::new(|| (), |_| fetch_role_notifications());
    view! {
        <header class="page-header"><h1>"Уведомления ролей"</h1></header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match roles.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(roles) => roles.into_iter().map(|r| view! { <RoleSettings role=r/> }).collect_view().into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RoleSettings(role: RoleNotifications) -> impl IntoView {
    let settings = RwSignal::new(role.settings.clone());
    let role_id = role.role_id;
    let save =
        Action::new(move |_: &()| save_role_notifications(role_id, settings.get_untracked()));
    view! {
        <section class="block" data-role=role.name.clone()>
            <h2>{role.name.clone()}</h2>
            <table class="settings">
                <thead><tr><th>"Событие"</th>{Channel::ALL.map(|c| view! { <th>{c.label()}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {StaffEvent::ALL.map(|e| view! {
                        <tr>
                            <td>{e.label()}</td>
                            {Channel::ALL.map(|c| view! {
                                <td>
                                    <input type="checkbox" aria-label=format!("{}: {}", e.label(), c.label())
                                        prop:checked=move || settings.with(|s| s.allows(e, c))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            settings.update(|s| s.set(e, c, on));
                                        }/>
                                </td>
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <button type="button" class="primary" disabled=move || save.pending().get() on:click=move |_| { save.dispatch(()); }>"Сохранить"</button>
            {move || match save.value().get() {
                Some(Ok(())) => Some(view! { <span class="muted small" role="status">" Сохранено"</span> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            }}
        </section>
    }
}
