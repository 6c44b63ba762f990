//! «Новый заказ»: staff create an order for a resident, keep it as a draft, submit it.

use super::drafts::service_forms;
use super::drafts::{
    find_residents, list_drafts, load_draft, save_staff_order, DraftView, ResidentChoice,
    ServiceForm,
};
use crate::auth::permissions::ResidentSearch;
use crate::catalog::form::{check_form, FieldErrors, RawValues, Strictness};
use crate::catalog::form_view::FormFields;
use crate::error::AppError;
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn NewOrderPage() -> impl IntoView {
    let query = use_query_map();
    let draft_id =
        Memo::new(move |_| query.with(|q| q.get_str("draft").and_then(|v| v.parse::<i64>().ok())));
    let forms = Resource::new(|| (), |_| service_forms());
    let draft = Resource::new(
        move || draft_id.get(),
        |id| async move {
            match id {
                Some(id) => load_draft(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <header class="page-header">
            <h1>{move || match draft_id.get() { Some(id) => format!("Черновик № {id}"), None => "Новый заказ".to_owned() }}</h1>
            <A href="/staff/orders/drafts">"Черновики"</A>
        </header>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match (forms.await, draft.await) {
                    (Ok(forms), Ok(draft)) => view! { <OrderForm forms=forms draft=draft/> }.into_any(),
                    (Err(e), _) | (_, Err(e)) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn OrderForm(forms: Vec<ServiceForm>, draft: Option<DraftView>) -> impl IntoView {
    let draft_id = draft.as_ref().map(|d| d.order_id);
    let resident = RwSignal::new(draft.as_ref().map(|d| d.resident.clone()));
    let premises_id = RwSignal::new(draft.as_ref().map(|d| d.premises_id));
    let service_id = RwSignal::new(draft.as_ref().map(|d| d.service_id));
    let values = RwSignal::new(draft.as_ref().map(|d| d.values.clone()).unwrap_or_default());
    let field_errors = RwSignal::new(FieldErrors::new());
    let error = RwSignal::new(None::<AppError>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let search = RwSignal::new(String::new());
    let found = RwSignal::new(Vec::<ResidentChoice>::new());
    let forms = StoredValue::new(forms);
    let navigate = use_navigate();
    // The same rule as the server's: a role with «Назначенные мне» only finds a resident by
    // a full phone number, and is offered only its own legal entity's services.
    let lookup = crate::ui::staff_shell::use_staff()
        .map(|s| s.permissions.resident_search())
        .unwrap_or(ResidentSearch::FullPhoneOnly);

    let do_search = move |_| {
        error.set(None);
        let q = search.get_untracked();
        if let Some(e) = lookup.query_error(&q) {
            found.set(Vec::new());
            error.set(Some(AppError::validation(e)));
            return;
        }
        leptos::task::spawn_local(async move {
            match find_residents(q).await {
                Ok(list) if list.is_empty() => {
                    found.set(list);
                    error.set(Some(AppError::validation("Клиент не найден")));
                }
                Ok(list) => found.set(list),
                Err(e) => error.set(Some(e)),
            }
        });
    };

    let send = move |submit: bool| {
        error.set(None);
        notice.set(None);
        let (Some(r), Some(p), Some(s)) = (
            resident.get_untracked(),
            premises_id.get_untracked(),
            service_id.get_untracked(),
        ) else {
            error.set(Some(AppError::validation(
                "Выберите клиента, помещение и услугу",
            )));
            return;
        };
        let vals: RawValues = values.get_untracked();
        let fields = forms
            .with_value(|f| {
                f.iter()
                    .find(|x| x.service_id == s)
                    .map(|x| x.fields.clone())
            })
            .unwrap_or_default();
        let strictness = if submit {
            Strictness::Submit
        } else {
            Strictness::Draft
        };
        if let Err(errs) = check_form(
            &fields,
            &vals,
            strictness,
            DEFAULT_UTC_OFFSET_MINUTES,
            crate::catalog::form::now_here(),
        ) {
            field_errors.set(errs);
            return;
        }
        field_errors.set(Vec::new());
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let result = save_staff_order(draft_id, r.resident_id, p, s, vals, submit).await;
            busy.set(false);
            match result {
                Ok(id) if submit => navigate(&format!("/staff/orders/{id}"), Default::default()),
                Ok(id) => {
                    notice.set(Some(format!("Черновик № {id} сохранён")));
                    if draft_id.is_none() {
                        navigate(&format!("/staff/orders/new?draft={id}"), Default::default());
                    }
                }
                Err(AppError::Fields(errs)) => field_errors.set(errs),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let send_draft = send.clone();

    view! {
        <div class="card-grid">
            <section class="block">
                <h2>"Клиент"</h2>
                {move || match resident.get() {
                    Some(r) => view! {
                        <div class="chosen">
                            <div><strong>{r.full_name.clone()}</strong>" "<span class="muted">{r.phone.clone()}</span></div>
                            <button type="button" class="link-button" on:click=move |_| { resident.set(None); premises_id.set(None); }>"Другой клиент"</button>
                        </div>
                        <label class="field">
                            <span>"Помещение"</span>
                            <select on:change=move |ev| premises_id.set(event_target_value(&ev).parse().ok())>
                                {r.premises.iter().map(|(id, address)| {
                                    let id = *id;
                                    view! { <option value=id selected=move || premises_id.get() == Some(id)>{address.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    }.into_any(),
                    None => view! {
                        <div class="search-row">
                            <input type="search" placeholder=lookup.placeholder() aria-label=format!("{} клиента", lookup.placeholder())
                                prop:value=search on:input=move |ev| search.set(event_target_value(&ev))/>
                            <button type="button" class="secondary" on:click=do_search>"Найти"</button>
                        </div>
                        {(lookup == ResidentSearch::FullPhoneOnly).then(|| view! {
                            <p class="muted small">"Клиента можно найти только по полному номеру телефона; в списке услуг — услуги вашего юрлица"</p>
                        })}
                        <ul class="choice-list">
                            {move || found.get().into_iter().map(|r| {
                                let chosen = r.clone();
                                view! {
                                    <li><button type="button" class="choice" on:click=move |_| {
                                        premises_id.set(chosen.premises.first().map(|p| p.0));
                                        resident.set(Some(chosen.clone()));
                                    }>{format!("{} · {}", r.full_name, r.phone)}</button></li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </section>
            <section class="block">
                <h2>"Услуга"</h2>
                <label class="field">
                    <span>"Услуга"</span>
                    <select on:change=move |ev| { service_id.set(event_target_value(&ev).parse().ok()); field_errors.set(Vec::new()); }>
                        <option value="">"— выберите —"</option>
                        {forms.with_value(|f| f.iter().map(|s| {
                            let id = s.service_id;
                            view! { <option value=id selected=move || service_id.get() == Some(id)>{s.name.clone()}</option> }
                        }).collect_view())}
                    </select>
                </label>
                {move || service_id.get().and_then(|id| forms.with_value(|f| f.iter().find(|s| s.service_id == id).cloned())).map(|s| view! {
                    <div class="form"><FormFields fields=s.fields values=values errors=field_errors/></div>
                })}
            </section>
        </div>
        <div class="actions">
            <ErrorNote error=error/>
            {move || notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <button type="button" class="secondary" disabled=busy on:click=move |_| send_draft(false)>"Сохранить черновик"</button>
            <button type="button" class="primary" disabled=busy on:click=move |_| send(true)>"Оформить заказ"</button>
        </div>
    }
}

#[component]
pub fn DraftsPage() -> impl IntoView {
    let drafts = Resource::new(|| (), |_| list_drafts());
    view! {
        <header class="page-header"><h1>"Черновики"</h1><A href="/staff/orders/new">"Новый заказ"</A></header>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match drafts.await {
                    Ok(list) if list.is_empty() => view! { <p class="muted">"Черновиков нет"</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid">
                            <thead><tr><th>"№"</th><th>"Клиент"</th><th>"Услуга"</th><th>"Изменён"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|d| view! {
                                    <tr>
                                        <td><A href=format!("/staff/orders/new?draft={}", d.order_id)>{d.order_id}</A></td>
                                        <td>{d.client_name}</td><td>{d.service_name}</td>
                                        <td>{format_datetime(d.updated_at, DEFAULT_UTC_OFFSET_MINUTES)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}
