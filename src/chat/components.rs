//! The chat box (order chat for staff and residents, pre-order dialogues) and the
//! dialogue pages: staff «Чаты с клиентами» and a dialogue; the resident's dialogue.

use super::api::{
    dialogue_to_order, fetch_dialogue, open_dialogue, order_chat, request_chat,
    send_dialogue_message, send_order_message, send_request_message, staff_dialogues, ChatMessage,
    ChatView, DialogueView,
};
use super::photos::photo_url;
use super::rules::check_message;
use crate::error::AppError;
use crate::live::{on_live, LiveEvent};
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{browser_load, new_key, LoadError, Loading};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// Which conversation a chat box shows, and as whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatSource {
    /// Staff in the order card.
    Staff(i64),
    /// The resident in their request.
    Resident(i64),
    /// A pre-order dialogue (staff or its resident).
    Dialogue(i64),
}

impl ChatSource {
    fn hit(self, event: &LiveEvent) -> bool {
        match (event, self) {
            (LiveEvent::Resync, _) => true,
            (
                LiveEvent::Message { order_id, .. },
                ChatSource::Staff(id) | ChatSource::Resident(id),
            ) => *order_id == Some(id),
            (LiveEvent::Message { dialogue_id, .. }, ChatSource::Dialogue(id)) => {
                *dialogue_id == Some(id)
            }
            (LiveEvent::Dialogue { dialogue_id }, ChatSource::Dialogue(id)) => *dialogue_id == id,
            _ => false,
        }
    }

    async fn load(self) -> Result<ChatView, AppError> {
        match self {
            ChatSource::Staff(id) => order_chat(id).await,
            ChatSource::Resident(id) => request_chat(id).await,
            ChatSource::Dialogue(id) => fetch_dialogue(id).await.map(|d| d.chat),
        }
    }

    async fn send(self, body: String, key: String, photos: Vec<i64>) -> Result<(), AppError> {
        match self {
            ChatSource::Staff(id) => send_order_message(id, body, key, photos).await,
            ChatSource::Resident(id) => send_request_message(id, body, key, photos).await,
            ChatSource::Dialogue(id) => send_dialogue_message(id, body, key, photos).await,
        }
    }
}

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

/// A conversation that updates live, with a box to write in (when the reader may).
/// Loaded in the browser only, so it never disturbs the hydration of the page around it.
#[component]
pub fn ChatBox(source: ChatSource) -> impl IntoView {
    let rev = RwSignal::new(0u32);
    // The last loaded conversation stays on screen while the next one loads.
    let shown = browser_load(move || rev.track(), move || source.load());
    on_live(move |e| {
        if source.hit(e) {
            rev.update(|v| *v += 1);
        }
    });
    let text = RwSignal::new(String::new());
    let key = RwSignal::new(new_key());
    let photos = RwSignal::new(Vec::<(i64, String)>::new());
    let error = RwSignal::new(None::<String>);
    let sending = RwSignal::new(false);
    let send = move || {
        if sending.get_untracked() {
            return;
        }
        let body = text.get_untracked();
        let attached = photos.get_untracked();
        if let Err(e) = check_message(&body, attached.len()) {
            error.set(Some(e));
            return;
        }
        error.set(None);
        sending.set(true);
        // The same key until it is sent: a retry after a lost answer stores one message.
        let k = key.get_untracked();
        leptos::task::spawn_local(async move {
            let ids = attached.iter().map(|p| p.0).collect();
            let result = source.send(body, k, ids).await;
            sending.set(false);
            match result {
                Ok(()) => {
                    text.set(String::new());
                    photos.set(Vec::new());
                    key.set(new_key());
                    rev.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let read_only = move || {
        shown.with(|s| {
            s.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|v| v.read_only.clone())
        })
    };
    let loaded = move || shown.with(|s| matches!(s, Some(Ok(_))));
    view! {
        <div class="chat">
            <div class="chat-messages" aria-live="polite">
                {move || match shown.get() {
                    None => view! { <Loading/> }.into_any(),
                    Some(Err(e)) => view! { <LoadError error=e/> }.into_any(),
                    Some(Ok(v)) if v.messages.is_empty() => view! { <p class="muted">"Сообщений пока нет"</p> }.into_any(),
                    // Newest first in the markup; the column is reversed, so it reads top to bottom
                    // and stays scrolled to the newest message.
                    Some(Ok(v)) => v.messages.into_iter().rev().map(|m| view! { <Bubble m=m/> }).collect_view().into_any(),
                }}
            </div>
            {move || read_only().map(|why| view! { <p class="muted small">{why}</p> })}
            <Show when=move || loaded() && read_only().is_none()>
                <div class="chat-compose">
                    <textarea rows="2" placeholder="Сообщение" aria-label="Сообщение"
                        prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))
                        on:keydown=move |ev| {
                            if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                                ev.prevent_default();
                                send();
                            }
                        }></textarea>
                    <PhotoPicker photos=photos error=error/>
                    <button type="button" class="primary" aria-label="Отправить сообщение" disabled=move || sending.get() on:click=move |_| send()>"Отправить"</button>
                </div>
                <div class="chat-attached">
                    {move || photos.get().into_iter().map(|(id, name)| view! {
                        <span class="chip">{name}" "
                            <button type="button" class="link-button" aria-label="Убрать фото"
                                on:click=move |_| photos.update(|p| p.retain(|x| x.0 != id))>"×"</button>
                        </span>
                    }).collect_view()}
                </div>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </Show>
        </div>
    }
}

#[component]
fn Bubble(m: ChatMessage) -> impl IntoView {
    let class = if m.mine {
        "bubble mine"
    } else if m.from_client {
        "bubble client"
    } else {
        "bubble staff"
    };
    view! {
        <div class=class data-message=m.message_id>
            <div class="bubble-meta"><span class="author">{m.author}</span>" · "{fmt_dt(m.at)}</div>
            {(!m.body.is_empty()).then(|| view! { <div class="bubble-text">{m.body}</div> })}
            {(!m.photos.is_empty()).then(|| view! {
                <div class="photos">
                    {m.photos.into_iter().map(|p| {
                        let href = photo_url(p.photo_id);
                        view! { <a href=href.clone() target="_blank"><img class="thumb" src=href.clone() alt=p.file_name/></a> }
                    }).collect_view()}
                </div>
            })}
        </div>
    }
}

#[component]
fn PhotoPicker(
    photos: RwSignal<Vec<(i64, String)>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let uploading = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    let on_change = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        input.set_value("");
        let most = super::rules::MAX_PHOTOS;
        if photos.get_untracked().len() >= most {
            error.set(Some(format!("Не больше {most} фото в одном сообщении")));
            return;
        }
        uploading.set(true);
        leptos::task::spawn_local(async move {
            match crate::requests::photos::upload_photo_to("/api/chat/photos", file).await {
                Ok(p) => photos.update(|v| v.push(p)),
                Err(e) => error.set(Some(e)),
            }
            uploading.set(false);
        });
    };
    #[cfg(not(feature = "hydrate"))]
    let on_change = move |_: leptos::ev::Event| {
        let _ = (photos, error);
    };
    view! {
        <label class="button-like" class:disabled=move || uploading.get()>
            {move || if uploading.get() { "Загрузка…" } else { "Фото" }}
            <input type="file" accept="image/*" class="visually-hidden" aria-label="Приложить фото" on:change=on_change/>
        </label>
    }
}

/// «Чаты с клиентами»: pre-order dialogues, newest activity first, updating live.
#[component]
pub fn StaffDialoguesPage() -> impl IntoView {
    let rev = RwSignal::new(0u32);
    let list = Resource::new(move || rev.get(), |_| staff_dialogues());
    on_live(move |e| {
        if matches!(
            e,
            LiveEvent::Dialogue { .. }
                | LiveEvent::Message {
                    dialogue_id: Some(_),
                    ..
                }
                | LiveEvent::Resync
        ) {
            rev.update(|v| *v += 1);
        }
    });
    view! {
        <header class="page-header"><h1>"Чаты с клиентами"</h1></header>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <p class="muted">"Клиенты ещё не писали"</p> }.into_any(),
                    Ok(rows) => view! {
                        <table class="orders">
                            <thead><tr><th>"Клиент"</th><th>"Услуга"</th><th>"Последнее сообщение"</th><th>"Обновлен"</th><th>"Новые"</th><th>"Заказ"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|d| view! {
                                    <tr data-dialogue=d.dialogue_id>
                                        <td><a href=format!("/staff/chats/{}", d.dialogue_id)>{d.client_name}</a></td>
                                        <td>{d.service_name}</td>
                                        <td class="ellipsis">{d.last_message}</td>
                                        <td>{fmt_dt(d.updated_at)}</td>
                                        <td>{(d.unread > 0).then(|| view! { <span class="badge">{d.unread}</span> })}</td>
                                        <td>{d.order_id.map(|o| view! { <a href=format!("/staff/orders/{o}")>{format!("№ {o}")}</a> })}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn dialogue_id_param() -> Memo<i64> {
    let params = use_params_map();
    Memo::new(move |_| params.with(|p| p.get_str("id").and_then(|v| v.parse().ok()).unwrap_or(0)))
}

/// A dialogue for staff: the conversation and «Оформить заказ».
#[component]
pub fn StaffDialoguePage() -> impl IntoView {
    let id = dialogue_id_param();
    let rev = RwSignal::new(0u32);
    let dialogue = Resource::new(move || (id.get(), rev.get()), |(id, _)| fetch_dialogue(id));
    on_live(move |e| {
        if matches!(e, LiveEvent::Dialogue { dialogue_id } if *dialogue_id == id.get_untracked()) {
            rev.update(|v| *v += 1);
        }
    });
    // Owned by the page, not by what reloads: converting changes the dialogue, and the reload
    // that follows must neither lose the answer nor leave the button on a disposed action.
    let convert = Action::new(move |id: &i64| dialogue_to_order(*id));
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(order_id)) = convert.value().get() {
            navigate(
                &format!("/staff/orders/new?draft={order_id}"),
                Default::default(),
            );
        }
    });
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match dialogue.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(d) => view! { <StaffDialogue d=d convert=convert/> }.into_any(),
                }
            })}
        </Transition>
        // Mounted once: the page reloading around it keeps what is typed and being sent.
        <section class="block">{move || view! { <ChatBox source=ChatSource::Dialogue(id.get())/> }}</section>
    }
}

#[component]
fn StaffDialogue(d: DialogueView, convert: Action<i64, Result<i64, AppError>>) -> impl IntoView {
    let error = move || convert.value().get().and_then(|r| r.err());
    let dialogue_id = d.dialogue_id;
    view! {
        <header class="page-header">
            <div>
                <div class="crumbs"><a href="/staff/chats">"Чаты с клиентами"</a></div>
                <h1>{d.client_name.clone()}</h1>
                <p class="muted">{format!("Услуга: {}", d.service_name)}</p>
            </div>
            <div>
                {match (d.order_id, d.order_submitted) {
                    (Some(o), true) => view! { <a class="button-like" href=format!("/staff/orders/{o}")>{format!("Заказ № {o}")}</a> }.into_any(),
                    (Some(o), false) => view! { <a class="button-like" href=format!("/staff/orders/new?draft={o}")>{format!("Черновик № {o}")}</a> }.into_any(),
                    (None, _) => view! {
                        <button class="primary" disabled=d.convert_refused.is_some() title=d.convert_refused.clone().unwrap_or_default()
                            on:click=move |_| { convert.dispatch(dialogue_id); }>"Оформить заказ"</button>
                    }.into_any(),
                }}
                {move || error().map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            </div>
        </header>
    }
}

/// The resident's dialogue with an operator about a service.
#[component]
pub fn ResidentDialoguePage() -> impl IntoView {
    let id = dialogue_id_param();
    let rev = RwSignal::new(0u32);
    let dialogue = Resource::new(move || (id.get(), rev.get()), |(id, _)| fetch_dialogue(id));
    on_live(move |e| {
        // The resident hears only of their own orders: one of them may be this dialogue's.
        let mine =
            matches!(e, LiveEvent::Dialogue { dialogue_id } if *dialogue_id == id.get_untracked());
        if mine || matches!(e, LiveEvent::Order { .. }) {
            rev.update(|v| *v += 1);
        }
    });
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match dialogue.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(d) => view! {
                        <header class="page-header">
                            <h1>"Чат с оператором"</h1>
                            <p class="muted">{d.service_name.clone()}</p>
                        </header>
                        {match (d.order_id, d.order_submitted) {
                            (Some(o), true) => Some(view! { <p class="notice">"Заявка оформлена: "<a href=format!("/requests/{o}")>{format!("№ {o}")}</a></p> }),
                            _ => None,
                        }}
                    }.into_any(),
                }
            })}
        </Transition>
        {move || view! { <ChatBox source=ChatSource::Dialogue(id.get())/> }}
    }
}

/// «Задать вопрос оператору» on a service card (services with a pre-order chat).
#[component]
pub fn AskOperator(service_id: i64) -> impl IntoView {
    let open = Action::new(move |id: &i64| open_dialogue(*id));
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(dialogue_id)) = open.value().get() {
            navigate(&format!("/chats/{dialogue_id}"), Default::default());
        }
    });
    view! {
        <button type="button" class="secondary" disabled=move || open.pending().get()
            on:click=move |_| { open.dispatch(service_id); }>"Задать вопрос оператору"</button>
        {move || open.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}
