//! Photos of the order form: the resident uploads each photo as soon as it is chosen
//! (`POST /uploads`), the form carries the upload ids, and submission binds them to the
//! order. `GET /uploads/{id}` serves a photo to its resident and to staff who may see the
//! order.

/// Largest photo.
pub const MAX_PHOTO_BYTES: usize = 15 * 1024 * 1024;
/// Most photos a resident may upload in a day without submitting them.
pub const MAX_LOOSE_PHOTOS_PER_DAY: i64 = 60;

/// The URL of an uploaded photo.
pub fn photo_url(upload_id: i64) -> String {
    format!("/uploads/{upload_id}")
}

#[cfg(feature = "ssr")]
pub use ssr::{download, upload};

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::auth::model::Viewer;
    use crate::auth::session::CurrentViewer;
    use crate::error::AppError;
    use crate::server::state::AppState;
    use crate::server::storage::{error_response, files_dir, receive_photo, serve};
    use axum::extract::{Multipart, Path, State};
    use axum::response::{IntoResponse, Response};
    use axum::{Extension, Json};

    /// `POST /uploads` (multipart, one field `file`): `{"upload_id": …, "file_name": …}`.
    pub async fn upload(
        State(state): State<AppState>,
        Extension(viewer): Extension<CurrentViewer>,
        multipart: Multipart,
    ) -> Response {
        use crate::auth::rate_limit::{self, UPLOADS};
        let store = store(&state, &viewer, multipart);
        match rate_limit::limited(&state.pool, UPLOADS, &rate_limit::who(&viewer), store).await {
            Ok((upload_id, file_name)) => Json(serde_json::json!({
                "upload_id": upload_id,
                "file_name": file_name,
            }))
            .into_response(),
            Err(e) => error_response(e),
        }
    }

    async fn store(
        state: &AppState,
        viewer: &CurrentViewer,
        mut multipart: Multipart,
    ) -> Result<(i64, String), AppError> {
        let resident = match &viewer.0 {
            Some(Viewer::Resident(r)) => r.clone(),
            Some(Viewer::Staff(_)) => return Err(AppError::Forbidden),
            None => return Err(AppError::Unauthorized),
        };
        let now = crate::time::now();
        let loose: i64 = sqlx::query_scalar(
            "select count(*) from uploads where resident_id = ? and order_id is null and created_at > ?",
        )
        .bind(resident.resident_id)
        .bind(now - 86_400)
        .fetch_one(&state.pool)
        .await?;
        if loose >= MAX_LOOSE_PHOTOS_PER_DAY {
            return Err(AppError::RateLimited(
                "Слишком много фото за сутки. Отправьте заявку или попробуйте завтра".into(),
            ));
        }
        let dir = files_dir(&state.config.data_dir).await?;
        let photo = receive_photo(&mut multipart, &dir, MAX_PHOTO_BYTES).await?;
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "insert into uploads (resident_id, file_name, content_type, size_bytes, stored_name, created_at) \
             values (?, ?, ?, ?, ?, ?) returning upload_id",
        )
        .bind(resident.resident_id)
        .bind(&photo.file_name)
        .bind(photo.content_type)
        .bind(photo.saved.size as i64)
        .bind(&photo.saved.stored_name)
        .bind(now)
        .fetch_one(&state.pool)
        .await;
        match inserted {
            Ok(id) => Ok((id, photo.file_name)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&photo.saved.path).await;
                Err(e.into())
            }
        }
    }

    /// `GET /uploads/{id}`: to the resident who uploaded it, or to staff who may see its order.
    pub async fn download(
        State(state): State<AppState>,
        Path(upload_id): Path<i64>,
        Extension(viewer): Extension<CurrentViewer>,
    ) -> Response {
        match serve_photo(&state, &viewer, upload_id).await {
            Ok(r) => r,
            Err(e) => error_response(e),
        }
    }

    async fn serve_photo(
        state: &AppState,
        viewer: &CurrentViewer,
        upload_id: i64,
    ) -> Result<Response, AppError> {
        let row: Option<(i64, Option<i64>, String, String, String)> = sqlx::query_as(
            "select resident_id, order_id, file_name, content_type, stored_name from uploads where upload_id = ?",
        )
        .bind(upload_id)
        .fetch_optional(&state.pool)
        .await?;
        let (owner, order_id, file_name, content_type, stored_name) =
            row.ok_or(AppError::NotFound)?;
        match &viewer.0 {
            Some(Viewer::Resident(r)) if r.resident_id == owner => {}
            Some(Viewer::Staff(staff)) => {
                let order_id = order_id.ok_or(AppError::NotFound)?;
                let mut conn = state.pool.acquire().await?;
                crate::orders::service::visible_order(&mut conn, staff, order_id).await?;
            }
            Some(Viewer::Resident(_)) => return Err(AppError::NotFound),
            None => return Err(AppError::Unauthorized),
        }
        let dir = files_dir(&state.config.data_dir).await?;
        serve(&dir, &stored_name, &file_name, &content_type, false).await
    }
}

/// Uploads a chosen photo from the browser; returns its id and name, or a message.
#[cfg(feature = "hydrate")]
pub async fn upload_photo(file: web_sys::File) -> Result<(i64, String), String> {
    upload_photo_to("/uploads", file).await
}

/// Uploads a photo to `url`, which answers `{"upload_id": …, "file_name": …}`.
#[cfg(feature = "hydrate")]
pub async fn upload_photo_to(url: &str, file: web_sys::File) -> Result<(i64, String), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let failed = || "Фото не загрузилось. Проверьте связь и попробуйте ещё раз".to_owned();
    let form = web_sys::FormData::new().map_err(|_| failed())?;
    form.append_with_blob_and_filename("file", &file, &file.name())
        .map_err(|_| failed())?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&form);
    let window = web_sys::window().ok_or_else(failed)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| failed())?
        .dyn_into()
        .map_err(|_| failed())?;
    let text = JsFuture::from(response.text().map_err(|_| failed())?)
        .await
        .map_err(|_| failed())?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        return Err(if text.is_empty() { failed() } else { text });
    }
    #[derive(serde::Deserialize)]
    struct Uploaded {
        upload_id: i64,
        file_name: String,
    }
    let u: Uploaded = serde_json::from_str(&text).map_err(|_| failed())?;
    Ok((u.upload_id, u.file_name))
}
