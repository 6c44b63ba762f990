//! SQL for orders: the keyset-paginated list driven by the full-text index, the card,
//! history, comments and attachments.

use super::filter::{Cursor, OrderFilter, PaymentFilter, SortKey};
use super::model::{Comment, FilterOptions, HistoryEntry, OrderRow, RefundMark};
use super::status::OrderStatus;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

pub fn status(s: &str) -> AppResult<OrderStatus> {
    OrderStatus::from_db(s).ok_or_else(|| AppError::internal(format!("unknown order status {s}")))
}

/// What a list query asks for.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: OrderFilter,
    pub after: Option<Cursor>,
    /// «Назначенные мне»: only this assignee's orders.
    pub only_assignee: Option<i64>,
    pub limit: i64,
    pub utc_offset_minutes: i32,
}

/// The page of orders comes from one of two places. Without search text: the `orders`
/// table through its (filter, sort) indexes. With search text: one of the full-text
/// indexes (migration 0010), one per sort, whose rowid is the sort key
/// `(value << 30) | order_id` — FTS5 yields matches in rowid order, so a page reads only
/// its rows — driven from the FTS side (`orders_fts… f cross join orders o`), since the
/// planner otherwise runs the match once per row of `orders`.
fn search_table(sort: SortKey) -> &'static str {
    match sort {
        SortKey::Number => "orders_fts",
        SortKey::Created => "orders_fts_created",
        SortKey::Updated => "orders_fts_updated",
        SortKey::Total => "orders_fts_total",
    }
}

/// Bits of the order number in a sort key; the value takes the 33 above them.
pub const SORT_ID_BITS: u32 = 30;
const SORT_VALUE_MAX: i64 = (1 << 33) - 1;
/// Dates in sort keys count seconds from 2020-01-01 UTC.
const SORT_EPOCH: i64 = 1_577_836_800;

fn sort_offset(sort: SortKey) -> i64 {
    match sort {
        SortKey::Created | SortKey::Updated => SORT_EPOCH,
        SortKey::Number | SortKey::Total => 0,
    }
}

/// The rowid an order has in the full-text index of `sort` (the same formula as the
/// triggers of migration 0010): the value, clamped to what the key holds, then the number.
pub fn sort_key(sort: SortKey, value: i64, order_id: i64) -> i64 {
    if sort == SortKey::Number {
        return order_id;
    }
    ((value - sort_offset(sort)).clamp(0, SORT_VALUE_MAX) << SORT_ID_BITS) | order_id
}

/// The SQL of the value a key of `sort` holds (`f.rowid` being the key).
fn key_value_sql(sort: SortKey) -> String {
    match sort {
        SortKey::Number => "f.rowid".into(),
        _ => format!("((f.rowid >> {SORT_ID_BITS}) + {})", sort_offset(sort)),
    }
}

fn key_id_sql(sort: SortKey) -> String {
    match sort {
        SortKey::Number => "f.rowid".into(),
        _ => format!("(f.rowid & {})", (1i64 << SORT_ID_BITS) - 1),
    }
}

fn sort_column(sort: SortKey) -> &'static str {
    match sort {
        SortKey::Number => "o.order_id",
        SortKey::Created => "o.created_at",
        SortKey::Updated => "o.updated_at",
        SortKey::Total => "o.total_kopecks",
    }
}

/// Builds the list SQL: first the page of order ids, then the names of just those rows by
/// primary key.
pub fn build_list_query(
    q: &ListQuery,
    ctx: &SearchContext,
    select: &str,
) -> QueryBuilder<'static, Sqlite> {
    let dir = if q.filter.ascending { "asc" } else { "desc" };
    let mut b: QueryBuilder<'static, Sqlite> =
        QueryBuilder::new(format!("select {select}, page.sort_value from ("));
    push_ordered(&mut b, q, ctx, None);
    b.push(format!(
        ") page cross join orders o on o.order_id = page.page_id{NAME_JOINS} \
         order by page.sort_value {dir}, page.page_id {dir}"
    ));
    b
}

/// `EXPLAIN QUERY PLAN` of the list's page of ids and of the export's page of rows for
/// `q` (what decides their speed; the list then sorts only its page's rows by name): what
/// the plan tests check — no sort of every match, no walk of `orders` out of the page's
/// order.
pub fn explain_list_queries(
    q: &ListQuery,
    ctx: &SearchContext,
) -> Vec<QueryBuilder<'static, Sqlite>> {
    let mut page: QueryBuilder<'static, Sqlite> = QueryBuilder::new("explain query plan ");
    push_ordered(&mut page, q, ctx, None);
    let mut export: QueryBuilder<'static, Sqlite> =
        QueryBuilder::new("explain query plan select count(*) from (");
    push_ordered(&mut export, q, ctx, Some(LIST_COLUMNS));
    export.push(")");
    vec![page, export]
}

/// The page of order ids alone (what decides the speed of the list).
pub fn build_page_query(q: &ListQuery, ctx: &SearchContext) -> QueryBuilder<'static, Sqlite> {
    let mut b: QueryBuilder<'static, Sqlite> = QueryBuilder::new("");
    push_ordered(&mut b, q, ctx, None);
    b
}

/// The rows of a list in order: page id and sort value, and with `columns` also those
/// (joined to the names, the driving table kept first by `cross join`). A negative limit
/// is none.
fn push_ordered(
    b: &mut QueryBuilder<'static, Sqlite>,
    q: &ListQuery,
    ctx: &SearchContext,
    columns: Option<&str>,
) {
    let extra = columns.map(|c| format!(", {c}")).unwrap_or_default();
    let names = if columns.is_some() { NAME_JOINS } else { "" };
    let (cmp, dir) = if q.filter.ascending {
        (">", "asc")
    } else {
        ("<", "desc")
    };
    let sort = q.filter.sort;
    if let Some(m) = fts_match(q, ctx) {
        b.push(format!(
            "select {} as page_id, {} as sort_value{extra} from {} f",
            key_id_sql(sort),
            key_value_sql(sort),
            search_table(sort)
        ));
        let dated = q.filter.created_from.is_some() || q.filter.created_to.is_some();
        if dated || columns.is_some() {
            b.push(format!(
                " cross join orders o on o.order_id = {}{names}",
                key_id_sql(sort)
            ));
        }
        b.push(format!(" where {} match ", search_table(sort)))
            .push_bind(m);
        if dated {
            push_dates(b, q);
        }
        if let Some(c) = q.after {
            b.push(format!(" and f.rowid {cmp} "))
                .push_bind(sort_key(sort, c.value, c.order_id));
        }
        b.push(format!(" order by f.rowid {dir}"));
    } else {
        let col = sort_column(sort);
        b.push(format!(
            "select o.order_id as page_id, {col} as sort_value{extra} from orders o{names} where o.is_draft = 0"
        ));
        push_filters(b, q);
        if let Some(c) = q.after {
            if sort == SortKey::Number {
                b.push(format!(" and o.order_id {cmp} "))
                    .push_bind(c.order_id);
            } else {
                b.push(format!(" and ({col}, o.order_id) {cmp} ("))
                    .push_bind(c.value)
                    .push(", ")
                    .push_bind(c.order_id)
                    .push(")");
            }
        }
        if sort == SortKey::Number {
            b.push(format!(" order by o.order_id {dir}"));
        } else {
            b.push(format!(" order by {col} {dir}, o.order_id {dir}"));
        }
    }
    if q.limit >= 0 {
        b.push(" limit ").push_bind(q.limit);
    }
}

/// What a search needs besides the query: the services, whose names the words are looked
/// up in (migration 0011 keeps them out of the indexed text), with the legal entities
/// their orders were made under (migration 0012), and the newest creation date (the end
/// of a date range given only its start). Loaded only for a search.
#[derive(Debug, Clone, Default)]
pub struct SearchContext {
    /// (service, legal entity of some of its orders, normalised name)
    services: Vec<(i64, i64, String)>,
    newest_created: Option<i64>,
}

impl SearchContext {
    pub async fn load(pool: &SqlitePool, q: &ListQuery) -> AppResult<SearchContext> {
        let services: Vec<(i64, i64, String)> = if crate::search::terms(&q.filter.q).is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(
                "select p.service_id, p.legal_entity_id, s.name from service_entities p \
                 join services s on s.service_id = p.service_id",
            )
            .fetch_all(pool)
            .await?
        };
        // Orders made after this read are still covered: now is the least end.
        let newest_created = if q.filter.created_from.is_some() && q.filter.created_to.is_none() {
            let newest: Option<i64> = sqlx::query_scalar("select max(created_at) from orders")
                .fetch_one(pool)
                .await?;
            Some(newest.unwrap_or(0).max(crate::time::now()))
        } else {
            None
        };
        Ok(SearchContext {
            services: services
                .into_iter()
                .map(|(id, entity, name)| (id, entity, crate::search::normalize(&name)))
                .collect(),
            newest_created,
        })
    }
}

/// Months since January 2020 (UTC) of a moment, from 0: the `_m` token of migration 0011.
pub fn month_token(ts: i64) -> i64 {
    let t = crate::time::LocalDateTime::from_unix(ts, 0);
    ((t.year - 2020) * 12 + i64::from(t.month) - 1).max(0)
}

/// Days since 2020-01-01 (UTC) of a moment, from 0: the `_d` token of migration 0022.
pub fn day_token(ts: i64) -> i64 {
    (ts - 1_577_836_800).div_euclid(86_400).max(0)
}

/// A created-date range of at most this many days is narrowed by its day tokens; a wider
/// one by its months.
const DAY_TOKENS_MAX: i64 = 62;

/// A created-date range of more months than this is not narrowed by month tokens (it
/// holds most orders anyway; the row check finds a page quickly).
const MONTH_TOKENS_MAX: i64 = 24;

/// The full-text query of a list (`None` without search words and filters): every word
/// as a prefix of the order's text or as one of the services whose names hold it, and the
/// filters as the tokens the indexes carry (migrations 0010 and 0011), all required.
///
/// A list with filters and no words is a full-text query too: FTS5 intersects the
/// filters' lists in the sort's order, so any combination of filters in any sort reads
/// only its page — the `orders` table has no index for most of those combinations and
/// would sort every matching order.
fn fts_match(q: &ListQuery, ctx: &SearchContext) -> Option<String> {
    let f = &q.filter;
    let terms = crate::search::terms(&f.q);
    let mut parts = Vec::new();
    for t in &terms {
        // Only services the list's own filters leave in.
        let mut services: Vec<i64> = ctx
            .services
            .iter()
            .filter(|(id, entity, name)| {
                f.legal_entity_id.is_none_or(|e| e == *entity)
                    && f.service_id.is_none_or(|s| s == *id)
                    && crate::search::has_word_starting_with(name, t)
            })
            .map(|(id, _, _)| *id)
            .collect();
        services.sort_unstable();
        services.dedup();
        if f.service_id.is_some() && !services.is_empty() {
            // The chosen service's name holds the word: every order of the list does.
            continue;
        }
        let word = format!("\"{t}\"*");
        if services.is_empty() {
            parts.push(word);
        } else {
            let alternatives: Vec<String> = services.iter().map(|v| format!("\"_v{v}\"")).collect();
            parts.push(format!("({word} OR {})", alternatives.join(" OR ")));
        }
    }
    let mut token = |t: String| parts.push(format!("\"{t}\""));
    if let Some(a) = q.only_assignee {
        token(format!("_a{a}"));
    }
    if let Some(s) = f.status {
        token(format!("_s{}", s.as_db()));
    }
    if let Some(v) = f.service_id {
        token(format!("_v{v}"));
    }
    if let Some(v) = f.assignee_id {
        token(format!("_a{v}"));
    }
    if let Some(v) = f.legal_entity_id {
        token(format!("_e{v}"));
    }
    match f.payment {
        Some(PaymentFilter::Paid) => token("_p1".into()),
        Some(PaymentFilter::Unpaid) => token("_p0".into()),
        None => {}
    }
    if f.has_refund {
        token("_r".into());
    }
    if let Some(alternatives) = range_tokens(q, ctx) {
        parts.push(format!("({})", alternatives.join(" OR ")));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// The tokens a created-date range spans, as alternatives (`None`: no range, or too wide
/// to help): its days up to two months (a range crossing a month's end wastes no walk
/// through the rest of that month), its months up to two years.
fn range_tokens(q: &ListQuery, ctx: &SearchContext) -> Option<Vec<String>> {
    let (from, to) = date_bounds(q);
    if from.is_none() && to.is_none() {
        return None;
    }
    let last = to.map(|t| t - 1).or(ctx.newest_created)?;
    // An empty range (the end before the start) keeps one day or month: the row check
    // empties it.
    let first_day = from.map_or(0, day_token);
    let last_day = day_token(last).max(first_day);
    if last_day - first_day < DAY_TOKENS_MAX {
        return Some(
            (first_day..=last_day)
                .map(|d| format!("\"_d{d}\""))
                .collect(),
        );
    }
    let first = from.map_or(0, month_token);
    let last = month_token(last).max(first);
    (last - first < MONTH_TOKENS_MAX)
        .then(|| (first..=last).map(|m| format!("\"_m{m}\"")).collect())
}

/// How many orders the filter matches (for export progress).
pub fn build_count_query(q: &ListQuery, ctx: &SearchContext) -> QueryBuilder<'static, Sqlite> {
    let mut b: QueryBuilder<'static, Sqlite> = QueryBuilder::new("select count(*) from (");
    let all = ListQuery {
        after: None,
        limit: -1,
        ..q.clone()
    };
    push_ordered(&mut b, &all, ctx, None);
    b.push(")");
    b
}

/// The names a list row shows, joined by primary key to the rows of the page.
/// `cross join` keeps the order's side first, so no name table drives the query.
const NAME_JOINS: &str = " cross join services s on s.service_id = o.service_id \
     cross join residents r on r.resident_id = o.resident_id \
     cross join premises p on p.premises_id = o.premises_id \
     left join staff a on a.staff_id = o.assignee_id";

/// The filters as conditions on `orders o` (the list without search words).
fn push_filters(b: &mut QueryBuilder<'static, Sqlite>, q: &ListQuery) {
    let f = &q.filter;
    if let Some(a) = q.only_assignee {
        b.push(" and o.assignee_id = ").push_bind(a);
    }
    if let Some(s) = f.status {
        b.push(" and o.status = ").push_bind(s.as_db());
    }
    if let Some(v) = f.service_id {
        b.push(" and o.service_id = ").push_bind(v);
    }
    if let Some(v) = f.assignee_id {
        b.push(" and o.assignee_id = ").push_bind(v);
    }
    if let Some(v) = f.legal_entity_id {
        b.push(" and o.legal_entity_id = ").push_bind(v);
    }
    push_dates(b, q);
    match f.payment {
        Some(PaymentFilter::Paid) => {
            b.push(" and o.all_paid = 1");
        }
        Some(PaymentFilter::Unpaid) => {
            b.push(" and o.all_paid = 0");
        }
        None => {}
    }
    if f.has_refund {
        b.push(" and o.refund_state is not null");
    }
}

/// The created-date range as moments: from (inclusive) and to (exclusive), in the
/// configured zone.
fn date_bounds(q: &ListQuery) -> (Option<i64>, Option<i64>) {
    let f = &q.filter;
    let at = |d: &Option<String>| {
        d.as_deref()
            .and_then(|d| crate::time::parse_date_input(d, q.utc_offset_minutes))
    };
    (at(&f.created_from), at(&f.created_to).map(|t| t + 86_400))
}

/// The created-date range, on `orders o`.
fn push_dates(b: &mut QueryBuilder<'static, Sqlite>, q: &ListQuery) {
    let (from, to) = date_bounds(q);
    if let Some(ts) = from {
        b.push(" and o.created_at >= ").push_bind(ts);
    }
    if let Some(ts) = to {
        b.push(" and o.created_at < ").push_bind(ts);
    }
}

pub const LIST_COLUMNS: &str = "o.order_id, o.status, s.name as service_name, r.full_name as client_name, \
    p.address, a.full_name as assignee_name, o.created_at, o.updated_at, o.total_kopecks, o.all_paid, \
    o.costs_kopecks, o.refund_kopecks, o.refund_state, o.rating, o.unread_client_messages, \
    s.sla_take_hours, s.sla_done_hours";

/// One page of the list, plus where the next one starts (if there is one).
pub async fn list_orders(
    pool: &SqlitePool,
    q: &ListQuery,
) -> AppResult<(Vec<OrderRow>, Option<Cursor>)> {
    let ctx = SearchContext::load(pool, q).await?;
    let mut probe = q.clone();
    probe.limit = q.limit + 1;
    let rows = build_list_query(&probe, &ctx, LIST_COLUMNS)
        .build()
        .fetch_all(pool)
        .await?;
    let more = rows.len() as i64 > q.limit;
    let rows = &rows[..rows.len().min(q.limit as usize)];
    let next = if more {
        rows.last().map(|r| Cursor {
            value: r.get("sort_value"),
            order_id: r.get("order_id"),
        })
    } else {
        None
    };
    Ok((rows.iter().map(order_row).collect::<AppResult<_>>()?, next))
}

/// The columns of a list row as read, in `LIST_COLUMNS` order (also the order of the
/// inner JSON arrays of [`export_page`], which serde reads field by field).
#[derive(serde::Deserialize)]
struct ListFields {
    order_id: i64,
    status: String,
    service_name: String,
    client_name: String,
    address: String,
    assignee_name: Option<String>,
    created_at: i64,
    updated_at: i64,
    total_kopecks: i64,
    all_paid: i64,
    costs_kopecks: i64,
    refund_kopecks: i64,
    refund_state: Option<String>,
    rating: Option<i64>,
    unread_client_messages: i64,
    sla_take_hours: Option<i64>,
    sla_done_hours: Option<i64>,
}

impl ListFields {
    fn into_row(self, now: i64) -> AppResult<OrderRow> {
        let st = status(&self.status)?;
        Ok(OrderRow {
            order_id: self.order_id,
            status: st,
            overdue: crate::admin::rules::overdue(
                st,
                self.created_at,
                self.sla_take_hours,
                self.sla_done_hours,
                now,
            ),
            service_name: self.service_name,
            client_name: self.client_name,
            address: self.address,
            created_at: self.created_at,
            updated_at: self.updated_at,
            total: Money::from_kopecks(self.total_kopecks),
            all_paid: self.all_paid != 0,
            costs: Money::from_kopecks(self.costs_kopecks),
            refund: Money::from_kopecks(self.refund_kopecks),
            refund_mark: self.refund_state.as_deref().and_then(RefundMark::from_db),
            rating: self.rating.map(|v| v.clamp(0, 5) as u8),
            unread_client_messages: self.unread_client_messages,
            assignee_name: self.assignee_name,
        })
    }
}

pub fn order_row(r: &SqliteRow) -> AppResult<OrderRow> {
    ListFields {
        order_id: r.get("order_id"),
        status: r.get("status"),
        service_name: r.get("service_name"),
        client_name: r.get("client_name"),
        address: r.get("address"),
        assignee_name: r.get("assignee_name"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        total_kopecks: r.get("total_kopecks"),
        all_paid: r.get("all_paid"),
        costs_kopecks: r.get("costs_kopecks"),
        refund_kopecks: r.get("refund_kopecks"),
        refund_state: r.get("refund_state"),
        rating: r.get("rating"),
        unread_client_messages: r.get("unread_client_messages"),
        sla_take_hours: r.get("sla_take_hours"),
        sla_done_hours: r.get("sla_done_hours"),
    }
    .into_row(crate::time::now())
}

/// One page of the export (`q.limit` rows after `q.after`) and where the next starts.
/// SQLite packs the page into one JSON value: the driver hands rows over from its thread
/// one by one, and reading 98,863 rows that way took 2.2 s in the benchmark, packed 1.5 s.
pub async fn export_page<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    q: &ListQuery,
    ctx: &SearchContext,
) -> AppResult<(Vec<OrderRow>, Option<Cursor>)> {
    let mut b: QueryBuilder<'static, Sqlite> = QueryBuilder::new(
        "select json_group_array(json_array(page_id, sort_value, json_array(order_id, status, \
         service_name, client_name, address, assignee_name, created_at, updated_at, \
         total_kopecks, all_paid, costs_kopecks, refund_kopecks, refund_state, rating, \
         unread_client_messages, sla_take_hours, sla_done_hours))) from (",
    );
    push_ordered(&mut b, q, ctx, Some(LIST_COLUMNS));
    b.push(")");
    let packed: String = b.build_query_scalar().fetch_one(db).await?;
    // Page id, sort value, the list's fields.
    let mut rows: Vec<(i64, i64, ListFields)> =
        serde_json::from_str(&packed).map_err(AppError::internal)?;
    // An aggregate's input order is not promised: the page is put in the list's order.
    rows.sort_by_key(|(id, value, _)| (*value, *id));
    if !q.filter.ascending {
        rows.reverse();
    }
    let next = match rows.last() {
        Some((id, value, _)) if rows.len() as i64 == q.limit => Some(Cursor {
            value: *value,
            order_id: *id,
        }),
        _ => None,
    };
    let now = crate::time::now();
    let rows = rows
        .into_iter()
        .map(|(_, _, f)| f.into_row(now))
        .collect::<AppResult<_>>()?;
    Ok((rows, next))
}

/// The text an order is found by: number, client, address (words of its service's name
/// are looked up in the services at query time, see [`SearchContext`]).
pub fn search_text(order_id: i64, client: &str, address: &str) -> String {
    crate::search::normalize(&format!("{order_id} {client} {address}"))
}

/// (Re)indexes one order for search: its text into `order_search`, whose triggers fill the
/// full-text indexes. Drafts are not searchable until submitted.
pub async fn index_order(conn: &mut SqliteConnection, order_id: i64) -> AppResult<()> {
    let row: Option<(String, String)> = sqlx::query_as(
        "select r.full_name, p.address from orders o \
         join residents r on r.resident_id = o.resident_id join premises p on p.premises_id = o.premises_id \
         where o.order_id = ? and o.is_draft = 0",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query("delete from order_search where order_id = ?")
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    if let Some((client, address)) = row {
        if order_id >= 1 << SORT_ID_BITS {
            return Err(AppError::internal("order numbers outgrew the search keys"));
        }
        sqlx::query("insert into order_search (order_id, body) values (?, ?)")
            .bind(order_id)
            .bind(search_text(order_id, &client, &address))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Indexes many orders that have no search text yet — `texts` are (order, text) — inside
/// the caller's transaction. Row by row, the triggers add each order to the four indexes
/// in the order the rows come, which for the «Сумма» and date indexes is a random key
/// order; FTS5 writes its pending terms out whenever a key comes smaller than the last,
/// so that made thousands of tiny segments to merge (generating 1,000,000 orders took
/// ~10 min). Here the insert trigger is set aside for the transaction and each index is
/// filled by one statement in its own key order; the trigger is put back as it was
/// before the savepoint ends, so no other writer ever sees it missing.
pub async fn index_many(conn: &mut SqliteConnection, texts: &[(i64, String)]) -> AppResult<()> {
    if texts.is_empty() {
        return Ok(());
    }
    if texts.iter().any(|(id, _)| *id >= 1 << SORT_ID_BITS) {
        return Err(AppError::internal("order numbers outgrew the search keys"));
    }
    let trigger: String = sqlx::query_scalar(
        "select sql from sqlite_master where type = 'trigger' and name = 'order_search_insert'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = serde_json::to_string(texts).map_err(AppError::internal)?;
    let ids = serde_json::to_string(&texts.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .map_err(AppError::internal)?;
    // A savepoint inside the caller's transaction (a transaction without one): whatever
    // fails below takes the dropped trigger back with it.
    let mut conn = conn.begin().await?;
    sqlx::query("drop trigger order_search_insert")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "insert into order_search (order_id, body) select value ->> 0, value ->> 1 from json_each(?)",
    )
    .bind(&rows)
    .execute(&mut *conn)
    .await?;
    for (table, key) in [
        ("orders_fts", "order_id"),
        ("orders_fts_created", "key_created"),
        ("orders_fts_updated", "key_updated"),
        ("orders_fts_total", "key_total"),
    ] {
        sqlx::query(&format!(
            "insert into {table} (rowid, body) select {key}, doc from order_search_docs \
             where order_id in (select value from json_each(?)) order by {key}"
        ))
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(&trigger).execute(&mut *conn).await?;
    conn.commit().await?;
    Ok(())
}

/// Indexes the orders that have no search text yet (all of them after migration 0011
/// emptied the indexes), 20,000 per transaction with [`index_many`]. Returns how many.
/// Only orders above the last one checked are looked at (migration 0021): every order is
/// indexed in the transaction that makes it, so start-up does not grow with the orders.
pub async fn index_missing(pool: &SqlitePool) -> AppResult<usize> {
    let mut done = 0;
    // Keyset: each batch starts after the last, not again from the first order.
    let mut after: i64 = sqlx::query_scalar("select coalesce(max(through), 0) from search_checked")
        .fetch_one(pool)
        .await?;
    loop {
        let mut tx = crate::server::db::write_tx(pool).await?;
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "select o.order_id, r.full_name, p.address from orders o \
             join residents r on r.resident_id = o.resident_id \
             join premises p on p.premises_id = o.premises_id \
             where o.order_id > ? and o.is_draft = 0 \
             and not exists (select 1 from order_search s where s.order_id = o.order_id) \
             order by o.order_id limit 20000",
        )
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last().map(|r| r.0) else {
            tx.commit().await?;
            // Checked through the newest order (drafts above are indexed when they
            // become orders).
            sqlx::query(
                "insert into search_checked (id, through) select 1, coalesce(max(order_id), 0) from orders where true \
                 on conflict (id) do update set through = excluded.through",
            )
            .execute(pool)
            .await?;
            return Ok(done);
        };
        after = last;
        let texts: Vec<(i64, String)> = rows
            .iter()
            .map(|(id, client, address)| (*id, search_text(*id, client, address)))
            .collect();
        index_many(&mut tx, &texts).await?;
        tx.commit().await?;
        done += texts.len();
    }
}

pub async fn filter_options(
    pool: &SqlitePool,
    legal_entity: Option<i64>,
) -> AppResult<FilterOptions> {
    // One statement for the three lists (every list page asks for them).
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "select 0, service_id, name from services where (?1 is null or legal_entity_id = ?1) \
         union all select 1, s.staff_id, s.full_name from staff s join roles r on r.role_id = s.role_id \
           where s.active = 1 and r.orders_scope <> 'none' \
         union all select 2, legal_entity_id, name from legal_entities \
         order by 1, 3",
    )
    .bind(legal_entity)
    .fetch_all(pool)
    .await?;
    let mut options = FilterOptions::default();
    for (list, id, name) in rows {
        match list {
            0 => options.services.push((id, name)),
            1 => options.staff.push((id, name)),
            _ => options.legal_entities.push((id, name)),
        }
    }
    Ok(options)
}

/// at, staff, resident, kind, from status, to status, new assignee, comment
type HistoryTuple = (
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

pub async fn history(pool: &SqlitePool, order_id: i64) -> AppResult<Vec<HistoryEntry>> {
    let rows: Vec<HistoryTuple> =
        sqlx::query_as(
            "select h.at, st.full_name, re.full_name, h.kind, h.from_status, h.to_status, na.full_name, h.comment \
             from order_history h left join staff st on st.staff_id = h.staff_id \
             left join residents re on re.resident_id = h.resident_id \
             left join staff na on na.staff_id = h.to_assignee_id \
             where h.order_id = ? order by h.history_id",
        )
        .bind(order_id)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(at, staff, resident, kind, from, to, new_assignee, comment)| {
                let label = |s: Option<String>| {
                    s.as_deref()
                        .and_then(OrderStatus::from_db)
                        .map(|s| s.label())
                        .unwrap_or("—")
                };
                let what = match kind.as_str() {
                    "created" => format!("Заказ создан, статус «{}»", label(to)),
                    "status" => format!("Статус: «{}» → «{}»", label(from), label(to)),
                    "assignee" => format!(
                        "Ответственный: {}",
                        new_assignee.unwrap_or_else(|| "не назначен".into())
                    ),
                    "submitted" => "Черновик оформлен как заказ".to_owned(),
                    other => other.to_owned(),
                };
                HistoryEntry {
                    at,
                    who: staff.or(resident).unwrap_or_else(|| "Система".into()),
                    what,
                    comment,
                }
            },
        )
        .collect())
}

pub async fn comments(pool: &SqlitePool, order_id: i64) -> AppResult<Vec<Comment>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "select c.comment_id, s.full_name, c.body, c.created_at from order_comments c \
         join staff s on s.staff_id = c.staff_id where c.order_id = ? order by c.comment_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(comment_id, author, body, created_at)| Comment {
            comment_id,
            author,
            body,
            created_at,
        })
        .collect())
}
