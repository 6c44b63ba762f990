//! Which provider a payment goes through. Each legal entity may have its own shop /
//! terminal (`payment_accounts`); an entity without an active one pays through the
//! configured default provider (the sandbox). Secrets are kept sealed with AES-256-GCM
//! under `SUZ_SECRETS_KEY`, or named as an environment variable, and are never sent back
//! to a browser.

use super::gateway::PaymentGateway;
use super::http::HttpClient;
use crate::error::{AppError, AppResult};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What an adapter is built from.
#[derive(Clone)]
pub struct AccountConfig {
    pub account_id: i64,
    /// ЮKassa shopId / Т-Банк TerminalKey.
    pub shop_id: String,
    /// ЮKassa secret key / Т-Банк terminal password.
    pub secret: String,
    /// The provider's API root; empty for the documented production address.
    pub api_url: String,
    /// ЮKassa: comma-separated CIDRs notifications may come from; empty for the
    /// published list.
    pub notify_networks: String,
    /// Where the provider sends notifications: `<public_url>/payments/webhook/<account>`.
    pub webhook_url: String,
    pub http: HttpClient,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    account_id: i64,
    provider: String,
    shop_id: String,
    secret_sealed: Option<String>,
    secret_env: Option<String>,
    api_url: String,
    notify_networks: String,
}

/// Seals and opens stored secrets.
#[derive(Clone)]
pub struct SecretBox {
    key: Option<[u8; 32]>,
}

impl SecretBox {
    /// From `SUZ_SECRETS_KEY`: any passphrase, stretched to a key with SHA-256.
    pub fn new(passphrase: Option<&str>) -> SecretBox {
        SecretBox {
            key: passphrase
                .filter(|p| !p.is_empty())
                .map(|p| Sha256::digest(p.as_bytes()).into()),
        }
    }

    pub fn can_seal(&self) -> bool {
        self.key.is_some()
    }

    pub fn seal(&self, secret: &str) -> AppResult<String> {
        let key = self.key.ok_or_else(|| {
            AppError::rule(
                "Ключ для хранения секретов не задан (SUZ_SECRETS_KEY): укажите имя переменной окружения с секретом",
            )
        })?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(AppError::internal)?;
        let nonce: [u8; 12] = rand::random();
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .map_err(|_| AppError::internal("sealing a secret"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let key = self
            .key
            .ok_or("the secret is sealed, but SUZ_SECRETS_KEY is not set")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| "a sealed secret is not base64")?;
        if bytes.len() < 12 {
            return Err("a sealed secret is too short".into());
        }
        let (nonce, body) = bytes.split_at(12);
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| e.to_string())?;
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| "a sealed secret does not open with SUZ_SECRETS_KEY")?;
        String::from_utf8(plain).map_err(|_| "a sealed secret is not text".into())
    }
}

/// The adapters of all accounts, built on first use.
pub struct Gateways {
    default: Arc<dyn PaymentGateway>,
    built: RwLock<HashMap<i64, Arc<dyn PaymentGateway>>>,
    secrets: SecretBox,
    public_url: String,
    http: HttpClient,
}

impl Gateways {
    pub fn new(
        default: Arc<dyn PaymentGateway>,
        secrets: SecretBox,
        public_url: &str,
        http: HttpClient,
    ) -> Gateways {
        Gateways {
            default,
            built: RwLock::default(),
            secrets,
            public_url: public_url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// The provider used where no account is set up.
    pub fn default_gateway(&self) -> Arc<dyn PaymentGateway> {
        self.default.clone()
    }

    /// Where an account's notifications go.
    pub fn webhook_url(&self, account_id: i64) -> String {
        format!("{}/payments/webhook/{account_id}", self.public_url)
    }

    /// The active account of a legal entity and its adapter (`None`: the default).
    pub async fn for_entity(
        &self,
        pool: &SqlitePool,
        legal_entity_id: i64,
    ) -> AppResult<(Option<i64>, Arc<dyn PaymentGateway>)> {
        let account: Option<i64> = sqlx::query_scalar(
            "select account_id from payment_accounts where legal_entity_id = ? and active = 1",
        )
        .bind(legal_entity_id)
        .fetch_optional(pool)
        .await?;
        match account {
            Some(id) => Ok((Some(id), self.account(pool, Some(id)).await?)),
            None => Ok((None, self.default.clone())),
        }
    }

    /// The adapter of an account (active or not: old payments are still handled there).
    pub async fn account(
        &self,
        pool: &SqlitePool,
        account_id: Option<i64>,
    ) -> AppResult<Arc<dyn PaymentGateway>> {
        let Some(id) = account_id else {
            return Ok(self.default.clone());
        };
        if let Some(g) = self.built.read().expect("gateways lock").get(&id) {
            return Ok(g.clone());
        }
        let row: AccountRow = sqlx::query_as(
            "select account_id, provider, shop_id, secret_sealed, secret_env, api_url, notify_networks \
             from payment_accounts where account_id = ?",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(AppError::NotFound)?;
        let gateway = self.build(row)?;
        // Built twice at once: everybody gets the first (adapters keep per-payment state).
        Ok(self
            .built
            .write()
            .expect("gateways lock")
            .entry(id)
            .or_insert(gateway)
            .clone())
    }

    /// Drops a built adapter after its account changed.
    pub fn forget(&self, account_id: i64) {
        self.built
            .write()
            .expect("gateways lock")
            .remove(&account_id);
    }

    fn build(&self, row: AccountRow) -> AppResult<Arc<dyn PaymentGateway>> {
        let secret = match (&row.secret_sealed, &row.secret_env) {
            (Some(sealed), _) => self.secrets.open(sealed).map_err(AppError::internal)?,
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                AppError::internal(format!(
                    "payment account {}: the environment variable {var} is not set",
                    row.account_id
                ))
            })?,
            (None, None) => {
                return Err(AppError::internal(format!(
                    "payment account {} has no secret",
                    row.account_id
                )))
            }
        };
        let config = AccountConfig {
            account_id: row.account_id,
            shop_id: row.shop_id,
            secret,
            api_url: row.api_url,
            notify_networks: row.notify_networks,
            webhook_url: self.webhook_url(row.account_id),
            http: self.http.clone(),
        };
        build_adapter(&row.provider, config)
    }
}

/// The adapter for a provider's name.
pub fn build_adapter(provider: &str, config: AccountConfig) -> AppResult<Arc<dyn PaymentGateway>> {
    match provider {
        "sandbox" => Ok(Arc::new(super::sandbox_client::SandboxGateway {
            base_url: config.api_url,
            secret: config.secret,
            http: config.http,
        })),
        "yookassa" => Ok(Arc::new(
            super::yookassa::YookassaGateway::new(config).map_err(AppError::internal)?,
        )),
        "tbank" => Ok(Arc::new(super::tbank::TbankGateway::new(config))),
        other => Err(AppError::internal(format!(
            "no adapter for the payment provider {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_open_only_with_the_key_they_were_sealed_with() {
        let a = SecretBox::new(Some("one passphrase"));
        let sealed = a.seal("live_secret_123").unwrap();
        assert!(!sealed.contains("live_secret_123"));
        assert_eq!(a.open(&sealed).unwrap(), "live_secret_123");
        // A fresh nonce each time.
        assert_ne!(a.seal("live_secret_123").unwrap(), sealed);
        assert!(SecretBox::new(Some("another")).open(&sealed).is_err());
        assert!(SecretBox::new(None).open(&sealed).is_err());
        assert!(SecretBox::new(None).seal("x").is_err());
        let mut tampered = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(tampered);
        assert!(a.open(&tampered).is_err());
    }
}
