//! Server functions of the administration: every one needs the administrator switch.

use super::rules::ServiceForm;
use crate::auth::permissions::OrdersScope;
use crate::error::AppError;
use crate::money::Money;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::service, crate::auth::permissions::Action, crate::auth::session::require_staff,
    crate::server::state::app_state, crate::time::now,
};

/// The switches of a role as edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInput {
    pub name: String,
    pub orders: OrdersScope,
    pub orders_edit: bool,
    pub clients_chat: bool,
    pub finance: bool,
    pub admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRole {
    pub role_id: i64,
    pub staff_count: i64,
    pub input: RoleInput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffInput {
    pub email: String,
    pub full_name: String,
    pub role_id: i64,
    pub legal_entity_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminStaff {
    pub staff_id: i64,
    pub email: String,
    pub full_name: String,
    pub role_id: i64,
    pub role_name: String,
    pub legal_entity_id: i64,
    pub entity_name: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffAdmin {
    pub staff: Vec<AdminStaff>,
    pub roles: Vec<(i64, String)>,
    pub entities: Vec<(i64, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminEntity {
    pub legal_entity_id: i64,
    pub name: String,
    pub partner: bool,
    pub inn: String,
    pub details: String,
    /// Items in its price list.
    pub items: i64,
    /// Its taxation system (`rules::TAXATIONS`).
    pub taxation: String,
    /// Who issues its receipts (`rules::RECEIPTS_VIA`).
    pub receipts_via: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceItemRow {
    pub price_item_id: i64,
    pub name: String,
    pub unit: String,
    pub price: Money,
    pub active: bool,
    pub vat_code: String,
    pub payment_subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceList {
    pub legal_entity_id: i64,
    pub name: String,
    pub items: Vec<PriceItemRow>,
    /// Every VAT rate with its dates, and today's local date (`YYYY-MM-DD`): the editor
    /// offers the rates in force and warns about items whose rate no longer is.
    pub vat: VatRates,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatRates {
    pub today: String,
    pub rates: Vec<super::rules::VatRate>,
}

/// A legal entity's shop / terminal at a provider, as administration shows it: the secret
/// itself never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAccountView {
    pub account_id: i64,
    pub provider: String,
    pub shop_id: String,
    /// A secret is stored sealed («Задан»).
    pub secret_sealed: bool,
    /// Or the name of the environment variable holding it.
    pub secret_env: Option<String>,
    /// Whether that variable is set on the server now.
    pub secret_env_set: bool,
    pub api_url: String,
    pub notify_networks: String,
    /// What to paste into the provider's dashboard as the notification URL.
    pub webhook_url: String,
    pub active: bool,
    pub created_at: i64,
    pub created_by: Option<String>,
}

/// «Приём платежей» and «Налоги и чеки» of a legal entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSettings {
    pub legal_entity_id: i64,
    pub name: String,
    pub taxation: String,
    pub receipts_via: String,
    /// `SUZ_SECRETS_KEY` is set: a secret may be typed in (else only a variable's name).
    pub can_seal: bool,
    /// The active account; `None`: payments go through the default provider (the sandbox).
    pub account: Option<PaymentAccountView>,
    /// Earlier accounts, newest first (their payments are still polled and refunded).
    pub previous: Vec<PaymentAccountView>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// price_list or residents
    pub kind: String,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub premises_created: u64,
    pub links_added: u64,
    /// (row number in the file, why)
    pub rejected: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCategory {
    pub category_id: i64,
    pub name: String,
    /// As typed: a colour or a picture address.
    pub background: String,
    pub icon: String,
    pub position: i64,
    pub services: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminServiceRow {
    pub service_id: i64,
    pub name: String,
    pub category_name: String,
    pub entity_name: String,
    pub published: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCatalog {
    pub categories: Vec<AdminCategory>,
    pub services: Vec<AdminServiceRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEditor {
    pub form: ServiceForm,
    pub categories: Vec<(i64, String)>,
    pub entities: Vec<(i64, String)>,
    pub assignees: Vec<(i64, String)>,
    /// (legal entity, item, name, price) of every active price-list item.
    pub price_items: Vec<(i64, i64, String, Money)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminResident {
    pub resident_id: i64,
    pub phone: String,
    pub full_name: String,
    pub email: String,
    pub blocked: bool,
    pub premises: Vec<(i64, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentsPage {
    pub residents: Vec<AdminResident>,
    pub next_after: Option<i64>,
}

/// One field's change in an audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub audit_id: i64,
    pub at: i64,
    pub staff_name: String,
    pub entity: String,
    pub entity_id: Option<i64>,
    pub action: String,
    pub summary: String,
    pub changes: Vec<FieldChange>,
}

pub fn action_label(action: &str) -> &'static str {
    match action {
        "create" => "создание",
        "update" => "изменение",
        "delete" => "удаление",
        "import" => "импорт",
        "password" => "новый пароль",
        "activate" => "включение",
        "deactivate" => "отключение",
        "block" => "блокировка",
        "unblock" => "разблокировка",
        _ => "действие",
    }
}

pub const AUDIT_ENTITIES: [(&str, &str); 10] = [
    ("role", "Роли"),
    ("staff", "Сотрудники"),
    ("legal_entity", "Юрлица"),
    ("payment_account", "Приём платежей"),
    ("price_item", "Позиции прайс-листов"),
    ("price_list", "Импорт прайс-листов"),
    ("category", "Категории"),
    ("service", "Услуги"),
    ("resident", "Жители"),
    ("premises", "Помещения"),
];

#[cfg(feature = "ssr")]
fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "да".into(),
        serde_json::Value::Bool(false) => "нет".into(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// The fields whose values differ between two JSON objects (all of them for a creation
/// or a deletion).
#[cfg(feature = "ssr")]
pub fn diff(before: Option<&str>, after: Option<&str>) -> Vec<FieldChange> {
    use serde_json::{Map, Value};
    let parse = |s: Option<&str>| -> Map<String, Value> {
        s.and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    let (b, a) = (parse(before), parse(after));
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.dedup();
    let mut seen = std::collections::HashSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.as_str()))
        .filter_map(|k| {
            let (x, y) = (b.get(k), a.get(k));
            (x != y).then(|| FieldChange {
                field: k.clone(),
                before: x.map(show).unwrap_or_else(|| "—".into()),
                after: y.map(show).unwrap_or_else(|| "—".into()),
            })
        })
        .collect()
}

#[server(prefix = "/api", endpoint = "fetch_admin_roles", output = Json)]
pub async fn fetch_admin_roles() -> Result<Vec<AdminRole>, AppError> {
    require_staff(Action::Administer)?;
    service::roles(&app_state()?.pool).await
}

#[server(prefix = "/api", endpoint = "admin_save_role", input = Json)]
pub async fn admin_save_role(role_id: Option<i64>, role: RoleInput) -> Result<i64, AppError> {
    let me = require_staff(Action::Administer)?;
    service::save_role(&app_state()?.pool, &me, role_id, role, now()).await
}

#[server(prefix = "/api", endpoint = "admin_delete_role")]
pub async fn admin_delete_role(role_id: i64) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    service::delete_role(&app_state()?.pool, &me, role_id, now()).await
}

#[server(prefix = "/api", endpoint = "fetch_admin_staff", output = Json)]
pub async fn fetch_admin_staff() -> Result<StaffAdmin, AppError> {
    require_staff(Action::Administer)?;
    let pool = &app_state()?.pool;
    let roles = service::roles(pool)
        .await?
        .into_iter()
        .map(|r| (r.role_id, r.input.name))
        .collect();
    let entities = service::entities(pool)
        .await?
        .into_iter()
        .map(|e| (e.legal_entity_id, e.name))
        .collect();
    Ok(StaffAdmin {
        staff: service::staff_list(pool).await?,
        roles,
        entities,
    })
}

/// Creates a staff member (with a first password) or changes one.
#[server(prefix = "/api", endpoint = "admin_save_staff")]
pub async fn admin_save_staff(
    staff_id: Option<i64>,
    email: String,
    full_name: String,
    role_id: i64,
    legal_entity_id: i64,
    password: Option<String>,
) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    let input = StaffInput {
        email,
        full_name,
        role_id,
        legal_entity_id,
    };
    let pool = &app_state()?.pool;
    match staff_id {
        Some(id) => service::update_staff(pool, &me, id, input, now()).await,
        None => service::create_staff(pool, &me, input, password.unwrap_or_default(), now())
            .await
            .map(|_| ()),
    }
}

#[server(prefix = "/api", endpoint = "admin_staff_password")]
pub async fn admin_staff_password(staff_id: i64, password: String) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    service::set_password(&app_state()?.pool, &me, staff_id, password, now()).await
}

#[server(prefix = "/api", endpoint = "admin_staff_active")]
pub async fn admin_staff_active(staff_id: i64, active: bool) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    service::set_active(&app_state()?.pool, &me, staff_id, active, now()).await
}

#[server(prefix = "/api", endpoint = "fetch_admin_entities", output = Json)]
pub async fn fetch_admin_entities() -> Result<Vec<AdminEntity>, AppError> {
    require_staff(Action::Administer)?;
    service::entities(&app_state()?.pool).await
}

#[server(prefix = "/api", endpoint = "admin_save_entity")]
pub async fn admin_save_entity(
    legal_entity_id: Option<i64>,
    name: String,
    kind: String,
    inn: String,
    details: String,
) -> Result<i64, AppError> {
    let me = require_staff(Action::Administer)?;
    service::save_entity(
        &app_state()?.pool,
        &me,
        legal_entity_id,
        &name,
        &kind,
        &inn,
        &details,
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "fetch_admin_price_list", output = Json)]
pub async fn fetch_admin_price_list(legal_entity_id: i64) -> Result<PriceList, AppError> {
    require_staff(Action::Administer)?;
    let pool = &app_state()?.pool;
    let (name, items) = service::price_list(pool, legal_entity_id).await?;
    Ok(PriceList {
        legal_entity_id,
        name,
        items,
        vat: super::payment_accounts::vat_rates(pool, now()).await?,
    })
}

/// Saves an item; `vat_code` / `payment_subject` absent or empty keep what is stored (a
/// new item: «Без НДС», «Услуга»). The item's resulting VAT rate must be in force today.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "admin_save_price_item")]
pub async fn admin_save_price_item(
    legal_entity_id: i64,
    price_item_id: Option<i64>,
    name: String,
    unit: String,
    price: String,
    active: Option<String>,
    vat_code: Option<String>,
    payment_subject: Option<String>,
) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    let item = super::rules::price_item_for_receipts(
        &name,
        &unit,
        &price,
        active.is_some(),
        vat_code.as_deref(),
        payment_subject.as_deref(),
    )
    .map_err(AppError::Fields)?;
    service::save_price_item(
        &app_state()?.pool,
        &me,
        legal_entity_id,
        price_item_id,
        item,
        now(),
    )
    .await
}

/// Every VAT rate with the dates it applies (read-only: the rates come with the releases).
#[server(prefix = "/api", endpoint = "fetch_admin_vat_rates", output = Json)]
pub async fn fetch_admin_vat_rates() -> Result<VatRates, AppError> {
    require_staff(Action::Administer)?;
    super::payment_accounts::vat_rates(&app_state()?.pool, now()).await
}

/// A legal entity's taxation system and who issues its receipts.
#[server(prefix = "/api", endpoint = "admin_save_entity_receipts")]
pub async fn admin_save_entity_receipts(
    legal_entity_id: i64,
    taxation: String,
    receipts_via: String,
) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    super::payment_accounts::save_fiscal(
        &app_state()?.pool,
        &me,
        legal_entity_id,
        &taxation,
        &receipts_via,
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "fetch_admin_payment_settings", output = Json)]
pub async fn fetch_admin_payment_settings(
    legal_entity_id: i64,
) -> Result<PaymentSettings, AppError> {
    require_staff(Action::Administer)?;
    let state = app_state()?;
    super::payment_accounts::settings(&state.pool, &state.gateways, legal_entity_id).await
}

/// Sets up a legal entity's shop / terminal: the previous account is kept, inactive, and
/// a new one made active. «Песочница» returns the entity to the default provider. Returns
/// the new account's id.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "admin_save_payment_account")]
pub async fn admin_save_payment_account(
    legal_entity_id: i64,
    provider: String,
    shop_id: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    api_url: Option<String>,
    notify_networks: Option<String>,
) -> Result<Option<i64>, AppError> {
    let me = require_staff(Action::Administer)?;
    let state = app_state()?;
    let input = super::rules::AccountInput {
        provider,
        shop_id: shop_id.unwrap_or_default(),
        secret: secret.unwrap_or_default(),
        secret_env: secret_env.unwrap_or_default(),
        api_url: api_url.unwrap_or_default(),
        notify_networks: notify_networks.unwrap_or_default(),
    };
    super::payment_accounts::save_account(
        &state.pool,
        &state.gateways,
        &me,
        legal_entity_id,
        input,
        now(),
    )
    .await
}

/// «Отключить»: the entity's payments go through the default provider again.
#[server(prefix = "/api", endpoint = "admin_disable_payment_account")]
pub async fn admin_disable_payment_account(legal_entity_id: i64) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    let state = app_state()?;
    super::payment_accounts::disable(&state.pool, &state.gateways, &me, legal_entity_id, now())
        .await
}

#[server(prefix = "/api", endpoint = "fetch_admin_import_report", output = Json)]
pub async fn fetch_admin_import_report(import_id: String) -> Result<ImportReport, AppError> {
    let me = require_staff(Action::Administer)?;
    service::import_report(&app_state()?.pool, &me, &import_id).await
}

#[server(prefix = "/api", endpoint = "fetch_admin_catalog", output = Json)]
pub async fn fetch_admin_catalog() -> Result<AdminCatalog, AppError> {
    require_staff(Action::Administer)?;
    let (categories, services) = service::catalog(&app_state()?.pool).await?;
    Ok(AdminCatalog {
        categories,
        services,
    })
}

#[server(prefix = "/api", endpoint = "admin_save_category")]
pub async fn admin_save_category(
    category_id: Option<i64>,
    name: String,
    background: String,
    icon: String,
    position: String,
) -> Result<i64, AppError> {
    let me = require_staff(Action::Administer)?;
    let position: i64 = match position.trim() {
        "" => 0,
        p => p.parse().map_err(|_| {
            AppError::Fields(vec![("position".into(), "Порядок — целое число".into())])
        })?,
    };
    service::save_category(
        &app_state()?.pool,
        &me,
        category_id,
        &name,
        &background,
        &icon,
        position,
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "fetch_admin_service", output = Json)]
pub async fn fetch_admin_service(service_id: Option<i64>) -> Result<ServiceEditor, AppError> {
    require_staff(Action::Administer)?;
    service::service_editor(&app_state()?.pool, service_id).await
}

#[server(prefix = "/api", endpoint = "admin_save_service", input = Json)]
pub async fn admin_save_service(form: ServiceForm) -> Result<i64, AppError> {
    let me = require_staff(Action::Administer)?;
    service::save_service(&app_state()?.pool, &me, form, now()).await
}

#[server(prefix = "/api", endpoint = "fetch_admin_residents", output = Json)]
pub async fn fetch_admin_residents(
    q: String,
    after: Option<i64>,
) -> Result<ResidentsPage, AppError> {
    require_staff(Action::Administer)?;
    service::residents(&app_state()?.pool, &q, after).await
}

#[server(prefix = "/api", endpoint = "admin_save_resident")]
pub async fn admin_save_resident(
    resident_id: Option<i64>,
    phone: String,
    full_name: String,
    email: String,
) -> Result<i64, AppError> {
    let me = require_staff(Action::Administer)?;
    service::save_resident(
        &app_state()?.pool,
        &me,
        resident_id,
        &phone,
        &full_name,
        &email,
        now(),
    )
    .await
}

#[server(prefix = "/api", endpoint = "admin_resident_blocked")]
pub async fn admin_resident_blocked(resident_id: i64, blocked: bool) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    service::set_blocked(&app_state()?.pool, &me, resident_id, blocked, now()).await
}

#[server(prefix = "/api", endpoint = "admin_add_premises")]
pub async fn admin_add_premises(resident_id: i64, address: String) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    service::add_premises(&app_state()?.pool, &me, resident_id, &address, now()).await
}

#[server(prefix = "/api", endpoint = "admin_remove_premises")]
pub async fn admin_remove_premises(resident_id: i64, premises_id: i64) -> Result<(), AppError> {
    let me = require_staff(Action::Administer)?;
    service::remove_premises(&app_state()?.pool, &me, resident_id, premises_id, now()).await
}

#[server(prefix = "/api", endpoint = "fetch_admin_audit", output = Json)]
pub async fn fetch_admin_audit(
    entity: Option<String>,
    before: Option<i64>,
) -> Result<Vec<AuditRow>, AppError> {
    require_staff(Action::Administer)?;
    let entity = entity.filter(|e| AUDIT_ENTITIES.iter().any(|(k, _)| k == e));
    service::audit_log(&app_state()?.pool, entity.as_deref(), before).await
}
