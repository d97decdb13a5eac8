//! An app's verifications as its tenant browses them: newest first, a page at a time
//! (keyset pages, never OFFSET), narrowed by status, channel, provider and dates, or found
//! by id, by full address (matched through the address's keyed hash) or by an address as
//! the history shows it masked (every address with that length, head and tail: a walk
//! through the app's verifications newest first, which dates narrow). Addresses leave
//! here whole; every page and export masks them.

use crate::gateway::{
    address::{Address, Channel, Masked},
    clock::utc_midnight,
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, HistoryQuery, HistoryRow},
    tenants::Session,
};
use crate::model::Status;

/// Rows on one page of the history.
pub const PAGE_ROWS: u32 = 50;
const DAY_MS: i64 = 86_400_000;

/// The history's filters as the form sends them; empty means any.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct HistoryFilter {
    pub status: String,
    pub channel: String,
    pub provider: String,
    /// `YYYY-MM-DD`, both days included.
    pub from: String,
    pub to: String,
    /// A verification id, a full address, or an address as the history shows it.
    pub q: String,
}

/// A position in the history: the (created_at, verification_id) of a page's last row,
/// written `1767225600000.42` in links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64, pub i64);

impl Cursor {
    pub fn parse(raw: &str) -> Result<Self, EngineError> {
        raw.split_once('.')
            .and_then(|(at, id)| Some(Cursor(at.parse().ok()?, id.parse().ok()?)))
            .ok_or_else(|| EngineError::invalid("before", "is not a position in the history"))
    }

    pub fn of(row: &HistoryRow) -> Self {
        Cursor(row.created_at, row.verification_id)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// One page, and where the next starts when there is one.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub rows: Vec<HistoryRow>,
    pub next: Option<Cursor>,
}

/// Whether a search looks like an address rather than a verification id.
fn looks_like_address(q: &str) -> bool {
    q.contains('@') || q.starts_with('+') || q.starts_with("00")
}

impl Gateway {
    /// The query `filter` asks for over one of the tenant's apps (every member); bad
    /// input is refused with the field named.
    pub async fn history_query(
        &self,
        session: &Session,
        namespace: &str,
        filter: &HistoryFilter,
    ) -> Result<(AppRecord, HistoryQuery), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let mut query = HistoryQuery {
            app_ids: vec![app.app_id],
            limit: PAGE_ROWS,
            ..HistoryQuery::default()
        };
        let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(status) = given(&filter.status) {
            Status::parse(&status)
                .ok_or_else(|| EngineError::invalid("status", "is not one of the statuses"))?;
            query.status = Some(status);
        }
        if let Some(channel) = given(&filter.channel) {
            Channel::parse(&channel)
                .ok_or_else(|| EngineError::invalid("channel", "is not one of the channels"))?;
            query.channel = Some(channel);
        }
        if let Some(provider) = given(&filter.provider) {
            if provider.len() > 100 {
                return Err(EngineError::invalid(
                    "provider",
                    "is longer than 100 characters",
                ));
            }
            query.provider = Some(provider);
        }
        let date = |field: &'static str, raw: &str| match given(raw) {
            None => Ok(None),
            Some(day) => utc_midnight(&day)
                .map(Some)
                .ok_or_else(|| EngineError::invalid(field, "must be a date such as 2026-01-31")),
        };
        query.from = date("from", &filter.from)?;
        query.to = date("to", &filter.to)?.map(|day| day + DAY_MS);
        if let (Some(from), Some(to)) = (query.from, query.to) {
            if to <= from {
                return Err(EngineError::invalid("to", "must not be before the start"));
            }
        }
        if let Some(q) = given(&filter.q) {
            if q.len() > Address::MAX_BYTES {
                return Err(EngineError::invalid("q", "is too long"));
            }
            if q.contains('*') {
                query.masked = Some(Masked::parse(&q).ok_or_else(|| {
                    EngineError::invalid(
                        "q",
                        "is not an address as the history shows it, such as jo**@example.com",
                    )
                })?);
            } else if looks_like_address(&q) {
                // The address as stored: parsed as the channel it looks like, else as typed.
                let mut forms = vec![q.clone()];
                for channel in [Channel::Email, Channel::Sms] {
                    if let Ok(a) = Address::parse(channel, &q) {
                        forms.push(a.as_str().to_owned());
                    }
                }
                forms.dedup();
                query.address_keys = forms.iter().flat_map(|f| self.address_keys(f)).collect();
            } else {
                query.public_id = Some(q);
            }
        }
        Ok((app, query))
    }

    /// One page of `query`, after `before` when given.
    pub async fn history_page(
        &self,
        query: &HistoryQuery,
        before: Option<Cursor>,
    ) -> Result<HistoryPage, EngineError> {
        let mut page_query = query.clone();
        page_query.before = before.map(|c| (c.0, c.1));
        page_query.limit = query.limit + 1;
        let mut rows = self.store().history(&page_query).await?;
        let next = (rows.len() > query.limit as usize).then(|| {
            rows.truncate(query.limit as usize);
            rows.last().map(Cursor::of)
        });
        Ok(HistoryPage {
            rows,
            next: next.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back() {
        let c = Cursor(1_767_225_600_000, 42);
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        for bad in ["", "1", "1.x", "x.1", "1.2.3"] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn searches_tell_addresses_from_ids() {
        assert!(looks_like_address("ana@example.com"));
        assert!(looks_like_address("+4915112345678"));
        assert!(looks_like_address("004915112345678"));
        assert!(!looks_like_address("order-1234"));
    }
}
