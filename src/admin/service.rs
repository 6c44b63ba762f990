//! Administration on the server: every change checked by `rules`, written in one
//! transaction together with its audit record (who, when, before → after).

use super::api::{
    AdminCategory, AdminEntity, AdminResident, AdminRole, AdminServiceRow, AdminStaff, AuditRow,
    ImportReport, PriceItemRow, ResidentsPage, RoleInput, ServiceEditor, StaffInput,
};
use super::rules::{self, FieldErrors, ServiceForm};
use crate::auth::model::{Email, Phone, StaffUser};
use crate::auth::permissions::OrdersScope;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::server::db::write_tx;
use serde_json::{json, Value};
use sqlx::{SqliteConnection, SqlitePool};

pub(super) fn fields(errors: FieldErrors) -> AppResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Fields(errors))
    }
}

fn field(key: &str, msg: &str) -> AppError {
    AppError::Fields(vec![(key.to_owned(), msg.to_owned())])
}

/// One audit record.
pub struct Change<'a> {
    pub entity: &'a str,
    pub entity_id: Option<i64>,
    pub action: &'a str,
    pub summary: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn audit(
    conn: &mut SqliteConnection,
    staff: &StaffUser,
    c: Change<'_>,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "insert into admin_audit (staff_id, at, entity, entity_id, action, summary, before_json, after_json) \
         values (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(staff.staff_id)
    .bind(now)
    .bind(c.entity)
    .bind(c.entity_id)
    .bind(c.action)
    .bind(&c.summary)
    .bind(c.before.map(|v| v.to_string()))
    .bind(c.after.map(|v| v.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a legal entity exists (checked by every change that names one).
pub async fn legal_entity_exists(conn: &mut SqliteConnection, id: i64) -> AppResult<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("select legal_entity_id from legal_entities where legal_entity_id = ?")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

// ---------------------------------------------------------------- roles

#[derive(sqlx::FromRow)]
struct RoleRow {
    role_id: i64,
    name: String,
    orders_scope: String,
    orders_edit: bool,
    clients_chat: bool,
    finance: bool,
    admin: bool,
    staff_count: i64,
}

impl RoleRow {
    fn view(self) -> AdminRole {
        AdminRole {
            role_id: self.role_id,
            staff_count: self.staff_count,
            input: RoleInput {
                name: self.name,
                orders: OrdersScope::from_db(&self.orders_scope),
                orders_edit: self.orders_edit,
                clients_chat: self.clients_chat,
                finance: self.finance,
                admin: self.admin,
            },
        }
    }
}

const ROLE_SELECT: &str =
    "select r.role_id, r.name, r.orders_scope, r.orders_edit, r.clients_chat, r.finance, r.admin, \
     (select count(*) from staff s where s.role_id = r.role_id) as staff_count from roles r";

pub async fn roles(pool: &SqlitePool) -> AppResult<Vec<AdminRole>> {
    let rows: Vec<RoleRow> = sqlx::query_as(&format!("{ROLE_SELECT} order by r.name"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(RoleRow::view).collect())
}

async fn role_by_id(conn: &mut SqliteConnection, role_id: i64) -> AppResult<AdminRole> {
    let row: Option<RoleRow> = sqlx::query_as(&format!("{ROLE_SELECT} where r.role_id = ?"))
        .bind(role_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.ok_or(AppError::NotFound)?.view())
}

fn role_json(r: &RoleInput) -> Value {
    json!({
        "Название": r.name,
        "Заказы": match r.orders { OrdersScope::All => "Все", OrdersScope::Assigned => "Назначенные мне", OrdersScope::None => "нет" },
        "Заказы: редактирование": r.orders_edit,
        "Чат с клиентами": r.clients_chat,
        "Финансы": r.finance,
        "Администрирование": r.admin,
    })
}

/// Active administrators left if `staff_id` (or everyone with `role_id`) lost the switch.
async fn admins_without(
    conn: &mut SqliteConnection,
    staff_id: Option<i64>,
    role_id: Option<i64>,
) -> AppResult<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from staff s join roles r on r.role_id = s.role_id \
         where s.active = 1 and r.admin = 1 and (?1 is null or s.staff_id <> ?1) and (?2 is null or r.role_id <> ?2)",
    )
    .bind(staff_id)
    .bind(role_id)
    .fetch_one(conn)
    .await?)
}

const LAST_ADMIN: &str = "Должен остаться хотя бы один активный администратор";

pub async fn save_role(
    pool: &SqlitePool,
    staff: &StaffUser,
    role_id: Option<i64>,
    input: RoleInput,
    now: i64,
) -> AppResult<i64> {
    fields(rules::role_name_errors(&input.name))?;
    let input = RoleInput {
        name: input.name.trim().to_owned(),
        orders_edit: input.orders_edit && input.orders != OrdersScope::None,
        ..input
    };
    let mut tx = write_tx(pool).await?;
    // SQLite's lower() knows only Latin letters: names are compared here.
    let names: Vec<(i64, String)> = sqlx::query_as("select role_id, name from roles")
        .fetch_all(&mut *tx)
        .await?;
    let key = crate::search::normalize(&input.name);
    if names
        .iter()
        .any(|(id, n)| Some(*id) != role_id && crate::search::normalize(n) == key)
    {
        return Err(field("name", "Роль с таким названием уже есть"));
    }
    let id = match role_id {
        Some(id) => {
            let before = role_by_id(&mut tx, id).await?;
            if before.input.admin
                && !input.admin
                && admins_without(&mut tx, None, Some(id)).await? == 0
            {
                return Err(AppError::rule(LAST_ADMIN));
            }
            sqlx::query(
                "update roles set name = ?, orders_scope = ?, orders_edit = ?, clients_chat = ?, finance = ?, admin = ? \
                 where role_id = ?",
            )
            .bind(&input.name)
            .bind(input.orders.as_db())
            .bind(input.orders_edit)
            .bind(input.clients_chat)
            .bind(input.finance)
            .bind(input.admin)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            audit(
                &mut tx,
                staff,
                Change {
                    entity: "role",
                    entity_id: Some(id),
                    action: "update",
                    summary: format!("Роль «{}»", input.name),
                    before: Some(role_json(&before.input)),
                    after: Some(role_json(&input)),
                },
                now,
            )
            .await?;
            id
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "insert into roles (name, orders_scope, orders_edit, clients_chat, finance, admin) \
                 values (?, ?, ?, ?, ?, ?) returning role_id",
            )
            .bind(&input.name)
            .bind(input.orders.as_db())
            .bind(input.orders_edit)
            .bind(input.clients_chat)
            .bind(input.finance)
            .bind(input.admin)
            .fetch_one(&mut *tx)
            .await?;
            audit(
                &mut tx,
                staff,
                Change {
                    entity: "role",
                    entity_id: Some(id),
                    action: "create",
                    summary: format!("Роль «{}»", input.name),
                    before: None,
                    after: Some(role_json(&input)),
                },
                now,
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

pub async fn delete_role(
    pool: &SqlitePool,
    staff: &StaffUser,
    role_id: i64,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let role = role_by_id(&mut tx, role_id).await?;
    if role.staff_count > 0 {
        return Err(AppError::rule(
            "Роль назначена сотрудникам: сначала смените им роль",
        ));
    }
    sqlx::query("delete from roles where role_id = ?")
        .bind(role_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        staff,
        Change {
            entity: "role",
            entity_id: Some(role_id),
            action: "delete",
            summary: format!("Роль «{}»", role.input.name),
            before: Some(role_json(&role.input)),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a change of a role's notification settings (made by the role editor).
pub async fn audit_notifications(
    pool: &SqlitePool,
    staff: &StaffUser,
    role_id: i64,
    json: String,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let before: Option<(String, String)> =
        sqlx::query_as("select name, notification_settings from roles where role_id = ?")
            .bind(role_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (name, before) = before.ok_or(AppError::NotFound)?;
    sqlx::query("update roles set notification_settings = ? where role_id = ?")
        .bind(&json)
        .bind(role_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        staff,
        Change {
            entity: "role",
            entity_id: Some(role_id),
            action: "update",
            summary: format!("Уведомления роли «{name}»"),
            before: serde_json::from_str(&before).ok(),
            after: serde_json::from_str(&json).ok(),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- staff

#[derive(sqlx::FromRow)]
struct StaffRow {
    staff_id: i64,
    email: String,
    full_name: String,
    role_id: i64,
    role_name: String,
    legal_entity_id: i64,
    entity_name: String,
    active: bool,
}

const STAFF_SELECT: &str =
    "select s.staff_id, s.email, s.full_name, s.role_id, r.name as role_name, s.legal_entity_id, \
     le.name as entity_name, s.active from staff s join roles r on r.role_id = s.role_id \
     join legal_entities le on le.legal_entity_id = s.legal_entity_id";

impl From<StaffRow> for AdminStaff {
    fn from(r: StaffRow) -> Self {
        AdminStaff {
            staff_id: r.staff_id,
            email: r.email,
            full_name: r.full_name,
            role_id: r.role_id,
            role_name: r.role_name,
            legal_entity_id: r.legal_entity_id,
            entity_name: r.entity_name,
            active: r.active,
        }
    }
}

pub async fn staff_list(pool: &SqlitePool) -> AppResult<Vec<AdminStaff>> {
    let rows: Vec<StaffRow> = sqlx::query_as(&format!(
        "{STAFF_SELECT} order by s.active desc, s.full_name"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

async fn staff_row(conn: &mut SqliteConnection, staff_id: i64) -> AppResult<AdminStaff> {
    let row: Option<StaffRow> = sqlx::query_as(&format!("{STAFF_SELECT} where s.staff_id = ?"))
        .bind(staff_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.ok_or(AppError::NotFound)?.into())
}

fn staff_json(s: &AdminStaff) -> Value {
    json!({
        "E-mail": s.email,
        "ФИО": s.full_name,
        "Роль": s.role_name,
        "Юрлицо": s.entity_name,
        "Активен": s.active,
    })
}

async fn check_staff_input(
    conn: &mut SqliteConnection,
    input: &StaffInput,
    staff_id: Option<i64>,
) -> AppResult<Email> {
    let mut errors = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|m| errors.push(("email".to_owned(), m)))
        .ok();
    rules::person_name_errors(&mut errors, &input.full_name);
    let role: Option<i64> = sqlx::query_scalar("select role_id from roles where role_id = ?")
        .bind(input.role_id)
        .fetch_optional(&mut *conn)
        .await?;
    if role.is_none() {
        errors.push(("role_id".into(), "Выберите роль".into()));
    }
    if !legal_entity_exists(conn, input.legal_entity_id).await? {
        errors.push(("legal_entity_id".into(), "Выберите юридическое лицо".into()));
    }
    if let Some(email) = &email {
        let taken: Option<i64> =
            sqlx::query_scalar("select staff_id from staff where email = ? and staff_id <> ?")
                .bind(email.as_str())
                .bind(staff_id.unwrap_or(0))
                .fetch_optional(&mut *conn)
                .await?;
        if taken.is_some() {
            errors.push(("email".into(), "Сотрудник с таким e-mail уже есть".into()));
        }
    }
    fields(errors)?;
    email.ok_or(AppError::Internal)
}

pub async fn create_staff(
    pool: &SqlitePool,
    admin: &StaffUser,
    input: StaffInput,
    password: String,
    now: i64,
) -> AppResult<i64> {
    if let Some(m) = rules::password_error(&password) {
        let mut conn = pool.acquire().await?;
        // Report every field at once.
        let mut errors = match check_staff_input(&mut conn, &input, None).await {
            Err(AppError::Fields(f)) => f,
            _ => Vec::new(),
        };
        errors.push(("password".into(), m));
        return Err(AppError::Fields(errors));
    }
    let hash = crate::auth::service::hash_password(password).await?;
    let mut tx = write_tx(pool).await?;
    let email = check_staff_input(&mut tx, &input, None).await?;
    let id: i64 = sqlx::query_scalar(
        "insert into staff (email, full_name, password_hash, role_id, legal_entity_id, created_at) \
         values (?, ?, ?, ?, ?, ?) returning staff_id",
    )
    .bind(email.as_str())
    .bind(input.full_name.trim())
    .bind(hash)
    .bind(input.role_id)
    .bind(input.legal_entity_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let after = staff_row(&mut tx, id).await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "staff",
            entity_id: Some(id),
            action: "create",
            summary: format!("Сотрудник {}", after.full_name),
            before: None,
            after: Some(staff_json(&after)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update_staff(
    pool: &SqlitePool,
    admin: &StaffUser,
    staff_id: i64,
    input: StaffInput,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let before = staff_row(&mut tx, staff_id).await?;
    let email = check_staff_input(&mut tx, &input, Some(staff_id)).await?;
    let new_role_admin: bool = sqlx::query_scalar("select admin from roles where role_id = ?")
        .bind(input.role_id)
        .fetch_one(&mut *tx)
        .await?;
    if before.active && !new_role_admin && admins_without(&mut tx, Some(staff_id), None).await? == 0
    {
        return Err(AppError::rule(LAST_ADMIN));
    }
    sqlx::query(
        "update staff set email = ?, full_name = ?, role_id = ?, legal_entity_id = ? where staff_id = ?",
    )
    .bind(email.as_str())
    .bind(input.full_name.trim())
    .bind(input.role_id)
    .bind(input.legal_entity_id)
    .bind(staff_id)
    .execute(&mut *tx)
    .await?;
    let after = staff_row(&mut tx, staff_id).await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "staff",
            entity_id: Some(staff_id),
            action: "update",
            summary: format!("Сотрудник {}", after.full_name),
            before: Some(staff_json(&before)),
            after: Some(staff_json(&after)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password (told to the person by the administrator); their sessions end.
pub async fn set_password(
    pool: &SqlitePool,
    admin: &StaffUser,
    staff_id: i64,
    password: String,
    now: i64,
) -> AppResult<()> {
    if let Some(m) = rules::password_error(&password) {
        return Err(field("password", &m));
    }
    let hash = crate::auth::service::hash_password(password).await?;
    let mut tx = write_tx(pool).await?;
    let who = staff_row(&mut tx, staff_id).await?;
    sqlx::query("update staff set password_hash = ? where staff_id = ?")
        .bind(hash)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where staff_id = ?")
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "staff",
            entity_id: Some(staff_id),
            action: "password",
            summary: format!("Сотрудник {}: новый пароль", who.full_name),
            before: None,
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deactivates (sign-in refused, sessions ended; orders keep their history) or activates.
pub async fn set_active(
    pool: &SqlitePool,
    admin: &StaffUser,
    staff_id: i64,
    active: bool,
    now: i64,
) -> AppResult<()> {
    if !active && staff_id == admin.staff_id {
        return Err(AppError::rule("Нельзя отключить самого себя"));
    }
    let mut tx = write_tx(pool).await?;
    let before = staff_row(&mut tx, staff_id).await?;
    if before.active == active {
        return Ok(());
    }
    if !active && admins_without(&mut tx, Some(staff_id), None).await? == 0 {
        return Err(AppError::rule(LAST_ADMIN));
    }
    sqlx::query("update staff set active = ? where staff_id = ?")
        .bind(active)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
    if !active {
        sqlx::query("delete from sessions where staff_id = ?")
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
    }
    let after = staff_row(&mut tx, staff_id).await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "staff",
            entity_id: Some(staff_id),
            action: if active { "activate" } else { "deactivate" },
            summary: format!("Сотрудник {}", after.full_name),
            before: Some(staff_json(&before)),
            after: Some(staff_json(&after)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- legal entities, price lists

pub async fn entities(pool: &SqlitePool) -> AppResult<Vec<AdminEntity>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, String, String, String, String, i64, String, String)> = sqlx::query_as(
        "select le.legal_entity_id, le.name, le.kind, le.inn, le.details, \
         (select count(*) from price_items p where p.legal_entity_id = le.legal_entity_id), \
         le.taxation, le.receipts_via \
         from legal_entities le order by le.kind desc, le.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AdminEntity {
            legal_entity_id: r.0,
            name: r.1,
            partner: r.2 == "partner",
            inn: r.3,
            details: r.4,
            items: r.5,
            taxation: r.6,
            receipts_via: r.7,
        })
        .collect())
}

fn entity_json(name: &str, kind: &str, inn: &str, details: &str) -> Value {
    json!({ "Название": name, "Тип": if kind == "partner" { "партнёр" } else { "управляющая компания" }, "ИНН": inn, "Реквизиты": details })
}

#[allow(clippy::too_many_arguments)]
pub async fn save_entity(
    pool: &SqlitePool,
    admin: &StaffUser,
    entity_id: Option<i64>,
    name: &str,
    kind: &str,
    inn: &str,
    details: &str,
    now: i64,
) -> AppResult<i64> {
    fields(rules::entity_errors(name, kind, inn, details))?;
    let (name, inn, details) = (name.trim(), inn.trim(), details.trim());
    let mut tx = write_tx(pool).await?;
    let id = match entity_id {
        Some(id) => {
            let before: Option<(String, String, String, String)> = sqlx::query_as(
                "select name, kind, inn, details from legal_entities where legal_entity_id = ?",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let before = before.ok_or(AppError::NotFound)?;
            sqlx::query(
                "update legal_entities set name = ?, kind = ?, inn = ?, details = ? where legal_entity_id = ?",
            )
            .bind(name)
            .bind(kind)
            .bind(inn)
            .bind(details)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            audit(
                &mut tx,
                admin,
                Change {
                    entity: "legal_entity",
                    entity_id: Some(id),
                    action: "update",
                    summary: format!("Юрлицо «{name}»"),
                    before: Some(entity_json(&before.0, &before.1, &before.2, &before.3)),
                    after: Some(entity_json(name, kind, inn, details)),
                },
                now,
            )
            .await?;
            id
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "insert into legal_entities (name, kind, inn, details) values (?, ?, ?, ?) returning legal_entity_id",
            )
            .bind(name)
            .bind(kind)
            .bind(inn)
            .bind(details)
            .fetch_one(&mut *tx)
            .await?;
            audit(
                &mut tx,
                admin,
                Change {
                    entity: "legal_entity",
                    entity_id: Some(id),
                    action: "create",
                    summary: format!("Юрлицо «{name}»"),
                    before: None,
                    after: Some(entity_json(name, kind, inn, details)),
                },
                now,
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

pub async fn price_list(pool: &SqlitePool, entity: i64) -> AppResult<(String, Vec<PriceItemRow>)> {
    let name: String =
        sqlx::query_scalar("select name from legal_entities where legal_entity_id = ?")
            .bind(entity)
            .fetch_optional(pool)
            .await?
            .ok_or(AppError::NotFound)?;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, String, String, i64, bool, String, String)> = sqlx::query_as(
        "select price_item_id, name, unit, price_kopecks, active, vat_code, payment_subject from price_items \
         where legal_entity_id = ? order by active desc, name",
    )
    .bind(entity)
    .fetch_all(pool)
    .await?;
    Ok((
        name,
        rows.into_iter()
            .map(|r| PriceItemRow {
                price_item_id: r.0,
                name: r.1,
                unit: r.2,
                price: Money::from_kopecks(r.3),
                active: r.4,
                vat_code: r.5,
                payment_subject: r.6,
            })
            .collect(),
    ))
}

fn item_json(i: &rules::PriceItem) -> Value {
    json!({
        "Наименование": i.name, "Ед. изм.": i.unit, "Цена": i.price.to_string(), "Активна": i.active,
        "НДС": i.vat_code.as_deref().unwrap_or("none"),
        "Признак предмета расчёта": rules::subject_label(i.payment_subject.as_deref().unwrap_or("service")),
    })
}

/// The items of an entity's price list by normalised name (case and «ё» ignored; SQLite's
/// lower() knows only Latin letters).
async fn items_by_name(
    conn: &mut SqliteConnection,
    entity: i64,
) -> AppResult<std::collections::HashMap<String, i64>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("select price_item_id, name from price_items where legal_entity_id = ?")
            .bind(entity)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| (crate::search::normalize(&name), id))
        .collect())
}

/// Writes one item (new, or changed when an item of the same name exists or `item_id` is
/// given) with its audit. Returns "created", "updated" or "same". The VAT rate it ends up
/// with (typed, or as stored) must be in force: else a `vat_code` field error and nothing
/// written.
#[allow(clippy::too_many_arguments)]
async fn put_item(
    conn: &mut SqliteConnection,
    admin: &StaffUser,
    entity: i64,
    names: &mut std::collections::HashMap<String, i64>,
    item_id: Option<i64>,
    item: &rules::PriceItem,
    audit_each: bool,
    now: i64,
) -> AppResult<&'static str> {
    type Row = (i64, String, String, i64, bool, String, String);
    let key = crate::search::normalize(&item.name);
    let same_name: Option<Row> = match names.get(&key) {
        Some(id) => sqlx::query_as(
            "select price_item_id, name, unit, price_kopecks, active, vat_code, payment_subject \
                 from price_items where price_item_id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?,
        None => None,
    };
    let target: Option<Row> = match item_id {
        Some(id) => {
            if same_name.as_ref().is_some_and(|r| r.0 != id) {
                return Err(field("name", "Позиция с таким наименованием уже есть"));
            }
            let row: Option<Row> = sqlx::query_as(
                "select price_item_id, name, unit, price_kopecks, active, vat_code, payment_subject \
                 from price_items where price_item_id = ? and legal_entity_id = ?",
            )
            .bind(id)
            .bind(entity)
            .fetch_optional(&mut *conn)
            .await?;
            Some(row.ok_or(AppError::NotFound)?)
        }
        None => same_name,
    };
    match target {
        Some((id, name, unit, price, active, vat_code, payment_subject)) => {
            let item = &rules::PriceItem {
                vat_code: Some(item.vat_code.clone().unwrap_or_else(|| vat_code.clone())),
                payment_subject: Some(
                    item.payment_subject
                        .clone()
                        .unwrap_or_else(|| payment_subject.clone()),
                ),
                ..item.clone()
            };
            let before = rules::PriceItem {
                name,
                unit,
                price: Money::from_kopecks(price),
                active,
                vat_code: Some(vat_code),
                payment_subject: Some(payment_subject),
            };
            if &before == item {
                return Ok("same");
            }
            super::payment_accounts::check_vat(
                conn,
                item.vat_code.as_deref().unwrap_or("none"),
                now,
            )
            .await?;
            if before.name != item.name {
                names.retain(|_, v| *v != id);
                names.insert(key, id);
            }
            // Invoices copy name, unit and price into their lines: nothing issued changes.
            sqlx::query(
                "update price_items set name = ?, unit = ?, price_kopecks = ?, active = ?, vat_code = ?, \
                 payment_subject = ? where price_item_id = ?",
            )
            .bind(&item.name)
            .bind(&item.unit)
            .bind(item.price.kopecks())
            .bind(item.active)
            .bind(&item.vat_code)
            .bind(&item.payment_subject)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if audit_each {
                audit(
                    conn,
                    admin,
                    Change {
                        entity: "price_item",
                        entity_id: Some(id),
                        action: "update",
                        summary: format!("Позиция прайс-листа «{}»", item.name),
                        before: Some(item_json(&before)),
                        after: Some(item_json(item)),
                    },
                    now,
                )
                .await?;
            }
            Ok("updated")
        }
        None => {
            let item = &rules::PriceItem {
                vat_code: Some(item.vat_code.clone().unwrap_or_else(|| "none".into())),
                payment_subject: Some(
                    item.payment_subject
                        .clone()
                        .unwrap_or_else(|| "service".into()),
                ),
                ..item.clone()
            };
            super::payment_accounts::check_vat(
                conn,
                item.vat_code.as_deref().unwrap_or("none"),
                now,
            )
            .await?;
            let id: i64 = sqlx::query_scalar(
                "insert into price_items (legal_entity_id, name, unit, price_kopecks, active, vat_code, payment_subject) \
                 values (?, ?, ?, ?, ?, ?, ?) returning price_item_id",
            )
            .bind(entity)
            .bind(&item.name)
            .bind(&item.unit)
            .bind(item.price.kopecks())
            .bind(item.active)
            .bind(&item.vat_code)
            .bind(&item.payment_subject)
            .fetch_one(&mut *conn)
            .await?;
            names.insert(key, id);
            if audit_each {
                audit(
                    conn,
                    admin,
                    Change {
                        entity: "price_item",
                        entity_id: Some(id),
                        action: "create",
                        summary: format!("Позиция прайс-листа «{}»", item.name),
                        before: None,
                        after: Some(item_json(item)),
                    },
                    now,
                )
                .await?;
            }
            Ok("created")
        }
    }
}

pub async fn save_price_item(
    pool: &SqlitePool,
    admin: &StaffUser,
    entity: i64,
    item_id: Option<i64>,
    item: rules::PriceItem,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    if !legal_entity_exists(&mut tx, entity).await? {
        return Err(AppError::NotFound);
    }
    let mut names = items_by_name(&mut tx, entity).await?;
    if item_id.is_none() && names.contains_key(&crate::search::normalize(&item.name)) {
        return Err(field("name", "Позиция с таким наименованием уже есть"));
    }
    put_item(
        &mut tx, admin, entity, &mut names, item_id, &item, true, now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn save_report(
    conn: &mut SqliteConnection,
    admin: &StaffUser,
    report: &ImportReport,
    now: i64,
) -> AppResult<String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query(
        "insert into admin_imports (import_id, staff_id, kind, created_at, report) values (?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(admin.staff_id)
    .bind(&report.kind)
    .bind(now)
    .bind(serde_json::to_string(report).map_err(AppError::internal)?)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn import_report(
    pool: &SqlitePool,
    admin: &StaffUser,
    id: &str,
) -> AppResult<ImportReport> {
    let json: String =
        sqlx::query_scalar("select report from admin_imports where import_id = ? and staff_id = ?")
            .bind(id)
            .bind(admin.staff_id)
            .fetch_optional(pool)
            .await?
            .ok_or(AppError::NotFound)?;
    serde_json::from_str(&json).map_err(AppError::internal)
}

/// Where the optional receipt columns are in a price list's header row: «НДС» (or
/// «Ставка НДС») and «Признак предмета расчёта».
fn receipt_columns(header: &[String]) -> (Option<usize>, Option<usize>) {
    let norm = |s: &str| s.trim().to_lowercase().replace('ё', "е");
    let vat = header.iter().position(|h| {
        let h = norm(h);
        h == "ндс" || h == "ставка ндс" || h.starts_with("ндс,")
    });
    let subject = header
        .iter()
        .position(|h| norm(h).starts_with("признак предмета расчета"));
    (vat, subject)
}

/// Imports price-list rows (Наименование, Ед. изм., Цена, Активна, and optionally НДС and
/// Признак предмета расчёта, found by their headers) after a header row: items matched by
/// name are updated, new ones added, bad rows reported and skipped.
pub async fn import_price_list(
    pool: &SqlitePool,
    admin: &StaffUser,
    entity: i64,
    rows: Vec<Vec<String>>,
    now: i64,
) -> AppResult<String> {
    let mut report = ImportReport {
        kind: "price_list".into(),
        ..Default::default()
    };
    let mut tx = write_tx(pool).await?;
    let name: String =
        sqlx::query_scalar("select name from legal_entities where legal_entity_id = ?")
            .bind(entity)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AppError::NotFound)?;
    let mut seen = std::collections::HashSet::new();
    let mut names = items_by_name(&mut tx, entity).await?;
    let rates = super::payment_accounts::all_vat_rates(&mut tx).await?;
    let (vat_col, subject_col) = rows.first().map(|h| receipt_columns(h)).unwrap_or_default();
    for (i, cells) in rows.iter().enumerate().skip(1) {
        let n = i + 1;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |k: usize| cells.get(k).map(String::as_str).unwrap_or("");
        let Some(active) = rules::parse_yes(cell(3)) else {
            report.rejected.push((n, "«Активна»: да или нет".into()));
            continue;
        };
        let mut item = match rules::price_item(cell(0), cell(1), cell(2), active) {
            Ok(item) => item,
            Err(e) => {
                let why: Vec<String> = e.into_iter().map(|(_, m)| m).collect();
                report.rejected.push((n, why.join("; ")));
                continue;
            }
        };
        match vat_col.map(|k| rules::parse_vat_cell(cell(k), &rates)) {
            Some(Err(m)) => {
                report.rejected.push((n, m));
                continue;
            }
            Some(Ok(code)) => item.vat_code = code,
            None => {}
        }
        match subject_col.map(|k| rules::parse_subject_cell(cell(k))) {
            Some(Err(m)) => {
                report.rejected.push((n, m));
                continue;
            }
            Some(Ok(subject)) => item.payment_subject = subject.map(str::to_owned),
            None => {}
        }
        if !seen.insert(crate::search::normalize(&item.name)) {
            report
                .rejected
                .push((n, format!("«{}» уже есть выше в файле", item.name)));
            continue;
        }
        match put_item(&mut tx, admin, entity, &mut names, None, &item, false, now).await {
            Ok("created") => report.created += 1,
            Ok("updated") => report.updated += 1,
            Ok(_) => report.unchanged += 1,
            // A rate out of force: nothing of the row was written.
            Err(AppError::Fields(f)) => {
                let why: Vec<String> = f.into_iter().map(|(_, m)| format!("«НДС»: {m}")).collect();
                report.rejected.push((n, why.join("; ")));
            }
            Err(e) => return Err(e),
        }
    }
    audit(
        &mut tx,
        admin,
        Change {
            entity: "price_list",
            entity_id: Some(entity),
            action: "import",
            summary: format!("Прайс-лист «{name}»: импорт"),
            before: None,
            after: Some(json!({
                "Добавлено": report.created, "Изменено": report.updated,
                "Без изменений": report.unchanged, "Отклонено строк": report.rejected.len(),
            })),
        },
        now,
    )
    .await?;
    let id = save_report(&mut tx, admin, &report, now).await?;
    tx.commit().await?;
    Ok(id)
}

// ---------------------------------------------------------------- catalog

pub async fn catalog(pool: &SqlitePool) -> AppResult<(Vec<AdminCategory>, Vec<AdminServiceRow>)> {
    let cats: Vec<(i64, String, String, String, i64, i64)> = sqlx::query_as(
        "select c.category_id, c.name, c.background, c.icon, c.position, \
         (select count(*) from services s where s.category_id = c.category_id) \
         from categories c order by c.position, c.name",
    )
    .fetch_all(pool)
    .await?;
    let services: Vec<(i64, String, String, String, bool)> = sqlx::query_as(
        "select s.service_id, s.name, c.name, le.name, s.published from services s \
         join categories c on c.category_id = s.category_id \
         join legal_entities le on le.legal_entity_id = s.legal_entity_id order by c.position, c.name, s.name",
    )
    .fetch_all(pool)
    .await?;
    Ok((
        cats.into_iter()
            .map(|c| AdminCategory {
                category_id: c.0,
                name: c.1,
                background: rules::background_input(&c.2),
                icon: c.3,
                position: c.4,
                services: c.5,
            })
            .collect(),
        services
            .into_iter()
            .map(|s| AdminServiceRow {
                service_id: s.0,
                name: s.1,
                category_name: s.2,
                entity_name: s.3,
                published: s.4,
            })
            .collect(),
    ))
}

#[allow(clippy::too_many_arguments)]
pub async fn save_category(
    pool: &SqlitePool,
    admin: &StaffUser,
    category_id: Option<i64>,
    name: &str,
    background: &str,
    icon: &str,
    position: i64,
    now: i64,
) -> AppResult<i64> {
    fields(rules::category_errors(name, background, icon))?;
    let css = rules::background_css(background).map_err(|m| field("background", m))?;
    let (name, icon) = (name.trim(), icon.trim());
    let after =
        json!({ "Название": name, "Фон": background.trim(), "Иконка": icon, "Порядок": position });
    let mut tx = write_tx(pool).await?;
    let id = match category_id {
        Some(id) => {
            let before: Option<(String, String, String, i64)> = sqlx::query_as(
                "select name, background, icon, position from categories where category_id = ?",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let b = before.ok_or(AppError::NotFound)?;
            sqlx::query(
                "update categories set name = ?, background = ?, icon = ?, position = ? where category_id = ?",
            )
            .bind(name)
            .bind(&css)
            .bind(icon)
            .bind(position)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            audit(
                &mut tx,
                admin,
                Change {
                    entity: "category",
                    entity_id: Some(id),
                    action: "update",
                    summary: format!("Категория «{name}»"),
                    before: Some(json!({ "Название": b.0, "Фон": rules::background_input(&b.1), "Иконка": b.2, "Порядок": b.3 })),
                    after: Some(after),
                },
                now,
            )
            .await?;
            id
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "insert into categories (name, background, icon, position) values (?, ?, ?, ?) returning category_id",
            )
            .bind(name)
            .bind(&css)
            .bind(icon)
            .bind(position)
            .fetch_one(&mut *tx)
            .await?;
            audit(
                &mut tx,
                admin,
                Change {
                    entity: "category",
                    entity_id: Some(id),
                    action: "create",
                    summary: format!("Категория «{name}»"),
                    before: None,
                    after: Some(after),
                },
                now,
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    service_id: i64,
    category_id: i64,
    legal_entity_id: i64,
    name: String,
    short_description: String,
    description: String,
    cover: String,
    default_assignee_id: Option<i64>,
    sla_take_hours: Option<i64>,
    sla_done_hours: Option<i64>,
    prepaid: bool,
    preorder_chat: bool,
    refunds_allowed: bool,
    require_attachment: bool,
    published: bool,
    form_fields: String,
}

async fn service_form(conn: &mut SqliteConnection, service_id: i64) -> AppResult<ServiceForm> {
    let r: Option<ServiceRow> = sqlx::query_as(
        "select service_id, category_id, legal_entity_id, name, short_description, description, cover, \
         default_assignee_id, sla_take_hours, sla_done_hours, prepaid, preorder_chat, refunds_allowed, \
         require_attachment, published, form_fields from services where service_id = ?",
    )
    .bind(service_id)
    .fetch_optional(&mut *conn)
    .await?;
    let r = r.ok_or(AppError::NotFound)?;
    let prices: Vec<i64> = sqlx::query_scalar(
        "select price_item_id from service_prices where service_id = ? order by price_item_id",
    )
    .bind(service_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ServiceForm {
        service_id: Some(r.service_id),
        category_id: r.category_id,
        legal_entity_id: r.legal_entity_id,
        name: r.name,
        short_description: r.short_description,
        description: r.description,
        cover: r.cover,
        default_assignee_id: r.default_assignee_id,
        sla_take_hours: r.sla_take_hours.map(|h| h.to_string()).unwrap_or_default(),
        sla_done_hours: r.sla_done_hours.map(|h| h.to_string()).unwrap_or_default(),
        prepaid: r.prepaid,
        preorder_chat: r.preorder_chat,
        refunds_allowed: r.refunds_allowed,
        require_attachment: r.require_attachment,
        published: r.published,
        fields: serde_json::from_str(&r.form_fields).unwrap_or_default(),
        price_item_ids: prices,
    })
}

pub async fn service_editor(
    pool: &SqlitePool,
    service_id: Option<i64>,
) -> AppResult<ServiceEditor> {
    let mut conn = pool.acquire().await?;
    let categories: Vec<(i64, String)> =
        sqlx::query_as("select category_id, name from categories order by position, name")
            .fetch_all(&mut *conn)
            .await?;
    let entities: Vec<(i64, String)> =
        sqlx::query_as("select legal_entity_id, name from legal_entities order by kind desc, name")
            .fetch_all(&mut *conn)
            .await?;
    let assignees: Vec<(i64, String)> =
        sqlx::query_as("select staff_id, full_name from staff where active = 1 order by full_name")
            .fetch_all(&mut *conn)
            .await?;
    let items: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "select legal_entity_id, price_item_id, name, price_kopecks from price_items where active = 1 \
         order by legal_entity_id, name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let form = match service_id {
        Some(id) => service_form(&mut conn, id).await?,
        None => ServiceForm {
            service_id: None,
            category_id: categories.first().map(|c| c.0).unwrap_or(0),
            legal_entity_id: entities.first().map(|e| e.0).unwrap_or(0),
            name: String::new(),
            short_description: String::new(),
            description: String::new(),
            cover: String::new(),
            default_assignee_id: None,
            sla_take_hours: String::new(),
            sla_done_hours: String::new(),
            prepaid: false,
            preorder_chat: false,
            refunds_allowed: true,
            require_attachment: false,
            published: false,
            fields: Vec::new(),
            price_item_ids: Vec::new(),
        },
    };
    Ok(ServiceEditor {
        form,
        categories,
        entities,
        assignees,
        price_items: items
            .into_iter()
            .map(|(e, id, name, price)| (e, id, name, Money::from_kopecks(price)))
            .collect(),
    })
}

fn service_json(s: &ServiceForm) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

pub async fn save_service(
    pool: &SqlitePool,
    admin: &StaffUser,
    form: ServiceForm,
    now: i64,
) -> AppResult<i64> {
    let mut form = form;
    for f in &mut form.fields {
        f.label = f.label.trim().to_owned();
        f.choices = f
            .choices
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
    }
    form.name = form.name.trim().to_owned();
    form.cover = form.cover.trim().to_owned();
    let mut errors = rules::service_errors(&form);
    let mut tx = write_tx(pool).await?;
    let category: Option<i64> =
        sqlx::query_scalar("select category_id from categories where category_id = ?")
            .bind(form.category_id)
            .fetch_optional(&mut *tx)
            .await?;
    if category.is_none() {
        errors.push(("category_id".into(), "Выберите категорию".into()));
    }
    if !legal_entity_exists(&mut tx, form.legal_entity_id).await? {
        errors.push(("legal_entity_id".into(), "Выберите исполнителя".into()));
    }
    if let Some(a) = form.default_assignee_id {
        let ok: Option<i64> =
            sqlx::query_scalar("select staff_id from staff where staff_id = ? and active = 1")
                .bind(a)
                .fetch_optional(&mut *tx)
                .await?;
        if ok.is_none() {
            errors.push((
                "default_assignee_id".into(),
                "Этот сотрудник не работает".into(),
            ));
        }
    }
    for id in &form.price_item_ids {
        let own: Option<i64> = sqlx::query_scalar(
            "select price_item_id from price_items where price_item_id = ? and legal_entity_id = ?",
        )
        .bind(id)
        .bind(form.legal_entity_id)
        .fetch_optional(&mut *tx)
        .await?;
        if own.is_none() {
            errors.push((
                "price_item_ids".into(),
                "Позиции цен — только из прайс-листа исполнителя".into(),
            ));
            break;
        }
    }
    fields(errors)?;
    let take = rules::parse_hours(&form.sla_take_hours).map_err(|m| field("sla_take_hours", m))?;
    let done = rules::parse_hours(&form.sla_done_hours).map_err(|m| field("sla_done_hours", m))?;
    let form_json = serde_json::to_string(&form.fields).map_err(AppError::internal)?;
    let (id, before) = match form.service_id {
        Some(id) => {
            let before = service_form(&mut tx, id).await?;
            sqlx::query(
                "update services set category_id = ?, legal_entity_id = ?, name = ?, short_description = ?, description = ?, \
                 cover = ?, default_assignee_id = ?, sla_take_hours = ?, sla_done_hours = ?, prepaid = ?, preorder_chat = ?, \
                 refunds_allowed = ?, require_attachment = ?, published = ?, form_fields = ? where service_id = ?",
            )
            .bind(form.category_id)
            .bind(form.legal_entity_id)
            .bind(&form.name)
            .bind(form.short_description.trim())
            .bind(form.description.trim())
            .bind(&form.cover)
            .bind(form.default_assignee_id)
            .bind(take)
            .bind(done)
            .bind(form.prepaid)
            .bind(form.preorder_chat)
            .bind(form.refunds_allowed)
            .bind(form.require_attachment)
            .bind(form.published)
            .bind(&form_json)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            (id, Some(before))
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "insert into services (category_id, legal_entity_id, name, short_description, description, cover, \
                 default_assignee_id, sla_take_hours, sla_done_hours, prepaid, preorder_chat, refunds_allowed, \
                 require_attachment, published, form_fields) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 returning service_id",
            )
            .bind(form.category_id)
            .bind(form.legal_entity_id)
            .bind(&form.name)
            .bind(form.short_description.trim())
            .bind(form.description.trim())
            .bind(&form.cover)
            .bind(form.default_assignee_id)
            .bind(take)
            .bind(done)
            .bind(form.prepaid)
            .bind(form.preorder_chat)
            .bind(form.refunds_allowed)
            .bind(form.require_attachment)
            .bind(form.published)
            .bind(&form_json)
            .fetch_one(&mut *tx)
            .await?;
            (id, None)
        }
    };
    sqlx::query("delete from service_prices where service_id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for item in &form.price_item_ids {
        sqlx::query("insert into service_prices (service_id, price_item_id) values (?, ?) on conflict do nothing")
            .bind(id)
            .bind(item)
            .execute(&mut *tx)
            .await?;
    }
    let saved = service_form(&mut tx, id).await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "service",
            entity_id: Some(id),
            action: if before.is_some() { "update" } else { "create" },
            summary: format!("Услуга «{}»", saved.name),
            before: before.as_ref().map(service_json),
            after: Some(service_json(&saved)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Stores an uploaded cover image and sets it on the service.
pub async fn set_cover(
    pool: &SqlitePool,
    admin: &StaffUser,
    service_id: i64,
    photo: &crate::server::storage::Photo,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let before: Option<(String, String)> =
        sqlx::query_as("select name, cover from services where service_id = ?")
            .bind(service_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (name, old) = before.ok_or(AppError::NotFound)?;
    let cover_id = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query(
        "insert into covers (cover_id, file_name, content_type, stored_name, size_bytes, created_by, created_at) \
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&cover_id)
    .bind(&photo.file_name)
    .bind(photo.content_type)
    .bind(&photo.saved.stored_name)
    .bind(photo.saved.size as i64)
    .bind(admin.staff_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let url = format!("/covers/{cover_id}");
    sqlx::query("update services set cover = ? where service_id = ?")
        .bind(&url)
        .bind(service_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "service",
            entity_id: Some(service_id),
            action: "update",
            summary: format!("Услуга «{name}»: обложка"),
            before: Some(json!({ "Обложка": old })),
            after: Some(json!({ "Обложка": url })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- residents and premises

pub const RESIDENTS_PAGE: i64 = 50;

pub async fn residents(pool: &SqlitePool, q: &str, after: Option<i64>) -> AppResult<ResidentsPage> {
    let q = q.trim();
    // SQLite's LIKE ignores case only for Latin letters: the words are tried as typed,
    // in lower case and capitalised («садовая», «Садовая»).
    let lower = q.to_lowercase();
    let capital: String = lower
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            if i == 0 {
                c.to_uppercase().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    let like = |s: &str| format!("%{}%", s.replace(['%', '_'], ""));
    let digits: String = q.chars().filter(|c| c.is_ascii_digit()).collect();
    let phone_like = format!("%{digits}%");
    let rows: Vec<(i64, String, String, Option<String>, bool)> = sqlx::query_as(
        "select r.resident_id, r.phone, r.full_name, r.email, r.blocked from residents r \
         where r.resident_id > ?1 and (?2 = '' \
           or r.full_name like ?3 or r.full_name like ?4 or r.full_name like ?5 \
           or (?6 <> '%%' and r.phone like ?6) \
           or exists (select 1 from resident_premises rp join premises p on p.premises_id = rp.premises_id \
                      where rp.resident_id = r.resident_id and (p.address like ?3 or p.address like ?4 or p.address like ?5))) \
         order by r.resident_id limit ?7",
    )
    .bind(after.unwrap_or(0))
    .bind(q)
    .bind(like(q))
    .bind(like(&lower))
    .bind(like(&capital))
    .bind(&phone_like)
    .bind(RESIDENTS_PAGE)
    .fetch_all(pool)
    .await?;
    // The page's premises in one query.
    let mut linked: Vec<(i64, i64, String)> = Vec::new();
    if !rows.is_empty() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "select rp.resident_id, p.premises_id, p.address from resident_premises rp \
             join premises p on p.premises_id = rp.premises_id where rp.resident_id in (",
        );
        let mut ids = qb.separated(", ");
        for r in &rows {
            ids.push_bind(r.0);
        }
        qb.push(") order by p.address");
        linked = qb.build_query_as().fetch_all(pool).await?;
    }
    let out: Vec<AdminResident> = rows
        .into_iter()
        .map(|(id, phone, name, email, blocked)| AdminResident {
            resident_id: id,
            phone,
            full_name: name,
            email: email.unwrap_or_default(),
            blocked,
            premises: linked
                .iter()
                .filter(|l| l.0 == id)
                .map(|l| (l.1, l.2.clone()))
                .collect(),
        })
        .collect();
    let next_after = (out.len() as i64 == RESIDENTS_PAGE)
        .then(|| out.last().map(|r| r.resident_id))
        .flatten();
    Ok(ResidentsPage {
        residents: out,
        next_after,
    })
}

fn resident_json(phone: &str, name: &str, email: &str, blocked: bool) -> Value {
    json!({ "Телефон": phone, "ФИО": name, "E-mail": email, "Заблокирован": blocked })
}

async fn reindex_resident_orders(conn: &mut SqliteConnection, resident_id: i64) -> AppResult<()> {
    let orders: Vec<i64> =
        sqlx::query_scalar("select order_id from orders where resident_id = ? and is_draft = 0")
            .bind(resident_id)
            .fetch_all(&mut *conn)
            .await?;
    for order_id in orders {
        crate::orders::repo::index_order(conn, order_id).await?;
    }
    Ok(())
}

pub async fn save_resident(
    pool: &SqlitePool,
    admin: &StaffUser,
    resident_id: Option<i64>,
    phone: &str,
    full_name: &str,
    email: &str,
    now: i64,
) -> AppResult<i64> {
    let mut errors = Vec::new();
    let phone = Phone::parse(phone)
        .map_err(|m| errors.push(("phone".to_owned(), m)))
        .ok();
    rules::person_name_errors(&mut errors, full_name);
    let email = match email.trim() {
        "" => None,
        e => Email::parse(e)
            .map_err(|m| errors.push(("email".to_owned(), m)))
            .ok(),
    };
    fields(errors)?;
    let phone = phone.ok_or(AppError::Internal)?;
    let name = full_name.trim();
    let email = email.map(|e| e.as_str().to_owned());
    let mut tx = write_tx(pool).await?;
    let taken: Option<i64> = sqlx::query_scalar(
        "select resident_id from residents where phone = ? and resident_id <> ?",
    )
    .bind(phone.as_str())
    .bind(resident_id.unwrap_or(0))
    .fetch_optional(&mut *tx)
    .await?;
    if taken.is_some() {
        return Err(field("phone", "Житель с таким телефоном уже есть"));
    }
    let after = resident_json(phone.as_str(), name, email.as_deref().unwrap_or(""), false);
    let id = match resident_id {
        Some(id) => {
            let b: Option<(String, String, Option<String>, bool)> = sqlx::query_as(
                "select phone, full_name, email, blocked from residents where resident_id = ?",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let b = b.ok_or(AppError::NotFound)?;
            sqlx::query(
                "update residents set phone = ?, full_name = ?, email = ? where resident_id = ?",
            )
            .bind(phone.as_str())
            .bind(name)
            .bind(&email)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if b.1 != name {
                reindex_resident_orders(&mut tx, id).await?;
            }
            audit(
                &mut tx,
                admin,
                Change {
                    entity: "resident",
                    entity_id: Some(id),
                    action: "update",
                    summary: format!("Житель {name}"),
                    before: Some(resident_json(&b.0, &b.1, b.2.as_deref().unwrap_or(""), b.3)),
                    after: Some(resident_json(
                        phone.as_str(),
                        name,
                        email.as_deref().unwrap_or(""),
                        b.3,
                    )),
                },
                now,
            )
            .await?;
            id
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "insert into residents (phone, full_name, email, created_at) values (?, ?, ?, ?) returning resident_id",
            )
            .bind(phone.as_str())
            .bind(name)
            .bind(&email)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            audit(
                &mut tx,
                admin,
                Change {
                    entity: "resident",
                    entity_id: Some(id),
                    action: "create",
                    summary: format!("Житель {name}"),
                    before: None,
                    after: Some(after),
                },
                now,
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

/// Blocks a resident (sign-in refused, sessions ended) or unblocks.
pub async fn set_blocked(
    pool: &SqlitePool,
    admin: &StaffUser,
    resident_id: i64,
    blocked: bool,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let b: Option<(String, String, Option<String>, bool)> = sqlx::query_as(
        "select phone, full_name, email, blocked from residents where resident_id = ?",
    )
    .bind(resident_id)
    .fetch_optional(&mut *tx)
    .await?;
    let b = b.ok_or(AppError::NotFound)?;
    if b.3 == blocked {
        return Ok(());
    }
    sqlx::query("update residents set blocked = ? where resident_id = ?")
        .bind(blocked)
        .bind(resident_id)
        .execute(&mut *tx)
        .await?;
    if blocked {
        sqlx::query("delete from sessions where resident_id = ?")
            .bind(resident_id)
            .execute(&mut *tx)
            .await?;
    }
    let email = b.2.clone().unwrap_or_default();
    audit(
        &mut tx,
        admin,
        Change {
            entity: "resident",
            entity_id: Some(resident_id),
            action: if blocked { "block" } else { "unblock" },
            summary: format!("Житель {}", b.1),
            before: Some(resident_json(&b.0, &b.1, &email, b.3)),
            after: Some(resident_json(&b.0, &b.1, &email, blocked)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The premises at an address (made when new). Returns (id, created).
async fn premises_at(conn: &mut SqliteConnection, address: &str) -> AppResult<(i64, bool)> {
    let found: Option<i64> = sqlx::query_scalar(
        "select premises_id from premises where address = ? order by premises_id limit 1",
    )
    .bind(address)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = found {
        return Ok((id, false));
    }
    let id: i64 =
        sqlx::query_scalar("insert into premises (address) values (?) returning premises_id")
            .bind(address)
            .fetch_one(conn)
            .await?;
    Ok((id, true))
}

/// Links a resident to an address: returns whether the link is new.
async fn link(conn: &mut SqliteConnection, resident_id: i64, premises_id: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "insert into resident_premises (resident_id, premises_id) values (?, ?) on conflict do nothing",
    )
    .bind(resident_id)
    .bind(premises_id)
    .execute(&mut *conn)
    .await?;
    // The first premises become the chosen one.
    sqlx::query(
        "update residents set current_premises_id = ? where resident_id = ? and current_premises_id is null",
    )
    .bind(premises_id)
    .bind(resident_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn add_premises(
    pool: &SqlitePool,
    admin: &StaffUser,
    resident_id: i64,
    address: &str,
    now: i64,
) -> AppResult<()> {
    let address = address.trim();
    if address.is_empty() {
        return Err(field("address", "Введите адрес помещения"));
    }
    if address.chars().count() > 300 {
        return Err(field("address", "Не длиннее 300 символов"));
    }
    let mut tx = write_tx(pool).await?;
    let name: String = sqlx::query_scalar("select full_name from residents where resident_id = ?")
        .bind(resident_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let (premises_id, _) = premises_at(&mut tx, address).await?;
    if !link(&mut tx, resident_id, premises_id).await? {
        return Err(field("address", "Это помещение уже есть у жителя"));
    }
    audit(
        &mut tx,
        admin,
        Change {
            entity: "premises",
            entity_id: Some(premises_id),
            action: "create",
            summary: format!("Житель {name}: помещение"),
            before: None,
            after: Some(json!({ "Адрес": address })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn remove_premises(
    pool: &SqlitePool,
    admin: &StaffUser,
    resident_id: i64,
    premises_id: i64,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let row: Option<(String, String)> = sqlx::query_as(
        "select r.full_name, p.address from resident_premises rp join residents r on r.resident_id = rp.resident_id \
         join premises p on p.premises_id = rp.premises_id where rp.resident_id = ? and rp.premises_id = ?",
    )
    .bind(resident_id)
    .bind(premises_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (name, address) = row.ok_or(AppError::NotFound)?;
    sqlx::query("delete from resident_premises where resident_id = ? and premises_id = ?")
        .bind(resident_id)
        .bind(premises_id)
        .execute(&mut *tx)
        .await?;
    // Orders keep their premises; the chosen premises move to another one, if any.
    sqlx::query(
        "update residents set current_premises_id = \
         (select min(premises_id) from resident_premises where resident_id = ?1) \
         where resident_id = ?1 and current_premises_id = ?2",
    )
    .bind(resident_id)
    .bind(premises_id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "premises",
            entity_id: Some(premises_id),
            action: "delete",
            summary: format!("Житель {name}: помещение"),
            before: Some(json!({ "Адрес": address })),
            after: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Imports residents and premises (Телефон, ФИО, E-mail, Адрес after a header row): a new
/// phone makes a resident, a known one keeps its person (the name and e-mail are
/// updated), each address is found or made and linked.
pub async fn import_residents(
    pool: &SqlitePool,
    admin: &StaffUser,
    rows: Vec<Vec<String>>,
    now: i64,
) -> AppResult<String> {
    let mut report = ImportReport {
        kind: "residents".into(),
        ..Default::default()
    };
    let mut tx = write_tx(pool).await?;
    for (i, cells) in rows.iter().enumerate().skip(1) {
        let n = i + 1;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let row = match rules::resident_row(cells) {
            Ok(r) => r,
            Err(why) => {
                report.rejected.push((n, why));
                continue;
            }
        };
        let existing: Option<(i64, String, Option<String>)> =
            sqlx::query_as("select resident_id, full_name, email from residents where phone = ?")
                .bind(&row.phone)
                .fetch_optional(&mut *tx)
                .await?;
        let resident_id = match existing {
            Some((id, name, email)) => {
                let email = row.email.clone().or(email);
                if name != row.full_name {
                    sqlx::query(
                        "update residents set full_name = ?, email = ? where resident_id = ?",
                    )
                    .bind(&row.full_name)
                    .bind(&email)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    reindex_resident_orders(&mut tx, id).await?;
                    report.updated += 1;
                } else {
                    sqlx::query("update residents set email = ? where resident_id = ?")
                        .bind(&email)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    report.unchanged += 1;
                }
                id
            }
            None => {
                report.created += 1;
                sqlx::query_scalar(
                    "insert into residents (phone, full_name, email, created_at) values (?, ?, ?, ?) returning resident_id",
                )
                .bind(&row.phone)
                .bind(&row.full_name)
                .bind(&row.email)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let (premises_id, made) = premises_at(&mut tx, &row.address).await?;
        report.premises_created += u64::from(made);
        report.links_added += u64::from(link(&mut tx, resident_id, premises_id).await?);
    }
    audit(
        &mut tx,
        admin,
        Change {
            entity: "resident",
            entity_id: None,
            action: "import",
            summary: "Жители и помещения: импорт".into(),
            before: None,
            after: Some(json!({
                "Новых жителей": report.created, "Обновлено": report.updated,
                "Новых помещений": report.premises_created, "Привязок": report.links_added,
                "Отклонено строк": report.rejected.len(),
            })),
        },
        now,
    )
    .await?;
    let id = save_report(&mut tx, admin, &report, now).await?;
    tx.commit().await?;
    Ok(id)
}

// ---------------------------------------------------------------- audit

pub const AUDIT_PAGE: i64 = 100;

pub async fn audit_log(
    pool: &SqlitePool,
    entity: Option<&str>,
    before: Option<i64>,
) -> AppResult<Vec<AuditRow>> {
    type Row = (
        i64,
        i64,
        String,
        String,
        Option<i64>,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select a.audit_id, a.at, s.full_name, a.entity, a.entity_id, a.action, a.summary, a.before_json, a.after_json \
         from admin_audit a join staff s on s.staff_id = a.staff_id \
         where a.audit_id < ?1 and (?2 is null or a.entity = ?2) order by a.audit_id desc limit ?3",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(entity)
    .bind(AUDIT_PAGE)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRow {
            audit_id: r.0,
            at: r.1,
            staff_name: r.2,
            entity: r.3,
            entity_id: r.4,
            action: r.5,
            summary: r.6,
            changes: super::api::diff(r.7.as_deref(), r.8.as_deref()),
        })
        .collect())
}
