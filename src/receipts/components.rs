//! «Чеки» on the staff order card and the resident's receipt links.

use super::model::{ReceiptLink, ReceiptsBlock, State};
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use leptos::prelude::*;

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

/// «Чеки»: every receipt of the order with its type, amount, state and fiscal data.
#[component]
pub fn ReceiptsSection(block: ReceiptsBlock) -> impl IntoView {
    view! {
        <section class="block receipts-block" data-testid="receipts">
            <h2>"Чеки"</h2>
            {block.receipts.is_empty().then(|| view! { <p class="muted">"Чеков нет"</p> })}
            <ul class="receipts">
                {block.receipts.into_iter().map(|r| {
                    let label = r.state_label();
                    let css = r.state.css();
                    let retrying = (r.state == State::ToSend && r.attempts > 0)
                        .then(|| r.failure.clone())
                        .flatten();
                    view! {
                        <li class="receipt" data-receipt=r.receipt_id data-state=format!("{:?}", r.state)>
                            <div class="receipt-head">
                                <strong>{r.kind.label()}</strong>
                                <span class="price">{r.total.to_string()}</span>
                                <span class=css>{label}</span>
                            </div>
                            <div class="muted small">
                                {format!("Счёт № {}", r.invoice_id)}
                                {r.refund_id.map(|id| format!(" · возврат № {id}"))}
                                {format!(" · {}", fmt_dt(r.registered_at.unwrap_or(r.created_at)))}
                            </div>
                            {retrying.map(|f| view! { <p class="muted small">{format!("Попытка {}: {f}", r.attempts)}</p> })}
                            {(r.fn_number.is_some() || r.fiscal_document.is_some()).then(|| view! {
                                <dl class="facts fiscal">
                                    <dt>"ФН"</dt><dd>{r.fn_number.clone().unwrap_or_default()}</dd>
                                    <dt>"ФД"</dt><dd>{r.fiscal_document.clone().unwrap_or_default()}</dd>
                                    <dt>"ФП"</dt><dd>{r.fiscal_sign.clone().unwrap_or_default()}</dd>
                                </dl>
                            })}
                            {(!r.lines.is_empty()).then(|| view! {
                                <ul class="receipt-lines small">
                                    {r.lines.iter().map(|l| view! {
                                        <li>{format!("{} · {} × {} = {} · {}", l.name, l.quantity, l.price, l.amount, vat_label(&l.vat_code))}</li>
                                    }).collect_view()}
                                </ul>
                            })}
                            {r.url.clone().filter(|_| r.state == State::Registered).map(|u| view! {
                                <a href=u target="_blank" rel="noopener">"Открыть чек"</a>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

fn vat_label(code: &str) -> String {
    match code {
        "none" => "без НДС".into(),
        c => match c.strip_prefix("vat") {
            Some(p) => format!("НДС {p}%"),
            None => c.to_owned(),
        },
    }
}

/// «Чеки» on the resident's request: a link to each registered receipt.
#[component]
pub fn ResidentReceipts(receipts: Vec<ReceiptLink>) -> impl IntoView {
    (!receipts.is_empty()).then(|| {
        view! {
            <section class="card receipts">
                <h2>"Чеки"</h2>
                <ul class="receipt-links">
                    {receipts.into_iter().map(|r| view! {
                        <li data-receipt=r.receipt_id>
                            <a href=r.url target="_blank" rel="noopener">"Чек"</a>
                            {format!(" · {} · {}", r.kind.label(), r.total)}
                            {r.registered_at.map(|t| format!(" · {}", fmt_dt(t)))}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}
