//! Files on disk under `<data>/files`: written from multipart uploads, served back only
//! after the caller has checked who may read them.

use crate::error::AppError;
use crate::url::encode as encode_component;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The folder of stored files, created if missing.
pub async fn files_dir(data_dir: &Path) -> Result<PathBuf, AppError> {
    let dir = data_dir.join("files");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(AppError::internal)?;
    Ok(dir)
}

/// An error as a plain-text response with its status.
pub fn error_response(e: AppError) -> Response {
    let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, e.to_string()).into_response()
}

/// An upload larger than `limit` bytes: the size limit, with the file's name when known.
pub fn too_large(name: Option<&str>, limit: usize) -> AppError {
    let mb = limit / (1024 * 1024);
    AppError::validation(match name {
        Some(name) => format!("Файл «{name}» больше {mb} МБ"),
        None => format!("Файл больше {mb} МБ"),
    })
}

/// Why a multipart stream broke off: the request outgrew the route's size limit (told as
/// the size limit of a file, `limit`), or the upload was cut.
pub fn upload_broke_off(e: MultipartError, name: Option<&str>, limit: usize) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(name, limit)
    } else {
        AppError::validation("Файл не загрузился целиком. Попробуйте ещё раз")
    }
}

/// A photo received from a form's `file` field and written to disk.
pub struct Photo {
    pub saved: Saved,
    pub file_name: String,
    pub content_type: &'static str,
}

/// Takes the `file` field of a multipart upload as a photo (images only, at most `limit`
/// bytes); anything else is refused with a Russian message and nothing is kept.
pub async fn receive_photo(
    multipart: &mut axum::extract::Multipart,
    dir: &Path,
    limit: usize,
) -> Result<Photo, AppError> {
    use crate::orders::files::content_type_for;
    use crate::text::clean_file_name;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| upload_broke_off(e, None, limit))?
    {
        let name = clean_file_name(field.file_name().unwrap_or(""));
        if field.name() != Some("file") || name.is_empty() {
            continue;
        }
        let content_type = content_type_for(&name)
            .filter(|t| t.starts_with("image/"))
            .ok_or_else(|| AppError::validation("Приложите фото: JPEG, PNG, WebP или HEIC"))?;
        let saved = save_field(&mut field, dir, &name, limit).await?;
        return Ok(Photo {
            saved,
            file_name: name,
            content_type,
        });
    }
    Err(AppError::validation("Выберите фото"))
}

/// A file written from an upload.
pub struct Saved {
    pub stored_name: String,
    pub path: PathBuf,
    pub size: usize,
}

/// Writes one multipart field to a new uniquely named file. Beyond `limit` bytes, or if
/// the upload breaks off, the partial file is removed and a Russian message returned.
pub async fn save_field(
    field: &mut Field<'_>,
    dir: &Path,
    name: &str,
    limit: usize,
) -> Result<Saved, AppError> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let stored_name = format!("{}.{ext}", uuid::Uuid::new_v4());
    let path = dir.join(&stored_name);
    let outcome = write_chunks(field, &path, name, limit).await;
    match outcome {
        Ok(size) => Ok(Saved {
            stored_name,
            path,
            size,
        }),
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(e)
        }
    }
}

async fn write_chunks(
    field: &mut Field<'_>,
    path: &Path,
    name: &str,
    limit: usize,
) -> Result<usize, AppError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(AppError::internal)?;
    let mut size = 0usize;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| upload_broke_off(e, Some(name), limit))?
    {
        size += chunk.len();
        if size > limit {
            return Err(too_large(Some(name), limit));
        }
        file.write_all(&chunk).await.map_err(AppError::internal)?;
    }
    file.flush().await.map_err(AppError::internal)?;
    Ok(size)
}

/// Streams a stored file: images inline unless a download is asked for, everything else
/// as an attachment; never cached by shared caches, never sniffed.
pub async fn serve(
    dir: &Path,
    stored_name: &str,
    file_name: &str,
    content_type: &str,
    as_download: bool,
) -> Result<Response, AppError> {
    let file = tokio::fs::File::open(dir.join(stored_name))
        .await
        .map_err(|_| AppError::NotFound)?;
    let disposition = if as_download || !content_type.starts_with("image/") {
        "attachment"
    } else {
        "inline"
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "{disposition}; filename*=UTF-8''{}",
                encode_component(file_name)
            ),
        )
        .header(header::CACHE_CONTROL, "private, no-store")
        .header("x-content-type-options", "nosniff")
        .body(body)
        .map_err(AppError::internal)
}
