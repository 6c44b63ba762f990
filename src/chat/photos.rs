//! Photos in chat messages: uploaded when chosen (`POST /api/chat/photos`), bound to the
//! message when it is sent, served (`GET /api/chat/photos/{id}`) to whoever may read the
//! conversation (before sending, only to the uploader).

/// Largest photo.
pub const MAX_PHOTO_BYTES: usize = 15 * 1024 * 1024;

pub fn photo_url(photo_id: i64) -> String {
    format!("/api/chat/photos/{photo_id}")
}

#[cfg(feature = "ssr")]
pub use ssr::{download, upload};

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use crate::auth::model::Viewer;
    use crate::auth::permissions::Action;
    use crate::auth::session::CurrentViewer;
    use crate::error::AppError;
    use crate::server::state::AppState;
    use crate::server::storage::{error_response, files_dir, receive_photo, serve};
    use axum::extract::{Multipart, Path, State};
    use axum::response::{IntoResponse, Response};
    use axum::{Extension, Json};

    /// Unsent photos one person may hold in a day.
    const MAX_LOOSE_PER_DAY: i64 = 60;

    pub async fn upload(
        State(state): State<AppState>,
        Extension(viewer): Extension<CurrentViewer>,
        multipart: Multipart,
    ) -> Response {
        use crate::auth::rate_limit::{self, UPLOADS};
        let store = store(&state, &viewer, multipart);
        match rate_limit::limited(&state.pool, UPLOADS, &rate_limit::who(&viewer), store).await {
            Ok((id, file_name)) => {
                Json(serde_json::json!({ "upload_id": id, "file_name": file_name })).into_response()
            }
            Err(e) => error_response(e),
        }
    }

    async fn store(
        state: &AppState,
        viewer: &CurrentViewer,
        mut multipart: Multipart,
    ) -> Result<(i64, String), AppError> {
        let (staff_id, resident_id) = match &viewer.0 {
            Some(Viewer::Staff(s))
                if s.permissions.allows(Action::EditOrders)
                    || s.permissions.allows(Action::ClientsChat) =>
            {
                (Some(s.staff_id), None)
            }
            Some(Viewer::Staff(_)) => return Err(AppError::Forbidden),
            Some(Viewer::Resident(r)) => (None, Some(r.resident_id)),
            None => return Err(AppError::Unauthorized),
        };
        let now = crate::time::now();
        let loose: i64 = sqlx::query_scalar(
            "select count(*) from message_photos where staff_id is ? and resident_id is ? \
             and message_id is null and created_at > ?",
        )
        .bind(staff_id)
        .bind(resident_id)
        .bind(now - 86_400)
        .fetch_one(&state.pool)
        .await?;
        if loose >= MAX_LOOSE_PER_DAY {
            return Err(AppError::RateLimited(
                "Слишком много неотправленных фото за сутки. Попробуйте завтра".into(),
            ));
        }
        let dir = files_dir(&state.config.data_dir).await?;
        let photo = receive_photo(&mut multipart, &dir, MAX_PHOTO_BYTES).await?;
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "insert into message_photos (staff_id, resident_id, file_name, content_type, size_bytes, stored_name, created_at) \
             values (?, ?, ?, ?, ?, ?, ?) returning photo_id",
        )
        .bind(staff_id)
        .bind(resident_id)
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

    pub async fn download(
        State(state): State<AppState>,
        Path(photo_id): Path<i64>,
        Extension(viewer): Extension<CurrentViewer>,
    ) -> Response {
        match serve_photo(&state, &viewer, photo_id).await {
            Ok(r) => r,
            Err(e) => error_response(e),
        }
    }

    type PhotoRow = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        String,
        String,
        String,
    );

    async fn serve_photo(
        state: &AppState,
        viewer: &CurrentViewer,
        photo_id: i64,
    ) -> Result<Response, AppError> {
        let row: Option<PhotoRow> = sqlx::query_as(
            "select p.staff_id, p.resident_id, p.message_id, m.order_id, m.dialogue_id, p.file_name, p.content_type, p.stored_name \
             from message_photos p left join messages m on m.message_id = p.message_id where p.photo_id = ?",
        )
        .bind(photo_id)
        .fetch_optional(&state.pool)
        .await?;
        let (
            by_staff,
            by_resident,
            message,
            order_id,
            dialogue_id,
            file_name,
            content_type,
            stored_name,
        ) = row.ok_or(AppError::NotFound)?;
        let mut conn = state.pool.acquire().await?;
        let allowed = match &viewer.0 {
            None => return Err(AppError::Unauthorized),
            Some(Viewer::Staff(s)) if message.is_none() => by_staff == Some(s.staff_id),
            Some(Viewer::Resident(r)) if message.is_none() => by_resident == Some(r.resident_id),
            Some(Viewer::Staff(s)) => {
                let via_order = match order_id {
                    Some(o) => crate::orders::service::visible_order(&mut conn, s, o)
                        .await
                        .is_ok(),
                    None => false,
                };
                via_order || (dialogue_id.is_some() && s.permissions.allows(Action::ClientsChat))
            }
            Some(Viewer::Resident(r)) => {
                let owner: Option<i64> =
                    match (order_id, dialogue_id) {
                        (_, Some(d)) => {
                            sqlx::query_scalar(
                                "select resident_id from dialogues where dialogue_id = ?",
                            )
                            .bind(d)
                            .fetch_optional(&mut *conn)
                            .await?
                        }
                        (Some(o), None) => sqlx::query_scalar(
                            "select resident_id from orders where order_id = ? and is_draft = 0",
                        )
                        .bind(o)
                        .fetch_optional(&mut *conn)
                        .await?,
                        (None, None) => None,
                    };
                owner == Some(r.resident_id)
            }
        };
        if !allowed {
            return Err(AppError::NotFound);
        }
        let dir = files_dir(&state.config.data_dir).await?;
        serve(&dir, &stored_name, &file_name, &content_type, false).await
    }
}
