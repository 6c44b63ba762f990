//! The app's adapter for the sandbox provider: its HTTP API with an API key, and its
//! HMAC-signed webhooks. A real acquirer's adapter would implement the same trait.

use super::gateway::{
    signature, CreatePayment, CreateReceipt, CreateRefund, GatewayError, PaymentGateway,
    ProviderPayment, ProviderReceipt, ProviderRefund, WebhookEvent, WebhookRequest,
};
use super::http::HttpClient;
use async_trait::async_trait;
use http::Method;
use serde::de::DeserializeOwned;

pub struct SandboxGateway {
    /// The provider's API, e.g. `http://127.0.0.1:3000/sandbox`.
    pub base_url: String,
    pub secret: String,
    pub http: HttpClient,
}

impl SandboxGateway {
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, GatewayError> {
        let url = format!("{}{path}", self.base_url);
        let auth = format!("Bearer {}", self.secret);
        let (status, bytes) = self
            .http
            .send(
                method,
                &url,
                &[("authorization", auth)],
                body.unwrap_or_default(),
            )
            .await
            .map_err(GatewayError::Unavailable)?;
        // Only a refusal of the request itself is final; anything else (auth, conflicts,
        // throttling, server errors) may pass and is retried with the same key.
        if matches!(status.as_u16(), 400 | 422) {
            return Err(GatewayError::Refused(
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        if !status.is_success() {
            return Err(GatewayError::Unavailable(format!("HTTP {status}")));
        }
        serde_json::from_slice(&bytes).map_err(|e| GatewayError::Unavailable(e.to_string()))
    }
}

fn json<T: serde::Serialize>(value: &T) -> Option<Vec<u8>> {
    serde_json::to_vec(value).ok()
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_payment(
        &self,
        request: CreatePayment,
    ) -> Result<ProviderPayment, GatewayError> {
        self.call(Method::POST, "/api/payments", json(&request))
            .await
    }

    async fn payment(&self, id: &str) -> Result<ProviderPayment, GatewayError> {
        self.call(
            Method::GET,
            &format!("/api/payments/{}", crate::url::encode(id)),
            None,
        )
        .await
    }

    async fn refund(&self, request: CreateRefund) -> Result<ProviderRefund, GatewayError> {
        self.call(Method::POST, "/api/refunds", json(&request))
            .await
    }

    async fn refund_status(&self, id: &str) -> Result<ProviderRefund, GatewayError> {
        self.call(
            Method::GET,
            &format!("/api/refunds/{}", crate::url::encode(id)),
            None,
        )
        .await
    }

    async fn send_receipt(&self, request: CreateReceipt) -> Result<ProviderReceipt, GatewayError> {
        self.call(Method::POST, "/api/receipts", json(&request))
            .await
    }

    async fn receipts(&self, payment_id: &str) -> Result<Vec<ProviderReceipt>, GatewayError> {
        self.call(
            Method::GET,
            &format!("/api/payments/{}/receipts", crate::url::encode(payment_id)),
            None,
        )
        .await
    }

    fn verify_webhook(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent, GatewayError> {
        let header = request
            .headers
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(GatewayError::BadSignature)?;
        if !signature::verify(&self.secret, header, request.body, request.now) {
            return Err(GatewayError::BadSignature);
        }
        serde_json::from_slice(request.body).map_err(|e| GatewayError::Refused(e.to_string()))
    }
}
