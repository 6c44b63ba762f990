//! SQLite hooks on every pooled connection: the ids of changed rows of the watched tables,
//! collected per transaction and handed over when the transaction commits (a rollback
//! forgets them).

use sqlx::sqlite::{SqliteConnection, SqliteOperation, UpdateHookResult};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// A watched table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Orders,
    Messages,
    Dialogues,
    Notifications,
}

/// The rows one committed transaction changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub changes: Vec<(Table, i64)>,
    /// More rows changed than are tracked (a bulk import): everything may have changed.
    pub overflow: bool,
}

/// Where committed batches go.
pub type ChangeTap = UnboundedSender<Batch>;

/// Rows tracked per transaction before it counts as a bulk change.
const MAX_TRACKED: usize = 500;

fn watched(table: &str) -> Option<Table> {
    match table {
        "orders" => Some(Table::Orders),
        "messages" => Some(Table::Messages),
        "dialogues" => Some(Table::Dialogues),
        "notifications" => Some(Table::Notifications),
        _ => None,
    }
}

/// Installs the hooks on a fresh connection (the pool's `after_connect`).
pub async fn install(conn: &mut SqliteConnection, tap: ChangeTap) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let pending = Arc::new(Mutex::new(Batch::default()));
    let on_update = pending.clone();
    handle.set_update_hook(move |r: UpdateHookResult| {
        let Some(table) = watched(r.table) else {
            return;
        };
        if matches!(r.operation, SqliteOperation::Delete) {
            return;
        }
        let mut p = on_update.lock().unwrap_or_else(|e| e.into_inner());
        if p.changes.contains(&(table, r.rowid)) {
            return;
        }
        if p.changes.len() >= MAX_TRACKED {
            p.overflow = true;
        } else {
            p.changes.push((table, r.rowid));
        }
    });
    let on_commit = pending.clone();
    handle.set_commit_hook(move || {
        let batch = std::mem::take(&mut *on_commit.lock().unwrap_or_else(|e| e.into_inner()));
        if !batch.changes.is_empty() || batch.overflow {
            // The dispatcher may be gone at shutdown; the commit goes on regardless.
            let _ = tap.send(batch);
        }
        true
    });
    let on_rollback = pending;
    handle.set_rollback_hook(move || {
        *on_rollback.lock().unwrap_or_else(|e| e.into_inner()) = Batch::default();
    });
    Ok(())
}
