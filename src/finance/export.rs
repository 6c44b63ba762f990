//! `GET /staff/finance/export?entity=&period=`: an entity's month as .xlsx — «Итоги»,
//! «Заказы» (one row per order) and «Операции» (every payment and refund). Pages are read
//! while a blocking thread writes the last one into constant-memory worksheets; the file
//! is streamed back and removed.

use super::api::{entry_label, OrderLine, Totals};
use super::rules::Period;
use super::service;
use crate::auth::model::Viewer;
use crate::auth::permissions::Action;
use crate::auth::session::CurrentViewer;
use crate::error::{AppError, AppResult};
use crate::money::Money;
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http::{header, StatusCode};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde::Deserialize;
use sqlx::SqlitePool;

const PAGE: i64 = 2000;

#[derive(Deserialize)]
pub struct ExportQuery {
    entity: i64,
    period: String,
}

struct EntryRow {
    order_id: i64,
    kind: String,
    /// The method of the entry's payment (`card`, `sbp`), if it has one.
    method: Option<String>,
    invoice_id: i64,
    payment_id: Option<i64>,
    refund_id: Option<i64>,
    at: i64,
    adjustment: bool,
    amount: Money,
    fee: Money,
    commission: Money,
    payout: Money,
}

enum Chunk {
    Orders(Vec<OrderLine>),
    Entries(Vec<EntryRow>),
}

fn refuse(status: StatusCode, e: AppError) -> Response {
    (status, e.to_string()).into_response()
}

pub async fn download(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
    Extension(viewer): Extension<CurrentViewer>,
) -> Response {
    use crate::auth::rate_limit::EXPORTS;
    let Some(Viewer::Staff(staff)) = viewer.0 else {
        return refuse(StatusCode::UNAUTHORIZED, AppError::Unauthorized);
    };
    if !staff.permissions.allows(Action::Finance) {
        return refuse(StatusCode::FORBIDDEN, AppError::Forbidden);
    }
    let Some(period) = Period::parse(&q.period) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            AppError::validation("Выберите месяц"),
        );
    };
    let dir = state.config.data_dir.join("exports");
    let path = dir.join(format!("finance-{}.xlsx", uuid::Uuid::new_v4()));
    let made = async {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(AppError::internal)?;
        write(&state.pool, q.entity, period, &path).await
    };
    let who = crate::auth::rate_limit::staff(&staff);
    let made = crate::auth::rate_limit::limited(&state.pool, EXPORTS, &who, made).await;
    let name = match made {
        Ok(name) => name,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            let status = match e {
                AppError::NotFound => StatusCode::NOT_FOUND,
                AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return refuse(status, e);
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, AppError::internal(e)),
    };
    // The open handle keeps the data readable; the name goes at once (Unix).
    let _ = tokio::fs::remove_file(&path).await;
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"settlement-{ascii}-{period}.xlsx\""),
        )
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Writes the workbook; returns a short name of the entity for the file name.
pub async fn write(
    pool: &SqlitePool,
    entity: i64,
    period: Period,
    path: &std::path::Path,
) -> AppResult<String> {
    let report = service::period_report(pool, entity, period, None).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    let writer = {
        let path = path.to_owned();
        let totals = report.totals.clone();
        let head = (report.name.clone(), period, report.closed_at);
        tokio::task::spawn_blocking(move || write_pages(rx, &path, &head, &totals))
    };
    let mut conn = pool.acquire().await?;
    let mut after = None;
    loop {
        let page = service::order_lines(&mut conn, entity, period, after, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        after = page.last().map(|o| o.order_id);
        if !page.is_empty() && tx.send(Chunk::Orders(page)).await.is_err() {
            break;
        }
        if !full {
            break;
        }
    }
    let mut after_entry = 0i64;
    loop {
        type Row = (
            i64,
            i64,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            i64,
            bool,
            i64,
            i64,
            i64,
            i64,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "select entry_id, order_id, kind, invoice_id, payment_id, refund_id, at, adjustment, amount_kopecks, \
             fee_kopecks, commission_kopecks, payout_kopecks, \
             (select p.method from payments p where p.payment_id = ledger_entries.payment_id) from ledger_entries \
             where period = ? and legal_entity_id = ? and entry_id > ? order by entry_id limit ?",
        )
        .bind(period.to_string())
        .bind(entity)
        .bind(after_entry)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let full = rows.len() as i64 == PAGE;
        after_entry = rows.last().map(|r| r.0).unwrap_or(after_entry);
        let m = Money::from_kopecks;
        let page: Vec<EntryRow> = rows
            .into_iter()
            .map(|r| EntryRow {
                order_id: r.1,
                kind: r.2,
                method: r.12,
                invoice_id: r.3,
                payment_id: r.4,
                refund_id: r.5,
                at: r.6,
                adjustment: r.7,
                amount: m(r.8),
                fee: m(r.9),
                commission: m(r.10),
                payout: m(r.11),
            })
            .collect();
        if !page.is_empty() && tx.send(Chunk::Entries(page)).await.is_err() {
            break;
        }
        if !full {
            break;
        }
    }
    drop(conn);
    drop(tx);
    writer.await.map_err(AppError::internal)??;
    Ok(report.name)
}

fn money_cells(
    ws: &mut Worksheet,
    row: u32,
    first: u16,
    values: &[Money],
    fmt: &Format,
) -> Result<(), XlsxError> {
    for (i, v) in values.iter().enumerate() {
        ws.write_with_format(row, first + i as u16, v.to_decimal_rubles(), fmt)?;
    }
    Ok(())
}

fn write_pages(
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
    path: &std::path::Path,
    head: &(String, Period, Option<i64>),
    totals: &Totals,
) -> AppResult<()> {
    let e = AppError::internal;
    let mut wb = Workbook::new();
    let money = Format::new().set_num_format("#,##0.00\\ \"₽\"");
    let date = Format::new().set_num_format("dd.mm.yyyy hh:mm");
    let bold = Format::new().set_bold();
    {
        let ws = wb.add_worksheet().set_name("Итоги").map_err(e)?;
        ws.set_column_width(0, 34.0).map_err(e)?;
        ws.set_column_width(1, 18.0).map_err(e)?;
        ws.write_string_with_format(0, 0, "Юридическое лицо", &bold)
            .map_err(e)?;
        ws.write_string(0, 1, &head.0).map_err(e)?;
        ws.write_string_with_format(1, 0, "Период", &bold)
            .map_err(e)?;
        ws.write_string(1, 1, head.1.label()).map_err(e)?;
        ws.write_string_with_format(2, 0, "Статус", &bold)
            .map_err(e)?;
        ws.write_string(
            2,
            1,
            if head.2.is_some() {
                "Закрыт"
            } else {
                "Открыт"
            },
        )
        .map_err(e)?;
        let lines = [
            ("Получено картой", totals.card),
            ("Получено наличными", totals.cash),
            ("Возвращено", totals.refunded),
            ("Эквайринг", totals.fees),
            ("Комиссия", totals.commission),
            ("К выплате партнёру", totals.payout),
        ];
        for (i, (label, value)) in lines.iter().enumerate() {
            let row = 4 + i as u32;
            ws.write_string(row, 0, *label).map_err(e)?;
            ws.write_with_format(row, 1, value.to_decimal_rubles(), &money)
                .map_err(e)?;
        }
    }
    const ORDER_HEADERS: [&str; 10] = [
        "№ заказа",
        "Услуга",
        "Клиент",
        "Получено картой, ₽",
        "Получено наличными, ₽",
        "Возвращено, ₽",
        "Эквайринг, ₽",
        "Комиссия, ₽",
        "К выплате партнёру, ₽",
        "Корректировка",
    ];
    const ENTRY_HEADERS: [&str; 11] = [
        "№ заказа",
        "Операция",
        "Дата",
        "Счёт",
        "Платёж",
        "Возврат",
        "Сумма, ₽",
        "Эквайринг, ₽",
        "Комиссия, ₽",
        "К выплате партнёру, ₽",
        "Корректировка",
    ];
    let header = |ws: &mut Worksheet, names: &[&str], widths: &[(u16, f64)]| {
        for (i, h) in names.iter().enumerate() {
            ws.write_string_with_format(0, i as u16, *h, &bold)?;
        }
        for (c, w) in widths {
            ws.set_column_width(*c, *w)?;
        }
        Ok::<(), XlsxError>(())
    };
    {
        let ws = wb.add_worksheet_with_constant_memory().map_err(e)?;
        ws.set_name("Заказы").map_err(e)?;
        header(ws, &ORDER_HEADERS, &[(1, 28.0), (2, 30.0)]).map_err(e)?;
    }
    let mut order_row = 1u32;
    let mut entry_row = 1u32;
    let mut entries_sheet = false;
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Orders(lines) => {
                let ws = wb.worksheet_from_index(1).map_err(e)?;
                for o in &lines {
                    ws.write_number(order_row, 0, o.order_id as f64)
                        .map_err(e)?;
                    ws.write_string(order_row, 1, &o.service_name).map_err(e)?;
                    ws.write_string(order_row, 2, &o.client_name).map_err(e)?;
                    money_cells(
                        ws,
                        order_row,
                        3,
                        &[o.card, o.cash, o.refunded, o.fees, o.commission, o.payout],
                        &money,
                    )
                    .map_err(e)?;
                    if o.adjustment {
                        ws.write_string(order_row, 9, "да").map_err(e)?;
                    }
                    order_row += 1;
                }
            }
            Chunk::Entries(rows) => {
                if !entries_sheet {
                    let ws = wb.add_worksheet_with_constant_memory().map_err(e)?;
                    ws.set_name("Операции").map_err(e)?;
                    header(ws, &ENTRY_HEADERS, &[(1, 24.0), (2, 16.0)]).map_err(e)?;
                    entries_sheet = true;
                }
                let ws = wb.worksheet_from_index(2).map_err(e)?;
                for r in &rows {
                    ws.write_number(entry_row, 0, r.order_id as f64)
                        .map_err(e)?;
                    ws.write_string(entry_row, 1, entry_label(&r.kind, r.method.as_deref()))
                        .map_err(e)?;
                    if let Some(d) = crate::orders::export::excel_time(r.at, service::zone()) {
                        ws.write_datetime_with_format(entry_row, 2, &d, &date)
                            .map_err(e)?;
                    }
                    ws.write_number(entry_row, 3, r.invoice_id as f64)
                        .map_err(e)?;
                    if let Some(p) = r.payment_id {
                        ws.write_number(entry_row, 4, p as f64).map_err(e)?;
                    }
                    if let Some(p) = r.refund_id {
                        ws.write_number(entry_row, 5, p as f64).map_err(e)?;
                    }
                    money_cells(
                        ws,
                        entry_row,
                        6,
                        &[r.amount, r.fee, r.commission, r.payout],
                        &money,
                    )
                    .map_err(e)?;
                    if r.adjustment {
                        ws.write_string(entry_row, 10, "да").map_err(e)?;
                    }
                    entry_row += 1;
                }
            }
        }
    }
    if !entries_sheet {
        let ws = wb.add_worksheet();
        ws.set_name("Операции").map_err(e)?;
        header(ws, &ENTRY_HEADERS, &[(1, 24.0), (2, 16.0)]).map_err(e)?;
    }
    wb.save(path).map_err(e)
}
