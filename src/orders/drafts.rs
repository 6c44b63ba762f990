//! Orders that staff create for a resident: kept as drafts, then submitted; a submitted
//! draft is an ordinary order in «Ожидание» with the service's default assignee.

use crate::catalog::form::{FormField, RawValues};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    crate::auth::permissions::Action, crate::auth::session::require_staff,
    crate::server::state::app_state, crate::time::now,
};

/// A resident to create an order for, with their premises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentChoice {
    pub resident_id: i64,
    pub full_name: String,
    pub phone: String,
    pub premises: Vec<(i64, String)>,
}

/// A service and its order form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceForm {
    pub service_id: i64,
    pub name: String,
    pub fields: Vec<FormField>,
}

/// A draft as the form shows it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftView {
    pub order_id: i64,
    pub resident: ResidentChoice,
    pub premises_id: i64,
    pub service_id: i64,
    pub values: RawValues,
}

/// A line of «Черновики».
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftRow {
    pub order_id: i64,
    pub client_name: String,
    pub service_name: String,
    pub updated_at: i64,
}

/// Residents whose phone or name matches (at most 20); a role with «Назначенные мне» only
/// finds a resident by their full phone number alone.
#[server(prefix = "/api", endpoint = "find_residents")]
pub async fn find_residents(query: String) -> Result<Vec<ResidentChoice>, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    ssr::find_residents(&app_state()?.pool, &staff, &query).await
}

/// The published services this employee may order, with their forms.
#[server(prefix = "/api", endpoint = "service_forms")]
pub async fn service_forms() -> Result<Vec<ServiceForm>, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    ssr::service_forms(&app_state()?.pool, &staff).await
}

/// Saves the form as a draft, or (`submit`) checks it fully and creates the order.
/// Returns the order's number.
#[server(prefix = "/api", endpoint = "save_staff_order", input = Json)]
pub async fn save_staff_order(
    draft_id: Option<i64>,
    resident_id: i64,
    premises_id: i64,
    service_id: i64,
    values: RawValues,
    submit: bool,
) -> Result<i64, AppError> {
    use crate::auth::rate_limit::{self, STAFF_ORDERS};
    let staff = require_staff(Action::EditOrders)?;
    let state = app_state()?;
    let input = ssr::DraftInput {
        draft_id,
        resident_id,
        premises_id,
        service_id,
        values,
    };
    let save = ssr::save(
        &state.pool,
        &staff,
        input,
        submit,
        state.config.utc_offset_minutes,
        now(),
    );
    rate_limit::limited(&state.pool, STAFF_ORDERS, &rate_limit::staff(&staff), save).await
}

#[server(prefix = "/api", endpoint = "load_draft")]
pub async fn load_draft(order_id: i64) -> Result<DraftView, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    ssr::load(&app_state()?.pool, &staff, order_id).await
}

/// Drafts this employee may continue: their own, or every draft for a role with «Все».
#[server(prefix = "/api", endpoint = "list_drafts")]
pub async fn list_drafts() -> Result<Vec<DraftRow>, AppError> {
    let staff = require_staff(Action::EditOrders)?;
    ssr::list(&app_state()?.pool, &staff).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::*;
    use crate::auth::model::StaffUser;
    use crate::catalog::form::{check_form, values_of, Answer, Strictness};
    use crate::error::AppResult;
    use crate::orders::{repo, service};
    use crate::server::db::write_tx;
    use sqlx::SqlitePool;

    pub struct DraftInput {
        pub draft_id: Option<i64>,
        pub resident_id: i64,
        pub premises_id: i64,
        pub service_id: i64,
        pub values: RawValues,
    }

    async fn premises_of(pool: &SqlitePool, resident_id: i64) -> AppResult<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "select p.premises_id, p.address from resident_premises rp join premises p using (premises_id) \
             where rp.resident_id = ? order by p.address",
        )
        .bind(resident_id)
        .fetch_all(pool)
        .await?)
    }

    pub async fn find_residents(
        pool: &SqlitePool,
        staff: &StaffUser,
        query: &str,
    ) -> AppResult<Vec<ResidentChoice>> {
        let query = query.trim();
        if let Some(e) = staff.permissions.resident_search().query_error(query) {
            return Err(AppError::validation(e));
        }
        // A phone is matched only when typed in full: digits never list other people's numbers.
        let rows: Vec<(i64, String, String)> = if let Ok(phone) =
            crate::auth::model::Phone::parse(query)
        {
            sqlx::query_as(
                "select resident_id, full_name, phone from residents where phone = ? and blocked = 0",
            )
            .bind(phone.as_str().to_owned())
            .fetch_all(pool)
            .await?
        } else {
            // Names are matched case-insensitively and with «ё» as «е» in Rust: SQLite folds ASCII only.
            let needle = crate::search::normalize(query);
            let all: Vec<(i64, String, String)> =
                sqlx::query_as("select resident_id, full_name, phone from residents where blocked = 0 order by full_name limit 5000")
                    .fetch_all(pool)
                    .await?;
            all.into_iter()
                .filter(|r| crate::search::normalize(&r.1).contains(&needle))
                .take(20)
                .collect()
        };
        let mut out = Vec::with_capacity(rows.len());
        for (resident_id, full_name, phone) in rows {
            out.push(ResidentChoice {
                resident_id,
                full_name,
                phone: crate::orders::rules::mask_phone(&phone),
                premises: premises_of(pool, resident_id).await?,
            });
        }
        Ok(out)
    }

    pub async fn service_forms(
        pool: &SqlitePool,
        staff: &StaffUser,
    ) -> AppResult<Vec<ServiceForm>> {
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "select service_id, name, form_fields, legal_entity_id from services where published = 1 order by name",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                staff
                    .permissions
                    .can_order_service(staff.legal_entity_id, r.3)
            })
            .map(|(service_id, name, form, _)| ServiceForm {
                service_id,
                name,
                fields: serde_json::from_str(&form).unwrap_or_default(),
            })
            .collect())
    }

    async fn fields_of(
        pool: &SqlitePool,
        service_id: i64,
    ) -> AppResult<(Vec<FormField>, i64, Option<i64>)> {
        let mut conn = pool.acquire().await?;
        let service = crate::catalog::repo::orderable(&mut conn, service_id).await?;
        Ok((
            service.fields,
            service.legal_entity_id,
            service.default_assignee_id,
        ))
    }

    /// Who may continue a draft: its author, or a role that sees all orders.
    fn may_touch(staff: &StaffUser, author: Option<i64>) -> bool {
        staff.permissions.allows(Action::ViewAllOrders) || author == Some(staff.staff_id)
    }

    pub async fn save(
        pool: &SqlitePool,
        staff: &StaffUser,
        input: DraftInput,
        submit: bool,
        offset: i32,
        now: i64,
    ) -> AppResult<i64> {
        let (fields, entity, default_assignee) = fields_of(pool, input.service_id).await?;
        if !staff
            .permissions
            .can_order_service(staff.legal_entity_id, entity)
        {
            return Err(AppError::Forbidden);
        }
        let strictness = if submit {
            Strictness::Submit
        } else {
            Strictness::Draft
        };
        let checked = check_form(&fields, &input.values, strictness, offset, now)
            .map_err(AppError::Fields)?;
        let answers = serde_json::to_string(&checked.answers).map_err(AppError::internal)?;
        let mut tx = write_tx(pool).await?;
        let owns: Option<(i64,)> = sqlx::query_as(
            "select rp.premises_id from resident_premises rp join residents r using (resident_id) \
             where rp.resident_id = ? and rp.premises_id = ? and r.blocked = 0",
        )
        .bind(input.resident_id)
        .bind(input.premises_id)
        .fetch_optional(&mut *tx)
        .await?;
        if owns.is_none() {
            return Err(AppError::validation("Выберите клиента и его помещение"));
        }
        let order_id = match input.draft_id {
            Some(id) => {
                let row: Option<(bool, Option<i64>)> =
                    sqlx::query_as("select is_draft, created_by_staff_id from orders where order_id = ?")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match row {
                    Some((true, author)) if may_touch(staff, author) => {}
                    Some((false, author)) if may_touch(staff, author) => {
                        return Err(AppError::rule("Этот заказ уже оформлен"))
                    }
                    _ => return Err(AppError::NotFound),
                }
                sqlx::query(
                    "update orders set service_id = ?, legal_entity_id = ?, resident_id = ?, premises_id = ?, answers = ?, \
                     visit_at = ?, updated_at = ?, version = version + 1 where order_id = ? and is_draft = 1",
                )
                .bind(input.service_id)
                .bind(entity)
                .bind(input.resident_id)
                .bind(input.premises_id)
                .bind(&answers)
                .bind(checked.visit_at)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "insert into orders (status, is_draft, service_id, legal_entity_id, resident_id, premises_id, answers, \
                     visit_at, created_at, updated_at, created_by_staff_id) values ('waiting', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     returning order_id",
                )
                .bind(input.service_id)
                .bind(entity)
                .bind(input.resident_id)
                .bind(input.premises_id)
                .bind(&answers)
                .bind(checked.visit_at)
                .bind(now)
                .bind(now)
                .bind(staff.staff_id)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        if submit {
            sqlx::query(
                "update orders set is_draft = 0, status = 'waiting', assignee_id = ?, created_at = ?, updated_at = ?, \
                 resident_changed_at = ? where order_id = ?",
            )
            .bind(default_assignee)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "insert into order_history (order_id, at, staff_id, kind, to_status, to_assignee_id, visible_to_resident) \
                 values (?, ?, ?, 'created', 'waiting', ?, 1)",
            )
            .bind(order_id)
            .bind(now)
            .bind(staff.staff_id)
            .bind(default_assignee)
            .execute(&mut *tx)
            .await?;
            if let Some(a) = default_assignee {
                service::enqueue(&mut tx, "new_order", order_id, Some(a), None, now).await?;
            }
            repo::index_order(&mut tx, order_id).await?;
        }
        tx.commit().await?;
        Ok(order_id)
    }

    pub async fn load(pool: &SqlitePool, staff: &StaffUser, order_id: i64) -> AppResult<DraftView> {
        let row: Option<(i64, i64, i64, String, Option<i64>)> = sqlx::query_as(
            "select resident_id, premises_id, service_id, answers, created_by_staff_id from orders where order_id = ? and is_draft = 1",
        )
        .bind(order_id)
        .fetch_optional(pool)
        .await?;
        let (resident_id, premises_id, service_id, answers, author) =
            row.ok_or(AppError::NotFound)?;
        if !may_touch(staff, author) {
            return Err(AppError::NotFound);
        }
        let (full_name, phone): (String, String) =
            sqlx::query_as("select full_name, phone from residents where resident_id = ?")
                .bind(resident_id)
                .fetch_one(pool)
                .await?;
        let (fields, _, _) = fields_of(pool, service_id).await?;
        let answers: Vec<Answer> = serde_json::from_str(&answers).unwrap_or_default();
        Ok(DraftView {
            order_id,
            resident: ResidentChoice {
                resident_id,
                full_name,
                phone: crate::orders::rules::mask_phone(&phone),
                premises: premises_of(pool, resident_id).await?,
            },
            premises_id,
            service_id,
            values: values_of(&answers, &fields),
        })
    }

    pub async fn list(pool: &SqlitePool, staff: &StaffUser) -> AppResult<Vec<DraftRow>> {
        let all = staff.permissions.allows(Action::ViewAllOrders);
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "select o.order_id, r.full_name, s.name, o.updated_at from orders o join residents r using (resident_id) \
             join services s on s.service_id = o.service_id \
             where o.is_draft = 1 and (? or o.created_by_staff_id = ?) order by o.order_id desc limit 200",
        )
        .bind(all)
        .bind(staff.staff_id)
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(order_id, client_name, service_name, updated_at)| DraftRow {
                    order_id,
                    client_name,
                    service_name,
                    updated_at,
                },
            )
            .collect())
    }
}
