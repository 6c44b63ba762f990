//! Pages of «Администрирование».

use super::api::*;
use super::rules::{self, ServiceForm, KINDS};
use crate::auth::permissions::OrdersScope;
use crate::catalog::form::{FieldKind, FormField};
use crate::error::AppError;
use crate::time::{format_datetime, DEFAULT_UTC_OFFSET_MINUTES};
use crate::ui::{LoadError, Loading};
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

fn fmt_dt(ts: i64) -> String {
    format_datetime(ts, DEFAULT_UTC_OFFSET_MINUTES)
}

/// The message of one field of a refused form.
fn field_error(err: Option<AppError>, key: &str) -> Option<String> {
    match err {
        Some(AppError::Fields(f)) => {
            let msgs: Vec<String> = f
                .into_iter()
                .filter(|(k, _)| k == key || k.starts_with(&format!("{key}.")))
                .map(|(_, m)| m)
                .collect();
            (!msgs.is_empty()).then(|| msgs.join("; "))
        }
        _ => None,
    }
}

/// An error that is not about one field.
fn general_error(err: Option<AppError>) -> Option<String> {
    match err {
        Some(AppError::Fields(_)) | None => None,
        Some(e) => Some(e.to_string()),
    }
}

fn errors_view<T, S>(value: S, key: &'static str) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        field_error(value.get().and_then(|v| v.err()), key)
            .map(|m| view! { <p class="error" role="alert">{m}</p> })
    }
}

fn general_view<T, S>(value: S) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        general_error(value.get().and_then(|v| v.err()))
            .map(|m| view! { <p class="error" role="alert">{m}</p> })
    }
}

fn saved_view<T, S>(value: S) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
{
    move || {
        matches!(value.get(), Some(Ok(_)))
            .then(|| view! { <span class="muted small" role="status">" Сохранено"</span> })
    }
}

fn admin_nav() -> impl IntoView {
    view! {
        <nav class="subnav">
            <A href="/staff/admin/roles">"Роли"</A>
            <A href="/staff/admin/staff">"Сотрудники"</A>
            <A href="/staff/admin/entities">"Юрлица и прайс-листы"</A>
            <A href="/staff/admin/catalog">"Каталог"</A>
            <A href="/staff/admin/residents">"Жители"</A>
            <A href="/staff/admin/notifications">"Уведомления ролей"</A>
            <A href="/staff/admin/audit">"Журнал изменений"</A>
        </nav>
    }
}

#[component]
pub fn AdminHomePage() -> impl IntoView {
    view! {
        <header class="page-header"><h1>"Администрирование"</h1></header>
        {admin_nav()}
        <ul class="admin-home">
            <li><A href="/staff/admin/roles">"Роли"</A>" — разделы и действия, доступные сотрудникам"</li>
            <li><A href="/staff/admin/staff">"Сотрудники"</A>" — приглашение, роль, юрлицо, пароль, отключение"</li>
            <li><A href="/staff/admin/entities">"Юрлица и прайс-листы"</A>" — реквизиты, позиции, импорт и выгрузка Excel"</li>
            <li><A href="/staff/admin/catalog">"Каталог"</A>" — категории, услуги и формы заказа"</li>
            <li><A href="/staff/admin/residents">"Жители"</A>" — жители, помещения, импорт, блокировка"</li>
            <li><A href="/staff/admin/audit">"Журнал изменений"</A>" — кто, когда и что изменил"</li>
        </ul>
    }
}

// ---------------------------------------------------------------- roles

#[component]
pub fn RolesPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let delete = ServerAction::<AdminDeleteRole>::new();
    let roles = Resource::new(
        move || (changed.get(), delete.version().get()),
        |_| fetch_admin_roles(),
    );
    view! {
        <header class="page-header"><h1>"Роли"</h1></header>
        {admin_nav()}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match roles.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(list) => view! {
                        {general_view(delete.value())}
                        <RoleEditor role=None changed=changed delete=delete/>
                        {list.into_iter().map(|r| view! { <RoleEditor role=Some(r) changed=changed delete=delete/> }).collect_view()}
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RoleEditor(
    role: Option<AdminRole>,
    changed: RwSignal<u32>,
    delete: ServerAction<AdminDeleteRole>,
) -> impl IntoView {
    let role_id = role.as_ref().map(|r| r.role_id);
    let staff_count = role.as_ref().map(|r| r.staff_count).unwrap_or(0);
    let input = role.map(|r| r.input).unwrap_or(RoleInput {
        name: String::new(),
        orders: OrdersScope::None,
        orders_edit: false,
        clients_chat: false,
        finance: false,
        admin: false,
    });
    let title = if role_id.is_some() {
        input.name.clone()
    } else {
        "Новая роль".to_owned()
    };
    let state = RwSignal::new(input);
    let save = Action::new(move |_: &()| {
        let role = state.get_untracked();
        async move { admin_save_role(role_id, role).await }
    });
    let save_value = save.value();
    Effect::new(move |_| {
        if matches!(save_value.get(), Some(Ok(_))) && role_id.is_none() {
            changed.update(|n| *n += 1);
        }
    });
    let check = move |label: &'static str,
                      get: fn(&RoleInput) -> bool,
                      set: fn(&mut RoleInput, bool)| {
        view! {
            <label class="check">
                <input type="checkbox" checked=state.with_untracked(get) prop:checked=move || state.with(get)
                    on:change=move |ev| { let on = event_target_checked(&ev); state.update(|r| set(r, on)); }/>
                {label}
            </label>
        }
    };
    view! {
        <section class="block role" data-role=title.clone()>
            <h2>{title.clone()}{(role_id.is_some()).then(|| view! { <span class="muted small">{format!(" · сотрудников: {staff_count}")}</span> })}</h2>
            <label>"Название"
                <input aria-label="Название роли" value=state.with_untracked(|r| r.name.clone()) prop:value=move || state.with(|r| r.name.clone())
                    on:input=move |ev| { let v = event_target_value(&ev); state.update(|r| r.name = v); }/>
            </label>
            {errors_view(save_value, "name")}
            <fieldset>
                <legend>"Доступные разделы системы"</legend>
                <label>"Заказы "
                    <select aria-label="Раздел «Заказы»"
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            state.update(|r| r.orders = OrdersScope::from_db(&v));
                        }>
                        {[(OrdersScope::None, "Нет доступа"), (OrdersScope::Assigned, "Назначенные мне"), (OrdersScope::All, "Все")]
                            .map(|(s, l)| view! { <option value=s.as_db() selected=move || state.with(|r| r.orders == s)>{l}</option> })
                            .collect_view()}
                    </select>
                </label>
                {check("Финансы", |r| r.finance, |r, v| r.finance = v)}
                {check("Администрирование", |r| r.admin, |r, v| r.admin = v)}
            </fieldset>
            <fieldset>
                <legend>"Доступные действия"</legend>
                {check("Заказы: редактирование", |r| r.orders_edit, |r, v| r.orders_edit = v)}
                {check("Чат с клиентами", |r| r.clients_chat, |r, v| r.clients_chat = v)}
            </fieldset>
            <div class="actions">
                <button type="button" class="primary" disabled=move || save.pending().get() on:click=move |_| { save.dispatch(()); }>
                    {if role_id.is_some() { "Сохранить" } else { "Создать роль" }}
                </button>
                {role_id.map(|id| view! {
                    <ActionForm action=delete attr:class="inline">
                        <input type="hidden" name="role_id" value=id/>
                        <button type="submit" class="secondary" disabled={staff_count > 0}
                            title={if staff_count > 0 { "Роль назначена сотрудникам" } else { "" }}>"Удалить"</button>
                    </ActionForm>
                })}
                {saved_view(save_value)}
            </div>
            {general_view(save_value)}
        </section>
    }
}

// ---------------------------------------------------------------- staff

#[component]
pub fn StaffPage() -> impl IntoView {
    let save = ServerAction::<AdminSaveStaff>::new();
    let password = ServerAction::<AdminStaffPassword>::new();
    let active = ServerAction::<AdminStaffActive>::new();
    let data = Resource::new(
        move || (save.version().get(), active.version().get()),
        |_| fetch_admin_staff(),
    );
    view! {
        <header class="page-header"><h1>"Сотрудники"</h1></header>
        {admin_nav()}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(d) => view! { <StaffView d=d save=save password=password active=active/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StaffView(
    d: StaffAdmin,
    save: ServerAction<AdminSaveStaff>,
    password: ServerAction<AdminStaffPassword>,
    active: ServerAction<AdminStaffActive>,
) -> impl IntoView {
    let roles = d.roles.clone();
    let entities = d.entities.clone();
    let editing = RwSignal::new(None::<i64>);
    let sv = save.value();
    view! {
        <section class="block">
            <h2>"Новый сотрудник"</h2>
            <ActionForm action=save attr:class="stack-form" attr:data-form="new-staff">
                <label>"E-mail"<input name="email" type="email" autocomplete="off"/></label>
                {errors_view(sv, "email")}
                <label>"ФИО"<input name="full_name"/></label>
                {errors_view(sv, "full_name")}
                <label>"Роль"<select name="role_id">{d.roles.clone().into_iter().map(|(id, n)| view! { <option value=id>{n}</option> }).collect_view()}</select></label>
                <label>"Юридическое лицо"<select name="legal_entity_id">{d.entities.clone().into_iter().map(|(id, n)| view! { <option value=id>{n}</option> }).collect_view()}</select></label>
                <label>"Пароль для первого входа"<input name="password" type="text" autocomplete="off"/></label>
                {errors_view(sv, "password")}
                <button type="submit" class="primary" disabled=move || save.pending().get()>"Добавить сотрудника"</button>
                {general_view(sv)}
            </ActionForm>
        </section>
        <section class="block">
            <table class="list">
                <thead><tr><th>"ФИО"</th><th>"E-mail"</th><th>"Роль"</th><th>"Юрлицо"</th><th>"Статус"</th><th></th></tr></thead>
                <tbody>
                    {d.staff.into_iter().map(|s| {
                        let id = s.staff_id;
                        let roles = roles.clone();
                        let entities = entities.clone();
                        let s2 = s.clone();
                        view! {
                            <tr data-staff=s.email.clone() class=if s.active { "" } else { "inactive" }>
                                <td>{s.full_name.clone()}</td>
                                <td>{s.email.clone()}</td>
                                <td>{s.role_name.clone()}</td>
                                <td>{s.entity_name.clone()}</td>
                                <td>{if s.active { "работает" } else { "отключён" }}</td>
                                <td>
                                    <button type="button" class="link-button" on:click=move |_| editing.set(if editing.get_untracked() == Some(id) { None } else { Some(id) })>"Изменить"</button>
                                    <ActionForm action=active attr:class="inline">
                                        <input type="hidden" name="staff_id" value=id/>
                                        <input type="hidden" name="active" value=if s.active { "false" } else { "true" }/>
                                        <button type="submit" class="link-button">{if s.active { "Отключить" } else { "Включить" }}</button>
                                    </ActionForm>
                                </td>
                            </tr>
                            {move || (editing.get() == Some(id)).then(|| {
                                let s2 = s2.clone();
                                let roles = roles.clone();
                                let entities = entities.clone();
                                view! {
                                <tr class="edit-row"><td colspan="6">
                                    <ActionForm action=save attr:class="stack-form">
                                        <input type="hidden" name="staff_id" value=id/>
                                        <label>"E-mail"<input name="email" value=s2.email.clone()/></label>
                                        <label>"ФИО"<input name="full_name" value=s2.full_name.clone()/></label>
                                        <label>"Роль"<select name="role_id">{roles.iter().map(|(rid, n)| view! { <option value=*rid selected=*rid == s2.role_id>{n.clone()}</option> }).collect_view()}</select></label>
                                        <label>"Юридическое лицо"<select name="legal_entity_id">{entities.iter().map(|(eid, n)| view! { <option value=*eid selected=*eid == s2.legal_entity_id>{n.clone()}</option> }).collect_view()}</select></label>
                                        <button type="submit" class="primary">"Сохранить"</button>
                                    </ActionForm>
                                    <ActionForm action=password attr:class="stack-form">
                                        <input type="hidden" name="staff_id" value=id/>
                                        <label>"Новый пароль"<input name="password" type="text" autocomplete="off"/></label>
                                        <button type="submit" class="secondary">"Сменить пароль"</button>
                                        {errors_view(password.value(), "password")}
                                        {saved_view(password.value())}
                                    </ActionForm>
                                </td></tr>
                                }
                            })}
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {general_view(active.value())}
        </section>
    }
}

// ---------------------------------------------------------------- legal entities and price lists

#[component]
pub fn EntitiesPage() -> impl IntoView {
    let save = ServerAction::<AdminSaveEntity>::new();
    let list = Resource::new(move || save.version().get(), |_| fetch_admin_entities());
    view! {
        <header class="page-header"><h1>"Юрлица и прайс-листы"</h1></header>
        {admin_nav()}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(list) => view! {
                        <table class="list">
                            <thead><tr><th>"Юридическое лицо"</th><th>"Тип"</th><th>"ИНН"</th><th class="num">"Позиций"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|e| view! {
                                    <tr>
                                        <td><A href=format!("/staff/admin/entities/{}", e.legal_entity_id)>{e.name.clone()}</A></td>
                                        <td>{if e.partner { "партнёр" } else { "управляющая компания" }}</td>
                                        <td>{e.inn.clone()}</td>
                                        <td class="num">{e.items}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
        <section class="block">
            <h2>"Новое юрлицо"</h2>
            <EntityForm save=save entity=None/>
        </section>
        <VatRatesView/>
    }
}

/// The VAT rates with the dates they apply (read-only: they come with the releases).
#[component]
fn VatRatesView() -> impl IntoView {
    let rates = Resource::new(|| (), |_| fetch_admin_vat_rates());
    view! {
        <section class="block" data-section="vat-rates">
            <h2>"Ставки НДС"</h2>
            <p class="muted small">"Позициям прайс-листа можно назначить только ставку, действующую сегодня."</p>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match rates.await {
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                        Ok(v) => view! {
                            <table class="list">
                                <thead><tr><th>"Ставка"</th><th class="num">"Процент"</th><th>"Действует с"</th><th>"по"</th><th></th></tr></thead>
                                <tbody>
                                    {v.rates.iter().map(|r| view! {
                                        <tr data-vat=r.code.clone()>
                                            <td>{r.name.clone()}</td>
                                            <td class="num">{format!("{}%", r.percent)}</td>
                                            <td>{rules::show_day(&r.effective_from)}</td>
                                            <td>{r.effective_to.as_deref().map_or_else(|| "—".to_owned(), rules::show_day)}</td>
                                            <td>{if r.in_force(&v.today) { "действует" } else { "не действует" }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A select of the VAT rates in force today; an item's stored rate that is not is shown
/// too, marked, so the editor sees it and has to pick another.
fn vat_select(vat: &VatRates, current: &str, form: Option<String>) -> impl IntoView {
    let mut options: Vec<(String, String)> = rules::rates_in_force(&vat.rates, &vat.today)
        .into_iter()
        .map(|r| (r.code.clone(), r.name.clone()))
        .collect();
    if !options.iter().any(|(c, _)| c == current) {
        let name = vat
            .rates
            .iter()
            .rfind(|r| r.code == current)
            .map_or_else(|| current.to_owned(), |r| r.name.clone());
        options.insert(0, (current.to_owned(), format!("{name} — не действует")));
    }
    let current = current.to_owned();
    view! {
        <select form=form name="vat_code" aria-label="НДС">
            {options.into_iter().map(|(code, name)| {
                let selected = code == current;
                view! { <option value=code selected=selected>{name}</option> }
            }).collect_view()}
        </select>
    }
}

fn subject_select(current: &str, form: Option<String>) -> impl IntoView {
    let current = current.to_owned();
    view! {
        <select form=form name="payment_subject" aria-label="Признак предмета расчёта">
            {rules::PAYMENT_SUBJECTS.iter().map(|(code, label)| view! {
                <option value=*code selected=*code == current>{*label}</option>
            }).collect_view()}
        </select>
    }
}

fn select_of(
    name: &'static str,
    list: &'static [(&'static str, &'static str)],
    current: &str,
) -> impl IntoView {
    let current = current.to_owned();
    view! {
        <select name=name>
            {list.iter().map(|(code, label)| view! {
                <option value=*code selected=*code == current>{*label}</option>
            }).collect_view()}
        </select>
    }
}

/// The actions of a legal entity's «Налоги и чеки» and «Приём платежей»; the page's
/// resource of its settings follows their versions.
#[derive(Clone, Copy)]
struct PaymentSettingsActions {
    fiscal: ServerAction<AdminSaveEntityReceipts>,
    save: ServerAction<AdminSavePaymentAccount>,
    disable: ServerAction<AdminDisablePaymentAccount>,
}

impl PaymentSettingsActions {
    fn new() -> Self {
        PaymentSettingsActions {
            fiscal: ServerAction::new(),
            save: ServerAction::new(),
            disable: ServerAction::new(),
        }
    }

    fn versions(&self) -> (usize, usize, usize) {
        (
            self.fiscal.version().get(),
            self.save.version().get(),
            self.disable.version().get(),
        )
    }
}

/// «Налоги и чеки» and «Приём платежей» of a legal entity, from settings the page loaded
/// (one Suspense for the page: a nested one does not hydrate after a full page load).
#[component]
fn PaymentSettingsView(
    legal_entity_id: i64,
    ps: PaymentSettings,
    actions: PaymentSettingsActions,
) -> impl IntoView {
    let PaymentSettingsActions {
        fiscal,
        save,
        disable,
    } = actions;
    let (fv, sv, dv) = (fiscal.value(), save.value(), disable.value());
    let provider = RwSignal::new(
        ps.account
            .as_ref()
            .map_or("sandbox".to_owned(), |a| a.provider.clone()),
    );
    let kept = ps.account.as_ref().map(|a| a.provider.clone());
    let keeps = Signal::derive(move || kept.as_deref() == Some(provider.get().as_str()));
    let can_seal = ps.can_seal;
    view! {
        <section class="block" data-section="receipts-settings">
            <h2>"Налоги и чеки"</h2>
            <ActionForm action=fiscal attr:class="stack-form">
                <input type="hidden" name="legal_entity_id" value=legal_entity_id/>
                <label>"Система налогообложения"{select_of("taxation", &rules::TAXATIONS, &ps.taxation)}</label>
                {errors_view(fv, "taxation")}
                <label>"Чеки выдаёт"{select_of("receipts_via", &rules::RECEIPTS_VIA, &ps.receipts_via)}</label>
                {errors_view(fv, "receipts_via")}
                <p class="muted small">"«Облачная касса эквайера»: чеки по 54-ФЗ отправляются вместе с платежами и возвратами. «Своя касса»: чеки пробивает касса юрлица, система их не отправляет."</p>
                <button type="submit" class="primary">"Сохранить"</button>
                {saved_view(fv)}
                {general_view(fv)}
            </ActionForm>
        </section>
        <section class="block" data-section="payment-account">
            <h2>"Приём платежей"</h2>
            {match ps.account.clone() {
                None => view! {
                    <p data-account="none">"Платежи идут через песочницу (провайдер по умолчанию)."</p>
                }.into_any(),
                Some(a) => view! {
                    <dl class="facts" data-account=a.account_id>
                        <dt>"Провайдер"</dt><dd>{rules::label_of(&rules::PROVIDERS, &a.provider).to_owned()}</dd>
                        <dt>{rules::shop_id_label(&a.provider)}</dt><dd>{a.shop_id.clone()}</dd>
                        <dt>{rules::secret_label(&a.provider)}</dt>
                        <dd data-secret>{match (&a.secret_env, a.secret_env_set) {
                            (Some(var), true) => format!("Задан: переменная окружения {var}"),
                            (Some(var), false) => format!("Переменная окружения {var} — на сервере не задана!"),
                            (None, _) => "Задан".to_owned(),
                        }}</dd>
                        <dt>"Адрес API"</dt><dd>{if a.api_url.is_empty() { "рабочий адрес провайдера".to_owned() } else { a.api_url.clone() }}</dd>
                        {(a.provider == "yookassa").then(|| view! {
                            <dt>"Сети уведомлений"</dt><dd>{if a.notify_networks.is_empty() { "опубликованные ЮKassa".to_owned() } else { a.notify_networks.clone() }}</dd>
                        })}
                        <dt>"Адрес для уведомлений"</dt>
                        <dd><input readonly class="copy" aria-label="Адрес для уведомлений" data-webhook-url value=a.webhook_url.clone() size="50"/>
                            <p class="muted small">"Вставьте его в личном кабинете провайдера как адрес HTTP-уведомлений."</p></dd>
                        <dt>"Настроен"</dt><dd>{format!("{}{}", fmt_dt(a.created_at), a.created_by.as_deref().map(|n| format!(", {n}")).unwrap_or_default())}</dd>
                    </dl>
                    <ActionForm action=disable>
                        <input type="hidden" name="legal_entity_id" value=legal_entity_id/>
                        <button type="submit" class="secondary">"Отключить"</button>
                        {general_view(dv)}
                    </ActionForm>
                }.into_any(),
            }}
            <h3>{if ps.account.is_some() { "Новая настройка" } else { "Настроить" }}</h3>
            <p class="muted small">"Сохранение новой настройки отключает прежнюю: платежи, прошедшие через неё, по-прежнему проверяются и возвращаются там же."</p>
            <ActionForm action=save attr:class="stack-form" attr:data-form="payment-account">
                <input type="hidden" name="legal_entity_id" value=legal_entity_id/>
                <label>"Провайдер"
                    <select name="provider" on:change=move |ev| provider.set(event_target_value(&ev))>
                        {rules::PROVIDERS.iter().map(|(code, label)| view! {
                            <option value=*code selected=move || provider.get() == *code>{*label}</option>
                        }).collect_view()}
                    </select>
                </label>
                {errors_view(sv, "provider")}
                <Show when=move || provider.get() != "sandbox" fallback=|| view! {
                    <p class="muted small">"Песочница — провайдер по умолчанию: своего счёта у юрлица не будет."</p>
                }>
                    <label>{move || rules::shop_id_label(&provider.get())}<input name="shop_id" autocomplete="off"/></label>
                    {errors_view(sv, "shop_id")}
                    <label>{move || rules::secret_label(&provider.get())}
                        <input type="password" name="secret" autocomplete="new-password" disabled=!can_seal
                            placeholder=move || if keeps.get() { "Задан — пусто: не менять" } else { "" }/>
                    </label>
                    {(!can_seal).then(|| view! { <p class="muted small" role="note">{rules::NO_SECRETS_KEY}</p> })}
                    {errors_view(sv, "secret")}
                    <label>"…или имя переменной окружения с ним"<input name="secret_env" autocomplete="off" placeholder="SUZ_TBANK_PASSWORD"/></label>
                    {errors_view(sv, "secret_env")}
                    <label>"Адрес API (необязательно: тестовый терминал провайдера)"<input name="api_url" inputmode="url" placeholder="https://…"/></label>
                    {errors_view(sv, "api_url")}
                    <Show when=move || provider.get() == "yookassa">
                        <label>"Сети уведомлений ЮKassa (необязательно)"<input name="notify_networks" placeholder="185.71.76.0/27, 77.75.156.11"/></label>
                        {errors_view(sv, "notify_networks")}
                    </Show>
                </Show>
                <button type="submit" class="primary">"Сохранить"</button>
                {saved_view(sv)}
                {general_view(sv)}
            </ActionForm>
            {(!ps.previous.is_empty()).then(|| view! {
                <details>
                    <summary>{format!("Прежние настройки: {}", ps.previous.len())}</summary>
                    <ul>
                        {ps.previous.iter().map(|a| view! {
                            <li>{format!("{} {} — с {}", rules::label_of(&rules::PROVIDERS, &a.provider), a.shop_id, fmt_dt(a.created_at))}</li>
                        }).collect_view()}
                    </ul>
                </details>
            })}
        </section>
    }
}

/// A legal entity's details: a new one, or `entity` to change.
#[component]
fn EntityForm(save: ServerAction<AdminSaveEntity>, entity: Option<AdminEntity>) -> impl IntoView {
    let sv = save.value();
    let id = entity.as_ref().map(|e| e.legal_entity_id);
    let partner = entity.as_ref().is_none_or(|e| e.partner);
    let (name, inn, details) = entity
        .map(|e| (e.name, e.inn, e.details))
        .unwrap_or_default();
    view! {
        <ActionForm action=save attr:class="stack-form">
            {id.map(|id| view! { <input type="hidden" name="legal_entity_id" value=id/> })}
            <label>"Название"<input name="name" value=name/></label>
            {errors_view(sv, "name")}
            <label>"Тип"<select name="kind">
                <option value="partner" selected=partner>"партнёр"</option>
                <option value="management" selected=!partner>"управляющая компания"</option>
            </select></label>
            <label>"ИНН"<input name="inn" inputmode="numeric" value=inn/></label>
            {errors_view(sv, "inn")}
            <label>"Реквизиты"<textarea name="details" rows="3" prop:value=details></textarea></label>
            <button type="submit" class="primary">{if id.is_some() { "Сохранить реквизиты" } else { "Добавить" }}</button>
            {saved_view(sv)}
            {general_view(sv)}
        </ActionForm>
    }
}

#[component]
fn ImportReportView(import_id: String) -> impl IntoView {
    let report = Resource::new(move || import_id.clone(), fetch_admin_import_report);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                report.await.ok().map(|r| view! {
                    <div class="import-report" role="status">
                        <p>{format!("Импорт: добавлено {}, изменено {}, без изменений {}{}; отклонено строк: {}",
                            r.created, r.updated, r.unchanged,
                            if r.kind == "residents" { format!(", новых помещений {}, привязок {}", r.premises_created, r.links_added) } else { String::new() },
                            r.rejected.len())}</p>
                        {(!r.rejected.is_empty()).then(|| view! {
                            <ul class="differences">
                                {r.rejected.iter().map(|(row, why)| view! { <li>{format!("Строка {row}: {why}")}</li> }).collect_view()}
                            </ul>
                        })}
                    </div>
                })
            })}
        </Suspense>
    }
}

#[component]
pub fn PriceListPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let entity =
        move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let save_item = ServerAction::<AdminSavePriceItem>::new();
    let save_entity = ServerAction::<AdminSaveEntity>::new();
    let payment_actions = PaymentSettingsActions::new();
    let payment_settings = Resource::new(
        move || (entity(), payment_actions.versions()),
        |(id, _)| fetch_admin_payment_settings(id),
    );
    let list = Resource::new(
        move || {
            (
                entity(),
                save_item.version().get(),
                query.with(|q| q.get("import")),
            )
        },
        |(id, _, _)| fetch_admin_price_list(id),
    );
    let entities = Resource::new(
        move || save_entity.version().get(),
        |_| fetch_admin_entities(),
    );
    let iv = save_item.value();
    view! {
        <Suspense fallback=Loading>
            {move || { let id = entity(); Suspend::new(async move {
                let details = entities.await.ok().and_then(|l| l.into_iter().find(|e| e.legal_entity_id == id));
                let payments = payment_settings.await;
                match list.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(p) => view! {
                        <header class="page-header">
                            <div class="crumbs"><A href="/staff/admin/entities">"Юрлица и прайс-листы"</A>" / "{p.name.clone()}</div>
                            <h1>{p.name.clone()}</h1>
                        </header>
                        {details.map(|e| view! {
                            <section class="block">
                                <h2>"Реквизиты"</h2>
                                <EntityForm save=save_entity entity=Some(e)/>
                            </section>
                        })}
                        {match payments {
                            Ok(ps) => view! { <PaymentSettingsView legal_entity_id=p.legal_entity_id ps=ps actions=payment_actions/> }.into_any(),
                            Err(e) => view! { <LoadError error=e/> }.into_any(),
                        }}
                        <section class="block">
                            <h2>"Прайс-лист"</h2>
                            <p class="muted small">"Изменение цены не меняет уже выставленные счета: строки счёта хранят свою цену. Ставка НДС и признак предмета расчёта попадают в чеки."</p>
                            {move || general_error(iv.get().and_then(|v| v.err())).or_else(|| field_error(iv.get().and_then(|v| v.err()), "vat_code")).map(|m| view! { <p class="error" role="alert">{m}</p> })}
                            <table class="list price-list">
                                <thead><tr><th>"Наименование"</th><th>"Ед. изм."</th><th>"Цена"</th><th>"НДС"</th><th>"Предмет расчёта"</th><th>"Активна"</th><th></th></tr></thead>
                                <tbody>
                                    {p.items.clone().into_iter().map(|i| {
                                        let form_id = format!("item-{}", i.price_item_id);
                                        let stale = rules::vat_error(&p.vat.rates, &i.vat_code, &p.vat.today);
                                        view! {
                                            <tr data-item=i.name.clone()>
                                                <td><input form=form_id.clone() name="name" aria-label="Наименование" value=i.name.clone()/></td>
                                                <td><input form=form_id.clone() name="unit" aria-label="Ед. изм." value=i.unit.clone() size="6"/></td>
                                                <td><input form=form_id.clone() name="price" aria-label="Цена" value=i.price.format_number() size="10"/></td>
                                                <td>
                                                    {vat_select(&p.vat, &i.vat_code, Some(form_id.clone()))}
                                                    {stale.map(|m| view! { <p class="error small" role="alert">{m}</p> })}
                                                </td>
                                                <td>{subject_select(&i.payment_subject, Some(form_id.clone()))}</td>
                                                <td><input form=form_id.clone() type="checkbox" name="active" aria-label="Активна" checked=i.active/></td>
                                                <td>
                                                    <ActionForm action=save_item attr:id=form_id.clone()>
                                                        <input type="hidden" name="legal_entity_id" value=p.legal_entity_id/>
                                                        <input type="hidden" name="price_item_id" value=i.price_item_id/>
                                                        <button type="submit" class="link-button">"Сохранить"</button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <h3>"Новая позиция"</h3>
                            <ActionForm action=save_item attr:class="stack-form" attr:data-form="new-item">
                                <input type="hidden" name="legal_entity_id" value=p.legal_entity_id/>
                                <input type="hidden" name="active" value="on"/>
                                <label>"Наименование"<input name="name"/></label>
                                {errors_view(iv, "name")}
                                <label>"Ед. изм."<input name="unit" value="шт."/></label>
                                {errors_view(iv, "unit")}
                                <label>"Цена, ₽"<input name="price" inputmode="decimal"/></label>
                                {errors_view(iv, "price")}
                                <label>"НДС"{vat_select(&p.vat, "none", None)}</label>
                                {errors_view(iv, "vat_code")}
                                <label>"Признак предмета расчёта"{subject_select("service", None)}</label>
                                {errors_view(iv, "payment_subject")}
                                <button type="submit" class="primary">"Добавить позицию"</button>
                                {general_view(iv)}
                            </ActionForm>
                        </section>
                        <section class="block">
                            <h2>"Импорт и выгрузка"</h2>
                            <p class="muted small">"Колонки: Наименование, Ед. изм., Цена, Активна (да/нет) и, по желанию, НДС («НДС 22%», «Без НДС») и Признак предмета расчёта («Услуга» / «Товар»); первая строка — заголовки. Позиции с тем же наименованием обновляются, новые добавляются."</p>
                            <a class="secondary button" href=format!("/staff/admin/entities/{}/prices/export", p.legal_entity_id) download>"Выгрузить в Excel"</a>
                            <form class="upload" method="post" enctype="multipart/form-data" action=format!("/staff/admin/entities/{}/prices/import", p.legal_entity_id)>
                                <label>"Файл .xlsx"<input type="file" name="file" accept=".xlsx,.csv"/></label>
                                <button type="submit" class="primary">"Загрузить прайс-лист"</button>
                            </form>
                            {move || query.with(|q| q.get("import_error")).map(|e| view! { <p class="error" role="alert">{e}</p> })}
                            {move || query.with(|q| q.get("import")).map(|id| view! { <ImportReportView import_id=id/> })}
                        </section>
                    }.into_any(),
                }
            })}}
        </Suspense>
    }
}

// ---------------------------------------------------------------- catalog

#[component]
pub fn CatalogAdminPage() -> impl IntoView {
    let save = ServerAction::<AdminSaveCategory>::new();
    let data = Resource::new(move || save.version().get(), |_| fetch_admin_catalog());
    let sv = save.value();
    view! {
        <header class="page-header"><h1>"Каталог"</h1></header>
        {admin_nav()}
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(c) => view! {
                        <section class="block">
                            <h2>"Категории"</h2>
                            <table class="list">
                                <thead><tr><th>"Иконка"</th><th>"Название"</th><th>"Фон (цвет или картинка)"</th><th>"Порядок"</th><th class="num">"Услуг"</th><th></th></tr></thead>
                                <tbody>
                                    {c.categories.clone().into_iter().map(|cat| {
                                        let fid = format!("cat-{}", cat.category_id);
                                        view! {
                                            <tr>
                                                <td><input form=fid.clone() name="icon" aria-label="Иконка" value=cat.icon.clone() size="3"/></td>
                                                <td><input form=fid.clone() name="name" aria-label="Название" value=cat.name.clone()/></td>
                                                <td><input form=fid.clone() name="background" aria-label="Фон" value=cat.background.clone()/></td>
                                                <td><input form=fid.clone() name="position" aria-label="Порядок" value=cat.position size="3"/></td>
                                                <td class="num">{cat.services}</td>
                                                <td><ActionForm action=save attr:id=fid.clone()>
                                                    <input type="hidden" name="category_id" value=cat.category_id/>
                                                    <button type="submit" class="link-button">"Сохранить"</button>
                                                </ActionForm></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <h3>"Новая категория"</h3>
                            <ActionForm action=save attr:class="stack-form" attr:data-form="new-category">
                                <label>"Название"<input name="name"/></label>
                                {errors_view(sv, "name")}
                                <label>"Фон: цвет (#1f6feb) или картинка"<input name="background" value="#e8f0fe"/></label>
                                {errors_view(sv, "background")}
                                <label>"Иконка"<input name="icon" value="🛠"/></label>
                                {errors_view(sv, "icon")}
                                <label>"Порядок"<input name="position" value="10"/></label>
                                {errors_view(sv, "position")}
                                <button type="submit" class="primary">"Добавить категорию"</button>
                                {general_view(sv)}
                            </ActionForm>
                        </section>
                        <section class="block">
                            <h2>"Услуги"</h2>
                            <A href="/staff/admin/services/new" attr:class="secondary button">"Новая услуга"</A>
                            <table class="list">
                                <thead><tr><th>"Услуга"</th><th>"Категория"</th><th>"Исполнитель"</th><th>"Видна жителям"</th></tr></thead>
                                <tbody>
                                    {c.services.clone().into_iter().map(|s| view! {
                                        <tr>
                                            <td><A href=format!("/staff/admin/services/{}", s.service_id)>{s.name.clone()}</A></td>
                                            <td>{s.category_name.clone()}</td>
                                            <td>{s.entity_name.clone()}</td>
                                            <td>{if s.published { "да" } else { "скрыта" }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ServiceEditPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()));
    let editor = Resource::new(id, fetch_admin_service);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match editor.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(ed) => view! { <ServiceEditor ed=ed/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ServiceEditor(ed: ServiceEditor) -> impl IntoView {
    let query = use_query_map();
    let form = RwSignal::new(ed.form.clone());
    let service_id = ed.form.service_id;
    let save = Action::new(move |_: &()| {
        let f = form.get_untracked();
        async move { admin_save_service(f).await }
    });
    let sv = save.value();
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(new_id)) = sv.get() {
            if service_id.is_none() {
                navigate(
                    &format!("/staff/admin/services/{new_id}"),
                    Default::default(),
                );
            }
        }
    });
    let text = move |label: &'static str,
                     key: &'static str,
                     get: fn(&ServiceForm) -> String,
                     set: fn(&mut ServiceForm, String)| {
        view! {
            <label>{label}
                <input value=form.with_untracked(get) prop:value=move || form.with(get) on:input=move |ev| { let v = event_target_value(&ev); form.update(|f| set(f, v)); }/>
            </label>
            {errors_view(sv, key)}
        }
    };
    let flag = move |label: &'static str,
                     get: fn(&ServiceForm) -> bool,
                     set: fn(&mut ServiceForm, bool)| {
        view! {
            <label class="check">
                <input type="checkbox" checked=form.with_untracked(get) prop:checked=move || form.with(get)
                    on:change=move |ev| { let on = event_target_checked(&ev); form.update(|f| set(f, on)); }/>
                {label}
            </label>
        }
    };
    let categories = ed.categories.clone();
    let entities = ed.entities.clone();
    let assignees = ed.assignees.clone();
    let items = ed.price_items.clone();
    let title = if service_id.is_some() {
        ed.form.name.clone()
    } else {
        "Новая услуга".into()
    };
    view! {
        <header class="page-header">
            <div class="crumbs"><A href="/staff/admin/catalog">"Каталог"</A>" / "{title.clone()}</div>
            <h1>{title}</h1>
        </header>
        <div class="service-editor">
            <section class="block">
                <h2>"Услуга"</h2>
                <div class="stack-form">
                    <label>"Категория"
                        <select on:change=move |ev| { let v = event_target_value(&ev).parse().unwrap_or(0); form.update(|f| f.category_id = v); }>
                            {categories.into_iter().map(|(cid, n)| view! { <option value=cid selected=move || form.with(|f| f.category_id == cid)>{n}</option> }).collect_view()}
                        </select>
                    </label>
                    {errors_view(sv, "category_id")}
                    <label>"Исполнитель (юрлицо)"
                        <select on:change=move |ev| {
                            let v = event_target_value(&ev).parse().unwrap_or(0);
                            form.update(|f| { f.legal_entity_id = v; f.price_item_ids.clear(); });
                        }>
                            {entities.into_iter().map(|(eid, n)| view! { <option value=eid selected=move || form.with(|f| f.legal_entity_id == eid)>{n}</option> }).collect_view()}
                        </select>
                    </label>
                    {text("Название", "name", |f| f.name.clone(), |f, v| f.name = v)}
                    {text("Краткое описание", "short_description", |f| f.short_description.clone(), |f, v| f.short_description = v)}
                    <label>"Полное описание"
                        <textarea rows="4" prop:value=move || form.with(|f| f.description.clone())
                            on:input=move |ev| { let v = event_target_value(&ev); form.update(|f| f.description = v); }>{form.with_untracked(|f| f.description.clone())}</textarea>
                    </label>
                    {errors_view(sv, "description")}
                    {text("Обложка (адрес картинки)", "cover", |f| f.cover.clone(), |f, v| f.cover = v)}
                    <label>"Ответственный по умолчанию"
                        <select on:change=move |ev| { let v = event_target_value(&ev).parse().ok(); form.update(|f| f.default_assignee_id = v); }>
                            <option value="" selected=move || form.with(|f| f.default_assignee_id.is_none())>"не назначать"</option>
                            {assignees.into_iter().map(|(sid, n)| view! { <option value=sid selected=move || form.with(|f| f.default_assignee_id == Some(sid))>{n}</option> }).collect_view()}
                        </select>
                    </label>
                    {errors_view(sv, "default_assignee_id")}
                    {text("Взять в работу за, часов", "sla_take_hours", |f| f.sla_take_hours.clone(), |f, v| f.sla_take_hours = v)}
                    {text("Выполнить за, часов", "sla_done_hours", |f| f.sla_done_hours.clone(), |f, v| f.sla_done_hours = v)}
                    {flag("Возможность оплаты картой при создании заказа", |f| f.prepaid, |f, v| f.prepaid = v)}
                    {flag("Чат с оператором, до оформления заявки", |f| f.preorder_chat, |f, v| f.preorder_chat = v)}
                    {flag("Возвраты разрешены", |f| f.refunds_allowed, |f, v| f.refunds_allowed = v)}
                    {flag("Запретить закрывать заявку, если не приложен документ", |f| f.require_attachment, |f, v| f.require_attachment = v)}
                    {flag("Опубликована (видна жителям)", |f| f.published, |f, v| f.published = v)}
                    <fieldset>
                        <legend>"Цены из прайс-листа исполнителя («от …» в каталоге)"</legend>
                        {move || {
                            let entity = form.with(|f| f.legal_entity_id);
                            items.iter().filter(|i| i.0 == entity).map(|(_, item, name, price)| {
                                let item = *item;
                                view! {
                                    <label class="check">
                                        <input type="checkbox" checked=form.with_untracked(|f| f.price_item_ids.contains(&item)) prop:checked=move || form.with(|f| f.price_item_ids.contains(&item))
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                form.update(|f| { f.price_item_ids.retain(|i| *i != item); if on { f.price_item_ids.push(item); } });
                                            }/>
                                        {format!("{name} — {price}")}
                                    </label>
                                }
                            }).collect_view()
                        }}
                    </fieldset>
                    {errors_view(sv, "price_item_ids")}
                </div>
            </section>
            <FormBuilder form=form errors=Signal::derive(move || sv.get().and_then(|v| v.err()))/>
        </div>
        <div class="actions sticky-actions">
            <button type="button" class="primary" disabled=move || save.pending().get() on:click=move |_| { save.dispatch(()); }>"Сохранить услугу"</button>
            {saved_view(sv)}
            {move || sv.get().and_then(|v| v.err()).map(|e| view! { <p class="error" role="alert">{match e { AppError::Fields(_) => "Проверьте поля формы".to_owned(), e => e.to_string() }}</p> })}
        </div>
        {service_id.map(|id| view! {
            <section class="block">
                <h2>"Обложка"</h2>
                {ed.form.cover.is_empty().then_some(view! { <p class="muted small">"Обложки нет: в каталоге видна иконка категории."</p> })}
                {(!ed.form.cover.is_empty()).then(|| view! { <img class="cover" src=ed.form.cover.clone() alt="Обложка"/> })}
                <form class="upload" method="post" enctype="multipart/form-data" action=format!("/staff/admin/services/{id}/cover")>
                    <label>"Картинка"<input type="file" name="file" accept="image/*"/></label>
                    <button type="submit" class="secondary">"Загрузить обложку"</button>
                </form>
                {move || query.with(|q| q.get("cover_error")).map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </section>
        })}
    }
}

/// The order-form builder: fields in order, each with its type, label, required flag,
/// limits and choices; and the form as the resident will see it.
#[component]
fn FormBuilder(form: RwSignal<ServiceForm>, errors: Signal<Option<AppError>>) -> impl IntoView {
    let new_kind = RwSignal::new(FieldKind::Text);
    let add = move |_| {
        form.update(|f| {
            let key = rules::new_field_key(&f.fields);
            let kind = new_kind.get_untracked();
            let choices = if matches!(kind, FieldKind::Choice | FieldKind::MultiChoice) {
                vec!["Вариант 1".to_owned(), "Вариант 2".to_owned()]
            } else {
                Vec::new()
            };
            f.fields.push(FormField {
                key,
                label: String::new(),
                kind,
                required: false,
                choices,
                min: None,
                max: None,
                max_length: None,
            });
        })
    };
    let indices = move || {
        let n = form.with(|f| f.fields.len());
        (0..n).collect::<Vec<usize>>()
    };
    let preview_values = RwSignal::new(Vec::<(String, String)>::new());
    let preview_errors = RwSignal::new(Vec::<(String, String)>::new());
    view! {
        <section class="block form-builder">
            <h2>"Форма заказа"</h2>
            <p class="muted small">"Изменение формы не затрагивает уже оформленные заказы: ответы хранятся вместе с подписями полей."</p>
            <ol class="fields">
                <For each=indices key=|i| *i let:i>
                    <FieldRow form=form i=i errors=errors/>
                </For>
            </ol>
            <div class="add-field">
                <select aria-label="Тип нового поля" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if let Some(k) = KINDS.iter().find(|k| format!("{k:?}") == v) { new_kind.set(*k); }
                }>
                    {KINDS.map(|k| view! { <option value=format!("{k:?}")>{rules::kind_label(k)}</option> }).collect_view()}
                </select>
                <button type="button" class="secondary" on:click=add>"Добавить поле"</button>
            </div>
            {move || errors.get().and_then(|e| field_error(Some(e), "fields")).map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <h3>"Как увидит житель"</h3>
            <div class="preview phone-frame" data-testid="form-preview">
                {move || {
                    let fields = form.with(|f| f.fields.clone());
                    view! { <crate::catalog::form_view::FormFields fields=fields values=preview_values errors=preview_errors/> }
                }}
            </div>
        </section>
    }
}

#[component]
fn FieldRow(
    form: RwSignal<ServiceForm>,
    i: usize,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    let get = move |f: &ServiceForm| f.fields.get(i).cloned();
    let update = move |g: Box<dyn FnOnce(&mut FormField)>| {
        form.update(|f| {
            if let Some(x) = f.fields.get_mut(i) {
                g(x);
            }
        })
    };
    let kind = move || form.with(|f| get(f).map(|x| x.kind).unwrap_or(FieldKind::Text));
    let move_by = move |d: isize| {
        form.update(|f| {
            let j = i as isize + d;
            if j >= 0 && (j as usize) < f.fields.len() {
                f.fields.swap(i, j as usize);
            }
        })
    };
    let n = i + 1;
    view! {
        <li class="field-row" data-field-row=n>
            <div class="row-head">
                <strong>{move || rules::kind_label(kind())}</strong>
                <button type="button" class="link-button" aria-label=format!("Поле {n} выше") on:click=move |_| move_by(-1)>"↑"</button>
                <button type="button" class="link-button" aria-label=format!("Поле {n} ниже") on:click=move |_| move_by(1)>"↓"</button>
                <button type="button" class="link-button" aria-label=format!("Удалить поле {n}") on:click=move |_| form.update(|f| { if i < f.fields.len() { f.fields.remove(i); } })>"Удалить"</button>
            </div>
            <label>"Подпись"
                <input aria-label=format!("Подпись поля {n}") value=form.with_untracked(|f| get(f).map(|x| x.label).unwrap_or_default()) prop:value=move || form.with(|f| get(f).map(|x| x.label).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |x| x.label = v)); }/>
            </label>
            <label class="check">
                <input type="checkbox" aria-label=format!("Поле {n} обязательное") checked=form.with_untracked(|f| get(f).is_some_and(|x| x.required)) prop:checked=move || form.with(|f| get(f).is_some_and(|x| x.required))
                    on:change=move |ev| { let on = event_target_checked(&ev); update(Box::new(move |x| x.required = on)); }/>
                "Обязательное"
            </label>
            <Show when=move || kind() == FieldKind::Number>
                <label>"От"<input size="5" prop:value=move || form.with(|f| get(f).and_then(|x| x.min).map(|v| v.to_string()).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev).trim().parse().ok(); update(Box::new(move |x| x.min = v)); }/></label>
                <label>"До"<input size="5" prop:value=move || form.with(|f| get(f).and_then(|x| x.max).map(|v| v.to_string()).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev).trim().parse().ok(); update(Box::new(move |x| x.max = v)); }/></label>
            </Show>
            <Show when=move || matches!(kind(), FieldKind::Text | FieldKind::Multiline)>
                <label>"Длина до"<input size="5" prop:value=move || form.with(|f| get(f).and_then(|x| x.max_length).map(|v| v.to_string()).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev).trim().parse().ok(); update(Box::new(move |x| x.max_length = v)); }/></label>
            </Show>
            <Show when=move || matches!(kind(), FieldKind::Choice | FieldKind::MultiChoice)>
                <label>"Варианты, по одному в строке"
                    <textarea rows="3" aria-label=format!("Варианты поля {n}") prop:value=move || form.with(|f| get(f).map(|x| x.choices.join("\n")).unwrap_or_default())
                        on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |x| x.choices = v.lines().map(str::to_owned).collect())); }></textarea>
                </label>
            </Show>
            {move || errors.get().and_then(|e| field_error(Some(e), &format!("field.{i}"))).map(|m| view! { <p class="error" role="alert">{m}</p> })}
        </li>
    }
}

// ---------------------------------------------------------------- residents

#[component]
pub fn ResidentsAdminPage() -> impl IntoView {
    let query = use_query_map();
    let save = ServerAction::<AdminSaveResident>::new();
    let blocked = ServerAction::<AdminResidentBlocked>::new();
    let add = ServerAction::<AdminAddPremises>::new();
    let remove = ServerAction::<AdminRemovePremises>::new();
    let page = Resource::new(
        move || {
            (
                query.with(|q| q.get("q").unwrap_or_default()),
                query.with(|q| q.get("after").and_then(|v| v.parse::<i64>().ok())),
                save.version().get()
                    + blocked.version().get()
                    + add.version().get()
                    + remove.version().get(),
                query.with(|q| q.get("import")),
            )
        },
        |(q, after, _, _)| fetch_admin_residents(q, after),
    );
    let sv = save.value();
    view! {
        <header class="page-header"><h1>"Жители и помещения"</h1></header>
        {admin_nav()}
        <Form method="GET" action="/staff/admin/residents" attr:class="filters">
            <input type="search" name="q" aria-label="Поиск жителя" placeholder="ФИО, телефон или адрес" value=move || query.with(|q| q.get("q").unwrap_or_default())/>
            <button type="submit">"Найти"</button>
        </Form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(p) => view! {
                        <table class="list residents">
                            <thead><tr><th>"ФИО"</th><th>"Телефон"</th><th>"E-mail"</th><th>"Помещения"</th><th>"Статус"</th></tr></thead>
                            <tbody>
                                {p.residents.into_iter().map(|r| {
                                    let rid = r.resident_id;
                                    let fid = format!("resident-{rid}");
                                    view! {
                                        <tr data-resident=r.phone.clone()>
                                            <td><input form=fid.clone() name="full_name" aria-label="ФИО" value=r.full_name.clone()/></td>
                                            <td><input form=fid.clone() name="phone" aria-label="Телефон" value=r.phone.clone() size="13"/></td>
                                            <td><input form=fid.clone() name="email" aria-label="E-mail" value=r.email.clone()/>
                                                <ActionForm action=save attr:id=fid.clone() attr:class="inline">
                                                    <input type="hidden" name="resident_id" value=rid/>
                                                    <button type="submit" class="link-button">"Сохранить"</button>
                                                </ActionForm></td>
                                            <td>
                                                <ul class="premises">
                                                    {r.premises.clone().into_iter().map(|(pid, address)| view! {
                                                        <li>{address.clone()}
                                                            <ActionForm action=remove attr:class="inline">
                                                                <input type="hidden" name="resident_id" value=rid/>
                                                                <input type="hidden" name="premises_id" value=pid/>
                                                                <button type="submit" class="link-button">"Отвязать"</button>
                                                            </ActionForm>
                                                        </li>
                                                    }).collect_view()}
                                                </ul>
                                                <ActionForm action=add attr:class="inline">
                                                    <input type="hidden" name="resident_id" value=rid/>
                                                    <input name="address" aria-label="Адрес нового помещения" placeholder="Адрес помещения"/>
                                                    <button type="submit" class="link-button">"Добавить"</button>
                                                </ActionForm>
                                            </td>
                                            <td>
                                                {if r.blocked { "заблокирован" } else { "активен" }}
                                                <ActionForm action=blocked attr:class="inline">
                                                    <input type="hidden" name="resident_id" value=rid/>
                                                    <input type="hidden" name="blocked" value=if r.blocked { "false" } else { "true" }/>
                                                    <button type="submit" class="link-button">{if r.blocked { "Разблокировать" } else { "Заблокировать" }}</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <div class="pager">{p.next_after.map(|a| view! { <A href=format!("?after={a}")>"Следующие →"</A> })}</div>
                    }.into_any(),
                }
            })}
        </Suspense>
        {general_view(sv)}
        {errors_view(sv, "phone")}
        {errors_view(sv, "full_name")}
        {errors_view(sv, "email")}
        {errors_view(add.value(), "address")}
        {general_view(blocked.value())}
        <section class="block">
            <h2>"Новый житель"</h2>
            <ActionForm action=save attr:class="stack-form" attr:data-form="new-resident">
                <label>"Телефон"<input name="phone" type="tel"/></label>
                <label>"ФИО"<input name="full_name"/></label>
                <label>"E-mail"<input name="email" type="email"/></label>
                <button type="submit" class="primary">"Добавить жителя"</button>
            </ActionForm>
        </section>
        <section class="block">
            <h2>"Импорт жителей и помещений"</h2>
            <p class="muted small">"Файл .xlsx или CSV (UTF-8, разделитель ; или ,). Колонки: Телефон, ФИО, E-mail, Адрес; первая строка — заголовки. Житель с известным телефоном обновляется, помещения находятся по адресу или создаются."</p>
            <form class="upload" method="post" enctype="multipart/form-data" action="/staff/admin/residents/import">
                <label>"Файл"<input type="file" name="file" accept=".xlsx,.csv"/></label>
                <button type="submit" class="primary">"Загрузить"</button>
            </form>
            {move || query.with(|q| q.get("import_error")).map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || query.with(|q| q.get("import")).map(|id| view! { <ImportReportView import_id=id/> })}
        </section>
    }
}

// ---------------------------------------------------------------- audit

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let rows = Resource::new(
        move || {
            (
                query.with(|q| q.get("entity").filter(|e| !e.is_empty())),
                query.with(|q| q.get("before").and_then(|v| v.parse::<i64>().ok())),
            )
        },
        |(entity, before)| fetch_admin_audit(entity, before),
    );
    view! {
        <header class="page-header"><h1>"Журнал изменений"</h1></header>
        {admin_nav()}
        <Form method="GET" action="/staff/admin/audit" attr:class="filters">
            <select name="entity" aria-label="Что менялось">
                <option value="">"Все изменения"</option>
                {AUDIT_ENTITIES.map(|(k, l)| view! { <option value=k selected=move || query.with(|q| q.get("entity").as_deref() == Some(k))>{l}</option> }).collect_view()}
            </select>
            <button type="submit">"Показать"</button>
        </Form>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                    Ok(rows) => {
                        let last = (rows.len() as i64 == 100).then(|| rows.last().map(|r| r.audit_id)).flatten();
                        view! {
                            <table class="list audit">
                                <thead><tr><th>"Когда"</th><th>"Кто"</th><th>"Что"</th><th>"Действие"</th><th>"Было → стало"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! {
                                        <tr>
                                            <td>{fmt_dt(r.at)}</td>
                                            <td>{r.staff_name.clone()}</td>
                                            <td>{r.summary.clone()}</td>
                                            <td>{action_label(&r.action)}</td>
                                            <td><ul class="changes">{r.changes.iter().map(|c| view! {
                                                <li><span class="muted">{format!("{}: ", c.field)}</span>{format!("{} → {}", c.before, c.after)}</li>
                                            }).collect_view()}</ul></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <div class="pager">{last.map(|a| view! { <A href=format!("?before={a}")>"Раньше →"</A> })}</div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
