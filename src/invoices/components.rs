//! «Счет за услуги» in the order card and the invoice modal. Totals in the modal are
//! computed live by the same `rules` the server checks with.

use super::api::{
    invoice_price_items, ApplyInvoiceAction, CreateInvoice, InvoiceView, InvoicesBlock,
};
use super::rules::{check_line, format_quantity, total, DiscountKind, Line, LineInput, PriceItem};
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;

/// «Счет за услуги»: the invoices (loaded with the card), «+» and «Действия». Rebuilt
/// whenever the invoices change, so it keeps nothing of its own: the invoice action, the
/// modal's switch and the refund target belong to the card and outlive it.
#[component]
pub fn InvoicesSection(
    block: InvoicesBlock,
    act: ServerAction<ApplyInvoiceAction>,
    modal_open: RwSignal<bool>,
    refund_target: RwSignal<Option<crate::refunds::components::RefundTarget>>,
) -> impl IntoView {
    let act_error = Signal::derive(move || act.value().get().and_then(|r| r.err()));
    let b = block;
    let refused = b.new_invoice_error.clone();
    let title = refused.clone().unwrap_or_else(|| "Новый счёт".into());
    view! {
        <div class="block-head">
            <h2>"Счет за услуги"</h2>
            <button type="button" class="icon-button" aria-label="Новый счёт" title=title
                disabled=refused.is_some() on:click=move |_| modal_open.set(true)>"+"</button>
        </div>
        {refused.clone().filter(|_| b.can_edit).map(|r| view! { <p class="muted small">{r}</p> })}
        {b.invoices.is_empty().then(|| view! { <p class="muted">"Счетов пока нет"</p> })}
        {b.invoices.into_iter().map(|i| view! { <InvoiceCard invoice=i act=act refund_target=refund_target/> }).collect_view()}
        <ErrorNote error=act_error/>
    }
}

#[component]
fn InvoiceCard(
    invoice: InvoiceView,
    act: ServerAction<ApplyInvoiceAction>,
    refund_target: RwSignal<Option<crate::refunds::components::RefundTarget>>,
) -> impl IntoView {
    let id = invoice.invoice_id;
    let refund_refused = invoice.refund_refused.clone();
    // A chosen action closes the menu: the card is updated in place, not rebuilt, so an
    // open menu would otherwise stay open over the invoice below.
    let menu = NodeRef::<leptos::html::Details>::new();
    let close_menu = move || {
        if let Some(d) = menu.get_untracked() {
            let _ = d.remove_attribute("open");
        }
    };
    view! {
        <article class="invoice-card" data-invoice=id>
            <header class="invoice-head">
                <strong>{format!("Счёт № {id}")}</strong>
                <span class=invoice.status.css()>{invoice.status.label(invoice.paid_method)}</span>
                <span class="price">{invoice.total.to_string()}</span>
            </header>
            <table class="lines">
                <tbody>
                    {invoice.lines.iter().map(|l| view! {
                        <tr>
                            <td>{l.name.clone()}</td>
                            <td class="num">{format!("{} {} × {}", format_quantity(l.quantity), l.unit, l.unit_price)}</td>
                            <td class="muted small">{l.discount.describe()}</td>
                            <td class="num">{l.amount.to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div class="invoice-foot">
                <span class="muted small">{format!("Создан {}", format_datetime(invoice.created_at, DEFAULT_UTC_OFFSET_MINUTES))}
                    {invoice.paid_at.map(|t| format!(" · оплачен {}", format_datetime(t, DEFAULT_UTC_OFFSET_MINUTES)))}</span>
                <details class="actions" node_ref=menu>
                    <summary>"Действия"</summary>
                    <div class="menu">
                        {invoice.actions.into_iter().map(|(a, refused)| {
                            let disabled = refused.is_some();
                            view! {
                                <button type="button" disabled=disabled title=refused.unwrap_or_default()
                                    on:click=move |_| { close_menu(); act.dispatch(ApplyInvoiceAction { invoice_id: id, action: a }); }>
                                    {a.label()}
                                </button>
                            }
                        }).collect_view()}
                        <button type="button" disabled=refund_refused.is_some() title=refund_refused.clone().unwrap_or_default()
                            on:click=move |_| { close_menu(); refund_target.set(Some(crate::refunds::components::RefundTarget { invoice_id: id, request: None })); }>
                            "Возврат"
                        </button>
                    </div>
                </details>
            </div>
        </article>
    }
}

fn checked(items: &[PriceItem], lines: &[LineInput]) -> Vec<Result<Line, String>> {
    lines.iter().map(|l| check_line(items, l)).collect()
}

/// The invoice modal. Opened from [`InvoicesSection`] but owned by the card, so a reload of
/// the invoices while it is open (a live event) neither closes it nor loses what was typed.
#[component]
pub fn InvoiceModal(
    order_id: i64,
    provider: String,
    open: RwSignal<bool>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let items = Resource::new(|| (), move |_| invoice_price_items(order_id));
    view! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-modal="true" aria-labelledby="invoice-modal-title">
                <h2 id="invoice-modal-title">"Новый счёт"</h2>
                <p class="muted small">{format!("Позиции из прайс-листа исполнителя: {provider}")}</p>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match items.await {
                            Ok(items) => view! { <InvoiceEditor order_id=order_id items=items open=open changed=changed/> }.into_any(),
                            Err(e) => view! { <LoadError error=e/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </div>
    }
}

#[component]
fn InvoiceEditor(
    order_id: i64,
    items: Vec<PriceItem>,
    open: RwSignal<bool>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let items = StoredValue::new(items);
    let draft = RwSignal::new(LineInput {
        price_item_id: 0,
        quantity: "1".into(),
        discount_kind: DiscountKind::None,
        discount_value: String::new(),
    });
    let lines = RwSignal::new(Vec::<LineInput>::new());
    let line_error = RwSignal::new(None::<String>);
    let save = ServerAction::<CreateInvoice>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            open.set(false);
            changed.update(|v| *v += 1);
        }
    });
    let save_error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    let preview = move || {
        let d = draft.get();
        (d.price_item_id != 0).then(|| items.with_value(|i| check_line(i, &d)))
    };
    let add = move || -> bool {
        let d = draft.get_untracked();
        match items.with_value(|i| check_line(i, &d)) {
            Ok(_) => {
                lines.update(|l| l.push(d));
                draft.set(LineInput {
                    price_item_id: 0,
                    quantity: "1".into(),
                    discount_kind: DiscountKind::None,
                    discount_value: String::new(),
                });
                line_error.set(None);
                true
            }
            Err(e) => {
                line_error.set(Some(e));
                false
            }
        }
    };
    let total_text = move || {
        let ls = lines.get();
        let mut all = items.with_value(|i| checked(i, &ls));
        if let Some(Ok(l)) = preview() {
            all.push(Ok(l));
        }
        let ok: Vec<Line> = all.into_iter().filter_map(Result::ok).collect();
        total(&ok).map(|t| t.to_string()).unwrap_or_default()
    };
    let on_save = move |_| {
        if draft.get_untracked().price_item_id != 0 && !add() {
            return;
        }
        let ls = lines.get_untracked();
        if ls.is_empty() {
            line_error.set(Some("Добавьте хотя бы одну позицию".into()));
            return;
        }
        save.dispatch(CreateInvoice {
            order_id,
            lines: ls,
        });
    };
    view! {
        <div class="line-editor">
            <label class="field">
                <span>"Позиция прайс-листа"</span>
                <select on:change=move |ev| {
                    let id = event_target_value(&ev).parse().unwrap_or(0);
                    draft.update(|d| d.price_item_id = id);
                } prop:value=move || draft.with(|d| d.price_item_id.to_string())>
                    <option value="0">"— выберите —"</option>
                    {items.with_value(|i| i.iter().map(|p| view! {
                        <option value=p.price_item_id.to_string()>{format!("{} — {} / {}", p.name, p.price, p.unit)}</option>
                    }).collect_view())}
                </select>
            </label>
            <div class="row">
                <label class="field">
                    <span>"Количество"</span>
                    <input type="text" inputmode="decimal" prop:value=move || draft.with(|d| d.quantity.clone())
                        on:input=move |ev| draft.update(|d| d.quantity = event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Скидка"</span>
                    <select on:change=move |ev| {
                        let kind = match event_target_value(&ev).as_str() {
                            "percent" => DiscountKind::Percent,
                            "amount" => DiscountKind::Amount,
                            _ => DiscountKind::None,
                        };
                        draft.update(|d| d.discount_kind = kind);
                    }>
                        <option value="none" selected=move || draft.with(|d| d.discount_kind == DiscountKind::None)>"Без скидки"</option>
                        <option value="percent" selected=move || draft.with(|d| d.discount_kind == DiscountKind::Percent)>"Процент"</option>
                        <option value="amount" selected=move || draft.with(|d| d.discount_kind == DiscountKind::Amount)>"Сумма, ₽"</option>
                    </select>
                </label>
                <label class="field">
                    <span>"Размер скидки"</span>
                    <input type="text" inputmode="decimal" disabled=move || draft.with(|d| d.discount_kind == DiscountKind::None)
                        prop:value=move || draft.with(|d| d.discount_value.clone())
                        on:input=move |ev| draft.update(|d| d.discount_value = event_target_value(&ev))/>
                </label>
            </div>
            <p class="line-preview" aria-live="polite">
                {move || match preview() {
                    Some(Ok(l)) => view! { <span>{format!("Строка: {} − скидка = ", l.gross)}<strong>{l.amount.to_string()}</strong></span> }.into_any(),
                    Some(Err(e)) => view! { <span class="error">{e}</span> }.into_any(),
                    None => view! { <span class="muted">"Выберите позицию"</span> }.into_any(),
                }}
            </p>
            <button type="button" class="secondary" on:click=move |_| { add(); }>"Добавить позицию"</button>
        </div>
        <table class="lines">
            <tbody>
                {move || {
                    let ls = lines.get();
                    items.with_value(|i| checked(i, &ls)).into_iter().enumerate().map(|(n, l)| match l {
                        Ok(l) => view! {
                            <tr>
                                <td>{l.name.clone()}</td>
                                <td class="num">{format!("{} {} × {}", format_quantity(l.quantity), l.unit, l.unit_price)}</td>
                                <td class="muted small">{l.discount.describe()}</td>
                                <td class="num">{l.amount.to_string()}</td>
                                <td><button type="button" class="link-button danger" on:click=move |_| lines.update(|v| { v.remove(n); })>"Убрать"</button></td>
                            </tr>
                        }.into_any(),
                        Err(e) => view! { <tr><td colspan="5" class="error">{e}</td></tr> }.into_any(),
                    }).collect_view()
                }}
            </tbody>
        </table>
        <p class="invoice-total">"Итого: "<strong data-testid="invoice-total">{total_text}</strong></p>
        {move || line_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <ErrorNote error=save_error/>
        <div class="modal-actions">
            <button type="button" class="secondary" on:click=move |_| open.set(false)>"Отмена"</button>
            <button type="button" class="primary" disabled=move || save.pending().get() on:click=on_save>"Сохранить"</button>
        </div>
    }
}
