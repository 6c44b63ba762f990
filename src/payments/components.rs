//! The resident's payment screen, the result after the provider's page, and saved cards.

use super::api::{
    email_ok, fetch_pay_screen, fetch_payment_result, method_choice_error, my_cards, start_payment,
    PayScreen, PaymentOutcome, RemoveCard, PAY_METHODS,
};
use crate::error::AppError;
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use std::time::Duration;

#[component]
pub fn PayPage() -> impl IntoView {
    let params = use_params_map();
    let invoice = move || {
        params.with(|p| {
            p.get("invoice")
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        })
    };
    let screen = Resource::new(invoice, fetch_pay_screen);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match screen.await {
                    Ok(s) => view! { <PayForm screen=s/> }.into_any(),
                    Err(e) => view! {
                        <header class="top-bar"><A href="/requests" attr:class="back" attr:aria-label="Назад">"‹"</A><h1>"Оплата"</h1></header>
                        <LoadError error=e/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PayForm(screen: PayScreen) -> impl IntoView {
    let email = RwSignal::new(screen.email.clone());
    // «card» or «sbp»: saved cards and «Сохранить карту» only for a card.
    let method = RwSignal::new("card");
    let by_card = move || method.get() == "card";
    let card = RwSignal::new(None::<i64>);
    let save = RwSignal::new(false);
    let email_error = RwSignal::new(None::<String>);
    let method_error = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let invoice_id = screen.invoice_id;
    let navigate = use_navigate();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let address = email.get_untracked();
        if !email_ok(&address) {
            email_error.set(Some("Проверьте e-mail: на него придёт чек".into()));
            return;
        }
        email_error.set(None);
        method_error.set(None);
        error.set(None);
        let chosen = method.get_untracked();
        // A card's choices are not sent with СБП (the server refuses them).
        let (card_id, save_card) = if chosen == "card" {
            (card.get_untracked(), save.get_untracked())
        } else {
            (None, false)
        };
        if let Some(refusal) = method_choice_error(chosen, card_id, save_card) {
            method_error.set(Some(refusal.into()));
            return;
        }
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let started =
                start_payment(invoice_id, address, card_id, save_card, Some(chosen.into())).await;
            match started {
                Ok(s) => match s.redirect_url {
                    Some(url) => {
                        if let Some(w) = web_sys::window() {
                            let _ = w.location().set_href(&url);
                        }
                    }
                    None => navigate(
                        &format!("/requests/{}?payment={}", s.order_id, s.payment_id),
                        Default::default(),
                    ),
                },
                Err(AppError::Fields(f)) => {
                    busy.set(false);
                    for (field, message) in f {
                        if field == "email" {
                            email_error.set(Some(message));
                        } else {
                            method_error.set(Some(message));
                        }
                    }
                }
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let error_signal = Signal::derive(move || error.get());
    let has_cards = !screen.cards.is_empty();
    view! {
        <header class="top-bar">
            <A href=format!("/requests/{}", screen.order_id) attr:class="back" attr:aria-label="Назад">"‹"</A>
            <h1>"Оплата"</h1>
        </header>
        <form class="card form pay-form" on:submit=on_submit novalidate>
            <p class="muted">{format!("Заявка № {} · {}", screen.order_id, screen.service_name)}</p>
            <dl class="facts">
                <dt>"Счёт"</dt><dd>{format!("№ {}", screen.invoice_id)}</dd>
                <dt>"Сумма счёта"</dt><dd>{screen.amount.to_string()}</dd>
                <dt>"Комиссия"</dt><dd data-testid="commission">{screen.commission.to_string()}</dd>
                <dt>"К оплате"</dt><dd class="price" data-testid="to-pay">{screen.total.to_string()}</dd>
            </dl>
            <label class="field">
                <span>"E-mail для чека"</span>
                <input type="email" inputmode="email" autocomplete="email" prop:value=move || email.get()
                    on:input=move |ev| email.set(event_target_value(&ev))/>
                {move || email_error.get().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
            </label>
            <fieldset class="field group" data-testid="pay-method">
                <legend>"Способ оплаты"</legend>
                {PAY_METHODS.map(|(value, label)| view! {
                    <label class="check">
                        <input type="radio" name="method" value=value checked=value == "card"
                            on:change=move |_| method.set(value)/>
                        {label}
                    </label>
                }).collect_view()}
                {move || method_error.get().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
            </fieldset>
            <p class="muted small" class:hidden=by_card>
                "Откроется страница СБП: отсканируйте QR-код или выберите свой банк и подтвердите перевод в его приложении"
            </p>
            <fieldset class="field group" class:hidden=move || !by_card()>
                <legend>"Карта"</legend>
                <label class="check">
                    <input type="radio" name="card" checked=true on:change=move |_| card.set(None)/>
                    "Новая карта"
                </label>
                {screen.cards.iter().map(|c| {
                    let id = c.card_id;
                    view! {
                        <label class="check">
                            <input type="radio" name="card" on:change=move |_| card.set(Some(id))/>
                            {format!("Сохранённая карта {}", c.mask)}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <label class="check" class:hidden=move || card.get().is_some() || !by_card()>
                <input type="checkbox" prop:checked=move || save.get() on:change=move |ev| save.set(event_target_checked(&ev))/>
                "Сохранить карту"
            </label>
            {has_cards.then(|| view! { <p class="muted small" class:hidden=move || !by_card()>"Сохранённые карты можно удалить в профиле"</p> })}
            <ErrorNote error=error_signal/>
            <button type="submit" class="primary wide" disabled=move || busy.get()>
                {move || if busy.get() { "Переходим к оплате…" } else { "Перейти к оплате" }}
            </button>
        </form>
    }
}

/// The payment's result after returning from the provider, asked again while processing.
#[component]
pub fn PaymentBanner(payment_id: i64, refresh: RwSignal<u32>) -> impl IntoView {
    let attempt = RwSignal::new(0u32);
    let result = Resource::new(
        move || attempt.get(),
        move |_| fetch_payment_result(payment_id),
    );
    Effect::new(move |_| match result.get() {
        Some(Ok(r)) if r.outcome == PaymentOutcome::Processing && attempt.get_untracked() < 30 => {
            set_timeout(move || attempt.update(|a| *a += 1), Duration::from_secs(2));
        }
        Some(Ok(r)) if r.outcome == PaymentOutcome::Processing => {}
        Some(Ok(_)) => refresh.update(|v| *v += 1),
        _ => {}
    });
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match result.await {
                    Ok(r) => {
                        let class = match r.outcome {
                            PaymentOutcome::Succeeded => "banner success",
                            PaymentOutcome::Failed => "banner failure",
                            PaymentOutcome::Processing => "banner",
                        };
                        view! { <p class=class role="status" data-testid="payment-result">{r.message}</p> }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// «Сохранённые карты» in the profile.
#[component]
pub fn SavedCardsSection() -> impl IntoView {
    let remove = ServerAction::<RemoveCard>::new();
    let cards = Resource::new(move || remove.version().get(), |_| my_cards());
    let remove_error = Signal::derive(move || remove.value().get().and_then(|r| r.err()));
    view! {
        <section class="card">
            <h2>"Сохранённые карты"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match cards.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"Нет сохранённых карт"</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="cards">
                                {list.into_iter().map(|c| {
                                    let id = c.card_id;
                                    view! {
                                        <li>
                                            <span>{c.mask.clone()}</span>
                                            <button type="button" class="link-button danger" aria-label=format!("Удалить карту {}", c.mask)
                                                on:click=move |_| { remove.dispatch(RemoveCard { card_id: id }); }>"Удалить"</button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            <ErrorNote error=remove_error/>
        </section>
    }
}
