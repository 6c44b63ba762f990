//! Files of the administration: price-list import and export (.xlsx), residents import
//! (.xlsx or CSV), service cover images. Plain HTML forms post here and are sent back to
//! their page with the import's report id (or an error) in the address.

use super::service;
use crate::auth::model::{StaffUser, Viewer};
use crate::auth::permissions::Action;
use crate::auth::rate_limit::{self, UPLOADS};
use crate::auth::session::CurrentViewer;
use crate::error::{AppError, AppResult};
use crate::server::state::AppState;
use crate::server::storage::{error_response, receive_photo, serve};
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use http::header;

/// Largest spreadsheet taken.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_COVER_BYTES: usize = 5 * 1024 * 1024;
const MAX_ROWS: usize = 50_000;

fn admin(viewer: CurrentViewer) -> AppResult<StaffUser> {
    match viewer.0 {
        Some(Viewer::Staff(s)) if s.permissions.allows(Action::Administer) => Ok(s),
        Some(_) => Err(AppError::Forbidden),
        None => Err(AppError::Unauthorized),
    }
}

fn back(page: &str, outcome: AppResult<String>) -> Response {
    match outcome {
        Ok(id) => Redirect::to(&format!("{page}?import={id}")).into_response(),
        Err(AppError::Unauthorized) => Redirect::to("/staff/login").into_response(),
        Err(AppError::Forbidden) => error_response(AppError::Forbidden),
        Err(e) => Redirect::to(&format!(
            "{page}?import_error={}",
            crate::url::encode(&e.to_string())
        ))
        .into_response(),
    }
}

/// The `file` field of a form, whole (at most [`MAX_IMPORT_BYTES`]).
async fn file_field(multipart: &mut Multipart) -> AppResult<(String, Vec<u8>)> {
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| AppError::validation("Файл не загрузился целиком. Попробуйте ещё раз"))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("").to_lowercase();
        let mut field = field;
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|_| AppError::validation("Файл не загрузился целиком. Попробуйте ещё раз"))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_IMPORT_BYTES {
                return Err(AppError::validation("Файл больше 5 МБ"));
            }
        }
        if bytes.is_empty() {
            return Err(AppError::validation("Выберите файл"));
        }
        return Ok((name, bytes));
    }
    Err(AppError::validation("Выберите файл"))
}

/// The rows of the first sheet of an .xlsx, or of a CSV file, as text cells.
pub fn rows_of(name: &str, bytes: Vec<u8>) -> AppResult<Vec<Vec<String>>> {
    let rows: Vec<Vec<String>> = if name.ends_with(".csv") || name.ends_with(".txt") {
        let text = String::from_utf8(bytes)
            .map_err(|_| AppError::validation("CSV должен быть в кодировке UTF-8"))?;
        text.trim_start_matches('\u{feff}')
            .lines()
            .map(super::rules::csv_cells)
            .collect()
    } else {
        use calamine::{Data, Reader, Xlsx};
        let mut book = Xlsx::new(std::io::Cursor::new(bytes))
            .map_err(|_| AppError::validation("Это не файл Excel (.xlsx) и не CSV"))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| AppError::validation("В файле нет листов"))?
            .map_err(|_| AppError::validation("Лист не читается"))?;
        range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        // Whole numbers without a fraction (prices, phones typed as numbers).
                        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                            format!("{}", *f as i64)
                        }
                        Data::Float(f) => format!("{f}").replace('.', ","),
                        Data::Int(i) => i.to_string(),
                        Data::Bool(b) => if *b { "да" } else { "нет" }.to_owned(),
                        Data::Empty => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect()
    };
    if rows.len() > MAX_ROWS + 1 {
        return Err(AppError::validation(format!(
            "Не больше {MAX_ROWS} строк за раз"
        )));
    }
    Ok(rows)
}

/// `POST /staff/admin/entities/{id}/prices/import`
pub async fn import_prices(
    State(state): State<AppState>,
    Path(entity): Path<i64>,
    Extension(viewer): Extension<CurrentViewer>,
    mut multipart: Multipart,
) -> Response {
    let page = format!("/staff/admin/entities/{entity}");
    let who = rate_limit::who(&viewer);
    let outcome = async {
        let me = admin(viewer)?;
        let (name, bytes) = file_field(&mut multipart).await?;
        let rows = rows_of(&name, bytes)?;
        service::import_price_list(&state.pool, &me, entity, rows, crate::time::now()).await
    };
    let outcome = rate_limit::limited(&state.pool, UPLOADS, &who, outcome).await;
    back(&page, outcome)
}

/// `GET /staff/admin/entities/{id}/prices/export`: the price list in the import's columns.
pub async fn export_prices(
    State(state): State<AppState>,
    Path(entity): Path<i64>,
    Extension(viewer): Extension<CurrentViewer>,
) -> Response {
    let made = async {
        admin(viewer)?;
        let (_, items) = service::price_list(&state.pool, entity).await?;
        tokio::task::spawn_blocking(move || -> AppResult<Vec<u8>> {
            use rust_xlsxwriter::{Format, Workbook};
            let e = AppError::internal;
            let mut wb = Workbook::new();
            let bold = Format::new().set_bold();
            let money = Format::new().set_num_format("#,##0.00");
            let ws = wb.add_worksheet().set_name("Прайс-лист").map_err(e)?;
            for (i, h) in ["Наименование", "Ед. изм.", "Цена, ₽", "Активна"]
                .iter()
                .enumerate()
            {
                ws.write_string_with_format(0, i as u16, *h, &bold)
                    .map_err(e)?;
            }
            ws.set_column_width(0, 40).map_err(e)?;
            for (i, item) in items.iter().enumerate() {
                let row = i as u32 + 1;
                ws.write_string(row, 0, &item.name).map_err(e)?;
                ws.write_string(row, 1, &item.unit).map_err(e)?;
                ws.write_with_format(row, 2, item.price.to_decimal_rubles(), &money)
                    .map_err(e)?;
                ws.write_string(row, 3, if item.active { "да" } else { "нет" })
                    .map_err(e)?;
            }
            wb.save_to_buffer().map_err(e)
        })
        .await
        .map_err(AppError::internal)?
    }
    .await;
    match made {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"price-list-{entity}.xlsx\""),
                ),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /staff/admin/residents/import`
pub async fn import_residents(
    State(state): State<AppState>,
    Extension(viewer): Extension<CurrentViewer>,
    mut multipart: Multipart,
) -> Response {
    let who = rate_limit::who(&viewer);
    let outcome = async {
        let me = admin(viewer)?;
        let (name, bytes) = file_field(&mut multipart).await?;
        let rows = rows_of(&name, bytes)?;
        service::import_residents(&state.pool, &me, rows, crate::time::now()).await
    };
    let outcome = rate_limit::limited(&state.pool, UPLOADS, &who, outcome).await;
    back("/staff/admin/residents", outcome)
}

/// `POST /staff/admin/services/{id}/cover` (multipart, field `file`): a new cover image.
pub async fn upload_cover(
    State(state): State<AppState>,
    Path(service_id): Path<i64>,
    Extension(viewer): Extension<CurrentViewer>,
    mut multipart: Multipart,
) -> Response {
    let page = format!("/staff/admin/services/{service_id}");
    let who = rate_limit::who(&viewer);
    let outcome = async {
        let me = admin(viewer)?;
        let dir = state.config.data_dir.join("covers");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(AppError::internal)?;
        let photo = receive_photo(&mut multipart, &dir, MAX_COVER_BYTES).await?;
        let set =
            service::set_cover(&state.pool, &me, service_id, &photo, crate::time::now()).await;
        if set.is_err() {
            let _ = tokio::fs::remove_file(&photo.saved.path).await;
        }
        set
    };
    let outcome = rate_limit::limited(&state.pool, UPLOADS, &who, outcome).await;
    match outcome {
        Ok(()) => Redirect::to(&page).into_response(),
        Err(AppError::Unauthorized) => Redirect::to("/staff/login").into_response(),
        Err(AppError::Forbidden) => error_response(AppError::Forbidden),
        Err(e) => Redirect::to(&format!(
            "{page}?cover_error={}",
            crate::url::encode(&e.to_string())
        ))
        .into_response(),
    }
}

/// `GET /covers/{id}`: a cover image (public, like the catalog it illustrates).
pub async fn cover(State(state): State<AppState>, Path(cover_id): Path<String>) -> Response {
    let row: Result<Option<(String, String, String)>, sqlx::Error> = sqlx::query_as(
        "select stored_name, file_name, content_type from covers where cover_id = ?",
    )
    .bind(&cover_id)
    .fetch_optional(&state.pool)
    .await;
    match row {
        Ok(Some((stored, name, content_type))) => {
            match serve(
                &state.config.data_dir.join("covers"),
                &stored,
                &name,
                &content_type,
                false,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => error_response(e),
            }
        }
        Ok(None) => error_response(AppError::NotFound),
        Err(e) => error_response(e.into()),
    }
}
