//! Export of the filtered list to .xlsx: a background job writes the file page by page
//! (constant memory), the page shows its progress, then the file downloads.

use super::api::ListScope;
use super::filter::OrderFilter;
use crate::error::AppError;
use crate::ui::ErrorNote;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub use ssr::{begin, download, excel_time, write_xlsx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportProgress {
    pub export_id: String,
    pub total_rows: i64,
    pub done_rows: i64,
    pub finished: bool,
    pub failed: bool,
}

impl ExportProgress {
    pub fn percent(&self) -> i64 {
        if self.total_rows == 0 {
            if self.finished {
                100
            } else {
                0
            }
        } else {
            self.done_rows * 100 / self.total_rows
        }
    }

    pub fn download_url(&self) -> String {
        format!("/staff/exports/{}", self.export_id)
    }
}

/// Starts exporting what the list shows (the same scope and filter).
#[server(prefix = "/api", endpoint = "start_export", input = Json)]
pub async fn start_export(
    scope: ListScope,
    filter: OrderFilter,
) -> Result<ExportProgress, AppError> {
    let (staff, only_assignee) = super::api::list_access(scope)?;
    let state = crate::server::state::app_state()?;
    use crate::auth::rate_limit::{self, EXPORTS};
    let (pool, who) = (state.pool.clone(), rate_limit::staff(&staff));
    let start = ssr::start(state, staff.staff_id, filter, only_assignee);
    rate_limit::limited(&pool, EXPORTS, &who, start).await
}

#[server(prefix = "/api", endpoint = "export_progress")]
pub async fn poll_export(export_id: String) -> Result<ExportProgress, AppError> {
    use crate::auth::permissions::Action;
    let staff = crate::auth::session::require_staff(Action::ViewAssignedOrders)?;
    ssr::progress(
        &crate::server::state::app_state()?.pool,
        staff.staff_id,
        &export_id,
    )
    .await
}

/// «Выгрузить в Excel» with a progress bar.
#[component]
pub fn ExportButton(scope: ListScope, filter: Memo<OrderFilter>) -> impl IntoView {
    let progress = RwSignal::new(None::<ExportProgress>);
    let error = RwSignal::new(None::<AppError>);
    let busy = move || progress.get().is_some_and(|p| !p.finished && !p.failed);
    let start = move |_| {
        error.set(None);
        let f = filter.get_untracked();
        leptos::task::spawn_local(async move {
            match start_export(scope, f).await {
                Ok(p) => {
                    progress.set(Some(p.clone()));
                    follow(p, progress, error).await;
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="export">
            <button class="secondary" on:click=start disabled=busy>"Выгрузить в Excel"</button>
            {move || progress.get().map(|p| {
                if p.failed {
                    view! { <span class="error">"Выгрузка не удалась"</span> }.into_any()
                } else if p.finished {
                    view! { <a href=p.download_url() class="small">{format!("Файл готов: {} строк", p.total_rows)}</a> }.into_any()
                } else {
                    view! {
                        <span class="progress" role="progressbar" aria-valuenow=p.percent()>
                            <span class="bar" style=format!("width:{}%", p.percent())></span>
                            <span class="label">{format!("Выгрузка… {}%", p.percent())}</span>
                        </span>
                    }.into_any()
                }
            })}
            <ErrorNote error=error/>
        </div>
    }
}

/// Polls until the export finishes, then starts the download.
async fn follow(
    mut p: ExportProgress,
    progress: RwSignal<Option<ExportProgress>>,
    error: RwSignal<Option<AppError>>,
) {
    #[cfg(feature = "hydrate")]
    {
        while !p.finished && !p.failed {
            gloo_timers::future::TimeoutFuture::new(300).await;
            match poll_export(p.export_id.clone()).await {
                Ok(next) => {
                    p = next;
                    progress.set(Some(p.clone()));
                }
                Err(e) => {
                    error.set(Some(e));
                    return;
                }
            }
        }
        if p.finished && !p.failed {
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign(&p.download_url());
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (&mut p, progress, error);
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::auth::model::Viewer;
    use crate::auth::session::CurrentViewer;
    use crate::error::AppResult;
    use crate::orders::model::OrderRow;
    use crate::orders::repo::{self, ListQuery};
    use crate::server::state::AppState;
    use crate::time::LocalDateTime;
    use axum::body::Body;
    use axum::extract::{Path, State};
    use axum::response::{IntoResponse, Response};
    use axum::Extension;
    use http::{header, StatusCode};
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
    use sqlx::SqlitePool;

    const BATCH: i64 = 2000;

    pub async fn start(
        state: AppState,
        staff_id: i64,
        filter: OrderFilter,
        only_assignee: Option<i64>,
    ) -> AppResult<ExportProgress> {
        let query = ListQuery {
            filter,
            after: None,
            only_assignee,
            limit: BATCH,
            utc_offset_minutes: state.config.utc_offset_minutes,
        };
        let total = count(&state.pool, &query);
        let (export_id, total) = begin(&state.pool, staff_id, crate::time::now(), total).await?;
        let id = export_id.clone();
        tokio::spawn(async move {
            let dir = state.config.data_dir.join("exports");
            let file_name = format!("{id}.xlsx");
            let result = write_xlsx(
                &state.pool,
                query,
                &dir.join(&file_name),
                state.config.utc_offset_minutes,
                Some(&id),
            )
            .await
            .map(|()| file_name);
            let (st, file) = match result {
                Ok(file) => ("done", Some(file)),
                Err(e) => {
                    tracing::error!(export_id = %id, error = %e, "export failed");
                    ("failed", None)
                }
            };
            if let Err(e) =
                sqlx::query("update exports set state = ?, file_name = ? where export_id = ?")
                    .bind(st)
                    .bind(file)
                    .bind(&id)
                    .execute(&state.pool)
                    .await
            {
                tracing::error!(error = %e, "could not record the export's end");
            }
        });
        Ok(ExportProgress {
            export_id,
            total_rows: total,
            done_rows: 0,
            finished: false,
            failed: false,
        })
    }

    /// Records a new running export for the employee, of `total` rows (counted only when no
    /// other export of theirs runs), and returns its id and size; refused while another
    /// runs. The unique index `exports_one_running` holds the rule when starts race: the
    /// check before the count alone let 15–18 of 50 parallel starts in.
    pub async fn begin(
        pool: &SqlitePool,
        staff_id: i64,
        now: i64,
        total: impl std::future::Future<Output = AppResult<i64>>,
    ) -> AppResult<(String, i64)> {
        let busy = || AppError::rule("Дождитесь окончания предыдущей выгрузки");
        let running: i64 = sqlx::query_scalar(
            "select count(*) from exports where staff_id = ? and state = 'running'",
        )
        .bind(staff_id)
        .fetch_one(pool)
        .await?;
        if running > 0 {
            return Err(busy());
        }
        let total = total.await?;
        let export_id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("insert into exports (export_id, staff_id, created_at, total_rows, state) values (?, ?, ?, ?, 'running')")
            .bind(&export_id)
            .bind(staff_id)
            .bind(now)
            .bind(total)
            .execute(pool)
            .await
            .map_err(|e| match e.as_database_error() {
                Some(d) if d.is_unique_violation() => busy(),
                _ => e.into(),
            })?;
        Ok((export_id, total))
    }

    async fn count(pool: &SqlitePool, query: &ListQuery) -> AppResult<i64> {
        let ctx = repo::SearchContext::load(pool, query).await?;
        let mut conn = crate::server::db::bulk_reader(pool).await?;
        Ok(repo::build_count_query(query, &ctx)
            .build_query_scalar()
            .fetch_one(&mut conn)
            .await?)
    }

    pub async fn progress(
        pool: &SqlitePool,
        staff_id: i64,
        export_id: &str,
    ) -> AppResult<ExportProgress> {
        let row: Option<(i64, i64, String)> = sqlx::query_as(
            "select total_rows, done_rows, state from exports where export_id = ? and staff_id = ?",
        )
        .bind(export_id)
        .bind(staff_id)
        .fetch_optional(pool)
        .await?;
        let (total_rows, done_rows, state) = row.ok_or(AppError::NotFound)?;
        Ok(ExportProgress {
            export_id: export_id.to_owned(),
            total_rows,
            done_rows,
            finished: state != "running",
            failed: state == "failed",
        })
    }

    const HEADERS: [&str; 13] = [
        "Номер",
        "Статус",
        "Услуга",
        "Клиент",
        "Адрес клиента",
        "Создан",
        "Обновлен",
        "Сумма, ₽",
        "Оплачено",
        "Затраты, ₽",
        "Возврат, ₽",
        "Оценка",
        "Ответственный",
    ];

    /// A timestamp as an Excel date-time in the zone at `offset`.
    pub fn excel_time(ts: i64, offset: i32) -> Option<ExcelDateTime> {
        let t = LocalDateTime::from_unix(ts, offset);
        ExcelDateTime::from_ymd(u16::try_from(t.year).ok()?, t.month as u8, t.day as u8)
            .ok()?
            .and_hms(t.hour as u16, t.minute as u8, t.second)
            .ok()
    }

    fn write_row(
        ws: &mut Worksheet,
        row: u32,
        o: &OrderRow,
        offset: i32,
        money: &Format,
        date: &Format,
    ) -> Result<(), rust_xlsxwriter::XlsxError> {
        ws.write_number(row, 0, o.order_id as u32)?;
        ws.write_string(row, 1, o.status.label())?;
        ws.write_string(row, 2, &o.service_name)?;
        ws.write_string(row, 3, &o.client_name)?;
        ws.write_string(row, 4, &o.address)?;
        if let Some(d) = excel_time(o.created_at, offset) {
            ws.write_datetime_with_format(row, 5, &d, date)?;
        }
        if let Some(d) = excel_time(o.updated_at, offset) {
            ws.write_datetime_with_format(row, 6, &d, date)?;
        }
        ws.write_with_format(row, 7, o.total.to_decimal_rubles(), money)?;
        ws.write_string(row, 8, if o.all_paid { "да" } else { "нет" })?;
        ws.write_with_format(row, 9, o.costs.to_decimal_rubles(), money)?;
        if o.refund_mark.is_some() {
            ws.write_with_format(row, 10, o.refund.to_decimal_rubles(), money)?;
        }
        if let Some(r) = o.rating {
            ws.write_number(row, 11, r)?;
        }
        ws.write_string(row, 12, o.assignee_name.as_deref().unwrap_or(""))?;
        Ok(())
    }

    /// Writes every row the query matches to an .xlsx file in constant memory, recording
    /// progress on the export's row when an id is given. Pages of rows (one JSON value
    /// each, see [`repo::export_page`]) go to a writer on a blocking thread, so reading
    /// and writing overlap and a long export costs about the slower of the two.
    pub async fn write_xlsx(
        pool: &SqlitePool,
        mut query: ListQuery,
        path: &std::path::Path,
        offset: i32,
        export_id: Option<&str>,
    ) -> AppResult<()> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(AppError::internal)?;
        }
        query.limit = BATCH;
        query.after = None;
        // Two pages in flight at most: memory stays constant.
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<OrderRow>>(2);
        let path = path.to_path_buf();
        let writer = tokio::task::spawn_blocking(move || write_pages(rx, &path, offset));
        let read = async {
            let ctx = repo::SearchContext::load(pool, &query).await?;
            let mut conn = crate::server::db::bulk_reader(pool).await?;
            let mut fetched = 0i64;
            loop {
                let (rows, next) = repo::export_page(&mut conn, &query, &ctx).await?;
                fetched += rows.len() as i64;
                if tx.send(rows).await.is_err() {
                    // The writer stopped: its error is reported below.
                    break;
                }
                if let Some(id) = export_id {
                    sqlx::query("update exports set done_rows = ? where export_id = ?")
                        .bind(fetched)
                        .bind(id)
                        .execute(pool)
                        .await?;
                }
                match next {
                    Some(c) => query.after = Some(c),
                    None => break,
                }
            }
            Ok::<(), AppError>(())
        }
        .await;
        drop(tx);
        let written = writer.await.map_err(AppError::internal)?;
        read?;
        written
    }

    /// The writing half of [`write_xlsx`]: pages as they arrive, then the file.
    fn write_pages(
        mut pages: tokio::sync::mpsc::Receiver<Vec<OrderRow>>,
        path: &std::path::Path,
        offset: i32,
    ) -> AppResult<()> {
        let mut workbook = Workbook::new();
        // Deflate level 1: the sheet is compressed after the last row, so this is time the
        // user waits; the file is somewhat bigger than Excel's own.
        workbook.set_zip_compression_level(1);
        let money = Format::new().set_num_format("#,##0.00\\ \"₽\"");
        let date = Format::new().set_num_format("dd.mm.yyyy hh:mm");
        let bold = Format::new().set_bold();
        let ws = workbook
            .add_worksheet_with_constant_memory()
            .map_err(AppError::internal)?;
        ws.set_name("Заказы").map_err(AppError::internal)?;
        for (i, h) in HEADERS.iter().enumerate() {
            ws.write_string_with_format(0, i as u16, *h, &bold)
                .map_err(AppError::internal)?;
        }
        for (col, width) in [
            (0u16, 9.0),
            (1, 12.0),
            (2, 28.0),
            (3, 30.0),
            (4, 34.0),
            (5, 16.0),
            (6, 16.0),
            (7, 13.0),
            (12, 26.0),
        ] {
            ws.set_column_width(col, width)
                .map_err(AppError::internal)?;
        }
        let mut row = 1u32;
        while let Some(rows) = pages.blocking_recv() {
            for o in &rows {
                write_row(ws, row, o, offset, &money, &date).map_err(AppError::internal)?;
                row += 1;
            }
        }
        workbook.save(path).map_err(AppError::internal)
    }

    /// `GET /staff/exports/{id}`: the finished file, only to the employee who asked for it.
    pub async fn download(
        State(state): State<AppState>,
        Path(export_id): Path<String>,
        Extension(viewer): Extension<CurrentViewer>,
    ) -> Response {
        let Some(Viewer::Staff(staff)) = viewer.0 else {
            return (StatusCode::UNAUTHORIZED, AppError::Unauthorized.to_string()).into_response();
        };
        // The role may have lost the orders section since the export was made.
        if !staff
            .permissions
            .allows(crate::auth::permissions::Action::ViewAssignedOrders)
        {
            return (StatusCode::FORBIDDEN, AppError::Forbidden.to_string()).into_response();
        }
        let row: Option<(Option<String>, i64)> =
            match sqlx::query_as("select file_name, created_at from exports where export_id = ? and staff_id = ? and state = 'done'")
                .bind(&export_id)
                .bind(staff.staff_id)
                .fetch_optional(&state.pool)
                .await
            {
                Ok(r) => r,
                Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, AppError::from(e).to_string()).into_response(),
            };
        let Some((Some(file_name), created_at)) = row else {
            return (StatusCode::NOT_FOUND, AppError::NotFound.to_string()).into_response();
        };
        let Ok(file) =
            tokio::fs::File::open(state.config.data_dir.join("exports").join(&file_name)).await
        else {
            return (StatusCode::NOT_FOUND, AppError::NotFound.to_string()).into_response();
        };
        let t = LocalDateTime::from_unix(created_at, state.config.utc_offset_minutes);
        let download_name = format!(
            "orders-{:04}-{:02}-{:02}-{:02}{:02}.xlsx",
            t.year, t.month, t.day, t.hour, t.minute
        );
        Response::builder()
            .header(
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{download_name}\""),
            )
            .header(header::CACHE_CONTROL, "private, no-store")
            .body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}
