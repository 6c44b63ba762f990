//! The order card: «Основное», «История», «Комментарии».

use super::api::{
    order_card_page, order_comments, order_history, AddOrderComment, CardPageData,
    ChangeOrderState, RevealPhone,
};
use super::files::DeleteAttachment;
use super::model::{Attachment, OrderCard};
use super::rules::{phone_visible, status_change_error};
use super::status::OrderStatus;
use crate::error::AppError;
use crate::invoices::api::{ApplyInvoiceAction, InvoicesBlock};
use crate::receipts::model::ReceiptsBlock;
use crate::refunds::api::RefundsBlock;
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::staff_shell::use_staff;
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;
use leptos::reactive::computed::ScopedFuture;
use leptos_router::hooks::{use_params_map, use_query_map};

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Main,
    History,
    Comments,
}

/// What one load of the card brings: the order, «Счет за услуги», «Возврат» and «Чеки».
type Loaded = CardPageData;

/// The latest load as it arrives: `None` before the first, an error when one failed.
type LoadState = Option<Result<Loaded, AppError>>;

/// One part of the latest good load; a reload that fails or is still running keeps the last.
fn part<T>(loaded: Memo<LoadState>, pick: fn(&Loaded) -> &T) -> Memo<Option<T>>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |prev: Option<&Option<T>>| {
        loaded.with(|l| match l {
            Some(Ok(l)) => Some(pick(l).clone()),
            _ => prev.cloned().flatten(),
        })
    })
}

/// The latest load, and its error if it failed. A reload keeps showing the previous data
/// until it has answered.
fn latest_load(
    page: Resource<Result<Loaded, AppError>>,
) -> (Memo<LoadState>, Memo<Option<AppError>>) {
    let loaded = Memo::new(move |prev: Option<&LoadState>| match page.get() {
        Some(load) => Some(load),
        None => prev.cloned().flatten(),
    });
    let failed =
        Memo::new(move |_| loaded.with(|l| l.as_ref().and_then(|r| r.as_ref().err().cloned())));
    (loaded, failed)
}

#[component]
pub fn OrderCardPage() -> impl IntoView {
    let params = use_params_map();
    let order_id = Memo::new(move |_| {
        params.with(|p| {
            p.get_str("id")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        })
    });
    // Everything the card keeps (tab, open modals, actions in flight) belongs to one order:
    // a link to another order starts afresh.
    move || {
        let id = order_id.get();
        view! { <CardPage order_id=id/> }
    }
}

/// The card of one order. It is built once, on the first load; every reload (after a live
/// event or a change made here) feeds the mounted card new data. Only the blocks whose data
/// changed are rebuilt, and they hold nothing that outlives them: modals, their state and the
/// actions (with their results) belong to the card, not to a block. (Rebuilding the card
/// under a `<Transition>` disposed the old card while it was still shown and working, and a
/// click or a finished request in that window touched disposed values and killed the page.)
#[component]
fn CardPage(order_id: i64) -> impl IntoView {
    // Bumped after every change so the card and its tabs reload.
    let changed = RwSignal::new(0u32);
    let page = Resource::new(move || changed.get(), move |_| order_card_page(order_id));
    let tab = RwSignal::new(Tab::Main);
    // Another user changed what the card shows: reload it and highlight it briefly.
    let stamp = StoredValue::new(None::<i64>);
    let flash = RwSignal::new(false);
    crate::live::on_live(move |e| {
        let changed_here = match e {
            crate::live::LiveEvent::Order {
                order_id: id,
                stamp: s,
            } if *id == order_id => {
                stamp.try_with_value(|old| *old != Some(*s)) == Some(true) && {
                    stamp.try_set_value(Some(*s));
                    true
                }
            }
            crate::live::LiveEvent::Resync => true,
            _ => false,
        };
        if changed_here {
            changed.try_update(|v| *v += 1);
            flash.try_set(true);
            #[cfg(feature = "hydrate")]
            leptos::task::spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new(1500).await;
                // The page may be gone by now.
                flash.try_set(false);
            });
        }
    });
    view! {
        <div class="live-scope" class:flash=move || flash.get()>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                // The first load only, awaited without subscribing to it: later loads reach
                // the mounted card through `loaded` instead of rebuilding it.
                ScopedFuture::new_untracked(async move {
                    let _ = page.await;
                })
                .await;
                // Read inside the <Transition> (which shows its fallback only on the first
                // load), not above it: a reload must not count as pending for the shell's
                // <Suspense>, which would swap the whole page for «Загрузка…».
                let (loaded, failed) = latest_load(page);
                move || match failed.get() {
                    Some(e) => view! { <LoadError error=e/> }.into_any(),
                    None => view! { <CardView order_id=order_id loaded=loaded tab=tab changed=changed/> }.into_any(),
                }
            })}
        </Transition>
        // The chat stays mounted while the card reloads (typed text and sending survive).
        <Show when=move || tab.get() == Tab::Main>
            <section class="block chat-block">
                <h2>"Переписка с клиентом"</h2>
                <crate::chat::components::ChatBox source=crate::chat::components::ChatSource::Staff(order_id)/>
            </section>
        </Show>
        </div>
    }
}

#[component]
fn CardView(
    order_id: i64,
    loaded: Memo<LoadState>,
    tab: RwSignal<Tab>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let card = part(loaded, |l| &l.card);
    let invoices = part(loaded, |l| &l.invoices);
    let refunds = part(loaded, |l| &l.refunds);
    let receipts = part(loaded, |l| &l.receipts);
    let can_edit = Memo::new(move |_| card.with(|c| c.as_ref().is_some_and(|c| c.can_edit)));
    let tab_button = move |t: Tab, label: &'static str| {
        view! {
            <button role="tab" aria-selected=move || if tab.get() == t { "true" } else { "false" }
                class=move || if tab.get() == t { "tab active" } else { "tab" }
                on:click=move |_| tab.set(t)>{label}</button>
        }
    };
    view! {
        {move || card.get().map(|card| view! { <CardHeader card=card/> })}
        <div class="tabs" role="tablist">
            {tab_button(Tab::Main, "Основное")}
            {tab_button(Tab::History, "История")}
            {tab_button(Tab::Comments, "Комментарии")}
        </div>
        {move || match tab.get() {
            Tab::Main => view! { <MainTab order_id=order_id card=card invoices=invoices refunds=refunds receipts=receipts changed=changed/> }.into_any(),
            Tab::History => view! { <HistoryTab order_id=order_id changed=changed/> }.into_any(),
            Tab::Comments => view! { <CommentsTab order_id=order_id can_edit=can_edit changed=changed/> }.into_any(),
        }}
    }
}

#[component]
fn CardHeader(card: OrderCard) -> impl IntoView {
    let order_id = card.order_id;
    view! {
        <header class="card-header">
            <div>
                <div class="crumbs"><a href="/staff/orders">"Заказы"</a>" / "{format!("№ {order_id}")}</div>
                <h1>{format!("Заказ № {order_id}")}" "<span class=card.status.css()>{card.status.label()}</span></h1>
                {card.is_draft.then(|| view! { <span class="status waiting">"Черновик"</span> })}
            </div>
            <div class="rating-corner" title="Оценка клиента">
                {match card.rating {
                    Some(r) => view! {
                        <span class="stars" aria-label=format!("Оценка клиента: {r} из 5")>{"★".repeat(r as usize)}{"☆".repeat(5 - r as usize)}</span>
                        {card.rating_text.clone().filter(|t| !t.is_empty()).map(|t| view! { <p class="rating-text">{t}</p> })}
                    }.into_any(),
                    None => view! { <span class="muted">"Оценки нет"</span> }.into_any(),
                }}
            </div>
        </header>
    }
}

/// Bumps `changed` each time `action` succeeds. Lives beside the action, so a block rebuilt
/// from new data never sees an old success again.
fn reload_on_success<I, O>(action: ServerAction<I>, changed: RwSignal<u32>)
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            changed.try_update(|v| *v += 1);
        }
    });
}

/// «Основное». The sections are rebuilt when their data changes; the actions, the phone once
/// revealed and the modals stay.
#[component]
fn MainTab(
    order_id: i64,
    card: Memo<Option<OrderCard>>,
    invoices: Memo<Option<InvoicesBlock>>,
    refunds: Memo<Option<RefundsBlock>>,
    receipts: Memo<Option<ReceiptsBlock>>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    use crate::invoices::components::{InvoiceModal, InvoicesSection};
    use crate::refunds::components::{RefundModal, RefundTarget, RefundsSection};
    let refund_target = RwSignal::new(None::<RefundTarget>);
    let invoice_modal = RwSignal::new(false);
    let reveal = ServerAction::<RevealPhone>::new();
    let save = ServerAction::<ChangeOrderState>::new();
    let delete = ServerAction::<DeleteAttachment>::new();
    let act = ServerAction::<ApplyInvoiceAction>::new();
    reload_on_success(save, changed);
    reload_on_success(delete, changed);
    reload_on_success(act, changed);
    view! {
        <div class="card-grid">
            <section class="block">
                <h2>"Информация заказа"</h2>
                {move || card.get().map(|card| view! { <Facts card=card reveal=reveal/> })}
            </section>
            <section class="block">
                <h2>"Состояние заказа"</h2>
                {move || card.get().map(|card| view! { <StateForm card=card save=save/> })}
            </section>
            <section class="block">
                {move || invoices.get().map(|block| view! {
                    <InvoicesSection block=block act=act modal_open=invoice_modal refund_target=refund_target/>
                })}
            </section>
            {move || refunds.get()
                .filter(|r| !r.requests.is_empty() || !r.refunds.is_empty())
                .map(|block| view! { <RefundsSection block=block target=refund_target changed=changed/> })}
            {move || receipts.get()
                .filter(|r| !r.receipts.is_empty())
                .map(|block| view! { <crate::receipts::components::ReceiptsSection block=block/> })}
            {move || refund_target.get().map(|t| view! { <RefundModal target=t open=refund_target changed=changed/> })}
            {move || invoice_modal.get().then(|| {
                let provider = invoices.with_untracked(|b| b.as_ref().map(|b| b.provider.clone()).unwrap_or_default());
                view! { <InvoiceModal order_id=order_id provider=provider open=invoice_modal changed=changed/> }
            })}
            <section class="block">
                <h2>"Прикрепленные файлы"</h2>
                {move || card.get().map(|card| view! {
                    <Attachments order_id=order_id files=card.attachments can_edit=card.can_edit delete=delete/>
                })}
            </section>
        </div>
    }
}

#[component]
fn Facts(card: OrderCard, reveal: ServerAction<RevealPhone>) -> impl IntoView {
    let order_id = card.order_id;
    let phone_shown = move || reveal.value().get().and_then(|r| r.ok());
    let reveal_error = Signal::derive(move || reveal.value().get().and_then(|r| r.err()));
    let visible = phone_visible(card.status);
    let masked = card.phone_masked.clone();
    view! {
        <dl class="facts">
            <dt>"Услуга"</dt><dd>{card.service_name.clone()}</dd>
            <dt>"Исполнитель"</dt><dd>{card.provider_name.clone()}</dd>
            <dt>"Клиент"</dt><dd>{card.client_name.clone()}</dd>
            <dt>"Телефон"</dt>
            <dd class="phone">
                {move || phone_shown().unwrap_or_else(|| masked.clone())}
                {if visible {
                    view! {
                        <Show when=move || phone_shown().is_none()>
                            <button class="link-button" on:click=move |_| { reveal.dispatch(RevealPhone { order_id }); }>
                                "Показать телефон"
                            </button>
                        </Show>
                    }.into_any()
                } else {
                    view! { <span class="muted small">" — виден, когда заказ «В работе»"</span> }.into_any()
                }}
                <ErrorNote error=reveal_error/>
            </dd>
            <dt>"Адрес помещения"</dt><dd>{card.address.clone()}</dd>
            <dt>"Дата и время"</dt><dd>{card.visit_at.map(fmt_dt).unwrap_or_else(|| "не указаны".into())}</dd>
            <dt>"Создан"</dt><dd>{fmt_dt(card.created_at)}</dd>
            <dt>"Затраты"</dt>
            <dd data-costs=card.costs.kopecks()>{card.costs.to_string()}
                {card.finance.then(|| view! { " "<a href=format!("/staff/finance/orders/{order_id}")>"Взаиморасчеты по заказу"</a> })}
            </dd>
            {card.answers.iter().filter(|a| !a.value.is_empty()).map(|a| view! {
                <dt>{a.label.clone()}</dt><dd>{a.value.clone()}</dd>
            }).collect_view()}
        </dl>
        {(!card.client_photos.is_empty()).then(|| view! {
            <h3>"Фото клиента"</h3>
            <div class="photos">
                {card.client_photos.iter().map(|p| {
                    let href = crate::requests::photos::photo_url(p.upload_id);
                    view! { <a href=href.clone() target="_blank"><img class="thumb" src=href.clone() alt=p.file_name.clone()/></a> }
                }).collect_view()}
            </div>
        })}
    }
}

#[component]
fn StateForm(card: OrderCard, save: ServerAction<ChangeOrderState>) -> impl IntoView {
    let error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    if !card.can_edit {
        return view! {
            <dl class="facts">
                <dt>"Статус"</dt><dd>{card.status.label()}</dd>
                <dt>"Ответственный"</dt><dd>{card.assignee_name.clone().unwrap_or_else(|| "не назначен".into())}</dd>
            </dl>
            <p class="muted small">"Только просмотр: нет доступа «Заказы: редактирование»"</p>
        }
        .into_any();
    }
    let from = card.status;
    let facts = card.facts.clone();
    // The form stays mounted across reloads: a saved comment is cleared from it.
    let comment = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            if let Some(el) = comment.get_untracked() {
                el.set_value("");
            }
        }
    });
    view! {
        <ActionForm action=save attr:class="form">
            <input type="hidden" name="order_id" value=card.order_id/>
            <input type="hidden" name="version" value=card.version/>
            <label class="field">
                <span>"Статус"</span>
                <select name="status">
                    {OrderStatus::ALL.into_iter().map(|s| {
                        // A reason is typed in the form, so only the other rules grey an option out.
                        let why = status_change_error(from, s, "причина", &facts);
                        view! {
                            <option value=s.as_db() selected=s == from disabled=why.is_some() title=why.unwrap_or_default()>
                                {s.label()}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </label>
            <label class="field">
                <span>"Ответственный"</span>
                <select name="assignee_id">
                    <option value="" selected=card.assignee_id.is_none()>"Не назначен"</option>
                    {card.assignees.iter().map(|(id, name)| view! {
                        <option value=*id selected=card.assignee_id == Some(*id)>{name.clone()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label class="field">
                <span>"Комментарий"</span>
                <textarea node_ref=comment name="comment" rows="3" placeholder="Обязателен при отмене заказа"></textarea>
            </label>
            <ErrorNote error=error/>
            <button type="submit" class="primary" disabled=move || save.pending().get()>"Сохранить"</button>
        </ActionForm>
    }
    .into_any()
}

fn size_label(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} МБ", bytes as f64 / 1_048_576.0)
    } else {
        format!("{} КБ", (bytes + 1023) / 1024)
    }
}

#[component]
fn Attachments(
    order_id: i64,
    files: Vec<Attachment>,
    can_edit: bool,
    delete: ServerAction<DeleteAttachment>,
) -> impl IntoView {
    let delete_error = Signal::derive(move || delete.value().get().and_then(|r| r.err()));
    let me = use_staff();
    let query = use_query_map();
    let upload_error = move || query.with(|q| q.get("files_error"));
    let empty = files.is_empty();
    view! {
        <ul class="files">
            {files.into_iter().map(|f| {
                let href = format!("/staff/files/{}", f.attachment_id);
                let may_delete = can_edit && me.as_ref().is_some_and(|s| s.staff_id == f.uploaded_by_id || s.permissions.admin);
                let id = f.attachment_id;
                view! {
                    <li class="file">
                        {f.is_image().then(|| view! { <a href=href.clone() target="_blank"><img class="thumb" src=href.clone() alt=f.file_name.clone()/></a> })}
                        <div>
                            <a href=format!("{href}?download=1") class="file-name">{f.file_name.clone()}</a>
                            <div class="muted small">{format!("{} · {} · {}", size_label(f.size_bytes), f.uploaded_by, fmt_dt(f.created_at))}</div>
                        </div>
                        {may_delete.then(|| view! {
                            <button class="link-button danger" on:click=move |_| { delete.dispatch(DeleteAttachment { attachment_id: id }); }>
                                "Удалить"
                            </button>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
        {empty.then(|| view! { <p class="muted">"Файлов нет"</p> })}
        <ErrorNote error=delete_error/>
        {move || upload_error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {can_edit.then(|| view! {
            <form class="upload" method="post" enctype="multipart/form-data" action=format!("/staff/orders/{order_id}/files")>
                <input type="file" name="files" multiple aria-label="Файлы"/>
                <button type="submit" class="secondary">"Прикрепить"</button>
            </form>
            <p class="muted small">"До 20 МБ на файл: изображения, PDF, документы Word и Excel, текст"</p>
        })}
    }
}

#[component]
fn HistoryTab(order_id: i64, changed: RwSignal<u32>) -> impl IntoView {
    let entries = Resource::new(move || changed.get(), move |_| order_history(order_id));
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match entries.await {
                    Ok(list) => view! {
                        <ol class="timeline">
                            {list.into_iter().map(|h| view! {
                                <li>
                                    <div class="when">{fmt_dt(h.at)}" · "{h.who}</div>
                                    <div class="what">{h.what}</div>
                                    {(!h.comment.is_empty()).then(|| view! { <div class="comment">{format!("Комментарий: {}", h.comment)}</div> })}
                                </li>
                            }).collect_view()}
                        </ol>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CommentsTab(order_id: i64, can_edit: Memo<bool>, changed: RwSignal<u32>) -> impl IntoView {
    let add = ServerAction::<AddOrderComment>::new();
    let list = Resource::new(
        move || (changed.get(), add.version().get()),
        move |_| order_comments(order_id),
    );
    let error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    let text = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(())) = add.value().get() {
            text.set(String::new());
        }
    });
    view! {
        <p class="muted small">"Комментарии видят только сотрудники"</p>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(items) if items.is_empty() => view! { <p class="muted">"Комментариев нет"</p> }.into_any(),
                    Ok(items) => view! {
                        <ul class="comments">
                            {items.into_iter().map(|c| view! {
                                <li><div class="when">{c.author}" · "{fmt_dt(c.created_at)}</div><div class="body">{c.body}</div></li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
        {move || can_edit.get().then(|| view! {
            <ActionForm action=add attr:class="form">
                <input type="hidden" name="order_id" value=order_id/>
                <label class="field">
                    <span>"Новый комментарий"</span>
                    <textarea name="body" rows="3" prop:value=text on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                </label>
                <ErrorNote error=error/>
                <button type="submit" class="primary" disabled=move || add.pending().get()>"Добавить"</button>
            </ActionForm>
        })}
    }
}
