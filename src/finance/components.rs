//! Pages of «Финансы»: the month's settlements by legal entity, one entity's month (totals,
//! reconciliation, orders, export, period close), one order's entries, and the terms.

use super::api::*;
use super::rules::RATE_METHODS;
use crate::money::Money;
use crate::time::{format_date, format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{ErrorNote, LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

/// `2026-11-27` as `27.11.2026`.
fn show_day(day: &str) -> String {
    let mut it = day.splitn(3, '-');
    match (it.next(), it.next(), it.next()) {
        (Some(y), Some(m), Some(d)) => format!("{d}.{m}.{y}"),
        _ => day.to_owned(),
    }
}

fn money_cell(m: Money) -> impl IntoView {
    view! { <td class="num">{m.to_string()}</td> }
}

fn totals_cells(t: &Totals) -> impl IntoView {
    view! {
        {money_cell(t.card)}
        {money_cell(t.cash)}
        {money_cell(t.refunded)}
        {money_cell(t.fees)}
        {money_cell(t.commission)}
        {money_cell(t.payout)}
    }
}

const TOTAL_HEADERS: [&str; 6] = [
    "Получено картой",
    "Получено наличными",
    "Возвращено",
    "Эквайринг",
    "Комиссия",
    "К выплате партнёру",
];

fn total_headers() -> impl IntoView {
    TOTAL_HEADERS
        .map(|h| view! { <th class="num">{h}</th> })
        .collect_view()
}

fn finance_nav() -> impl IntoView {
    view! {
        <nav class="subnav">
            <A href="/staff/finance" exact=true>"Взаиморасчеты"</A>
            <A href="/staff/finance/terms">"Комиссии и эквайринг"</A>
        </nav>
    }
}

/// «Финансы» → «Взаиморасчеты»: a month, every legal entity.
#[component]
pub fn FinancePage() -> impl IntoView {
    let query = use_query_map();
    let overview = Resource::new(
        move || query.with(|q| q.get("period")),
        fetch_finance_overview,
    );
    view! {
        <header class="page-header"><h1>"Взаиморасчеты"</h1></header>
        {finance_nav()}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match overview.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(o) => view! { <Overview o=o/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(o: FinanceOverview) -> impl IntoView {
    let period = o.period.clone();
    let mut sum = Totals::default();
    for e in &o.entities {
        let t = &e.totals;
        let add = |a: Money, b: Money| a.checked_add(b).unwrap_or(a);
        sum.card = add(sum.card, t.card);
        sum.cash = add(sum.cash, t.cash);
        sum.refunded = add(sum.refunded, t.refunded);
        sum.fees = add(sum.fees, t.fees);
        sum.commission = add(sum.commission, t.commission);
        sum.payout = add(sum.payout, t.payout);
    }
    view! {
        <div class="period-bar">
            <A href=format!("/staff/finance?period={}", o.prev)>"← Предыдущий месяц"</A>
            <h2 data-period=o.period.clone()>{o.label.clone()}</h2>
            {o.next.clone().map(|n| view! { <A href=format!("/staff/finance?period={n}")>"Следующий месяц →"</A> })}
            <Form method="GET" action="/staff/finance" attr:class="inline-form">
                <label>"Месяц "<input type="month" name="period" value=o.period.clone()/></label>
                <button type="submit">"Показать"</button>
            </Form>
        </div>
        <table class="list finance">
            <thead><tr><th>"Юридическое лицо"</th>{total_headers()}<th>"Период"</th></tr></thead>
            <tbody>
                {o.entities.into_iter().map(|e| {
                    let href = format!("/staff/finance/{}/{}", e.legal_entity_id, period);
                    view! {
                        <tr>
                            <td><A href=href>{e.name.clone()}</A>{(!e.partner).then(|| view! { <span class="muted small">" (управляющая компания)"</span> })}</td>
                            {totals_cells(&e.totals)}
                            <td>{match e.closed_at {
                                Some(at) => view! { <span class="status done">{format!("Закрыт {}", format_date(at, DEFAULT_UTC_OFFSET_MINUTES))}</span> }.into_any(),
                                None => view! { <span class="status waiting">"Открыт"</span> }.into_any(),
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
            <tfoot><tr><th>"Итого"</th>{totals_cells(&sum)}<th></th></tr></tfoot>
        </table>
    }
}

/// One legal entity's month.
#[component]
pub fn SettlementPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let close = ServerAction::<CloseSettlement>::new();
    let key = move || {
        (
            params.with(|p| {
                p.get("entity")
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            }),
            params.with(|p| p.get("period").unwrap_or_default()),
            query.with(|q| q.get("after").and_then(|v| v.parse::<i64>().ok())),
            close.version().get(),
        )
    };
    let report = Resource::new(key, |(entity, period, after, _)| {
        fetch_period_report(entity, period, after)
    });
    let check = Resource::new(key, |(entity, period, _, _)| {
        fetch_reconciliation(entity, period)
    });
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match report.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(r) => view! { <Settlement r=r close=close/> }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match check.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(c) => view! { <ReconciliationBlock c=c/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Settlement(r: PeriodReport, close: ServerAction<CloseSettlement>) -> impl IntoView {
    let label = super::rules::Period::parse(&r.period)
        .map(|p| p.label())
        .unwrap_or_default();
    let entity = r.legal_entity_id;
    let period = r.period.clone();
    let refusal = r.close_refusal.clone();
    let can_close = refusal.is_none();
    let error = Signal::derive(move || close.value().get().and_then(|v| v.err()));
    let t = r.totals.clone();
    let balances = t.balances();
    view! {
        <header class="page-header">
            <div class="crumbs"><A href=format!("/staff/finance?period={}", r.period)>"Взаиморасчеты"</A>" / "{label.clone()}</div>
            <h1>{format!("{} — {}", r.name, label)}</h1>
        </header>
        <section class="block settlement">
            <dl class="facts totals">
                <dt>{if t.sbp.is_zero() { "Получено картой" } else { "Получено картой и через СБП" }}</dt><dd data-total="card">{t.card.to_string()}</dd>
                {(!t.sbp.is_zero()).then(|| view! { <dt>"в т. ч. через СБП"</dt><dd data-total="sbp">{t.sbp.to_string()}</dd> })}
                <dt>"Получено наличными"</dt><dd data-total="cash">{t.cash.to_string()}</dd>
                <dt>"Возвращено"</dt><dd data-total="refunded">{t.refunded.to_string()}</dd>
                <dt>"Эквайринг"</dt><dd data-total="fees">{t.fees.to_string()}</dd>
                <dt>"Комиссия"</dt><dd data-total="commission">{t.commission.to_string()}</dd>
                <dt>"К выплате партнёру"</dt><dd data-total="payout"><strong>{t.payout.to_string()}</strong></dd>
                <dt>"Операций"</dt><dd>{t.entries}{(t.adjustments > 0).then(|| format!(", из них корректировок прошлых периодов: {}", t.adjustments))}</dd>
            </dl>
            <p class=if balances { "ok small" } else { "error small" }>
                {if balances {
                    "Картой получено = возвращено + эквайринг + комиссия + к выплате партнёру: сходится до копейки"
                } else {
                    "Картой получено ≠ возвращено + эквайринг + комиссия + к выплате партнёру"
                }}
            </p>
            <div class="actions">
                <a class="secondary button" href=export_url(entity, &r.period) download>"Выгрузить в Excel"</a>
                {match (r.closed_at, r.closed_by.clone()) {
                    (Some(at), by) => view! {
                        <span class="status done" data-closed="true">{format!("Период закрыт {} — {}", fmt_dt(at), by.unwrap_or_default())}</span>
                    }.into_any(),
                    _ => view! {
                        <ActionForm action=close>
                            <input type="hidden" name="legal_entity_id" value=entity/>
                            <input type="hidden" name="period" value=period.clone()/>
                            <button type="submit" class="primary" disabled=move || !can_close || close.pending().get()
                                title=refusal.clone().unwrap_or_default()>"Подтвердить и закрыть период"</button>
                        </ActionForm>
                        {r.close_refusal.clone().map(|why| view! { <span class="muted small">{why}</span> })}
                    }.into_any(),
                }}
            </div>
            <ErrorNote error=error/>
            <p class="muted small">"После закрытия период не меняется: поздние возвраты и платежи попадают в следующий открытый месяц как корректировки."</p>
        </section>
        <section class="block">
            <h2>"Заказы"</h2>
            {if r.orders.is_empty() {
                view! { <p class="muted">"Движений денег за этот месяц нет"</p> }.into_any()
            } else {
                view! {
                    <table class="list finance">
                        <thead><tr><th>"№"</th><th>"Услуга"</th><th>"Клиент"</th>{total_headers()}</tr></thead>
                        <tbody>
                            {r.orders.iter().map(|o| view! {
                                <tr>
                                    <td><A href=format!("/staff/finance/orders/{}", o.order_id)>{format!("№ {}", o.order_id)}</A>
                                        {o.adjustment.then(|| view! { <span class="muted small" title="Корректировка закрытого периода">" корр."</span> })}</td>
                                    <td>{o.service_name.clone()}</td>
                                    <td>{o.client_name.clone()}</td>
                                    {money_cell(o.card)}{money_cell(o.cash)}{money_cell(o.refunded)}
                                    {money_cell(o.fees)}{money_cell(o.commission)}{money_cell(o.payout)}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <div class="pager">
                {r.next_after.map(|a| view! { <A href=format!("?after={a}")>"Следующие →"</A> })}
            </div>
        </section>
    }
}

#[component]
fn ReconciliationBlock(c: Reconciliation) -> impl IntoView {
    let invoices_ok = c.invoices_balance();
    view! {
        <section class="block reconciliation">
            <h2>"Сверка"</h2>
            <dl class="facts">
                <dt>"Выставлено счетов"</dt><dd>{c.invoiced.to_string()}</dd>
                <dt>"Оплачено"</dt><dd>{c.paid.to_string()}</dd>
                <dt>"Ожидает оплаты"</dt><dd>{c.open.to_string()}</dd>
                <dt>"Отменено"</dt><dd>{c.cancelled.to_string()}</dd>
            </dl>
            <p class=if invoices_ok { "ok small" } else { "error small" }>
                {if invoices_ok { "Выставлено = оплачено + ожидает оплаты + отменено" } else { "Выставлено ≠ оплачено + ожидает оплаты + отменено" }}
            </p>
            {if c.differences.is_empty() {
                view! { <p class="ok" data-differences="0">"Расхождений нет"</p> }.into_any()
            } else {
                view! {
                    <h3 class="error" data-differences=c.differences.len()>{format!("Расхождения: {}", c.differences.len())}</h3>
                    <ul class="differences">
                        {c.differences.iter().map(|d| view! {
                            <li>
                                {(d.order_id > 0).then(|| view! { <A href=format!("/staff/finance/orders/{}", d.order_id)>{format!("№ {}", d.order_id)}</A>": " })}
                                {d.text.clone()}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// One order's money: every entry, with its reconciliation.
#[component]
pub fn OrderSettlementPage() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)),
        fetch_order_finance,
    );
    let can_open = crate::ui::staff_shell::use_staff()
        .map(|s| {
            s.permissions
                .allows(crate::auth::permissions::Action::ViewAssignedOrders)
        })
        .unwrap_or(false);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(f) => view! { <OrderSettlement f=f can_open=can_open/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OrderSettlement(f: OrderFinance, can_open: bool) -> impl IntoView {
    let balanced =
        f.invoiced.kopecks() == f.paid.kopecks() + f.open.kopecks() + f.cancelled.kopecks();
    view! {
        <header class="page-header">
            <div class="crumbs"><A href="/staff/finance">"Взаиморасчеты"</A>" / "{format!("Заказ № {}", f.order_id)}</div>
            <h1>{format!("Заказ № {} — взаиморасчеты", f.order_id)}</h1>
            <p class="muted">{format!("{} · {}", f.service_name, f.entity_name)}
                {can_open.then(|| view! { " · "<A href=format!("/staff/orders/{}", f.order_id)>"Открыть заказ"</A> })}</p>
        </header>
        <section class="block">
            <dl class="facts">
                <dt>"Затраты"</dt><dd data-total="costs">{f.costs.to_string()}</dd>
                <dt>"Выставлено счетов"</dt><dd>{f.invoiced.to_string()}</dd>
                <dt>"Оплачено"</dt><dd>{f.paid.to_string()}</dd>
                <dt>"Ожидает оплаты"</dt><dd>{f.open.to_string()}</dd>
                <dt>"Отменено"</dt><dd>{f.cancelled.to_string()}</dd>
            </dl>
            <p class=if balanced && f.differences.is_empty() { "ok small" } else { "error small" }>
                {if balanced && f.differences.is_empty() { "Сверка: расхождений нет".to_owned() } else { format!("Сверка: расхождений {}", f.differences.len().max(1)) }}
            </p>
            <ul class="differences">{f.differences.iter().map(|d| view! { <li>{d.text.clone()}</li> }).collect_view()}</ul>
        </section>
        <section class="block">
            <h2>"Операции"</h2>
            {if f.entries.is_empty() {
                view! { <p class="muted">"Денег по заказу ещё не поступало"</p> }.into_any()
            } else {
                view! {
                    <table class="list finance entries">
                        <thead><tr><th>"Дата"</th><th>"Операция"</th><th>"Счёт"</th><th>"Период"</th>
                            <th class="num">"Сумма"</th><th class="num">"Эквайринг"</th><th class="num">"Комиссия"</th><th class="num">"К выплате партнёру"</th></tr></thead>
                        <tbody>
                            {f.entries.iter().map(|e| {
                                let period = e.period.clone();
                                let href = format!("/staff/finance/{}/{}", f.legal_entity_id, period);
                                view! {
                                    <tr data-kind=e.kind.clone()>
                                        <td>{fmt_dt(e.at)}</td>
                                        <td>{e.kind_label()}{e.card_mask.clone().map(|m| format!(" {m}"))}
                                            {e.provider_fee.filter(|p| *p != e.fee).map(|p| view! { <span class="error small">{format!(" (платёжная система удержала {p})")}</span> })}</td>
                                        <td>{format!("№ {}", e.invoice_id)}</td>
                                        <td><A href=href>{period.clone()}</A>{e.adjustment.then_some(" корректировка")}</td>
                                        {money_cell(e.amount)}{money_cell(e.fee)}{money_cell(e.commission)}{money_cell(e.payout)}
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// «Комиссии и эквайринг»: the partners' commission terms and the acquiring rates.
#[component]
pub fn TermsPage() -> impl IntoView {
    let add_term = ServerAction::<AddCommissionTerm>::new();
    let add_rate = ServerAction::<AddAcquiringRate>::new();
    let terms = Resource::new(
        move || (add_term.version().get(), add_rate.version().get()),
        |_| fetch_finance_terms(),
    );
    view! {
        <header class="page-header"><h1>"Комиссии и эквайринг"</h1></header>
        {finance_nav()}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match terms.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(t) => view! { <Terms t=t add_term=add_term add_rate=add_rate/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn field_error(err: Option<crate::error::AppError>, key: &str) -> Option<String> {
    match err {
        Some(crate::error::AppError::Fields(f)) => {
            f.into_iter().find(|(k, _)| k == key).map(|(_, m)| m)
        }
        _ => None,
    }
}

#[component]
fn Terms(
    t: FinanceTerms,
    add_term: ServerAction<AddCommissionTerm>,
    add_rate: ServerAction<AddAcquiringRate>,
) -> impl IntoView {
    let today = t.today.clone();
    let term_error = Signal::derive(move || add_term.value().get().and_then(|v| v.err()));
    let rate_error = Signal::derive(move || add_rate.value().get().and_then(|v| v.err()));
    let entities = t.entities.clone();
    view! {
        <section class="block">
            <h2>"Комиссия управляющей компании"</h2>
            <p class="muted small">"Процент от оплаченной суммы счёта плюс фиксированная часть, не меньше минимума и не больше самой суммы. Округление — до копейки, половина копейки — вверх. При возврате комиссия пересчитывается на оставшуюся сумму."</p>
            <table class="list">
                <thead><tr><th>"Юридическое лицо"</th><th>"С даты"</th><th class="num">"Процент"</th><th class="num">"Минимум"</th><th class="num">"Фиксированная часть"</th><th></th></tr></thead>
                <tbody>
                    {t.entities.iter().flat_map(|e| {
                        let name = e.name.clone();
                        if e.terms.is_empty() {
                            vec![view! { <tr><td>{name}</td><td colspan="5" class="muted">"Комиссии нет"</td></tr> }.into_any()]
                        } else {
                            e.terms.iter().map(|term| view! {
                                <tr class=if term.current { "current" } else { "" }>
                                    <td>{name.clone()}</td>
                                    <td>{show_day(&term.effective_from)}</td>
                                    <td class="num">{format!("{} %", term.percent)}</td>
                                    {money_cell(term.minimum)}{money_cell(term.fixed)}
                                    <td>{term.current.then_some("действует")}</td>
                                </tr>
                            }.into_any()).collect()
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <h3>"Новые условия"</h3>
            <ActionForm action=add_term attr:class="stack-form">
                <label>"Юридическое лицо"
                    <select name="legal_entity_id">
                        {entities.iter().map(|e| view! { <option value=e.legal_entity_id>{e.name.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Процент"<input name="percent" inputmode="decimal" placeholder="10"/></label>
                {move || field_error(term_error.get(), "percent").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Минимум, ₽"<input name="minimum" inputmode="decimal" placeholder="0"/></label>
                {move || field_error(term_error.get(), "minimum").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Фиксированная часть, ₽"<input name="fixed" inputmode="decimal" placeholder="0"/></label>
                {move || field_error(term_error.get(), "fixed").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Действует с"<input type="date" name="effective_from" value=today.clone() min=today.clone()/></label>
                {move || field_error(term_error.get(), "effective_from").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <button type="submit" class="primary" disabled=move || add_term.pending().get()>"Сохранить условия"</button>
                {move || term_error.get().filter(|e| !matches!(e, crate::error::AppError::Fields(_))).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                {move || matches!(add_term.value().get(), Some(Ok(()))).then(|| view! { <span class="muted small" role="status">"Сохранено"</span> })}
            </ActionForm>
        </section>
        <section class="block">
            <h2>"Эквайринг"</h2>
            <p class="muted small">"Тариф платёжной системы по способу оплаты. При возврате платёжная система комиссию за эквайринг не возвращает: она остаётся затратами заказа."</p>
            <table class="list">
                <thead><tr><th>"Способ оплаты"</th><th>"С даты"</th><th class="num">"Процент"</th><th class="num">"Фиксированная часть"</th><th></th></tr></thead>
                <tbody>
                    {t.rates.iter().map(|r| view! {
                        <tr class=if r.current { "current" } else { "" }>
                            <td>{method_label(&r.method)}</td>
                            <td>{show_day(&r.effective_from)}</td>
                            <td class="num">{format!("{} %", r.percent)}</td>
                            {money_cell(r.fixed)}
                            <td>{r.current.then_some("действует")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <h3>"Новый тариф"</h3>
            <ActionForm action=add_rate attr:class="stack-form">
                <label>"Способ оплаты"
                    <select name="method">
                        {RATE_METHODS.map(|m| view! { <option value=m>{method_label(m)}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Процент"<input name="percent" inputmode="decimal" placeholder="2,2"/></label>
                {move || field_error(rate_error.get(), "percent").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Фиксированная часть, ₽"<input name="fixed" inputmode="decimal" placeholder="0"/></label>
                {move || field_error(rate_error.get(), "fixed").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Действует с"<input type="date" name="effective_from" value=t.today.clone() min=t.today.clone()/></label>
                {move || field_error(rate_error.get(), "effective_from").map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <button type="submit" class="primary" disabled=move || add_rate.pending().get()>"Сохранить тариф"</button>
                {move || rate_error.get().filter(|e| !matches!(e, crate::error::AppError::Fields(_))).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                {move || matches!(add_rate.value().get(), Some(Ok(()))).then(|| view! { <span class="muted small" role="status">"Сохранено"</span> })}
            </ActionForm>
        </section>
    }
}
