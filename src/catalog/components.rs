//! The catalog «Сервис» as residents see it: category tiles, search, a category's
//! services and the service card with its order form.

use super::api::{
    catalog_categories, category_services, fetch_service_card, search_services, ServiceCard,
    ServiceTile,
};
use super::form::{check_form, FieldErrors, RawValues, Strictness};
use super::form_view::FormFields;
use crate::error::AppError;
use crate::requests::api::submit_request;
use crate::time::DEFAULT_UTC_OFFSET_MINUTES;
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

fn id_param(name: &'static str) -> impl Fn() -> i64 + Copy {
    let params = use_params_map();
    move || params.with(|p| p.get(name).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0))
}

#[component]
pub fn CatalogPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|m| m.get("q").unwrap_or_default());
    let categories = Resource::new(|| (), |_| catalog_categories());
    let results = Resource::new(q, |q| async move {
        if q.trim().is_empty() {
            Ok(None)
        } else {
            search_services(q).await.map(Some)
        }
    });
    view! {
        <header class="top-bar"><h1>"Сервис"</h1></header>
        <Form method="GET" action="/" attr:class="search-bar" attr:role="search">
            <input type="search" name="q" prop:value=q placeholder="Поиск услуг" aria-label="Поиск услуг" enterkeyhint="search"/>
        </Form>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match (results.await, categories.await) {
                    (Ok(Some(found)), _) if found.is_empty() => view! {
                        <p class="muted center">"Ничего не нашлось. Попробуйте другое слово"</p>
                    }.into_any(),
                    (Ok(Some(found)), _) => view! {
                        <ul class="service-list" aria-label="Найденные услуги">
                            {found.into_iter().map(|s| view! { <ServiceItem service=s with_price=true/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    (Ok(None), Ok(tiles)) => view! {
                        <div class="tiles">
                            {tiles.into_iter().map(|c| view! {
                                <A href=format!("/catalog/{}", c.category_id) attr:class="tile" attr:style=format!("background:{}", c.background)>
                                    <span class="tile-icon">{c.icon}</span>
                                    <span class="tile-name">{c.name}</span>
                                    <span class="tile-count">{format!("Услуг: {}", c.services)}</span>
                                </A>
                            }).collect_view()}
                        </div>
                    }.into_any(),
                    (Err(e), _) | (_, Err(e)) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A service in a list: small cover, name, short description (and «от …» in search).
#[component]
fn ServiceItem(service: ServiceTile, with_price: bool) -> impl IntoView {
    view! {
        <li>
            <A href=format!("/services/{}", service.service_id) attr:class="service-item">
                <Cover tile=service.clone() small=true/>
                <span class="service-text">
                    <span class="service-name">{service.name.clone()}</span>
                    <span class="muted small">{service.short_description.clone()}</span>
                    {with_price.then(|| service.min_price.map(|p| view! { <span class="min-price">{format!("от {p}")}</span> }))}
                </span>
            </A>
        </li>
    }
}

/// The cover image, or the category's icon on its background.
#[component]
fn Cover(tile: ServiceTile, small: bool) -> impl IntoView {
    let class = if small { "cover small" } else { "cover" };
    if tile.cover.is_empty() {
        view! { <span class=class style=format!("background:{}", tile.background) aria-hidden="true">{tile.icon}</span> }.into_any()
    } else {
        view! { <img class=class src=tile.cover alt=""/> }.into_any()
    }
}

#[component]
pub fn CategoryPage() -> impl IntoView {
    let id = id_param("id");
    let category = Resource::new(id, category_services);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match category.await {
                    Ok(c) => view! {
                        <header class="top-bar">
                            <A href="/" attr:class="back" attr:aria-label="Назад">"‹"</A>
                            <h1>{c.name}</h1>
                        </header>
                        <ul class="service-list">
                            {c.services.into_iter().map(|s| view! { <ServiceItem service=s with_price=false/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ServicePage() -> impl IntoView {
    let id = id_param("id");
    let card = Resource::new(id, fetch_service_card);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match card.await {
                    Ok(c) => view! { <ServiceView card=c/> }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ServiceView(card: ServiceCard) -> impl IntoView {
    let values = RwSignal::new(RawValues::new());
    let field_errors = RwSignal::new(FieldErrors::new());
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let submit_key = StoredValue::new(String::new());
    let fields = StoredValue::new(card.fields.clone());
    let service_id = card.tile.service_id;
    let navigate = use_navigate();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        error.set(None);
        let vals = values.get_untracked();
        let checked = fields.with_value(|f| {
            check_form(
                f,
                &vals,
                Strictness::SubmitWithPhotos,
                DEFAULT_UTC_OFFSET_MINUTES,
                super::form::now_here(),
            )
        });
        if let Err(errs) = checked {
            field_errors.set(errs);
            return;
        }
        field_errors.set(Vec::new());
        if submit_key.with_value(String::is_empty) {
            submit_key.set_value(crate::ui::new_key());
        }
        let key = submit_key.get_value();
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match submit_request(service_id, vals, key).await {
                Ok(done) => {
                    let next = match done.pay_invoice_id {
                        Some(invoice) => format!("/requests/{}/pay/{invoice}", done.order_id),
                        None => format!("/requests/{}", done.order_id),
                    };
                    navigate(&next, Default::default())
                }
                Err(AppError::Fields(errs)) => {
                    busy.set(false);
                    field_errors.set(errs);
                }
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let error_signal = Signal::derive(move || error.get());
    let has_field_errors = move || !field_errors.with(Vec::is_empty);
    view! {
        <header class="top-bar">
            <A href=format!("/catalog/{}", card.category_id) attr:class="back" attr:aria-label="Назад">"‹"</A>
            <h1>{card.tile.name.clone()}</h1>
        </header>
        <section class="card service-card">
            <Cover tile=card.tile.clone() small=false/>
            <p>{card.description.clone()}</p>
            <p class="provider">
                "Исполнитель: "<strong>{card.tile.provider.clone()}</strong>
                {card.provider_is_partner.then_some(" (партнёр управляющей организации)")}
            </p>
            {(!card.prices.is_empty()).then(|| view! {
                <h2>"Цены"</h2>
                <ul class="prices">
                    {card.prices.iter().map(|p| view! {
                        <li><span>{p.name.clone()}</span><span class="price">{format!("{} / {}", p.price, p.unit)}</span></li>
                    }).collect_view()}
                </ul>
            })}
            {card.prepaid.then(|| view! { <p class="notice">"Оплата картой сразу при оформлении заявки"</p> })}
            {card.preorder_chat.then(|| view! { <crate::chat::components::AskOperator service_id=service_id/> })}
        </section>
        <form class="card form order-form" on:submit=on_submit novalidate>
            <h2>"Оформить заявку"</h2>
            <FormFields fields=card.fields.clone() values=values errors=field_errors photos=true/>
            {move || has_field_errors().then(|| view! { <p class="error" role="alert">"Проверьте поля формы"</p> })}
            <ErrorNote error=error_signal/>
            <button type="submit" class="primary wide" disabled=move || busy.get()>
                {move || if busy.get() { "Отправляем…" } else { "Отправить заявку" }}
            </button>
        </form>
    }
}
