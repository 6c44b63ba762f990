//! Staff orders pages and the resident's «Заявки».

use super::api::{my_requests, staff_orders, ListScope};
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{LoadError, Loading};
use leptos::prelude::*;

#[component]
pub fn OrdersAllPage() -> impl IntoView {
    view! { <OrdersList scope=ListScope::All title="Заказы — все"/> }
}

#[component]
pub fn OrdersMinePage() -> impl IntoView {
    view! { <OrdersList scope=ListScope::Mine title="Заказы — назначенные мне"/> }
}

#[component]
fn OrdersList(scope: ListScope, title: &'static str) -> impl IntoView {
    let rows = Resource::new(move || scope, staff_orders);
    view! {
        <header class="page-header"><h1>{title}</h1></header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => view! {
                        <table class="grid">
                            <thead><tr>
                                <th>"№"</th><th>"Статус"</th><th>"Услуга"</th><th>"Клиент"</th>
                                <th>"Адрес"</th><th>"Создан"</th><th>"Ответственный"</th><th class="num">"Сумма"</th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|o| view! {
                                    <tr>
                                        <td>{o.order_id}</td>
                                        <td><span class=o.status.css()>{o.status.label()}</span></td>
                                        <td>{o.service_name}</td>
                                        <td>{o.client_name}</td>
                                        <td>{o.address}</td>
                                        <td>{format_datetime(o.created_at, DEFAULT_UTC_OFFSET_MINUTES)}</td>
                                        <td>{o.assignee_name.unwrap_or_default()}</td>
                                        <td class="num">{o.total.to_string()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn RequestsPage() -> impl IntoView {
    let rows = Resource::new(|| (), |_| my_requests());
    view! {
        <header class="top-bar"><h1>"Заявки"</h1></header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted center">"Заявок пока нет"</p> }.into_any(),
                    Ok(rows) => view! {
                        <ul class="request-list">
                            {rows.into_iter().map(|r| view! {
                                <li class="request">
                                    <div class="request-head">
                                        <span class="request-no">{format!("№ {}", r.order_id)}</span>
                                        <span class=r.status.css()>{r.status.label()}</span>
                                    </div>
                                    <div class="request-service">{r.service_name}</div>
                                    <div class="request-meta">
                                        <span>{format_datetime(r.created_at, DEFAULT_UTC_OFFSET_MINUTES)}</span>
                                        <span>{(!r.total.is_zero()).then(|| r.total.to_string())}</span>
                                    </div>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
