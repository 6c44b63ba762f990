//! Live money in the administration: a legal entity's shop / terminal at a provider
//! («Приём платежей»), its taxation system and who issues its receipts, and the VAT rates.
//! Secrets are sealed with `SUZ_SECRETS_KEY` (or named as an environment variable) and
//! never leave the server: not in an answer, not in the audit.

use super::api::{PaymentAccountView, PaymentSettings, VatRates};
use super::rules::{self, AccountInput, VatRate};
use super::service::{audit, fields, legal_entity_exists, Change};
use crate::auth::model::StaffUser;
use crate::error::{AppError, AppResult};
use crate::payments::accounts::Gateways;
use crate::server::db::write_tx;
use serde_json::{json, Value};
use sqlx::{SqliteConnection, SqlitePool};

/// The local date (`YYYY-MM-DD`) of a moment: what «in force today» is measured by.
pub fn day_of(now: i64) -> String {
    crate::finance::service::day_of(now)
}

/// Every VAT rate, by code and start.
pub async fn all_vat_rates(conn: &mut SqliteConnection) -> AppResult<Vec<VatRate>> {
    let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "select code, name, percent, effective_from, effective_to from vat_rates \
         order by cast(percent as real), code, effective_from",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| VatRate {
            code: r.0,
            name: r.1,
            percent: r.2,
            effective_from: r.3,
            effective_to: r.4,
        })
        .collect())
}

pub async fn vat_rates(pool: &SqlitePool, now: i64) -> AppResult<VatRates> {
    let mut conn = pool.acquire().await?;
    Ok(VatRates {
        today: day_of(now),
        rates: all_vat_rates(&mut conn).await?,
    })
}

/// Refuses a VAT code that is not in force today (field `vat_code`).
pub async fn check_vat(conn: &mut SqliteConnection, code: &str, now: i64) -> AppResult<()> {
    let rates = all_vat_rates(conn).await?;
    match rules::vat_error(&rates, code, &day_of(now)) {
        None => Ok(()),
        Some(m) => Err(AppError::Fields(vec![("vat_code".into(), m)])),
    }
}

// ---------------------------------------------------------------- taxation and receipts

fn fiscal_json(taxation: &str, receipts_via: &str) -> Value {
    json!({
        "Система налогообложения": rules::label_of(&rules::TAXATIONS, taxation),
        "Чеки выдаёт": rules::label_of(&rules::RECEIPTS_VIA, receipts_via),
    })
}

pub async fn save_fiscal(
    pool: &SqlitePool,
    admin: &StaffUser,
    entity: i64,
    taxation: &str,
    receipts_via: &str,
    now: i64,
) -> AppResult<()> {
    fields(rules::fiscal_errors(taxation, receipts_via))?;
    let mut tx = write_tx(pool).await?;
    let before: (String, String, String) = sqlx::query_as(
        "select name, taxation, receipts_via from legal_entities where legal_entity_id = ?",
    )
    .bind(entity)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if (before.1.as_str(), before.2.as_str()) == (taxation, receipts_via) {
        return Ok(());
    }
    sqlx::query(
        "update legal_entities set taxation = ?, receipts_via = ? where legal_entity_id = ?",
    )
    .bind(taxation)
    .bind(receipts_via)
    .bind(entity)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "legal_entity",
            entity_id: Some(entity),
            action: "update",
            summary: format!("Юрлицо «{}»: налоги и чеки", before.0),
            before: Some(fiscal_json(&before.1, &before.2)),
            after: Some(fiscal_json(taxation, receipts_via)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- payment accounts

#[derive(sqlx::FromRow, Clone)]
struct AccountRow {
    account_id: i64,
    provider: String,
    shop_id: String,
    secret_sealed: Option<String>,
    secret_env: Option<String>,
    api_url: String,
    notify_networks: String,
    active: bool,
    created_at: i64,
    created_by: Option<String>,
}

const ACCOUNT_SELECT: &str =
    "select a.account_id, a.provider, a.shop_id, a.secret_sealed, a.secret_env, a.api_url, \
     a.notify_networks, a.active, a.created_at, s.full_name as created_by \
     from payment_accounts a left join staff s on s.staff_id = a.created_by";

impl AccountRow {
    /// What the browser may see: whether a secret is set, never the secret.
    fn view(self, gateways: &Gateways) -> PaymentAccountView {
        let secret_env_set = self
            .secret_env
            .as_deref()
            .is_some_and(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        PaymentAccountView {
            account_id: self.account_id,
            webhook_url: gateways.webhook_url(self.account_id),
            provider: self.provider,
            shop_id: self.shop_id,
            secret_sealed: self.secret_sealed.is_some(),
            secret_env: self.secret_env,
            secret_env_set,
            api_url: self.api_url,
            notify_networks: self.notify_networks,
            active: self.active,
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }

    /// The audit's picture of an account: the secret only as «задан».
    fn json(&self) -> Value {
        json!({
            "Провайдер": rules::label_of(&rules::PROVIDERS, &self.provider),
            rules::shop_id_label(&self.provider): self.shop_id,
            rules::secret_label(&self.provider): match &self.secret_env {
                Some(var) => format!("из переменной окружения {var}"),
                None => "задан (хранится зашифрованным)".to_owned(),
            },
            "Адрес API": if self.api_url.is_empty() { "рабочий адрес провайдера" } else { &self.api_url },
            "Сети уведомлений": if self.notify_networks.is_empty() { "—" } else { &self.notify_networks },
        })
    }
}

async fn accounts_of(conn: &mut SqliteConnection, entity: i64) -> AppResult<Vec<AccountRow>> {
    Ok(sqlx::query_as(&format!(
        "{ACCOUNT_SELECT} where a.legal_entity_id = ? order by a.active desc, a.account_id desc limit 20"
    ))
    .bind(entity)
    .fetch_all(conn)
    .await?)
}

async fn active_of(conn: &mut SqliteConnection, entity: i64) -> AppResult<Option<AccountRow>> {
    Ok(sqlx::query_as(&format!(
        "{ACCOUNT_SELECT} where a.legal_entity_id = ? and a.active = 1"
    ))
    .bind(entity)
    .fetch_optional(conn)
    .await?)
}

pub async fn settings(
    pool: &SqlitePool,
    gateways: &Gateways,
    entity: i64,
) -> AppResult<PaymentSettings> {
    let mut conn = pool.acquire().await?;
    let (name, taxation, receipts_via): (String, String, String) = sqlx::query_as(
        "select name, taxation, receipts_via from legal_entities where legal_entity_id = ?",
    )
    .bind(entity)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let mut account = None;
    let mut previous = Vec::new();
    for row in accounts_of(&mut conn, entity).await? {
        if row.active {
            account = Some(row.view(gateways));
        } else {
            previous.push(row.view(gateways));
        }
    }
    Ok(PaymentSettings {
        legal_entity_id: entity,
        name,
        taxation,
        receipts_via,
        can_seal: gateways.secrets().can_seal(),
        account,
        previous,
    })
}

async fn entity_name(conn: &mut SqliteConnection, entity: i64) -> AppResult<String> {
    sqlx::query_scalar("select name from legal_entities where legal_entity_id = ?")
        .bind(entity)
        .fetch_optional(conn)
        .await?
        .ok_or(AppError::NotFound)
}

async fn deactivate(
    conn: &mut SqliteConnection,
    admin: &StaffUser,
    entity: i64,
    name: &str,
    old: &AccountRow,
    now: i64,
) -> AppResult<()> {
    sqlx::query("update payment_accounts set active = 0, updated_at = ? where account_id = ?")
        .bind(now)
        .bind(old.account_id)
        .execute(&mut *conn)
        .await?;
    audit(
        conn,
        admin,
        Change {
            entity: "payment_account",
            entity_id: Some(entity),
            action: "deactivate",
            summary: format!(
                "Приём платежей «{name}»: {} отключена, платежи идут через песочницу",
                rules::label_of(&rules::PROVIDERS, &old.provider)
            ),
            before: Some(old.json()),
            after: None,
        },
        now,
    )
    .await
}

/// Makes `input` the entity's account (the previous one stays, inactive: its payments are
/// still polled and refunded there). «Песочница» disables the entity's own account.
/// Returns the active account afterwards.
pub async fn save_account(
    pool: &SqlitePool,
    gateways: &Gateways,
    admin: &StaffUser,
    entity: i64,
    input: AccountInput,
    now: i64,
) -> AppResult<Option<i64>> {
    let mut tx = write_tx(pool).await?;
    if !legal_entity_exists(&mut tx, entity).await? {
        return Err(AppError::NotFound);
    }
    let active = active_of(&mut tx, entity).await?;
    let keeps_secret = active
        .as_ref()
        .is_some_and(|a| a.provider == input.provider);
    fields(rules::account_errors(
        &input,
        gateways.secrets().can_seal(),
        keeps_secret,
    ))?;
    let name = entity_name(&mut tx, entity).await?;
    if input.provider == "sandbox" {
        if let Some(old) = &active {
            deactivate(&mut tx, admin, entity, &name, old, now).await?;
            tx.commit().await?;
            gateways.forget(old.account_id);
        }
        return Ok(None);
    }
    let (secret, env) = (input.secret.trim(), input.secret_env.trim());
    let (secret_sealed, secret_env) = match (secret.is_empty(), env.is_empty(), &active) {
        (false, _, _) => (Some(gateways.secrets().seal(secret)?), None),
        (true, false, _) => (None, Some(env.to_owned())),
        (true, true, Some(old)) => (old.secret_sealed.clone(), old.secret_env.clone()),
        (true, true, None) => return Err(AppError::internal("account_errors let no secret by")),
    };
    let new = AccountRow {
        account_id: 0,
        provider: input.provider.clone(),
        shop_id: input.shop_id.trim().to_owned(),
        secret_sealed,
        secret_env,
        api_url: input.api_url.trim().trim_end_matches('/').to_owned(),
        notify_networks: rules::notify_networks(&input.notify_networks)
            .map_err(|m| AppError::Fields(vec![("notify_networks".into(), m)]))?,
        active: true,
        created_at: now,
        created_by: None,
    };
    if let Some(old) = &active {
        let same = old.provider == new.provider
            && old.shop_id == new.shop_id
            && old.api_url == new.api_url
            && old.notify_networks == new.notify_networks
            && secret.is_empty()
            && old.secret_env == new.secret_env;
        if same {
            return Ok(Some(old.account_id));
        }
        sqlx::query("update payment_accounts set active = 0, updated_at = ? where account_id = ?")
            .bind(now)
            .bind(old.account_id)
            .execute(&mut *tx)
            .await?;
    }
    let id: i64 = sqlx::query_scalar(
        "insert into payment_accounts (legal_entity_id, provider, shop_id, secret_sealed, secret_env, \
         api_url, notify_networks, active, created_by, created_at, updated_at) \
         values (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?) returning account_id",
    )
    .bind(entity)
    .bind(&new.provider)
    .bind(&new.shop_id)
    .bind(&new.secret_sealed)
    .bind(&new.secret_env)
    .bind(&new.api_url)
    .bind(&new.notify_networks)
    .bind(admin.staff_id)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        admin,
        Change {
            entity: "payment_account",
            entity_id: Some(entity),
            action: if active.is_some() { "update" } else { "create" },
            summary: format!(
                "Приём платежей «{name}»: {}",
                rules::label_of(&rules::PROVIDERS, &new.provider)
            ),
            before: active.as_ref().map(AccountRow::json),
            after: Some(new.json()),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some(old) = &active {
        gateways.forget(old.account_id);
    }
    gateways.forget(id);
    Ok(Some(id))
}

/// «Отключить»: the entity pays through the default provider (the sandbox) again.
pub async fn disable(
    pool: &SqlitePool,
    gateways: &Gateways,
    admin: &StaffUser,
    entity: i64,
    now: i64,
) -> AppResult<()> {
    let mut tx = write_tx(pool).await?;
    let name = entity_name(&mut tx, entity).await?;
    let Some(old) = active_of(&mut tx, entity).await? else {
        return Err(AppError::rule(
            "У юрлица нет своего счёта у провайдера: платежи уже идут через песочницу",
        ));
    };
    deactivate(&mut tx, admin, entity, &name, &old, now).await?;
    tx.commit().await?;
    gateways.forget(old.account_id);
    Ok(())
}
