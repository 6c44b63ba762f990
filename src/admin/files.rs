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
use crate::server::storage::{error_response, receive_photo, serve, too_large, upload_broke_off};
use crate::text::clean_file_name;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use http::header;

/// Largest spreadsheet taken.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_COVER_BYTES: usize = 5 * 1024 * 1024;

/// Limits of one import, checked before and while a file is read, so that a small file
/// that unpacks into a huge one (a zip bomb) is refused without being held in memory.
pub mod limits {
    /// Rows after the header.
    pub const MAX_ROWS: usize = 50_000;
    /// Columns from the first filled one.
    pub const MAX_COLUMNS: usize = 26;
    /// Characters in one cell.
    pub const MAX_CELL_CHARS: usize = 1_000;
    /// Bytes in one CSV line.
    pub const MAX_LINE_BYTES: usize = 16 * 1024;
    /// The cells' text together, counting 32 bytes of bookkeeping per cell.
    pub const MAX_CELLS_BYTES: usize = 24 * 1024 * 1024;
    /// Files inside an .xlsx (a workbook of one sheet has about a dozen).
    pub const MAX_PARTS: usize = 200;
    /// One file inside an .xlsx, unpacked.
    pub const MAX_PART_BYTES: u64 = 20 * 1024 * 1024;
    /// All files inside an .xlsx, unpacked.
    pub const MAX_UNPACKED_BYTES: u64 = 40 * 1024 * 1024;
    /// Shared strings an .xlsx may announce (calamine reserves room for them up front).
    pub const MAX_SHARED_STRINGS: u64 = ((MAX_ROWS + 1) * MAX_COLUMNS) as u64;
}
use limits::*;

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
        .map_err(|e| upload_broke_off(e, None, MAX_IMPORT_BYTES))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = clean_file_name(field.file_name().unwrap_or("")).to_lowercase();
        let mut field = field;
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| upload_broke_off(e, None, MAX_IMPORT_BYTES))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_IMPORT_BYTES {
                return Err(too_large(None, MAX_IMPORT_BYTES));
            }
        }
        if bytes.is_empty() {
            return Err(AppError::validation("Выберите файл"));
        }
        return Ok((name, bytes));
    }
    Err(AppError::validation("Выберите файл"))
}

fn too_much_data() -> AppError {
    AppError::validation(format!(
        "В файле слишком много данных для одного импорта (не больше {MAX_ROWS} строк и {} МБ \
         текста): разделите его на части",
        MAX_CELLS_BYTES / (1024 * 1024)
    ))
}

fn too_many_rows() -> AppError {
    AppError::validation(format!("Не больше {MAX_ROWS} строк за раз"))
}

fn not_a_spreadsheet() -> AppError {
    AppError::validation("Это не файл Excel (.xlsx) и не CSV")
}

/// A cell's address as Excel shows it («B12»), for messages.
fn cell_address(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        letters.push(char::from(b'A' + ((n - 1) % 26) as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(row + 1).to_string()
}

fn long_cell(row: u32, col: u32) -> AppError {
    AppError::validation(format!(
        "В ячейке {} больше {MAX_CELL_CHARS} символов",
        cell_address(row, col)
    ))
}

/// The rows of the first sheet of an .xlsx, or of a CSV file, as text cells; a file over
/// the [`limits`] is refused with a Russian message.
pub fn rows_of(name: &str, bytes: Vec<u8>) -> AppResult<Vec<Vec<String>>> {
    let rows = if name.ends_with(".csv") || name.ends_with(".txt") {
        csv_rows(bytes)?
    } else {
        check_xlsx_package(&bytes)?;
        xlsx_rows(bytes)?
    };
    if rows.len() > MAX_ROWS + 1 {
        return Err(too_many_rows());
    }
    Ok(rows)
}

fn csv_rows(bytes: Vec<u8>) -> AppResult<Vec<Vec<String>>> {
    let text = String::from_utf8(bytes)
        .map_err(|_| AppError::validation("CSV должен быть в кодировке UTF-8"))?;
    let mut rows = Vec::new();
    for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        if i > MAX_ROWS {
            return Err(too_many_rows());
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(AppError::validation(format!(
                "Строка {} длиннее {} КБ",
                i + 1,
                MAX_LINE_BYTES / 1024
            )));
        }
        let cells = super::rules::csv_cells(line);
        if cells.len() > MAX_COLUMNS {
            return Err(AppError::validation(format!(
                "В строке {} больше {MAX_COLUMNS} столбцов",
                i + 1
            )));
        }
        if let Some(col) = cells
            .iter()
            .position(|c| c.chars().count() > MAX_CELL_CHARS)
        {
            return Err(long_cell(i as u32, col as u32));
        }
        rows.push(cells);
    }
    Ok(rows)
}

/// Checks an .xlsx (a zip) before anything in it is unpacked for real: how many files it
/// holds, the sizes it declares, and — not trusting the declarations — the sizes its files
/// actually unpack to, read through a capped reader into nothing. Also refuses a shared
/// string table announcing more strings than an import may hold.
pub fn check_xlsx_package(bytes: &[u8]) -> AppResult<()> {
    use std::io::Read;
    if declared_entries(bytes).ok_or_else(not_a_spreadsheet)? > MAX_PARTS {
        return Err(too_much_data());
    }
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| not_a_spreadsheet())?;
    if zip.len() > MAX_PARTS {
        return Err(too_much_data());
    }
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let part = zip.by_index_raw(i).map_err(|_| not_a_spreadsheet())?;
        if part.size() > MAX_PART_BYTES {
            return Err(too_much_data());
        }
        declared = declared.saturating_add(part.size());
    }
    if declared > MAX_UNPACKED_BYTES {
        return Err(too_much_data());
    }
    let mut unpacked = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let part = zip.by_index(i).map_err(|_| not_a_spreadsheet())?;
        let cap = MAX_PART_BYTES.min(MAX_UNPACKED_BYTES - unpacked);
        let mut capped = part.take(cap + 1);
        let mut scan = CountScan::default();
        let mut read = 0u64;
        loop {
            let n = capped.read(&mut buf).map_err(|_| not_a_spreadsheet())?;
            read += n as u64;
            if read > cap {
                return Err(too_much_data());
            }
            scan.feed(&buf[..n], n == 0)?;
            if n == 0 {
                break;
            }
        }
        unpacked += read;
    }
    Ok(())
}

/// The number of files the zip's end record declares (`None` when there is no record).
fn declared_entries(bytes: &[u8]) -> Option<usize> {
    const END: &[u8] = b"PK\x05\x06";
    let from = bytes.len().saturating_sub(22 + usize::from(u16::MAX));
    let at = bytes[from..].windows(4).rposition(|w| w == END)? + from;
    let total = bytes.get(at + 10..at + 12)?;
    Some(usize::from(u16::from_le_bytes([total[0], total[1]])))
}

/// Finds every `uniqueCount="…"` in a part read in pieces and refuses one above
/// [`MAX_SHARED_STRINGS`] (or one it cannot read, which no spreadsheet program writes).
#[derive(Default)]
struct CountScan {
    /// The end of the previous piece, where an attribute may have been cut.
    carry: Vec<u8>,
}

impl CountScan {
    const NAME: &'static [u8] = b"uniqueCount";
    /// Room after the name for `="1234567"` with some spaces.
    const VALUE_ROOM: usize = 40;

    fn feed(&mut self, piece: &[u8], last: bool) -> AppResult<()> {
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(piece);
        let mut keep_from = window
            .len()
            .saturating_sub(Self::NAME.len() + Self::VALUE_ROOM);
        let mut at = 0;
        while let Some(found) = window[at..]
            .windows(Self::NAME.len())
            .position(|w| w == Self::NAME)
        {
            let start = at + found;
            let value = &window[start + Self::NAME.len()..];
            if value.len() < Self::VALUE_ROOM && !last {
                keep_from = keep_from.min(start);
                break;
            }
            match announced_count(value) {
                Some(n) if n <= MAX_SHARED_STRINGS => {}
                _ => return Err(too_much_data()),
            }
            at = start + 1;
        }
        self.carry = window.split_off(keep_from);
        Ok(())
    }
}

/// The number in `="123"` (spaces allowed around `=`, either quote).
fn announced_count(value: &[u8]) -> Option<u64> {
    let rest = value
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first().filter(|q| matches!(q, b'"' | b'\''))?;
    let digits: Vec<u8> = rest[1..]
        .iter()
        .copied()
        .take_while(|c| *c != quote)
        .collect();
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The first sheet, read cell by cell (never as a whole grid, whose size a file may
/// declare at will), with the row, column, cell and text limits checked on the way.
fn xlsx_rows(bytes: Vec<u8>) -> AppResult<Vec<Vec<String>>> {
    use calamine::{Reader, Xlsx};
    let mut book = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|_| not_a_spreadsheet())?;
    let sheet = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| AppError::validation("В файле нет листов"))?;
    let mut reader = book
        .worksheet_cells_reader(&sheet)
        .map_err(|_| AppError::validation("Лист не читается"))?;
    let mut cells: Vec<(u32, u32, String)> = Vec::new();
    let mut budget = 0usize;
    while let Some(cell) = reader
        .next_cell()
        .map_err(|_| AppError::validation("Лист не читается"))?
    {
        let (row, col) = cell.get_position();
        let Some(text) = cell_text(cell.get_value()) else {
            return Err(long_cell(row, col));
        };
        if text.is_empty() {
            continue;
        }
        budget += text.len() + 32;
        if budget > MAX_CELLS_BYTES {
            return Err(too_much_data());
        }
        cells.push((row, col, text));
    }
    let (Some(top), Some(left)) = (
        cells.iter().map(|c| c.0).min(),
        cells.iter().map(|c| c.1).min(),
    ) else {
        return Ok(Vec::new());
    };
    let bottom = cells.iter().map(|c| c.0).max().unwrap_or(top);
    let right = cells.iter().map(|c| c.1).max().unwrap_or(left);
    if (bottom - top) as usize > MAX_ROWS {
        return Err(too_many_rows());
    }
    if (right - left) as usize >= MAX_COLUMNS {
        return Err(AppError::validation(format!(
            "Не больше {MAX_COLUMNS} столбцов"
        )));
    }
    // Rows from the first filled one, cells from the first filled column (as calamine's
    // ranges); each row only as long as its last filled cell.
    let mut rows = vec![Vec::new(); (bottom - top) as usize + 1];
    for (row, col, text) in cells {
        let row = &mut rows[(row - top) as usize];
        let col = (col - left) as usize;
        if row.len() <= col {
            row.resize(col + 1, String::new());
        }
        row[col] = text;
    }
    Ok(rows)
}

/// A cell as text (`None` when it is longer than [`MAX_CELL_CHARS`]).
fn cell_text(value: &calamine::DataRef<'_>) -> Option<String> {
    use calamine::{Data, DataRef};
    let fits = |s: &str| s.len() <= MAX_CELL_CHARS || s.chars().count() <= MAX_CELL_CHARS;
    let data = match value {
        DataRef::SharedString(s) if !fits(s) => return None,
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) if !fits(s) => {
            return None
        }
        other => Data::from(other.clone()),
    };
    Some(match data {
        // Whole numbers without a fraction (prices, phones typed as numbers).
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Data::Float(f) => format!("{f}").replace('.', ","),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if b { "да" } else { "нет" }.to_owned(),
        Data::Empty => String::new(),
        other => other.to_string(),
    })
}

/// [`rows_of`] off the async threads (unpacking and parsing take a while).
async fn read_rows(name: String, bytes: Vec<u8>) -> AppResult<Vec<Vec<String>>> {
    tokio::task::spawn_blocking(move || rows_of(&name, bytes))
        .await
        .map_err(AppError::internal)?
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
        let rows = read_rows(name, bytes).await?;
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
        let vat = super::payment_accounts::vat_rates(&state.pool, crate::time::now()).await?;
        tokio::task::spawn_blocking(move || -> AppResult<Vec<u8>> {
            use rust_xlsxwriter::{Format, Workbook};
            let e = AppError::internal;
            let mut wb = Workbook::new();
            let bold = Format::new().set_bold();
            let money = Format::new().set_num_format("#,##0.00");
            let ws = wb.add_worksheet().set_name("Прайс-лист").map_err(e)?;
            let vat_name = |code: &str| -> String {
                let rates: Vec<_> = vat.rates.iter().filter(|r| r.code == code).collect();
                rates
                    .iter()
                    .find(|r| r.in_force(&vat.today))
                    .or(rates.last())
                    .map_or_else(|| code.to_owned(), |r| r.name.clone())
            };
            for (i, h) in [
                "Наименование",
                "Ед. изм.",
                "Цена, ₽",
                "Активна",
                "НДС",
                "Признак предмета расчёта",
            ]
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
                ws.write_string(row, 4, vat_name(&item.vat_code))
                    .map_err(e)?;
                ws.write_string(row, 5, super::rules::subject_label(&item.payment_subject))
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
        let rows = read_rows(name, bytes).await?;
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
