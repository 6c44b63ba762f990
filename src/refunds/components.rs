//! «Возврат» in the order card (summary, «Подробнее», «Отклонить», «Обработать»), the
//! refund modal with live amounts, and «Возврат платежа» for the resident.

use super::api::{
    fetch_refund_form, RefundForm, RefundState, RefundsBlock, RejectRefundRequest, RequestInfo,
    RequestRefund, RequestState,
};
use super::rules::{paid_unit_price, refund_lines, total, RefundLineInput, MAX_REASON};
use crate::error::AppError;
use crate::invoices::rules::format_quantity;
use crate::refunds::api::CreateRefund;
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

/// What the refund modal is opened for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundTarget {
    pub invoice_id: i64,
    pub request: Option<RequestInfo>,
}

/// The «Возврат» block: shown once a refund was made or requested.
#[component]
pub fn RefundsSection(
    block: RefundsBlock,
    target: RwSignal<Option<RefundTarget>>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let details = RwSignal::new(false);
    let open_request = block
        .requests
        .iter()
        .find(|r| r.state == RequestState::Requested)
        .cloned();
    let processing = block
        .refunds
        .iter()
        .any(|r| r.state == RefundState::Processing);
    let summary = match (&open_request, processing) {
        (Some(r), _) => format!("Клиент запросил возврат {}", r.amount),
        (None, true) => "Возврат обрабатывается платёжной системой".to_owned(),
        (None, false) => "Возвраты по заказу".to_owned(),
    };
    let block = StoredValue::new(block);
    view! {
        <section class="block refund-block">
            <div class="block-head">
                <h2>"Возврат"</h2>
                <button type="button" class="secondary" on:click=move |_| details.set(true)>"Подробнее"</button>
            </div>
            <p class=if open_request.is_some() { "refund-summary red" } else { "refund-summary" }>{summary}</p>
            {move || details.get().then(|| view! {
                <RefundDetails block=block.get_value() open=details target=target changed=changed/>
            })}
        </section>
    }
}

#[component]
fn RefundDetails(
    block: RefundsBlock,
    open: RwSignal<bool>,
    target: RwSignal<Option<RefundTarget>>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let reject = ServerAction::<RejectRefundRequest>::new();
    let reject_reason = RwSignal::new(String::new());
    let rejecting = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(())) = reject.value().get() {
            open.set(false);
            changed.update(|v| *v += 1);
        }
    });
    let reject_error = Signal::derive(move || reject.value().get().and_then(|r| r.err()));
    let process_error = block.process_error.clone();
    let card_invoice = block.card_invoice_id;
    view! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-modal="true" aria-labelledby="refund-details-title">
                <h2 id="refund-details-title">"Возврат"</h2>
                {block.requests.iter().rev().map(|r| {
                    let request = r.clone();
                    let id = r.request_id;
                    let waiting = r.state == RequestState::Requested;
                    let process_error = process_error.clone();
                    view! {
                        <article class="refund-request">
                            <h3>{format!("Запрос клиента от {}", fmt_dt(r.created_at))}</h3>
                            <p>{if r.full { "Полный возврат" } else { "Частичный возврат" }}": "<strong>{r.amount.to_string()}</strong></p>
                            <p class="muted">"Причина клиента: "{r.reason.clone()}</p>
                            {match r.state {
                                RequestState::Rejected => view! { <p class="error">"Отклонён: "{r.reject_reason.clone()}</p> }.into_any(),
                                RequestState::Processed => view! { <p class="notice">"Обработан"</p> }.into_any(),
                                RequestState::Requested => ().into_any(),
                            }}
                            {(waiting && block.can_edit).then(|| view! {
                                <div class="request-actions">
                                    <button type="button" class="primary"
                                        disabled=process_error.is_some() || card_invoice.is_none()
                                        title=process_error.clone().unwrap_or_default()
                                        on:click=move |_| {
                                            if let Some(invoice_id) = card_invoice {
                                                open.set(false);
                                                target.set(Some(RefundTarget { invoice_id, request: Some(request.clone()) }));
                                            }
                                        }>"Обработать"</button>
                                    <button type="button" class="secondary" on:click=move |_| rejecting.set(true)>"Отклонить"</button>
                                </div>
                                {process_error.clone().map(|e| view! { <p class="muted small">{e}</p> })}
                                {move || rejecting.get().then(|| view! {
                                    <label class="field">
                                        <span>"Причина отказа (её увидит клиент)"</span>
                                        <textarea rows="2" prop:value=move || reject_reason.get()
                                            on:input=move |ev| reject_reason.set(event_target_value(&ev))></textarea>
                                    </label>
                                    <button type="button" class="primary" disabled=move || reject.pending().get()
                                        on:click=move |_| { reject.dispatch(RejectRefundRequest { request_id: id, reason: reject_reason.get_untracked() }); }>
                                        "Сохранить"
                                    </button>
                                })}
                            })}
                        </article>
                    }
                }).collect_view()}
                <ErrorNote error=reject_error/>
                {block.refunds.iter().rev().map(|r| view! {
                    <article class="refund" data-refund=r.refund_id>
                        <h3>{format!("Возврат {} по счёту № {}", r.amount, r.invoice_id)}</h3>
                        <p><span class=match r.state { RefundState::Succeeded => "status done", RefundState::Failed => "status cancelled", RefundState::Processing => "status waiting" }>{r.state.label()}</span>
                            {r.failure.clone().map(|f| format!(" — {f}"))}</p>
                        <table class="lines"><tbody>
                            {r.lines.iter().map(|l| view! {
                                <tr><td>{l.name.clone()}</td><td class="num">{format!("{} × {}", l.quantity, l.unit_price)}</td><td class="num">{l.amount.to_string()}</td></tr>
                            }).collect_view()}
                        </tbody></table>
                        <p class="muted small">{format!("{} · {} · {}", if r.full { "полный" } else { "частичный" }, r.staff_name, fmt_dt(r.created_at))}
                            {r.provider_refund_id.clone().map(|p| format!(" · в платёжной системе: {p}"))}</p>
                        <p>"Причина: "{r.reason.clone()}</p>
                    </article>
                }).collect_view()}
                <div class="modal-actions">
                    <button type="button" class="secondary" on:click=move |_| open.set(false)>"Закрыть"</button>
                </div>
            </div>
        </div>
    }
}

/// The refund modal: full, or ticked lines with a lowered quantity or unit price.
#[component]
pub fn RefundModal(
    target: RefundTarget,
    open: RwSignal<Option<RefundTarget>>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let invoice_id = target.invoice_id;
    let form = Resource::new(|| (), move |_| fetch_refund_form(invoice_id));
    let request = target.request.clone();
    view! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-modal="true" aria-labelledby="refund-title">
                <h2 id="refund-title">{format!("Возврат по счёту № {invoice_id}")}</h2>
                <Suspense fallback=Loading>
                    {move || {
                        let request = request.clone();
                        Suspend::new(async move {
                            match form.await {
                                Ok(f) => view! { <RefundEditor form=f request=request open=open changed=changed/> }.into_any(),
                                Err(e) => view! { <LoadError error=e/> }.into_any(),
                            }
                        })
                    }}
                </Suspense>
            </div>
        </div>
    }
}

#[component]
fn RefundEditor(
    form: RefundForm,
    request: Option<RequestInfo>,
    open: RwSignal<Option<RefundTarget>>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let full = RwSignal::new(request.as_ref().is_none_or(|r| r.full));
    let reason = RwSignal::new(
        request
            .as_ref()
            .map(|r| r.reason.clone())
            .unwrap_or_default(),
    );
    // Per line: (ticked, quantity, unit price) as typed; a line starts at what was paid per
    // unit, so ticking it as it is never asks for more than was paid.
    let inputs = RwSignal::new(
        form.lines
            .iter()
            .map(|l| {
                (
                    false,
                    format_quantity(l.quantity),
                    paid_unit_price(l).to_string(),
                )
            })
            .collect::<Vec<_>>(),
    );
    let lines = StoredValue::new(form.lines.clone());
    let key = StoredValue::new(crate::ui::new_key());
    let save = ServerAction::<CreateRefund>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            open.set(None);
            changed.update(|v| *v += 1);
        }
    });
    let chosen = move || -> Vec<RefundLineInput> {
        lines.with_value(|ls| {
            inputs.with(|ins| {
                ls.iter()
                    .zip(ins.iter())
                    .filter(|(_, (on, _, _))| *on)
                    .map(|(l, (_, q, p))| RefundLineInput {
                        line_id: l.line_id,
                        quantity: q.clone(),
                        unit_price: p.clone(),
                    })
                    .collect()
            })
        })
    };
    let computed = move || lines.with_value(|ls| refund_lines(ls, full.get(), &chosen()));
    let local_error = RwSignal::new(None::<String>);
    let error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    let request_id = request.as_ref().map(|r| r.request_id);
    let on_continue = move |_| {
        local_error.set(None);
        if let Err(e) = computed() {
            local_error.set(Some(e));
            return;
        }
        if let Some(e) = super::rules::reason_error(&reason.get_untracked()) {
            local_error.set(Some(e));
            return;
        }
        save.dispatch(CreateRefund {
            invoice_id: form.invoice_id,
            full: full.get_untracked(),
            lines: chosen(),
            reason: reason.get_untracked(),
            request_id,
            key: key.get_value(),
        });
    };
    view! {
        {request.as_ref().map(|r| view! {
            <p class="notice-box">{format!("Клиент просит вернуть {}{}", r.amount, if r.full { " (полный возврат)" } else { "" })}</p>
        })}
        <p class="muted">{format!("Можно вернуть: {}", form.refundable)}</p>
        <fieldset class="field group">
            <legend>"Вариант возврата"</legend>
            <label class="check"><input type="radio" name="refund-kind" prop:checked=move || full.get() on:change=move |_| full.set(true)/>"Полный возврат"</label>
            <label class="check"><input type="radio" name="refund-kind" prop:checked=move || !full.get() on:change=move |_| full.set(false)/>"Частичный возврат"</label>
        </fieldset>
        {move || (!full.get()).then(|| view! {
            <table class="lines refund-lines">
                <thead><tr><th></th><th>"Позиция"</th><th>"Количество"</th><th>"Стоимость за единицу"</th><th>"Оплачено / осталось"</th></tr></thead>
                <tbody>
                    {lines.get_value().into_iter().enumerate().map(|(i, l)| view! {
                        <tr data-line=l.line_id>
                            <td><input type="checkbox" aria-label=format!("Вернуть «{}»", l.name)
                                prop:checked=move || inputs.with(|v| v[i].0)
                                on:change=move |ev| inputs.update(|v| v[i].0 = event_target_checked(&ev))/></td>
                            <td>{l.name.clone()}</td>
                            <td><input type="text" inputmode="decimal" class="narrow" aria-label=format!("Количество «{}»", l.name)
                                prop:value=move || inputs.with(|v| v[i].1.clone())
                                on:input=move |ev| inputs.update(|v| v[i].1 = event_target_value(&ev))/></td>
                            <td><input type="text" inputmode="decimal" class="narrow" aria-label=format!("Стоимость за единицу «{}»", l.name)
                                prop:value=move || inputs.with(|v| v[i].2.clone())
                                on:input=move |ev| inputs.update(|v| v[i].2 = event_target_value(&ev))/></td>
                            <td class="num">{format!("{} / {}", l.amount, l.remaining())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
        <p class="invoice-total" aria-live="polite">
            {move || match computed() {
                Ok(ls) => view! { "К возврату: "<strong data-testid="refund-total">{total(&ls).to_string()}</strong> }.into_any(),
                Err(e) => view! { <span class="error">{e}</span> }.into_any(),
            }}
        </p>
        <label class="field">
            <span>"Причина возврата (видна только сотрудникам)"</span>
            <textarea rows="2" maxlength=MAX_REASON.to_string() prop:value=move || reason.get()
                on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
        </label>
        {move || local_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <ErrorNote error=error/>
        <div class="modal-actions">
            <button type="button" class="secondary" on:click=move |_| open.set(None)>"Отмена"</button>
            <button type="button" class="primary" disabled=move || save.pending().get() on:click=on_continue>"Продолжить"</button>
        </div>
    }
}

/// «Возврат платежа» on the resident's request page.
#[component]
pub fn ResidentRefund(
    order_id: i64,
    offer: super::api::RefundOffer,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let form_open = RwSignal::new(false);
    let full = RwSignal::new(true);
    let amount = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let send = ServerAction::<RequestRefund>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = send.value().get() {
            refresh.update(|v| *v += 1);
        }
    });
    let error = Signal::derive(move || match send.value().get() {
        Some(Err(AppError::Fields(f))) => Some(AppError::validation(
            f.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join(". "),
        )),
        Some(Err(e)) => Some(e),
        _ => None,
    });
    let status = offer.request.clone().map(|r| match r.state {
        RequestState::Requested => view! { <p class="notice-box">{format!("Запрос на возврат {} отправлен. Ответственный сотрудник рассмотрит его", r.amount)}</p> }.into_any(),
        RequestState::Rejected => view! { <p class="banner failure" data-testid="refund-rejected">"Возврат отклонён: "{r.reject_reason.clone()}</p> }.into_any(),
        RequestState::Processed => view! { <p class="notice-box">"Запрос на возврат обработан"</p> }.into_any(),
    });
    let can_request = offer.refused.is_none();
    let refundable = offer.refundable;
    let show = can_request || offer.request.is_some();
    show.then(|| view! {
        <section class="card">
            <h2>"Возврат платежа"</h2>
            {status}
            {can_request.then(|| view! {
                {move || (!form_open.get()).then(|| view! {
                    <button type="button" class="secondary wide" on:click=move |_| form_open.set(true)>"Возврат платежа"</button>
                })}
                {move || form_open.get().then(|| view! {
                    <div class="form">
                        <p class="muted">{format!("Можно вернуть до {refundable}")}</p>
                        <label class="check"><input type="radio" name="resident-refund" prop:checked=move || full.get() on:change=move |_| full.set(true)/>"Полный возврат"</label>
                        <label class="check"><input type="radio" name="resident-refund" prop:checked=move || !full.get() on:change=move |_| full.set(false)/>"Частичный возврат"</label>
                        {move || (!full.get()).then(|| view! {
                            <label class="field"><span>"Сумма возврата, ₽"</span>
                                <input type="text" inputmode="decimal" prop:value=move || amount.get() on:input=move |ev| amount.set(event_target_value(&ev))/>
                            </label>
                        })}
                        <label class="field"><span>"Причина"</span>
                            <textarea rows="3" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
                        </label>
                        <ErrorNote error=error/>
                        <button type="button" class="primary wide" disabled=move || send.pending().get()
                            on:click=move |_| { send.dispatch(RequestRefund { order_id, full: full.get_untracked(), amount: amount.get_untracked(), reason: reason.get_untracked() }); }>
                            "Отправить"
                        </button>
                    </div>
                })}
            })}
        </section>
    })
}
