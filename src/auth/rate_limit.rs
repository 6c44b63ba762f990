//! Limits on how often one person (or, for sign-in, one address) may do something: sign-in
//! attempts, code requests, and every write a script could repeat (chat messages, orders,
//! uploads, comments, push subscriptions, refund requests, exports). Events are counted in
//! the `rate_events` table inside a write transaction, so the limits hold across restarts
//! and when several app processes share one database. Every limit is named here.

use crate::auth::model::{ResidentUser, StaffUser, Viewer};
use crate::error::{AppError, AppResult};
use sqlx::SqlitePool;
use std::future::Future;

/// At most `max` events under one key within `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

/// What is limited: the key prefix, the limits over one stream of events, and the words of
/// the refusal («Слишком много {what}. Попробуйте через N мин.»).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub what: &'static str,
    pub limits: &'static [Limit],
}

impl Rule {
    /// The key of this rule for one person or address.
    pub fn key(&self, who: &str) -> String {
        format!("{}:{who}", self.name)
    }

    /// The tightest count: how many events a burst gets through.
    pub fn burst(&self) -> i64 {
        self.limits.iter().map(|l| l.max).min().unwrap_or(0)
    }
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

const fn per(max: i64, window_secs: i64) -> Limit {
    Limit { max, window_secs }
}

// Sign-in. Failed passwords and codes count per account *and* address (so a stranger
// cannot lock the owner out), per address (so one address cannot try many accounts), and
// per account with a slow daily ceiling (so many addresses cannot brute-force one account).

pub const PASSWORD_PER_ACCOUNT_AND_ADDRESS: Rule = Rule {
    name: "password:account-ip",
    what: "попыток",
    limits: &[per(5, 15 * MINUTE)],
};
pub const PASSWORD_PER_ADDRESS: Rule = Rule {
    name: "password:ip",
    what: "попыток",
    limits: &[per(30, 15 * MINUTE)],
};
pub const PASSWORD_PER_ACCOUNT: Rule = Rule {
    name: "password:account",
    what: "попыток",
    limits: &[per(100, DAY)],
};
pub const CODE_CHECK_PER_PHONE_AND_ADDRESS: Rule = Rule {
    name: "code-check:phone-ip",
    what: "попыток",
    limits: &[per(10, 15 * MINUTE)],
};
pub const CODE_CHECK_PER_ADDRESS: Rule = Rule {
    name: "code-check:ip",
    what: "попыток",
    limits: &[per(30, 15 * MINUTE)],
};
pub const CODE_CHECK_PER_PHONE: Rule = Rule {
    name: "code-check:phone",
    what: "попыток",
    limits: &[per(100, DAY)],
};
pub const CODE_REQUEST_PER_PHONE_AND_ADDRESS: Rule = Rule {
    name: "code-request:phone-ip",
    what: "попыток",
    limits: &[per(5, HOUR)],
};
pub const CODE_REQUEST_PER_ADDRESS: Rule = Rule {
    name: "code-request:ip",
    what: "попыток",
    limits: &[per(20, HOUR)],
};
/// Bounds the text messages one phone can be sent, from however many addresses.
pub const CODE_REQUEST_PER_PHONE: Rule = Rule {
    name: "code-request:phone",
    what: "попыток",
    limits: &[per(30, DAY)],
};

// Writes, per signed-in person (see `person`). Generous for people, tight for scripts.

/// Chat messages, both sides: request chats, «Переписка с клиентом», pre-order dialogues.
pub const CHAT_MESSAGES: Rule = Rule {
    name: "chat",
    what: "сообщений",
    limits: &[per(20, MINUTE), per(300, HOUR)],
};
/// Requests a resident submits.
pub const RESIDENT_ORDERS: Rule = Rule {
    name: "resident-order",
    what: "заявок",
    limits: &[per(10, HOUR)],
};
/// Drafts and orders staff save.
pub const STAFF_ORDERS: Rule = Rule {
    name: "staff-order",
    what: "сохранений заказов",
    limits: &[per(30, 10 * MINUTE), per(300, DAY)],
};
/// Uploads: order files, request and chat photos, service covers, imports.
pub const UPLOADS: Rule = Rule {
    name: "upload",
    what: "загрузок файлов",
    limits: &[per(20, MINUTE), per(60, HOUR)],
};
pub const PUSH_SUBSCRIPTIONS: Rule = Rule {
    name: "push",
    what: "подписок на уведомления",
    limits: &[per(10, HOUR)],
};
/// Internal comments on orders.
pub const COMMENTS: Rule = Rule {
    name: "comment",
    what: "комментариев",
    limits: &[per(20, MINUTE), per(300, HOUR)],
};
/// A resident's «Возврат платежа».
pub const REFUND_REQUESTS: Rule = Rule {
    name: "refund-request",
    what: "запросов на возврат",
    limits: &[per(5, HOUR)],
};
/// Orders and finance exports.
pub const EXPORTS: Rule = Rule {
    name: "export",
    what: "выгрузок",
    limits: &[per(10, 10 * MINUTE)],
};
/// Live event streams (`/api/live`) open at once for one session (counted in the process
/// that holds them: see `live::server::StreamSlots`).
pub const LIVE_STREAMS_PER_SESSION: usize = 5;

/// The longest window of any rule: older events are pruned.
const LONGEST_WINDOW: i64 = DAY;

/// Who a write counts for: `s<staff_id>` or `r<resident_id>`.
pub fn person(viewer: &Viewer) -> String {
    crate::live::server::recipient_of(viewer)
}

/// Who a route handler's request counts for; empty when nobody is signed in.
pub fn who(viewer: &crate::auth::session::CurrentViewer) -> String {
    viewer.0.as_ref().map(person).unwrap_or_default()
}

pub fn staff(staff: &StaffUser) -> String {
    format!("s{}", staff.staff_id)
}

pub fn resident(resident: &ResidentUser) -> String {
    format!("r{}", resident.resident_id)
}

/// The refusal for a rule whose window frees a place at `retry_at`.
fn refusal(rule: &Rule, retry_at: i64, now: i64) -> AppError {
    let minutes = ((retry_at - now).max(1) + 59) / 60;
    AppError::RateLimited(format!(
        "Слишком много {}. Попробуйте через {minutes} мин.",
        rule.what
    ))
}

/// Checks every limit of every rule and, when all allow it, counts one event under each
/// key — in one write transaction, so parallel requests cannot all pass the check before
/// any counts. Returns the ids of the events counted (see `forget`).
pub async fn hit(pool: &SqlitePool, keys: &[(&str, Rule)], now: i64) -> AppResult<Vec<i64>> {
    let mut tx = crate::server::db::write_tx(pool).await?;
    for (key, rule) in keys {
        for limit in rule.limits {
            // The event whose leaving the window frees a place: the `max`-th newest.
            let blocking: Option<i64> = sqlx::query_scalar(
                "select at from rate_events where event_key = ? and at > ? \
                 order by at desc limit 1 offset ?",
            )
            .bind(key)
            .bind(now - limit.window_secs)
            .bind(limit.max - 1)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(at) = blocking {
                return Err(refusal(rule, at + limit.window_secs, now));
            }
        }
    }
    let mut ids = Vec::with_capacity(keys.len());
    for (key, _) in keys {
        let id: i64 = sqlx::query_scalar(
            "insert into rate_events (event_key, at) values (?, ?) returning rate_event_id",
        )
        .bind(key)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// A write limited by `rule` for `who`: counted first (so a parallel burst cannot outrun
/// the limit), then done; a write that fails is uncounted, so refusals change nothing and
/// only what was really written counts. An empty `who` (nobody signed in: the write refuses
/// by itself) is not counted.
pub async fn limited<T>(
    pool: &SqlitePool,
    rule: Rule,
    who: &str,
    write: impl Future<Output = AppResult<T>>,
) -> AppResult<T> {
    if who.is_empty() {
        return write.await;
    }
    let key = rule.key(who);
    let counted = hit(pool, &[(key.as_str(), rule)], crate::time::now()).await?;
    let outcome = write.await;
    if outcome.is_err() {
        forget(pool, &counted).await?;
    }
    outcome
}

/// Uncounts events counted by `hit` (a sign-in that succeeded is no failed attempt).
pub async fn forget(pool: &SqlitePool, ids: &[i64]) -> AppResult<()> {
    for id in ids {
        sqlx::query("delete from rate_events where rate_event_id = ?")
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Forgets the events under `key` (after a successful sign-in).
pub async fn clear(pool: &SqlitePool, key: &str) -> AppResult<()> {
    sqlx::query("delete from rate_events where event_key = ?")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes events older than the longest window.
pub async fn prune(pool: &SqlitePool, now: i64) -> AppResult<()> {
    sqlx::query("delete from rate_events where at < ?")
        .bind(now - LONGEST_WINDOW)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_and_when() {
        let e = refusal(&CHAT_MESSAGES, 1_000 + 61, 1_000);
        assert_eq!(
            e,
            AppError::RateLimited("Слишком много сообщений. Попробуйте через 2 мин.".into())
        );
        assert_eq!(e.status_code(), 429);
        // Never «через 0 мин.».
        assert!(refusal(&EXPORTS, 1_000, 1_000)
            .to_string()
            .contains("через 1 мин."));
    }

    #[test]
    fn every_window_fits_the_pruning_and_names_are_unique() {
        let all = [
            PASSWORD_PER_ACCOUNT_AND_ADDRESS,
            PASSWORD_PER_ADDRESS,
            PASSWORD_PER_ACCOUNT,
            CODE_CHECK_PER_PHONE_AND_ADDRESS,
            CODE_CHECK_PER_ADDRESS,
            CODE_CHECK_PER_PHONE,
            CODE_REQUEST_PER_PHONE_AND_ADDRESS,
            CODE_REQUEST_PER_ADDRESS,
            CODE_REQUEST_PER_PHONE,
            CHAT_MESSAGES,
            RESIDENT_ORDERS,
            STAFF_ORDERS,
            UPLOADS,
            PUSH_SUBSCRIPTIONS,
            COMMENTS,
            REFUND_REQUESTS,
            EXPORTS,
        ];
        let mut names: Vec<_> = all.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for rule in all {
            assert!(!rule.limits.is_empty());
            for l in rule.limits {
                assert!(
                    l.max > 0 && l.window_secs <= LONGEST_WINDOW,
                    "{}",
                    rule.name
                );
            }
        }
    }
}
