//! Sign-in use cases: staff password, resident one-time code, sessions.

use super::model::{parse_code, Email, Phone, ResidentUser, StaffUser};
use super::rate_limit;
use super::repo;
use super::sms::SmsSender;
use crate::error::{AppError, AppResult};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::sync::OnceLock;

pub const STAFF_SESSION_SECS: i64 = 12 * 3600;
pub const RESIDENT_SESSION_SECS: i64 = 90 * 86_400;
pub const CODE_TTL_SECS: i64 = 5 * 60;
pub const CODE_MAX_ATTEMPTS: i64 = 5;
pub const CODE_RESEND_SECS: i64 = 60;

/// Password hashes computed at once, at most one per core: argon2id takes ~19 MB and a
/// core for each, so a burst of sign-ins queues here instead of growing memory without
/// bound (1,000 live streams' 200 sign-ins grew the heap by 2.4 GB: each blocking thread
/// kept its own allocator arena) or starving the other requests of CPU.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// Hashes a password with argon2id on a blocking thread.
pub async fn hash_password(password: String) -> AppResult<String> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

/// Checks a password against a stored hash on a blocking thread.
async fn verify_password(password: String, hash: String) -> AppResult<bool> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(AppError::internal)?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(AppError::internal)?
}

/// A hash to verify against when the e-mail is unknown, so both cases take the same time.
fn dummy_hash() -> String {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"not a password", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::rngs::OsRng.gen();
    hex::encode(bytes)
}

/// A new session for a staff member or a resident; returns the token for the cookie.
pub async fn open_session(
    pool: &SqlitePool,
    staff_id: Option<i64>,
    resident_id: Option<i64>,
    now: i64,
) -> AppResult<String> {
    let token = new_token();
    let ttl = if staff_id.is_some() {
        STAFF_SESSION_SECS
    } else {
        RESIDENT_SESSION_SECS
    };
    repo::insert_session(
        pool,
        &sha256_hex(&token),
        (staff_id, resident_id),
        now,
        now + ttl,
    )
    .await?;
    Ok(token)
}

/// Staff sign-in by e-mail and password. Returns the staff member and a new session token.
pub async fn staff_sign_in(
    pool: &SqlitePool,
    email: &str,
    password: &str,
    ip: &str,
    now: i64,
) -> AppResult<(StaffUser, String)> {
    let email = Email::parse(email).map_err(AppError::Validation)?;
    if password.is_empty() {
        return Err(AppError::validation("Введите пароль"));
    }
    // Failures count per account and address, per address and per account (a slow daily
    // ceiling): a stranger's wrong passwords lock out only the stranger's address.
    let email_ip = format!("{}|{ip}", email.as_str());
    let account_ip_key = rate_limit::PASSWORD_PER_ACCOUNT_AND_ADDRESS.key(&email_ip);
    let ip_key = rate_limit::PASSWORD_PER_ADDRESS.key(ip);
    let account_key = rate_limit::PASSWORD_PER_ACCOUNT.key(email.as_str());
    let keys = [
        (
            account_ip_key.as_str(),
            rate_limit::PASSWORD_PER_ACCOUNT_AND_ADDRESS,
        ),
        (ip_key.as_str(), rate_limit::PASSWORD_PER_ADDRESS),
        (account_key.as_str(), rate_limit::PASSWORD_PER_ACCOUNT),
    ];
    // Counted before checking, so parallel guesses cannot outrun the limit.
    let counted = rate_limit::hit(pool, &keys, now).await?;
    let creds = repo::staff_credentials(pool, email.as_str()).await?;
    let hash = creds
        .as_ref()
        .map(|c| c.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password_ok = verify_password(password.to_owned(), hash).await?;
    let creds = match creds {
        // A disabled account gets the same answer: no way to confirm its password.
        Some(c) if password_ok && c.active => c,
        _ => return Err(AppError::validation("Неверный e-mail или пароль")),
    };
    rate_limit::forget(pool, &counted).await?;
    rate_limit::clear(pool, &account_ip_key).await?;
    let staff = repo::staff_by_id(pool, creds.staff_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let token = open_session(pool, Some(staff.staff_id), None, now).await?;
    tracing::info!(staff_id = staff.staff_id, "staff signed in");
    Ok((staff, token))
}

/// Where a code was sent and when another may be asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeSent {
    pub phone: String,
    pub resend_after_secs: i64,
}

fn code_hash(phone: &Phone, code: &str) -> String {
    sha256_hex(&format!("{}:{code}", phone.as_str()))
}

/// A stored code hash that no code matches (a code's hash is 64 hex digits): what an unknown
/// or blocked phone gets, so that every phone is answered alike.
const NO_CODE: &str = "-";

/// «Код отправлен»: sends a one-time code to a resident's phone. Known and unknown phones
/// get the same answer (and the same waits and limits), so nobody learns from it which
/// phones are residents; an unknown phone is sent nothing, and checking a code for it then
/// fails like a wrong code. A blocked resident is told so by text message.
pub async fn request_code(
    pool: &SqlitePool,
    sms: &dyn SmsSender,
    phone: &str,
    ip: &str,
    now: i64,
) -> AppResult<CodeSent> {
    let phone = Phone::parse(phone).map_err(AppError::Validation)?;
    let phone_ip = format!("{}|{ip}", phone.as_str());
    let phone_ip_key = rate_limit::CODE_REQUEST_PER_PHONE_AND_ADDRESS.key(&phone_ip);
    let ip_key = rate_limit::CODE_REQUEST_PER_ADDRESS.key(ip);
    let phone_key = rate_limit::CODE_REQUEST_PER_PHONE.key(phone.as_str());
    let keys = [
        (
            phone_ip_key.as_str(),
            rate_limit::CODE_REQUEST_PER_PHONE_AND_ADDRESS,
        ),
        (ip_key.as_str(), rate_limit::CODE_REQUEST_PER_ADDRESS),
        (phone_key.as_str(), rate_limit::CODE_REQUEST_PER_PHONE),
    ];
    if let Some(last) = repo::latest_code(pool, phone.as_str()).await? {
        let wait = last.created_at + CODE_RESEND_SECS - now;
        if wait > 0 {
            return Err(AppError::RateLimited(format!(
                "Новый код можно запросить через {wait} с"
            )));
        }
    }
    // Every request counts, whatever the number turns out to be.
    rate_limit::hit(pool, &keys, now).await?;
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let (hash, text) = match repo::active_resident_by_phone(pool, phone.as_str()).await? {
        None => (NO_CODE.to_owned(), None),
        Some((_, true)) => (
            NO_CODE.to_owned(),
            Some("Вход в приложение заблокирован. Обратитесь в управляющую компанию".to_owned()),
        ),
        Some((_, false)) => (
            code_hash(&phone, &code),
            Some(format!("Код для входа: {code}. Никому не сообщайте его.")),
        ),
    };
    repo::insert_code(pool, phone.as_str(), &hash, now, now + CODE_TTL_SECS).await?;
    if let Some(text) = text {
        sms.send(phone.as_str(), &text).await?;
    }
    Ok(CodeSent {
        phone: phone.pretty(),
        resend_after_secs: CODE_RESEND_SECS,
    })
}

/// Resident sign-in with the code from the text message.
pub async fn verify_code(
    pool: &SqlitePool,
    phone: &str,
    code: &str,
    ip: &str,
    now: i64,
) -> AppResult<(ResidentUser, String)> {
    let phone = Phone::parse(phone).map_err(AppError::Validation)?;
    let code = parse_code(code).map_err(AppError::Validation)?;
    // Like passwords: per phone and address, per address, and a daily ceiling per phone.
    let phone_ip = format!("{}|{ip}", phone.as_str());
    let phone_ip_key = rate_limit::CODE_CHECK_PER_PHONE_AND_ADDRESS.key(&phone_ip);
    let ip_key = rate_limit::CODE_CHECK_PER_ADDRESS.key(ip);
    let phone_key = rate_limit::CODE_CHECK_PER_PHONE.key(phone.as_str());
    let keys = [
        (
            phone_ip_key.as_str(),
            rate_limit::CODE_CHECK_PER_PHONE_AND_ADDRESS,
        ),
        (ip_key.as_str(), rate_limit::CODE_CHECK_PER_ADDRESS),
        (phone_key.as_str(), rate_limit::CODE_CHECK_PER_PHONE),
    ];
    let counted = rate_limit::hit(pool, &keys, now).await?;
    let Some(stored) = repo::latest_code(pool, phone.as_str()).await? else {
        return Err(AppError::validation("Сначала запросите код"));
    };
    if stored.expires_at <= now {
        return Err(AppError::validation(
            "Срок действия кода истёк. Запросите новый код",
        ));
    }
    // Each check takes one of the code's attempts atomically before comparing, so
    // parallel guesses cannot exceed them.
    if !repo::take_code_attempt(pool, stored.login_code_id, CODE_MAX_ATTEMPTS).await? {
        return Err(AppError::validation(
            "Слишком много неверных попыток. Запросите новый код",
        ));
    }
    if stored.code_hash != code_hash(&phone, &code) {
        return Err(AppError::validation("Неверный код"));
    }
    if !repo::use_code(pool, stored.login_code_id, now).await? {
        return Err(AppError::validation(
            "Код уже использован. Запросите новый код",
        ));
    }
    let (resident_id, blocked) = repo::active_resident_by_phone(pool, phone.as_str())
        .await?
        .ok_or(AppError::NotFound)?;
    if blocked {
        return Err(AppError::rule(
            "Доступ заблокирован. Обратитесь в управляющую компанию",
        ));
    }
    rate_limit::forget(pool, &counted).await?;
    rate_limit::clear(pool, &phone_ip_key).await?;
    let resident = repo::resident_by_id(pool, resident_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let token = open_session(pool, None, Some(resident_id), now).await?;
    tracing::info!(resident_id, "resident signed in");
    Ok((resident, token))
}

/// Ends a session.
pub async fn sign_out(pool: &SqlitePool, token: &str) -> AppResult<()> {
    repo::delete_session(pool, &sha256_hex(token)).await
}
