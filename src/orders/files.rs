//! «Прикрепленные файлы»: staff-only files of an order, stored on disk under the data
//! directory and served only to staff who may see the order.

use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub use ssr::{download, upload};

/// Largest accepted file.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;
/// Most files in one upload.
pub const MAX_FILES: usize = 10;

/// The content type for an accepted file name; `None` for types that are not accepted.
pub fn content_type_for(file_name: &str) -> Option<&'static str> {
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        _ => return None,
    })
}

/// Deletes an attachment (its uploader or an administrator); the file is kept on disk.
#[server(prefix = "/api", endpoint = "delete_attachment")]
pub async fn delete_attachment(attachment_id: i64) -> Result<(), AppError> {
    use crate::auth::permissions::Action;
    let staff = crate::auth::session::require_staff(Action::EditOrders)?;
    let pool = crate::server::state::app_state()?.pool;
    let mut tx = crate::server::db::write_tx(&pool).await?;
    let row: Option<(i64, i64, String)> = sqlx::query_as(
        "select order_id, staff_id, file_name from attachments where attachment_id = ? and deleted_at is null",
    )
    .bind(attachment_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (order_id, uploader, file_name) = row.ok_or(AppError::NotFound)?;
    super::service::editable_order(&mut tx, &staff, order_id).await?;
    if uploader != staff.staff_id && !staff.permissions.admin {
        return Err(AppError::rule(
            "Удалить файл может только тот, кто его прикрепил, или администратор",
        ));
    }
    let now = crate::time::now();
    sqlx::query("update attachments set deleted_at = ?, deleted_by = ? where attachment_id = ?")
        .bind(now)
        .bind(staff.staff_id)
        .bind(attachment_id)
        .execute(&mut *tx)
        .await?;
    record_file_event(
        &mut tx,
        order_id,
        staff.staff_id,
        "Удалён файл",
        &file_name,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Writes a file event into «История» and marks the order as updated.
#[cfg(feature = "ssr")]
async fn record_file_event(
    conn: &mut sqlx::SqliteConnection,
    order_id: i64,
    staff_id: i64,
    what: &str,
    file_name: &str,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "insert into order_history (order_id, at, staff_id, kind, comment) values (?, ?, ?, ?, ?)",
    )
    .bind(order_id)
    .bind(now)
    .bind(staff_id)
    .bind(what)
    .bind(file_name)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update orders set updated_at = ? where order_id = ?")
        .bind(now)
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::auth::model::{StaffUser, Viewer};
    use crate::auth::permissions::Action;
    use crate::auth::session::CurrentViewer;
    use crate::server::state::AppState;
    use crate::server::storage::{
        error_response, files_dir, save_field, serve as serve_stored, upload_broke_off,
    };
    use crate::text::clean_file_name;
    use crate::url::encode as encode_component;
    use axum::extract::{Multipart, Path, Query, State};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::Extension;

    fn staff_of(viewer: &CurrentViewer) -> Result<StaffUser, AppError> {
        match &viewer.0 {
            Some(Viewer::Staff(s)) => Ok(s.clone()),
            Some(Viewer::Resident(_)) => Err(AppError::Forbidden),
            None => Err(AppError::Unauthorized),
        }
    }

    /// `POST /staff/orders/{id}/files` (multipart, field `files`): stores the files, then
    /// returns to the card (with `files_error` when something was refused).
    pub async fn upload(
        State(state): State<AppState>,
        Path(order_id): Path<i64>,
        Extension(viewer): Extension<CurrentViewer>,
        multipart: Multipart,
    ) -> Response {
        let back = format!("/staff/orders/{order_id}");
        use crate::auth::rate_limit::{self, UPLOADS};
        let store = store_uploads(&state, &viewer, order_id, multipart);
        match rate_limit::limited(&state.pool, UPLOADS, &rate_limit::who(&viewer), store).await {
            Ok(()) => Redirect::to(&back).into_response(),
            Err(AppError::Unauthorized) => Redirect::to("/staff/login").into_response(),
            Err(e) => Redirect::to(&format!(
                "{back}?files_error={}",
                encode_component(&e.to_string())
            ))
            .into_response(),
        }
    }

    async fn store_uploads(
        state: &AppState,
        viewer: &CurrentViewer,
        order_id: i64,
        mut multipart: Multipart,
    ) -> Result<(), AppError> {
        let staff = staff_of(viewer)?;
        if !staff.permissions.allows(Action::EditOrders) {
            return Err(AppError::Forbidden);
        }
        {
            let mut conn = state.pool.acquire().await?;
            super::super::service::editable_order(&mut conn, &staff, order_id).await?;
        }
        let dir = files_dir(&state.config.data_dir).await?;
        // Files go to disk first; rows are inserted only when all arrived whole. Whatever
        // fails on the way, nothing written stays behind.
        let mut written: Vec<std::path::PathBuf> = Vec::new();
        let outcome: Result<(), AppError> = async {
            // Each file is written to disk first; rows are inserted only when all arrived whole.
            let mut stored: Vec<(String, &'static str, i64, String)> = Vec::new();
            let mut failure = None;
            while let Some(mut field) = multipart
                .next_field()
                .await
                .map_err(|e| upload_broke_off(e, None, MAX_FILE_BYTES))?
            {
                let Some(raw_name) = field.file_name().map(str::to_owned) else {
                    continue;
                };
                let name = clean_file_name(&raw_name);
                if name.is_empty() {
                    continue;
                }
                if stored.len() >= MAX_FILES {
                    failure = Some(AppError::validation(format!(
                        "Не больше {MAX_FILES} файлов за раз"
                    )));
                    break;
                }
                let Some(content_type) = content_type_for(&name) else {
                    failure = Some(AppError::validation(format!(
                        "Файл «{name}»: такой тип файлов не принимается"
                    )));
                    break;
                };
                let saved = save_field(&mut field, &dir, &name, MAX_FILE_BYTES).await?;
                written.push(saved.path);
                let (size, stored_name) = (saved.size, saved.stored_name);
                stored.push((name, content_type, size as i64, stored_name));
            }
            if let Some(e) = failure {
                return Err(e);
            }
            if stored.is_empty() {
                return Err(AppError::validation("Выберите файлы"));
            }
            let now = crate::time::now();
            let mut tx = crate::server::db::write_tx(&state.pool).await?;
            super::super::service::editable_order(&mut tx, &staff, order_id).await?;
            for (name, content_type, size, stored_name) in &stored {
                sqlx::query(
                    "insert into attachments (order_id, staff_id, file_name, content_type, size_bytes, stored_name, created_at) \
                     values (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(order_id)
                .bind(staff.staff_id)
                .bind(name)
                .bind(content_type)
                .bind(size)
                .bind(stored_name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                super::record_file_event(&mut tx, order_id, staff.staff_id, "Прикреплён файл", name, now).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        if outcome.is_err() {
            for path in &written {
                let _ = tokio::fs::remove_file(path).await;
            }
        }
        outcome
    }

    #[derive(serde::Deserialize)]
    pub struct DownloadQuery {
        download: Option<String>,
    }

    /// `GET /staff/files/{id}`: the file, to staff who may see its order.
    pub async fn download(
        State(state): State<AppState>,
        Path(attachment_id): Path<i64>,
        Query(q): Query<DownloadQuery>,
        Extension(viewer): Extension<CurrentViewer>,
    ) -> Response {
        match serve(&state, &viewer, attachment_id, q.download.is_some()).await {
            Ok(r) => r,
            Err(e) => error_response(e),
        }
    }

    async fn serve(
        state: &AppState,
        viewer: &CurrentViewer,
        attachment_id: i64,
        as_download: bool,
    ) -> Result<Response, AppError> {
        let staff = staff_of(viewer)?;
        let row: Option<(i64, String, String, String)> = sqlx::query_as(
            "select order_id, file_name, content_type, stored_name from attachments where attachment_id = ? and deleted_at is null",
        )
        .bind(attachment_id)
        .fetch_optional(&state.pool)
        .await?;
        let (order_id, file_name, content_type, stored_name) = row.ok_or(AppError::NotFound)?;
        let mut conn = state.pool.acquire().await?;
        super::super::service::visible_order(&mut conn, &staff, order_id).await?;
        drop(conn);
        let dir = files_dir(&state.config.data_dir).await?;
        serve_stored(&dir, &stored_name, &file_name, &content_type, as_download).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_images_and_documents_only() {
        assert_eq!(content_type_for("фото.JPG"), Some("image/jpeg"));
        assert_eq!(content_type_for("акт.pdf"), Some("application/pdf"));
        assert_eq!(content_type_for("script.html"), None);
        assert_eq!(content_type_for("virus.exe"), None);
        assert_eq!(content_type_for("noext"), None);
    }
}
