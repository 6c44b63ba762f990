//! SQL for the catalog.

use super::api::{CategoryTile, CategoryView, PriceLine, ServiceCard, ServiceTile};
use super::form::FormField;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::search::{fuzzy_matches, normalize, terms};
use sqlx::{SqliteConnection, SqlitePool};

pub async fn categories(pool: &SqlitePool) -> AppResult<Vec<CategoryTile>> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "select c.category_id, c.name, c.background, c.icon, count(s.service_id) from categories c \
         join services s on s.category_id = c.category_id and s.published = 1 \
         group by c.category_id order by c.position, c.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(category_id, name, background, icon, services)| CategoryTile {
                category_id,
                name,
                background,
                icon,
                services,
            },
        )
        .collect())
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    service_id: i64,
    name: String,
    short_description: String,
    description: String,
    cover: String,
    category_id: i64,
    category_name: String,
    background: String,
    icon: String,
    provider: String,
    provider_kind: String,
    min_price: Option<i64>,
    form_fields: String,
    prepaid: bool,
    preorder_chat: bool,
}

impl ServiceRow {
    fn fields(&self) -> Vec<FormField> {
        serde_json::from_str(&self.form_fields).unwrap_or_default()
    }

    fn tile(&self) -> ServiceTile {
        ServiceTile {
            service_id: self.service_id,
            name: self.name.clone(),
            short_description: self.short_description.clone(),
            cover: self.cover.clone(),
            background: self.background.clone(),
            icon: self.icon.clone(),
            provider: self.provider.clone(),
            min_price: self.min_price.map(Money::from_kopecks),
        }
    }
}

/// Published services, optionally of one category or one service, with their minimum price.
const SERVICES: &str = "select s.service_id, s.name, s.short_description, s.description, s.cover, \
     c.category_id, c.name as category_name, c.background, c.icon, le.name as provider, le.kind as provider_kind, \
     (select min(pi.price_kopecks) from service_prices sp join price_items pi on pi.price_item_id = sp.price_item_id \
      where sp.service_id = s.service_id and pi.active = 1 and pi.legal_entity_id = s.legal_entity_id) as min_price, \
     s.form_fields, s.prepaid, s.preorder_chat \
     from services s join categories c on c.category_id = s.category_id \
     join legal_entities le on le.legal_entity_id = s.legal_entity_id \
     where s.published = 1 and (? is null or s.category_id = ?) and (? is null or s.service_id = ?) \
     order by s.name";

async fn services(
    conn: &mut SqliteConnection,
    category_id: Option<i64>,
    service_id: Option<i64>,
) -> AppResult<Vec<ServiceRow>> {
    Ok(sqlx::query_as(SERVICES)
        .bind(category_id)
        .bind(category_id)
        .bind(service_id)
        .bind(service_id)
        .fetch_all(conn)
        .await?)
}

pub async fn category(pool: &SqlitePool, category_id: i64) -> AppResult<CategoryView> {
    let mut conn = pool.acquire().await?;
    let head: Option<(String, String, String)> =
        sqlx::query_as("select name, background, icon from categories where category_id = ?")
            .bind(category_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (name, background, icon) = head.ok_or(AppError::NotFound)?;
    let rows = services(&mut conn, Some(category_id), None).await?;
    Ok(CategoryView {
        category_id,
        name,
        background,
        icon,
        services: rows.iter().map(ServiceRow::tile).collect(),
    })
}

pub async fn search(pool: &SqlitePool, query: &str) -> AppResult<Vec<ServiceTile>> {
    let terms = terms(query);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    let rows = services(&mut conn, None, None).await?;
    let mut by_name = Vec::new();
    let mut by_form = Vec::new();
    for row in &rows {
        let name = normalize(&format!("{} {}", row.name, row.category_name));
        if fuzzy_matches(&terms, &name) {
            by_name.push(row.tile());
            continue;
        }
        let labels: Vec<String> = row.fields().into_iter().map(|f| f.label).collect();
        let all = normalize(&format!("{name} {}", labels.join(" ")));
        if fuzzy_matches(&terms, &all) {
            by_form.push(row.tile());
        }
    }
    by_name.extend(by_form);
    Ok(by_name)
}

pub async fn service_card(pool: &SqlitePool, service_id: i64) -> AppResult<ServiceCard> {
    let mut conn = pool.acquire().await?;
    let row = services(&mut conn, None, Some(service_id))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    let prices: Vec<(String, String, i64)> = sqlx::query_as(
        "select pi.name, pi.unit, pi.price_kopecks from service_prices sp \
         join price_items pi on pi.price_item_id = sp.price_item_id \
         join services s on s.service_id = sp.service_id \
         where sp.service_id = ? and pi.active = 1 and pi.legal_entity_id = s.legal_entity_id \
         order by pi.price_kopecks, pi.name",
    )
    .bind(service_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ServiceCard {
        tile: row.tile(),
        category_id: row.category_id,
        category_name: row.category_name.clone(),
        description: row.description.clone(),
        provider_is_partner: row.provider_kind == "partner",
        prices: prices
            .into_iter()
            .map(|(name, unit, price)| PriceLine {
                name,
                unit,
                price: Money::from_kopecks(price),
            })
            .collect(),
        fields: row.fields(),
        prepaid: row.prepaid,
        preorder_chat: row.preorder_chat,
    })
}

/// What ordering a service needs: its form, provider, default assignee and payment mode.
pub struct Orderable {
    pub fields: Vec<FormField>,
    pub legal_entity_id: i64,
    pub default_assignee_id: Option<i64>,
    pub prepaid: bool,
}

/// A published service that can be ordered; a hidden or unknown one is refused.
pub async fn orderable(conn: &mut SqliteConnection, service_id: i64) -> AppResult<Orderable> {
    let row: Option<(String, i64, Option<i64>, bool)> = sqlx::query_as(
        "select form_fields, legal_entity_id, default_assignee_id, prepaid from services \
         where service_id = ? and published = 1",
    )
    .bind(service_id)
    .fetch_optional(conn)
    .await?;
    let (form, legal_entity_id, default_assignee_id, prepaid) =
        row.ok_or_else(|| AppError::validation("Эта услуга сейчас недоступна"))?;
    Ok(Orderable {
        fields: serde_json::from_str(&form).map_err(AppError::internal)?,
        legal_entity_id,
        default_assignee_id,
        prepaid,
    })
}
