//! Staff orders list («Все», «Назначенные мне»).

use super::api::{list_orders, order_filter_options, ListScope};
use super::export::ExportButton;
use super::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use super::model::OrderRow;
use super::status::OrderStatus;
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

#[component]
pub fn OrdersAllPage() -> impl IntoView {
    view! { <OrdersList scope=ListScope::All title="Заказы — все" path="/staff/orders"/> }
}

#[component]
pub fn OrdersMinePage() -> impl IntoView {
    view! { <OrdersList scope=ListScope::Mine title="Заказы — назначенные мне" path="/staff/orders/mine"/> }
}

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

#[component]
fn OrdersList(scope: ListScope, title: &'static str, path: &'static str) -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| query.with(|m| OrderFilter::from_pairs(|k| m.get_str(k))));
    let after = Memo::new(move |_| query.with(|m| m.get_str("after").and_then(Cursor::from_param)));
    // Orders changed by others reload the page (at most twice a second) and flash.
    let rev = RwSignal::new(0u32);
    let flashed = RwSignal::new(None::<i64>);
    provide_context(Flashed(flashed));
    let reload_pending = StoredValue::new(false);
    crate::live::on_live(move |e| {
        let id = match e {
            crate::live::LiveEvent::Order { order_id, .. } => Some(*order_id),
            crate::live::LiveEvent::Resync => None,
            _ => return,
        };
        if id.is_some() {
            flashed.set(id);
        }
        if reload_pending.get_value() {
            return;
        }
        reload_pending.set_value(true);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(500).await;
            reload_pending.set_value(false);
            rev.update(|v| *v += 1);
            gloo_timers::future::TimeoutFuture::new(2000).await;
            flashed.set(None);
        });
    });
    let page = Resource::new(
        move || (filter.get(), after.get(), rev.get()),
        move |(f, a, _)| list_orders(scope, f, a),
    );
    view! {
        <header class="page-header">
            <h1>{title}</h1>
            <ExportButton scope=scope filter=filter/>
        </header>
        <FilterBar scope=scope path=path filter=filter/>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => {
                        let f = filter.get_untracked();
                        let next_link = p.next.map(|c| format!("{path}?{}", f.to_query(Some(c))));
                        let first_link = after.get_untracked().map(|_| format!("{path}?{}", f.to_query(None)));
                        let empty = p.rows.is_empty();
                        view! {
                            <table class="grid orders">
                                <thead><tr>
                                    <SortHeader label="№" key=SortKey::Number path=path filter=filter/>
                                    <th>"Статус"</th><th>"Услуга"</th><th>"Клиент"</th><th>"Адрес клиента"</th>
                                    <SortHeader label="Создан" key=SortKey::Created path=path filter=filter/>
                                    <SortHeader label="Обновлен" key=SortKey::Updated path=path filter=filter/>
                                    <SortHeader label="Сумма" key=SortKey::Total path=path filter=filter/>
                                    <th class="num">"Затраты"</th><th class="num">"Возврат"</th><th>"Оценка"</th>
                                    <th title="Непрочитанные сообщения клиента">"💬"</th><th>"Ответственный"</th>
                                </tr></thead>
                                <tbody>
                                    {p.rows.into_iter().map(|o| view! { <OrderLine o=o/> }).collect_view()}
                                </tbody>
                            </table>
                            {empty.then(|| view! { <p class="muted center">"Заказов не найдено"</p> })}
                            <nav class="pager">
                                {first_link.map(|href| view! { <A href=href>"← В начало"</A> })}
                                {next_link.map(|href| view! { <A href=href attr:class="next">"Следующие →"</A> })}
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The order a live update changed last (its row flashes).
#[derive(Clone, Copy)]
struct Flashed(RwSignal<Option<i64>>);

#[component]
fn OrderLine(o: OrderRow) -> impl IntoView {
    let href = format!("/staff/orders/{}", o.order_id);
    let id = o.order_id;
    let flashed = use_context::<Flashed>();
    let flash = move || flashed.is_some_and(|f| f.0.get() == Some(id));
    let refund = o
        .refund_mark
        .map(|m| view! { <span class=m.css()>{o.refund.to_string()}</span> });
    view! {
        <tr data-order=o.order_id class:flash=flash>
            <td><A href=href.clone()>{o.order_id}</A></td>
            <td><span class=o.status.css()>{o.status.label()}</span>
                {o.overdue.then(|| view! { <span class="overdue" title="Просрочен срок по услуге">"Просрочен"</span> })}</td>
            <td><A href=href>{o.service_name}</A></td>
            <td>{o.client_name}</td>
            <td>{o.address}</td>
            <td class="nowrap">{fmt_dt(o.created_at)}</td>
            <td class="nowrap">{fmt_dt(o.updated_at)}</td>
            <td class="num"><span class=if o.all_paid { "money green" } else { "money" }>{o.total.to_string()}</span></td>
            <td class="num">{(!o.costs.is_zero()).then(|| o.costs.to_string())}</td>
            <td class="num">{refund}</td>
            <td>{o.rating.map(|r| format!("★ {r}"))}</td>
            <td>{(o.unread_client_messages > 0).then(|| view! { <span class="badge">{o.unread_client_messages}</span> })}</td>
            <td>{o.assignee_name.unwrap_or_default()}</td>
        </tr>
    }
}

#[component]
fn SortHeader(
    label: &'static str,
    key: SortKey,
    path: &'static str,
    filter: Memo<OrderFilter>,
) -> impl IntoView {
    let href = move || {
        let mut f = filter.get();
        f.ascending = if f.sort == key { !f.ascending } else { false };
        f.sort = key;
        format!("{path}?{}", f.to_query(None))
    };
    let mark = move || {
        let f = filter.get();
        if f.sort == key {
            if f.ascending {
                " ▲"
            } else {
                " ▼"
            }
        } else {
            ""
        }
    };
    let class = if key == SortKey::Total { "num" } else { "" };
    view! { <th class=class><A href=href>{label}{mark}</A></th> }
}

#[component]
fn FilterBar(scope: ListScope, path: &'static str, filter: Memo<OrderFilter>) -> impl IntoView {
    let options = Resource::new(|| (), |_| order_filter_options());
    let f = move || filter.get();
    let selected = |a: Option<i64>, b: i64| a == Some(b);
    view! {
        <Form method="GET" action=path attr:class="filters">
            <input type="search" name="q" placeholder="Номер, услуга, клиент или адрес" aria-label="Поиск"
                prop:value=move || f().q class="search"/>
            <select name="status" aria-label="Статус">
                <option value="">"Все статусы"</option>
                {OrderStatus::ALL.into_iter().map(|s| view! {
                    <option value=s.as_db() selected=move || f().status == Some(s)>{s.label()}</option>
                }).collect_view()}
            </select>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let o = options.await.unwrap_or_default();
                    view! {
                        <select name="service" aria-label="Услуга">
                            <option value="">"Все услуги"</option>
                            {o.services.into_iter().map(|(id, name)| view! {
                                <option value=id selected=move || selected(f().service_id, id)>{name}</option>
                            }).collect_view()}
                        </select>
                        {(scope == ListScope::All).then(|| view! {
                            <select name="assignee" aria-label="Ответственный">
                                <option value="">"Все ответственные"</option>
                                {o.staff.into_iter().map(|(id, name)| view! {
                                    <option value=id selected=move || selected(f().assignee_id, id)>{name}</option>
                                }).collect_view()}
                            </select>
                        })}
                        <select name="entity" aria-label="Юрлицо">
                            <option value="">"Все юрлица"</option>
                            {o.legal_entities.into_iter().map(|(id, name)| view! {
                                <option value=id selected=move || selected(f().legal_entity_id, id)>{name}</option>
                            }).collect_view()}
                        </select>
                    }
                })}
            </Transition>
            <label class="inline">"с "<input type="date" name="from" aria-label="Создан с" prop:value=move || f().created_from.unwrap_or_default()/></label>
            <label class="inline">"по "<input type="date" name="to" aria-label="Создан по" prop:value=move || f().created_to.unwrap_or_default()/></label>
            <select name="paid" aria-label="Оплата">
                <option value="">"Оплата: все"</option>
                <option value="yes" selected=move || f().payment == Some(PaymentFilter::Paid)>"Оплачены"</option>
                <option value="no" selected=move || f().payment == Some(PaymentFilter::Unpaid)>"Не оплачены"</option>
            </select>
            <label class="inline"><input type="checkbox" name="refund" value="1" prop:checked=move || f().has_refund/>" С возвратом"</label>
            <input type="hidden" name="sort" prop:value=move || f().sort.as_param()/>
            <input type="hidden" name="dir" prop:value=move || if f().ascending { "asc" } else { "desc" }/>
            <button type="submit" class="primary">"Найти"</button>
            <A href=path attr:class="reset">"Сбросить"</A>
        </Form>
    }
}
