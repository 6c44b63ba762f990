//! The payment provider as the app sees it. The sandbox shipped with the project and any
//! real acquirer implement this same trait.

use crate::money::Money;
use async_trait::async_trait;
use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// A payment to create at the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatePayment {
    pub amount: Money,
    pub description: String,
    /// The same key returns the same payment: a retried call never charges twice.
    pub idempotency_key: String,
    /// Where the provider's page sends the payer back.
    pub return_url: String,
    /// Pay with a saved card instead of asking for one.
    pub card_token: Option<String>,
    /// Ask the provider for a token to pay with this card next time.
    pub save_card: bool,
}

/// Where a payment stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    Pending,
    RequiresConfirmation,
    Succeeded,
    Failed,
}

impl ProviderStatus {
    pub fn is_final(self) -> bool {
        matches!(self, ProviderStatus::Succeeded | ProviderStatus::Failed)
    }
}

/// A payment as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderPayment {
    pub id: String,
    pub status: ProviderStatus,
    pub amount: Money,
    /// The provider's page to send the payer to, while the card is still to be entered.
    pub confirmation_url: Option<String>,
    /// A token for the card, when saving was asked for and the payment succeeded.
    pub card_token: Option<String>,
    /// «•••• 4242»
    pub card_mask: Option<String>,
    /// The acquiring fee the provider keeps.
    pub fee: Money,
    pub failure: Option<String>,
}

/// A refund to create at the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateRefund {
    pub payment_id: String,
    pub amount: Money,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRefund {
    pub id: String,
    pub payment_id: String,
    pub status: RefundStatus,
    pub amount: Money,
}

/// A verified webhook: what happened to which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Unique per event; a repeated delivery carries the same id.
    pub event_id: String,
    pub payment: Option<ProviderPayment>,
    pub refund: Option<ProviderRefund>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The provider could not be reached or answered with a server error: try again later.
    #[error("платёжная система недоступна: {0}")]
    Unavailable(String),
    /// The provider refused the request.
    #[error("платёжная система отказала: {0}")]
    Refused(String),
    /// A webhook whose signature does not verify.
    #[error("неверная подпись")]
    BadSignature,
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The provider's name as stored with payments.
    fn name(&self) -> &'static str;
    async fn create_payment(&self, request: CreatePayment)
        -> Result<ProviderPayment, GatewayError>;
    async fn payment(&self, id: &str) -> Result<ProviderPayment, GatewayError>;
    async fn refund(&self, request: CreateRefund) -> Result<ProviderRefund, GatewayError>;
    async fn refund_status(&self, id: &str) -> Result<ProviderRefund, GatewayError>;
    /// Checks the signature (as of `now`) and reads the event.
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<WebhookEvent, GatewayError>;
}

/// HMAC-SHA256 signature header of a webhook body: `t=<unix seconds>,v1=<hex>` over
/// `"<t>.<body>"`.
pub mod signature {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub const HEADER: &str = "x-sandbox-signature";
    /// Signatures older (or newer) than this are refused: a captured request can be
    /// replayed only within these minutes (Stripe allows 5 as well).
    pub const TOLERANCE_SECONDS: i64 = 5 * 60;

    fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = mac(secret, timestamp, body).finalize().into_bytes();
        format!("t={timestamp},v1={}", hex::encode(tag))
    }

    /// Constant-time check of a header value.
    pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
        let mut timestamp = None;
        let mut tag = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
                Some(("v1", v)) => tag = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(t), Some(tag)) = (timestamp, tag) else {
            return false;
        };
        // `abs_diff`: a forged `t` far from now must not overflow the subtraction.
        if now.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs() {
            return false;
        }
        mac(secret, t, body).verify_slice(&tag).is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn signatures_verify_only_for_the_same_body_secret_and_recent_time() {
            let h = sign("s3cret", 1_000, b"{\"a\":1}");
            assert!(verify("s3cret", &h, b"{\"a\":1}", 1_010));
            assert!(!verify("s3cret", &h, b"{\"a\":2}", 1_010));
            assert!(!verify("other", &h, b"{\"a\":1}", 1_010));
            assert!(!verify(
                "s3cret",
                &h,
                b"{\"a\":1}",
                1_000 + TOLERANCE_SECONDS + 1
            ));
            assert!(!verify("s3cret", "t=1000,v1=zz", b"{\"a\":1}", 1_000));
            assert!(!verify("s3cret", "", b"", 0));
        }
    }
}
