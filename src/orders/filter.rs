//! The staff list's filters, sort and page cursor, kept in the URL so a link reproduces
//! the view. Shared by the page (reads and writes the URL) and the server (runs the query).

use super::status::OrderStatus;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SortKey {
    /// Number (= creation order of app orders).
    #[default]
    Number,
    Created,
    Updated,
    Total,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [
        SortKey::Number,
        SortKey::Created,
        SortKey::Updated,
        SortKey::Total,
    ];

    pub fn as_param(self) -> &'static str {
        match self {
            SortKey::Number => "number",
            SortKey::Created => "created",
            SortKey::Updated => "updated",
            SortKey::Total => "total",
        }
    }

    pub fn from_param(s: &str) -> SortKey {
        SortKey::ALL
            .into_iter()
            .find(|k| k.as_param() == s)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentFilter {
    /// Every invoice paid.
    Paid,
    /// Some invoice unpaid (or none issued yet).
    Unpaid,
}

/// Everything that narrows and orders the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OrderFilter {
    pub q: String,
    pub status: Option<OrderStatus>,
    pub service_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub legal_entity_id: Option<i64>,
    /// `YYYY-MM-DD`, inclusive, in the configured time zone.
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub payment: Option<PaymentFilter>,
    pub has_refund: bool,
    pub sort: SortKey,
    /// Ascending instead of the default descending.
    pub ascending: bool,
}

/// Where the next page starts: the last row's sort value and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub value: i64,
    pub order_id: i64,
}

impl Cursor {
    pub fn to_param(self) -> String {
        format!("{}_{}", self.value, self.order_id)
    }

    pub fn from_param(s: &str) -> Option<Cursor> {
        let (v, id) = s.split_once('_')?;
        Some(Cursor {
            value: v.parse().ok()?,
            order_id: id.parse().ok()?,
        })
    }
}

fn status_param(s: OrderStatus) -> &'static str {
    s.as_db()
}

fn valid_date(s: &str) -> Option<String> {
    crate::time::parse_date_input(s, 0).map(|_| s.trim().to_owned())
}

impl OrderFilter {
    /// Reads the filter from URL query pairs; unknown or malformed values are ignored.
    pub fn from_pairs<'a>(get: impl Fn(&str) -> Option<&'a str>) -> OrderFilter {
        let id = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
        OrderFilter {
            q: get("q").unwrap_or_default().chars().take(200).collect(),
            status: get("status").and_then(OrderStatus::from_db),
            service_id: id("service"),
            assignee_id: id("assignee"),
            legal_entity_id: id("entity"),
            created_from: get("from").and_then(valid_date),
            created_to: get("to").and_then(valid_date),
            payment: match get("paid") {
                Some("yes") => Some(PaymentFilter::Paid),
                Some("no") => Some(PaymentFilter::Unpaid),
                _ => None,
            },
            has_refund: get("refund") == Some("1"),
            sort: get("sort").map(SortKey::from_param).unwrap_or_default(),
            ascending: get("dir") == Some("asc"),
        }
    }

    /// The URL query (without `?`) of this filter, with an optional cursor.
    pub fn to_query(&self, after: Option<Cursor>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.trim().is_empty() {
            pairs.push(("q", self.q.trim().to_owned()));
        }
        if let Some(s) = self.status {
            pairs.push(("status", status_param(s).into()));
        }
        if let Some(v) = self.service_id {
            pairs.push(("service", v.to_string()));
        }
        if let Some(v) = self.assignee_id {
            pairs.push(("assignee", v.to_string()));
        }
        if let Some(v) = self.legal_entity_id {
            pairs.push(("entity", v.to_string()));
        }
        if let Some(v) = &self.created_from {
            pairs.push(("from", v.clone()));
        }
        if let Some(v) = &self.created_to {
            pairs.push(("to", v.clone()));
        }
        match self.payment {
            Some(PaymentFilter::Paid) => pairs.push(("paid", "yes".into())),
            Some(PaymentFilter::Unpaid) => pairs.push(("paid", "no".into())),
            None => {}
        }
        if self.has_refund {
            pairs.push(("refund", "1".into()));
        }
        if self.sort != SortKey::Number {
            pairs.push(("sort", self.sort.as_param().into()));
        }
        if self.ascending {
            pairs.push(("dir", "asc".into()));
        }
        if let Some(c) = after {
            pairs.push(("after", c.to_param()));
        }
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", crate::url::encode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(q: &str) -> (OrderFilter, Option<Cursor>) {
        let map: HashMap<String, String> = q
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), decode(v)))
            .collect();
        let f = OrderFilter::from_pairs(|k| map.get(k).map(String::as_str));
        (f, map.get("after").and_then(|c| Cursor::from_param(c)))
    }

    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_filter_survives_the_url() {
        let f = OrderFilter {
            q: "Семёнова Ленина".into(),
            status: Some(OrderStatus::InProgress),
            service_id: Some(3),
            assignee_id: Some(4),
            legal_entity_id: Some(2),
            created_from: Some("2026-11-01".into()),
            created_to: Some("2026-11-30".into()),
            payment: Some(PaymentFilter::Unpaid),
            has_refund: true,
            sort: SortKey::Updated,
            ascending: true,
        };
        let cursor = Cursor {
            value: 1_795_000_000,
            order_id: 42,
        };
        let (back, c) = parse(&f.to_query(Some(cursor)));
        assert_eq!(back, f);
        assert_eq!(c, Some(cursor));
    }

    #[test]
    fn the_default_view_has_an_empty_query() {
        assert_eq!(OrderFilter::default().to_query(None), "");
    }

    #[test]
    fn garbage_in_the_url_is_ignored() {
        let (f, c) = parse("status=nope&service=abc&from=2026-02-30&sort=zzz&after=1_x");
        assert_eq!(f, OrderFilter::default());
        assert_eq!(c, None);
    }
}
