//! The bus, the dispatcher that turns committed row changes into routed events, and the
//! `GET /api/live` event stream.

use super::hooks::{Batch, Table};
use super::LiveEvent;
use crate::auth::model::Viewer;
use crate::auth::session::{CurrentViewer, SessionToken};
use crate::server::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use sqlx::SqlitePool;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Who may receive an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Those who see the order: its resident, staff whose role sees it.
    Order {
        resident_id: i64,
        assignee_id: Option<i64>,
        /// A draft is not the resident's yet.
        draft: bool,
    },
    /// A pre-order dialogue: its resident and staff with «Чат с клиентами».
    Dialogue {
        resident_id: i64,
    },
    /// One person: `s<staff_id>` or `r<resident_id>`.
    Recipient(String),
    Everyone,
}

impl Route {
    pub fn admits(&self, viewer: &Viewer) -> bool {
        match (self, viewer) {
            (Route::Everyone, _) => true,
            (
                Route::Order {
                    resident_id, draft, ..
                },
                Viewer::Resident(r),
            ) => !draft && r.resident_id == *resident_id,
            (Route::Order { assignee_id, .. }, Viewer::Staff(s)) => {
                s.permissions.can_see_order(s.staff_id, *assignee_id)
            }
            (Route::Dialogue { resident_id }, Viewer::Resident(r)) => r.resident_id == *resident_id,
            (Route::Dialogue { .. }, Viewer::Staff(s)) => s.permissions.clients_chat,
            (Route::Recipient(to), v) => *to == recipient_of(v),
        }
    }
}

/// `s<staff_id>` or `r<resident_id>`: how notifications name their recipient.
pub fn recipient_of(viewer: &Viewer) -> String {
    match viewer {
        Viewer::Staff(s) => format!("s{}", s.staff_id),
        Viewer::Resident(r) => format!("r{}", r.resident_id),
    }
}

/// An event with its audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub event: LiveEvent,
    pub to: Route,
}

/// Publish/subscribe for live events. In one process a broadcast channel; several
/// processes would share it through the database (PostgreSQL LISTEN/NOTIFY).
pub trait Bus: Send + Sync {
    fn publish(&self, envelope: Envelope);
    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>>;
}

pub struct LocalBus {
    tx: broadcast::Sender<Arc<Envelope>>,
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, envelope: Envelope) {
        // Nobody listening is fine.
        let _ = self.tx.send(Arc::new(envelope));
    }
    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.tx.subscribe()
    }
}

/// Turns committed batches into events until the taps are gone.
pub fn spawn_dispatcher(
    pool: SqlitePool,
    bus: Arc<dyn Bus>,
    mut rx: mpsc::UnboundedReceiver<Batch>,
) {
    tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            // The commit hook runs just before SQLite finishes the commit: give it a moment
            // to land, and look again for a row this connection cannot see yet.
            tokio::time::sleep(Duration::from_millis(5)).await;
            if batch.overflow {
                bus.publish(Envelope {
                    event: LiveEvent::Resync,
                    to: Route::Everyone,
                });
            }
            for (table, id) in batch.changes {
                let mut routed = route(&pool, table, id).await;
                for _ in 0..3 {
                    if !matches!(routed, Ok(None)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    routed = route(&pool, table, id).await;
                }
                match routed {
                    Ok(Some(envelope)) => bus.publish(envelope),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, ?table, id, "live event not routed"),
                }
            }
        }
    });
}

async fn route(pool: &SqlitePool, table: Table, id: i64) -> Result<Option<Envelope>, sqlx::Error> {
    Ok(match table {
        Table::Orders => {
            type Row = (
                i64,
                Option<i64>,
                String,
                i64,
                i64,
                bool,
                Option<String>,
                i64,
                Option<i64>,
                bool,
            );
            let row: Option<Row> = sqlx::query_as(
                "select resident_id, assignee_id, status, version, total_kopecks, all_paid, refund_state, \
                 refund_kopecks, rating, is_draft from orders where order_id = ?",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.map(|r| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (&r.1, &r.2, r.3, r.4, r.5, &r.6, r.7, r.8, r.9).hash(&mut h);
                Envelope {
                    event: LiveEvent::Order {
                        order_id: id,
                        stamp: h.finish() as i64,
                    },
                    to: Route::Order {
                        resident_id: r.0,
                        assignee_id: r.1,
                        draft: r.9,
                    },
                }
            })
        }
        Table::Messages => {
            let row: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("select order_id, dialogue_id from messages where message_id = ?")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            let Some((order_id, dialogue_id)) = row else {
                return Ok(None);
            };
            let to = match (order_id, dialogue_id) {
                (Some(o), _) => order_route(pool, o).await?,
                (None, Some(d)) => dialogue_route(pool, d).await?,
                (None, None) => None,
            };
            to.map(|to| Envelope {
                event: LiveEvent::Message {
                    order_id,
                    dialogue_id,
                },
                to,
            })
        }
        Table::Dialogues => dialogue_route(pool, id).await?.map(|to| Envelope {
            event: LiveEvent::Dialogue { dialogue_id: id },
            to,
        }),
        Table::Notifications => {
            let recipient: Option<String> =
                sqlx::query_scalar("select recipient from notifications where notification_id = ?")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            recipient.map(|r| Envelope {
                event: LiveEvent::Notifications,
                to: Route::Recipient(r),
            })
        }
    })
}

async fn order_route(pool: &SqlitePool, order_id: i64) -> Result<Option<Route>, sqlx::Error> {
    let row: Option<(i64, Option<i64>, bool)> =
        sqlx::query_as("select resident_id, assignee_id, is_draft from orders where order_id = ?")
            .bind(order_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(resident_id, assignee_id, draft)| Route::Order {
        resident_id,
        assignee_id,
        draft,
    }))
}

async fn dialogue_route(pool: &SqlitePool, dialogue_id: i64) -> Result<Option<Route>, sqlx::Error> {
    let resident: Option<i64> =
        sqlx::query_scalar("select resident_id from dialogues where dialogue_id = ?")
            .bind(dialogue_id)
            .fetch_optional(pool)
            .await?;
    Ok(resident.map(|resident_id| Route::Dialogue { resident_id }))
}

/// The `/api/live` streams open per session, counted in the process that holds them. A
/// stream is a connection to one process and ends with it, so its count lives and dies
/// with it too: a killed process leaves no stale count behind, as a database row would.
/// (Behind several processes a session could hold the limit in each; each stream costs
/// only the process that serves it.)
#[derive(Default)]
pub struct StreamSlots {
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One open stream's place; dropping it (the stream ends) frees the place.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    session: String,
}

impl StreamSlots {
    /// A place for one more stream of `session`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, session: &str, max: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(session.to_owned()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            slots: self.clone(),
            session: session.to_owned(),
        })
    }

    /// How many streams `session` holds now.
    pub fn open(&self, session: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(session).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.session) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.session);
            }
        }
    }
}

/// How often an open stream checks that its session still stands.
const RECHECK: Duration = Duration::from_secs(30);

struct Listener {
    rx: broadcast::Receiver<Arc<Envelope>>,
    viewer: Viewer,
    token_hash: String,
    pool: SqlitePool,
    recheck: tokio::time::Interval,
    /// Held while the stream is open.
    _slot: StreamSlot,
}

/// `GET /api/live`: the events the signed-in person may see, as server-sent events.
pub async fn stream(
    State(state): State<AppState>,
    Extension(viewer): Extension<CurrentViewer>,
    Extension(token): Extension<SessionToken>,
) -> Response {
    let (Some(viewer), Some(token)) = (viewer.0, token.0) else {
        return (http::StatusCode::UNAUTHORIZED, "Войдите в систему").into_response();
    };
    let token_hash = crate::auth::service::sha256_hex(&token);
    let max = crate::auth::rate_limit::LIVE_STREAMS_PER_SESSION;
    let Some(slot) = state.live_streams.take(&token_hash, max) else {
        return (
            http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Слишком много открытых вкладок (не больше {max}). Закройте лишние и обновите страницу"
            ),
        )
            .into_response();
    };
    let listener = Listener {
        rx: state.live.subscribe(),
        viewer,
        token_hash,
        pool: state.pool.clone(),
        recheck: tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK),
        _slot: slot,
    };
    let events = futures::stream::unfold(listener, |mut l| async move {
        loop {
            let received = tokio::select! {
                r = l.rx.recv() => r,
                _ = l.recheck.tick() => {
                    // Signed out, blocked or a changed role: the stream follows the session.
                    match crate::auth::repo::session_viewer(&l.pool, &l.token_hash, crate::time::now()).await {
                        Ok(Some(v)) => {
                            l.viewer = v;
                            continue;
                        }
                        _ => return None,
                    }
                }
            };
            let event = match received {
                Ok(envelope) if envelope.to.admits(&l.viewer) => envelope.event.clone(),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => LiveEvent::Resync,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            let data = serde_json::to_string(&event).unwrap_or_default();
            return Some((
                Ok::<_, std::convert::Infallible>(Event::default().data(data)),
                l,
            ));
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
