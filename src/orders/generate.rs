//! Generates many realistic orders fast, for benchmarks (`suz generate-orders N`).

use crate::error::{AppError, AppResult};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

const SURNAMES: [&str; 24] = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
];
const MALE: [&str; 12] = [
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Максим",
    "Иван",
    "Михаил",
    "Артём",
    "Пётр",
    "Олег",
    "Николай",
];
const FEMALE: [&str; 12] = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Ирина",
    "Светлана",
    "Алёна",
    "Юлия",
    "Екатерина",
    "Дарья",
];
const PATRONYMIC: [&str; 8] = [
    "Александров",
    "Сергеев",
    "Дмитриев",
    "Андреев",
    "Иванов",
    "Михайлов",
    "Петров",
    "Николаев",
];
const STREETS: [&str; 20] = [
    "ул. Ленина",
    "пр. Мира",
    "ул. Гагарина",
    "ул. Садовая",
    "наб. Речная",
    "ул. Советская",
    "ул. Молодёжная",
    "ул. Школьная",
    "ул. Лесная",
    "ул. Новая",
    "ул. Набережная",
    "ул. Полевая",
    "ул. Пушкина",
    "ул. Зелёная",
    "ул. Строителей",
    "ул. Берёзовая",
    "ул. Королёва",
    "пр. Победы",
    "ул. Чехова",
    "ул. Есенина",
];
const STATUSES: [&str; 4] = ["waiting", "in_progress", "done", "cancelled"];

/// A small deterministic generator (PCG-style LCG), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }
}

fn person(rng: &mut Rng) -> String {
    let surname = rng.pick(&SURNAMES);
    if rng.next(2) == 0 {
        format!("{surname} {} {}ич", rng.pick(&MALE), rng.pick(&PATRONYMIC))
    } else {
        let patronymic = rng.pick(&PATRONYMIC);
        format!("{surname}а {} {}на", rng.pick(&FEMALE), patronymic)
    }
}

/// Adds `count` orders (and one resident with one flat per five orders) to a database that
/// already holds the demo catalog and staff. Returns how many orders exist afterwards.
pub async fn generate_orders(pool: &SqlitePool, count: u64, seed: u64) -> AppResult<i64> {
    // One connection with a page cache that holds the orders' indexes while they grow
    // (random keys: status, totals, residents…); the pool's own cache size comes back after.
    let mut conn = pool.acquire().await?;
    let cache: i64 = sqlx::query_scalar("pragma cache_size")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("pragma cache_size = -524288")
        .execute(&mut *conn)
        .await?;
    let made = generate_on(&mut conn, count, seed).await;
    sqlx::query(&format!("pragma cache_size = {cache}"))
        .execute(&mut *conn)
        .await?;
    made?;
    drop(conn);
    // A bulk load: the statistics afresh, so the plans fit what is there now.
    crate::server::db::analyze(pool).await?;
    Ok(sqlx::query_scalar("select count(*) from orders")
        .fetch_one(pool)
        .await?)
}

async fn generate_on(conn: &mut SqliteConnection, count: u64, seed: u64) -> AppResult<()> {
    let services: Vec<(i64, i64, Option<i64>)> =
        sqlx::query_as("select service_id, legal_entity_id, default_assignee_id from services")
            .fetch_all(&mut *conn)
            .await?;
    if services.is_empty() {
        return Err(AppError::validation(
            "Нет услуг: сначала загрузите демо-данные (SUZ_DEMO=1)",
        ));
    }
    let staff: Vec<i64> = sqlx::query_scalar(
        "select s.staff_id from staff s join roles r using (role_id) where r.orders_scope <> 'none'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut rng = Rng(seed);
    let residents = (count / 5).max(1);
    let now = crate::time::now();
    let start = now - 2 * 365 * 86_400;
    let step = ((now - start) / count.max(1) as i64).max(1);
    // (resident id, premises id, name, address) of every generated resident.
    let mut people_made: Vec<(i64, i64, String, String)> = Vec::with_capacity(residents as usize);

    // Residents and their flats.
    let mut done = 0u64;
    while done < residents {
        let n = (residents - done).min(500);
        let mut tx = conn.begin().await?;
        let mut people: Vec<(String, String, String)> = Vec::with_capacity(n as usize);
        for i in 0..n {
            let phone = format!("+7955{:07}", (seed % 1000) * 10_000 + done + i);
            let address = format!(
                "{}, д. {}, кв. {}",
                rng.pick(&STREETS),
                1 + rng.next(120),
                1 + rng.next(300)
            );
            people.push((phone, person(&mut rng), address));
        }
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("insert into premises (address) ");
        b.push_values(&people, |mut row, p| {
            row.push_bind(&p.2);
        });
        b.push(" returning premises_id");
        let premises_ids: Vec<i64> = b.build_query_scalar().fetch_all(&mut *tx).await?;
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new("insert or ignore into residents (phone, full_name, created_at) ");
        b.push_values(&people, |mut row, p| {
            row.push_bind(&p.0).push_bind(&p.1).push_bind(start);
        });
        b.push(" returning resident_id");
        let resident_ids: Vec<i64> = b.build_query_scalar().fetch_all(&mut *tx).await?;
        if resident_ids.len() != premises_ids.len() {
            return Err(AppError::validation(
                "Эта база уже содержит сгенерированных жителей с тем же seed",
            ));
        }
        let mut b: QueryBuilder<Sqlite> =
            QueryBuilder::new("insert into resident_premises (resident_id, premises_id) ");
        b.push_values(resident_ids.iter().zip(&premises_ids), |mut row, (r, p)| {
            row.push_bind(*r).push_bind(*p);
        });
        b.build().execute(&mut *tx).await?;
        for ((r, p), person) in resident_ids.iter().zip(&premises_ids).zip(people) {
            people_made.push((*r, *p, person.1, person.2));
        }
        tx.commit().await?;
        done += n;
    }

    // Orders, in creation order, 100,000 per transaction, each chunk then indexed for
    // search in bulk (repo::index_many: one sorted statement per index).
    let mut made = 0u64;
    while made < count {
        let chunk_end = (made + 100_000).min(count);
        let mut tx = conn.begin().await?;
        let mut texts: Vec<(i64, String)> = Vec::with_capacity((chunk_end - made) as usize);
        while made < chunk_end {
            // 14 values a row: 2,000 rows stay under SQLite's 32,766 bound parameters.
            let n = (chunk_end - made).min(2000);
            let mut rows = Vec::with_capacity(n as usize);
            for i in 0..n {
                let k = made + i;
                let r = rng.next(residents);
                let (service_id, entity, default_assignee) =
                    &services[rng.next(services.len() as u64) as usize];
                let status = STATUSES[rng.next(4) as usize];
                let created = start + k as i64 * step;
                let updated = created + rng.next(5 * 86_400) as i64;
                let total = if status == "waiting" {
                    0
                } else {
                    (5 + rng.next(200) as i64) * 10_000
                };
                let paid = status == "done" || (total > 0 && rng.next(3) == 0);
                let refund = if status == "done" && rng.next(30) == 0 {
                    Some(["requested", "processing", "succeeded"][rng.next(3) as usize])
                } else {
                    None
                };
                let rating = if status == "done" && rng.next(2) == 0 {
                    Some(1 + rng.next(5) as i64)
                } else {
                    None
                };
                let assignee = if rng.next(4) == 0 {
                    Some(staff[rng.next(staff.len() as u64) as usize])
                } else {
                    *default_assignee
                };
                rows.push((
                    *service_id,
                    *entity,
                    people_made[r as usize].0,
                    people_made[r as usize].1,
                    assignee,
                    status,
                    created,
                    updated,
                    total,
                    paid,
                    refund,
                    rating,
                    r as usize,
                ));
            }
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
                "insert into orders (service_id, legal_entity_id, resident_id, premises_id, assignee_id, status, created_at, \
                 updated_at, total_kopecks, all_paid, costs_kopecks, refund_kopecks, refund_state, rating) ",
            );
            b.push_values(&rows, |mut row, o| {
                row.push_bind(o.0)
                    .push_bind(o.1)
                    .push_bind(o.2)
                    .push_bind(o.3)
                    .push_bind(o.4)
                    .push_bind(o.5)
                    .push_bind(o.6)
                    .push_bind(o.7)
                    .push_bind(o.8)
                    .push_bind(o.9)
                    .push_bind(o.8 / 20)
                    .push_bind(if o.10.is_some() { o.8 / 2 } else { 0 })
                    .push_bind(o.10)
                    .push_bind(o.11);
            });
            b.push(" returning order_id");
            let ids: Vec<i64> = b.build_query_scalar().fetch_all(&mut *tx).await?;
            for (id, o) in ids.iter().zip(&rows) {
                let (_, _, client, address) = &people_made[o.12];
                texts.push((*id, super::repo::search_text(*id, client, address)));
            }
            made += n;
        }
        super::repo::index_many(&mut tx, &texts).await?;
        tx.commit().await?;
        tracing::info!(made, "orders generated");
    }
    Ok(())
}
