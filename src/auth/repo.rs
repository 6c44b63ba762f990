//! SQL for staff, residents, sessions and one-time codes.

use super::model::{ResidentUser, StaffUser, Viewer};
use super::permissions::{OrdersScope, Permissions};
use crate::error::AppResult;
use sqlx::{FromRow, SqlitePool};

#[derive(FromRow)]
struct StaffRow {
    staff_id: i64,
    full_name: String,
    email: String,
    legal_entity_id: i64,
    role_name: String,
    orders_scope: String,
    orders_edit: bool,
    clients_chat: bool,
    finance: bool,
    admin: bool,
}

impl From<StaffRow> for StaffUser {
    fn from(r: StaffRow) -> Self {
        StaffUser {
            staff_id: r.staff_id,
            full_name: r.full_name,
            email: r.email,
            role_name: r.role_name,
            legal_entity_id: r.legal_entity_id,
            permissions: Permissions {
                orders: OrdersScope::from_db(&r.orders_scope),
                orders_edit: r.orders_edit,
                clients_chat: r.clients_chat,
                finance: r.finance,
                admin: r.admin,
            },
        }
    }
}

const STAFF_SELECT: &str = "select s.staff_id, s.full_name, s.email, s.legal_entity_id, \
     r.name as role_name, r.orders_scope, r.orders_edit, r.clients_chat, r.finance, r.admin \
     from staff s join roles r on r.role_id = s.role_id";

/// What sign-in needs to know about a staff account.
#[derive(FromRow)]
pub struct StaffCredentials {
    pub staff_id: i64,
    pub password_hash: String,
    pub active: bool,
}

pub async fn staff_credentials(
    pool: &SqlitePool,
    email: &str,
) -> AppResult<Option<StaffCredentials>> {
    Ok(
        sqlx::query_as("select staff_id, password_hash, active from staff where email = ?")
            .bind(email)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn staff_by_id(pool: &SqlitePool, staff_id: i64) -> AppResult<Option<StaffUser>> {
    let row: Option<StaffRow> = sqlx::query_as(&format!("{STAFF_SELECT} where s.staff_id = ?"))
        .bind(staff_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Into::into))
}

#[derive(FromRow)]
struct ResidentRow {
    resident_id: i64,
    full_name: String,
    phone: String,
    current_premises_id: Option<i64>,
}

impl From<ResidentRow> for ResidentUser {
    fn from(r: ResidentRow) -> Self {
        ResidentUser {
            resident_id: r.resident_id,
            full_name: r.full_name,
            phone: r.phone,
            current_premises_id: r.current_premises_id,
        }
    }
}

/// A resident who may sign in (not blocked), by phone.
pub async fn active_resident_by_phone(
    pool: &SqlitePool,
    phone: &str,
) -> AppResult<Option<(i64, bool)>> {
    Ok(
        sqlx::query_as("select resident_id, blocked from residents where phone = ?")
            .bind(phone)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn insert_session(
    pool: &SqlitePool,
    token_hash: &str,
    viewer: (Option<i64>, Option<i64>),
    now: i64,
    expires_at: i64,
) -> AppResult<()> {
    sqlx::query(
        "insert into sessions (token_hash, staff_id, resident_id, created_at, expires_at) \
         values (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(viewer.0)
    .bind(viewer.1)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn delete_session(pool: &SqlitePool, token_hash: &str) -> AppResult<()> {
    sqlx::query("delete from sessions where token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// The person behind a live session: an active staff member or a resident who is not blocked.
pub async fn session_viewer(
    pool: &SqlitePool,
    token_hash: &str,
    now: i64,
) -> AppResult<Option<Viewer>> {
    // A staff session in one statement (every staff page and call asks this first).
    let staff: Option<StaffRow> = sqlx::query_as(&format!(
        "{STAFF_SELECT} join sessions se on se.staff_id = s.staff_id \
         where se.token_hash = ? and se.expires_at > ? and s.active = 1"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = staff {
        return Ok(Some(Viewer::Staff(row.into())));
    }
    let resident: Option<ResidentRow> = sqlx::query_as(
        "select r.resident_id, r.full_name, r.phone, r.current_premises_id from sessions se \
         join residents r on r.resident_id = se.resident_id \
         where se.token_hash = ? and se.expires_at > ? and se.staff_id is null and r.blocked = 0",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(resident.map(|r| Viewer::Resident(r.into())))
}

pub async fn delete_expired_sessions(pool: &SqlitePool, now: i64) -> AppResult<u64> {
    Ok(sqlx::query("delete from sessions where expires_at <= ?")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected())
}

/// The newest unused code sent to a phone.
#[derive(FromRow)]
pub struct LoginCode {
    pub login_code_id: i64,
    pub code_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: i64,
}

pub async fn latest_code(pool: &SqlitePool, phone: &str) -> AppResult<Option<LoginCode>> {
    Ok(sqlx::query_as(
        "select login_code_id, code_hash, created_at, expires_at, attempts from login_codes \
         where phone = ? and used_at is null order by login_code_id desc limit 1",
    )
    .bind(phone)
    .fetch_optional(pool)
    .await?)
}

pub async fn insert_code(
    pool: &SqlitePool,
    phone: &str,
    code_hash: &str,
    now: i64,
    expires_at: i64,
) -> AppResult<()> {
    // A new code replaces any earlier one.
    sqlx::query("update login_codes set used_at = ? where phone = ? and used_at is null")
        .bind(now)
        .bind(phone)
        .execute(pool)
        .await?;
    sqlx::query(
        "insert into login_codes (phone, code_hash, created_at, expires_at) values (?, ?, ?, ?)",
    )
    .bind(phone)
    .bind(code_hash)
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes one attempt of a code; false when none are left.
pub async fn take_code_attempt(pool: &SqlitePool, login_code_id: i64, max: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "update login_codes set attempts = attempts + 1 where login_code_id = ? and attempts < ?",
    )
    .bind(login_code_id)
    .bind(max)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a code used; false when another request used it first.
pub async fn use_code(pool: &SqlitePool, login_code_id: i64, now: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "update login_codes set used_at = ? where login_code_id = ? and used_at is null",
    )
    .bind(now)
    .bind(login_code_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn resident_by_id(
    pool: &SqlitePool,
    resident_id: i64,
) -> AppResult<Option<ResidentUser>> {
    let row: Option<ResidentRow> = sqlx::query_as(
        "select resident_id, full_name, phone, current_premises_id from residents where resident_id = ?",
    )
    .bind(resident_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}
