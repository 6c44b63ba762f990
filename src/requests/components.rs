//! «Заявки»: the list for the selected premises and the request page with its rating.

use super::api::{my_requests, open_request, RateRequest, RequestView};
use super::photos::photo_url;
use super::rules::{may_rate, InvoiceState, RequestsSort, MAX_RATING_TEXT};
use crate::payments::components::PaymentBanner;
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

#[component]
pub fn RequestsPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|m| m.get("q").unwrap_or_default());
    let chosen = RwSignal::new(None::<RequestsSort>);
    let rev = RwSignal::new(0u32);
    crate::live::on_live(move |e| {
        if matches!(
            e,
            crate::live::LiveEvent::Order { .. } | crate::live::LiveEvent::Resync
        ) {
            rev.update(|v| *v += 1);
        }
    });
    let list = Resource::new(
        move || (q(), chosen.get(), rev.get()),
        |(q, s, _)| my_requests(q, s),
    );
    view! {
        <header class="top-bar"><h1>"Заявки"</h1></header>
        <Form method="GET" action="/requests" attr:class="search-bar" attr:role="search">
            <input type="search" name="q" prop:value=q placeholder="Номер или услуга" aria-label="Поиск заявок" enterkeyhint="search"/>
        </Form>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) if l.address.is_none() => view! {
                        <p class="muted center">"Добавьте помещение, чтобы оформлять заявки"</p>
                    }.into_any(),
                    Ok(l) => {
                        let sort = l.sort;
                        let empty = l.rows.is_empty();
                        view! {
                            <div class="list-head">
                                <A href="/profile" attr:class="premises-chip">{l.address.clone().unwrap_or_default()}</A>
                                <select aria-label="Сортировка" class="sort" on:change=move |ev| chosen.set(Some(RequestsSort::from_db(&event_target_value(&ev))))>
                                    {RequestsSort::ALL.into_iter().map(|s| view! {
                                        <option value=s.as_db() selected=s == sort>{s.label()}</option>
                                    }).collect_view()}
                                </select>
                            </div>
                            {(l.unread > 0).then(|| view! { <p class="unread-count">{format!("Непрочитанных: {}", l.unread)}</p> })}
                            {empty.then(|| view! { <p class="muted center">"Заявок не найдено"</p> })}
                            <ul class="request-list">
                                {l.rows.into_iter().map(|r| view! {
                                    <li>
                                        <A href=format!("/requests/{}", r.order_id) attr:class=if r.unread { "request unread" } else { "request" }>
                                            <div class="request-head">
                                                <span class="request-no">{format!("№ {}", r.order_id)}</span>
                                                {r.unread.then(|| view! { <span class="unread-dot" title="Есть изменения">"Новое"</span> })}
                                                <span class=r.status.css()>{r.status.label()}</span>
                                            </div>
                                            <div class="request-service">{r.service_name}</div>
                                            <div class="request-meta">
                                                <span>{fmt_dt(r.created_at)}</span>
                                                <span>{(!r.total.is_zero()).then(|| r.total.to_string())}</span>
                                            </div>
                                        </A>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn RequestPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0));
    let payment = move || query.with(|q| q.get("payment").and_then(|s| s.parse::<i64>().ok()));
    let refresh = RwSignal::new(0u32);
    let request = Resource::new(move || (id(), refresh.get()), |(id, _)| open_request(id));
    // Lives beside the page, not inside what reloads, so «Оценка сохранена» stays shown.
    let rate = ServerAction::<RateRequest>::new();
    // Staff changed the request: show it without a reload.
    let stamp = StoredValue::new(None::<i64>);
    crate::live::on_live(move |e| {
        let reload = match e {
            crate::live::LiveEvent::Order { order_id, stamp: s } if *order_id == id() => {
                let new = stamp.with_value(|old| *old != Some(*s));
                stamp.set_value(Some(*s));
                new
            }
            crate::live::LiveEvent::Resync => true,
            _ => false,
        };
        if reload {
            refresh.update(|v| *v += 1);
        }
    });
    view! {
        <header class="top-bar">
            <A href="/requests" attr:class="back" attr:aria-label="Назад">"‹"</A>
            <h1>{move || format!("Заявка № {}", id())}</h1>
        </header>
        {move || payment().map(|p| view! { <PaymentBanner payment_id=p refresh=refresh/> })}
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                // The first load only, awaited without subscribing to it: a reload rebuilds
                // the body below in one step with its new data. (Rebuilt by this Suspend, the
                // old body was disposed while still shown and working until the new data came,
                // and a click in that window touched disposed values and killed the page.)
                let first = async move { request.await };
                let _ = leptos::reactive::computed::ScopedFuture::new_untracked(first).await;
                // Read inside the <Transition>, not above it: a reload must not count as
                // pending for the shell's <Suspense> (the whole page would blink away).
                let shown = Memo::new(move |_| request.get());
                move || shown.get().map(|r| match r {
                    Ok(r) => view! { <RequestBody request=r refresh=refresh rate=rate/> }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                })
            })}
        </Transition>
        <section class="card">
            <h2>"Чат"</h2>
            {move || view! { <crate::chat::components::ChatBox source=crate::chat::components::ChatSource::Resident(id())/> }}
        </section>
    }
}

#[component]
fn RequestBody(
    request: RequestView,
    refresh: RwSignal<u32>,
    rate: ServerAction<RateRequest>,
) -> impl IntoView {
    let r = request;
    let awaiting = r
        .invoices
        .iter()
        .any(|i| i.state == InvoiceState::AwaitingPayment);
    view! {
        <section class="card">
            <div class="request-head">
                <strong class="request-service">{r.service_name.clone()}</strong>
                <span class=r.status.css() data-testid="request-status">{r.status.label()}</span>
            </div>
            <dl class="facts">
                <dt>"Исполнитель"</dt><dd>{r.provider.clone()}</dd>
                <dt>"Адрес"</dt><dd>{r.address.clone()}</dd>
                <dt>"Создана"</dt><dd>{fmt_dt(r.created_at)}</dd>
                {r.answers.iter().filter(|a| !a.value.is_empty()).map(|a| view! {
                    <dt>{a.label.clone()}</dt><dd>{a.value.clone()}</dd>
                }).collect_view()}
            </dl>
            {(!r.photos.is_empty()).then(|| view! {
                <div class="photos">
                    {r.photos.iter().map(|p| view! { <img class="thumb" src=photo_url(p.upload_id) alt=p.file_name.clone()/> }).collect_view()}
                </div>
            })}
        </section>
        {(!r.invoices.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Счета"</h2>
                <ul class="invoices">
                    {r.invoices.iter().map(|i| view! {
                        <li class="invoice" data-invoice=i.invoice_id>
                            <span>{format!("Счёт № {}", i.invoice_id)}</span>
                            <span class="price">{i.total.to_string()}</span>
                            <span class=i.state.css()>{i.state.label()}</span>
                            {(i.state == InvoiceState::AwaitingPayment).then(|| view! {
                                <A href=format!("/requests/{}/pay/{}", r.order_id, i.invoice_id) attr:class="primary pay-button">"Оплатить"</A>
                            })}
                        </li>
                    }).collect_view()}
                </ul>
                {(!awaiting).then(|| view! { <p class="muted small">"Все счета оплачены"</p> })}
            </section>
        })}
        <crate::receipts::components::ResidentReceipts receipts=r.receipts.clone()/>
        <crate::refunds::components::ResidentRefund order_id=r.order_id offer=r.refund.clone() refresh=refresh/>
        {may_rate(r.status).then(|| view! {
            <RatingBlock order_id=r.order_id rating=r.rating comment=r.rating_comment.clone() rate=rate/>
        })}
        <section class="card">
            <h2>"История"</h2>
            <ol class="timeline">
                {r.history.iter().map(|e| view! {
                    <li>
                        <span class="muted small">{fmt_dt(e.at)}</span>
                        <span>{e.text.clone()}</span>
                        {(!e.comment.is_empty()).then(|| view! { <span class="comment">{e.comment.clone()}</span> })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

/// 1–5 stars with optional text; the resident may change it later.
#[component]
fn RatingBlock(
    order_id: i64,
    rating: Option<u8>,
    comment: String,
    rate: ServerAction<RateRequest>,
) -> impl IntoView {
    let stars = RwSignal::new(rating.unwrap_or(0));
    let text = RwSignal::new(comment);
    let saved = move || matches!(rate.value().get(), Some(Ok(())));
    let rated = move || rating.is_some() || saved();
    let error = Signal::derive(move || rate.value().get().and_then(|r| r.err()));
    view! {
        <section class="card rating">
            <h2>{move || if rated() { "Ваша оценка" } else { "Оцените выполнение заявки" }}</h2>
            <div class="stars" role="radiogroup" aria-label="Оценка">
                {(1..=5u8).map(|n| view! {
                    <button type="button" role="radio"
                        aria-checked=move || { if stars.get() == n { "true" } else { "false" } }
                        aria-label=format!("{n} из 5")
                        class=move || { if stars.get() >= n { "star on" } else { "star" } }
                        on:click=move |_| stars.set(n)>"★"</button>
                }).collect_view()}
            </div>
            <label class="field">
                <span>"Отзыв"</span>
                <textarea rows="3" maxlength=MAX_RATING_TEXT.to_string() placeholder="Что понравилось или что можно улучшить"
                    prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            </label>
            <button type="button" class="primary wide"
                disabled=move || stars.get() == 0 || rate.pending().get()
                on:click=move |_| {
                    rate.dispatch(RateRequest { order_id, stars: stars.get_untracked(), comment: text.get_untracked() });
                }>
                {move || if rated() { "Изменить оценку" } else { "Оценить" }}
            </button>
            {move || saved().then(|| view! { <p class="notice" role="status">"Спасибо! Оценка сохранена"</p> })}
            <ErrorNote error=error/>
        </section>
    }
}
