//! What the hosted pages read and do: the code page's state, and the page's own actions
//! (a code typed, an address given, a resend) on a verification named by its URL.

use crate::gateway::{
    address::{dialling_codes, mask, with_region, Channel},
    clock::secs_until,
    code::Alphabet,
    delivery::inbound::INBOUND_PROVIDER,
    error::EngineError,
    handle::Gateway,
    intent::Intent,
    store::{AppRecord, StoreError, VerificationRecord},
    verify::{create::admit, CheckMode},
};
use crate::model::{
    CheckReply, CheckResult, CountryOption, FallbackOption, Namespace, PageView, Status,
    VerificationId,
};
use std::net::IpAddr;

/// Where a page's state is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The database: right after a change that may have been made on another instance.
    Fresh,
    /// The store's view cache when it holds the verification (`store/views.rs`), else the
    /// database: page views and status polls.
    Viewed,
}

impl Gateway {
    pub(crate) async fn app_and_record(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<(AppRecord, VerificationRecord), EngineError> {
        self.app_and_record_as(namespace, id, Read::Fresh).await
    }

    /// The app and verification named by a page's URL, read as `read` says.
    async fn app_and_record_as(
        &self,
        namespace: &str,
        id: &str,
        read: Read,
    ) -> Result<(AppRecord, VerificationRecord), EngineError> {
        let (Ok(ns), Ok(id)) = (Namespace::parse(namespace), VerificationId::parse(id)) else {
            return Err(EngineError::NotFound);
        };
        let store = &self.inner.store;
        let app = match read {
            Read::Fresh => store.find_app(ns.as_str()).await?,
            Read::Viewed => store.find_app_viewed(ns.as_str()).await?,
        }
        .ok_or(EngineError::NotFound)?;
        let record = match read {
            Read::Fresh => store.find_verification(app.app_id, id.as_str()).await?,
            Read::Viewed => {
                store
                    .find_verification_viewed(app.app_id, id.as_str())
                    .await?
            }
        }
        .ok_or(EngineError::NotFound)?;
        Ok((app, record))
    }

    /// What the hosted code page shows, read as `read` says.
    pub async fn page_view(
        &self,
        namespace: &str,
        id: &str,
        read: Read,
    ) -> Result<PageView, EngineError> {
        let (app, mut record) = self.app_and_record_as(namespace, id, read).await?;
        let now = self.inner.clock.now_ms();
        self.settle(&app, &mut record, now).await?;
        let channel = Channel::parse(&record.channel).unwrap_or(Channel::Other);
        let cooldown_ms = self.inner.settings.limits.resend_cooldown_secs * 1000;
        let totp = channel == Channel::Totp;
        let resend_in_secs = (record.status == Status::Pending
            && !totp
            && !record.address.is_empty()
            && record.sends < record.max_sends)
            .then(|| {
                record
                    .last_sent_at
                    .map_or(0, |last| secs_until(last + cooldown_ms, now))
            });
        let live_token = self.live_token(&app.namespace, &record);
        let inbound = self.inbound_view(&app, &record);
        let enrolment = self.enrolment_view(&app, &record).await?;
        let pages = app.settings.pages.clone();
        let needs_address = record.address.is_empty() && record.status == Status::Pending;
        let address_kind = match channel {
            Channel::Email => "email",
            Channel::Sms | Channel::Whatsapp | Channel::Voice => "phone",
            Channel::Other => "other",
            Channel::Totp => "totp",
        };
        Ok(PageView {
            embed_origin: None,
            lang: crate::i18n::Lang::EN,
            locale: record.locale.clone(),
            app_locale: pages.locale.unwrap_or_default(),
            logo_url: pages.logo_url,
            accent_color: pages.accent_color,
            countries: if needs_address && address_kind == "phone" {
                dialling_codes()
                    .iter()
                    .map(|d| CountryOption {
                        region: d.region.clone(),
                        code: d.code,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            country: pages.country,
            fallbacks: if record.status == Status::Pending && !totp {
                self.fallback_options(&app, &record.provider).await?
            } else {
                Vec::new()
            },
            inbound,
            enrolment,
            live_token,
            needs_address,
            address_kind: address_kind.into(),
            resend_in_secs,
            namespace: app.namespace,
            id: record.public_id.clone(),
            app_name: app.name,
            channel: Channel::parse(&record.channel)
                .unwrap_or(Channel::Other)
                .label()
                .into(),
            // A factor's id means nothing to the person.
            masked_address: if totp {
                String::new()
            } else {
                mask(&record.address)
            },
            status: record.status,
            attempts_left: record.max_attempts.saturating_sub(record.attempts),
            expires_in_secs: secs_until(record.expires_at, now),
            code_length: record.code_length,
            numeric_code: record.code_alphabet == Alphabet::Digits.as_str(),
        })
    }

    /// The app's fallbacks other than `current` on channels it allows, with how each
    /// reaches the person.
    async fn fallback_options(
        &self,
        app: &AppRecord,
        current: &str,
    ) -> Result<Vec<FallbackOption>, EngineError> {
        let own = self
            .inner
            .providers
            .own(app.app_id, app.providers_rev)
            .await?;
        let server = self.providers();
        let options = app
            .settings
            .pages
            .fallbacks
            .iter()
            .filter(|p| *p != current)
            .filter_map(|p| {
                let provider = own.get(p).or_else(|| server.get(p))?;
                admit(app, provider.channel(), None).ok()?;
                let kind = if p == INBOUND_PROVIDER {
                    "qr"
                } else {
                    provider.channel().as_str()
                };
                Some(FallbackOption {
                    provider: p.clone(),
                    kind: kind.into(),
                })
            })
            .collect();
        Ok(options)
    }

    /// A code typed on the hosted page. When this check verified a verification that
    /// has a `redirect_url`, the reply carries the URL to send the browser to, with a fresh
    /// verification token, the integrator's state and the id in its query.
    pub async fn check_from_page(
        &self,
        namespace: &str,
        id: &str,
        code: &str,
        client_ip: Option<IpAddr>,
        binding: Option<&str>,
    ) -> Result<CheckReply, EngineError> {
        let (app, record) = self.app_and_record(namespace, id).await?;
        let id = VerificationId::parse(&record.public_id)
            .map_err(|_| StoreError::Corrupt("verification.public_id"))?;
        let mode = CheckMode::HostedPage;
        let (result, record) = self
            .check_presenting(&app, &id, code, mode, client_ip, binding)
            .await?;
        let redirect = (result == CheckResult::Verified && !record.redirect_url.is_empty())
            .then(|| self.redirect_target(&app, &record));
        Ok(CheckReply { result, redirect })
    }

    /// Refuses a page action (a resend, an address, a switch) on a verification bound to a
    /// session, from a browser that does not hold the binding: `BindingMismatch`.
    pub async fn page_bound(
        &self,
        namespace: &str,
        id: &str,
        binding: Option<&str>,
    ) -> Result<(), EngineError> {
        let (app, record) = self.app_and_record(namespace, id).await?;
        if self.presents_binding(&app.namespace, &record, binding) {
            Ok(())
        } else {
            Err(EngineError::BindingMismatch)
        }
    }

    /// Seconds left to an open verification's life when `binding` is its session binding
    /// (how long the browser given it keeps it); `None` otherwise.
    pub async fn binding_lifetime(&self, namespace: &str, id: &str, binding: &str) -> Option<u64> {
        let (app, record) = self.app_and_record(namespace, id).await.ok()?;
        let bound = Intent::from_column(&record.intent).is_some_and(|i| i.binding.is_some());
        let now = self.inner.clock.now_ms();
        (bound
            && record.status == Status::Pending
            && self.presents_binding(&app.namespace, &record, Some(binding)))
        .then(|| secs_until(record.expires_at, now))
    }

    /// The app and its verification for a page action that sends a message (an address,
    /// a switch): limited per client like a resend, and refused once closed.
    pub(crate) async fn open_for_sending(
        &self,
        namespace: &str,
        id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<(AppRecord, VerificationRecord, i64), EngineError> {
        let (app, mut record) = self.app_and_record(namespace, id).await?;
        let l = &self.inner.settings.limits;
        self.limit_ip("resend_ip", &app, client_ip, l.resend_per_ip)
            .await?;
        let now = self.inner.clock.now_ms();
        if self.settle(&app, &mut record, now).await?.is_some() {
            return Err(EngineError::Closed(record.status));
        }
        Ok((app, record, now))
    }

    /// The address typed on the hosted page for a verification created without one:
    /// validated by its provider (`country` is the picker's choice, which a national phone
    /// number is read in), stored once, and the code sent.
    pub async fn set_address_from_page(
        &self,
        namespace: &str,
        id: &str,
        raw: &str,
        country: Option<&str>,
        client_ip: Option<IpAddr>,
    ) -> Result<(), EngineError> {
        let (app, record, now) = self.open_for_sending(namespace, id, client_ip).await?;
        let provider = self.provider_for(&app, &record.provider).await?;
        let address = if provider.channel().is_phone() {
            provider.parse_address(&with_region(raw, country))?
        } else {
            provider.parse_address(raw)?
        };
        let admitted = self.admit_address(&app, provider.channel(), Some(&address))?;
        let delivery = self.delivery_for(&app, provider.as_ref(), address.as_str());
        let cleared = self
            .clear_send(&app, provider.as_ref(), &address, &admitted)
            .await?;
        let claimed = self
            .inner
            .store
            .claim_address(
                record.verification_id,
                address.as_str(),
                &self.address_key(address.as_str()),
                now,
                &delivery,
            )
            .await;
        match claimed {
            Ok(Some(_)) => self.sent(cleared),
            _ => self.not_sent(&app, cleared).await,
        }
        match claimed? {
            Some(_) => {
                self.inner.outbox.wake();
                Ok(())
            }
            None => Err(EngineError::invalid(
                "to",
                "this verification already has an address",
            )),
        }
    }

    /// "Send a new code" on the hosted page.
    pub async fn resend_from_page(
        &self,
        namespace: &str,
        id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<(), EngineError> {
        let (app, record) = self.app_and_record(namespace, id).await?;
        let id = VerificationId::parse(&record.public_id)
            .map_err(|_| StoreError::Corrupt("verification.public_id"))?;
        self.resend(&app, &id, client_ip).await.map(|_| ())
    }
}
