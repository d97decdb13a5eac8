//! The one handle every use case hangs off: [`Gateway`] holds the store, keys, providers,
//! clock and settings. The use cases live in their own modules (`verify/`, `apps.rs`,
//! `pages.rs`, `tokens/`, `inbound.rs`, `receipts.rs`, `live/subscribe.rs`), each as an
//! `impl Gateway` block; this file keeps only what they share.

use crate::gateway::{
    apps::auth::Authenticator,
    clock::Clock,
    code::CodeHasher,
    delivery::{Provider, Providers, DEV_INBOX},
    error::EngineError,
    guard::GuardState,
    limits::{self, Limit},
    live::hub::LiveHub,
    outbox::{
        webhooks::WebhookWorker, Breakers, Outbox, OutboxSettings, OutboxSignal, TemplateBook,
    },
    providers::ProviderBook,
    secret::random_id,
    settings::{route_for, EngineSettings},
    store::{AppRecord, NewDelivery, SendCount, Store},
    tokens::jwt::TokenKeys,
};
use crate::model::InboxMessage;
use std::{net::IpAddr, sync::Arc};

/// The engine. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

/// What the handle shares; the use-case modules reach it as `self.inner`.
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) auth: Authenticator,
    pub(crate) hasher: CodeHasher,
    pub(crate) providers: Arc<ProviderBook>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: EngineSettings,
    pub(crate) tokens: TokenKeys,
    pub(crate) outbox: Arc<OutboxSignal>,
    pub(crate) hub: LiveHub,
    pub(crate) guard: GuardState,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("providers", self.inner.providers.server())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// What address keys are derived for (see [`Gateway::address_key`]).
const ADDRESS_LABEL: &str = "otpgate/address/v1";

impl Gateway {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: CodeHasher,
        providers: Providers,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
        tokens: TokenKeys,
    ) -> Self {
        let guard = GuardState::new(&settings.guard.pumping);
        Self {
            inner: Arc::new(Inner {
                auth: Authenticator::new(store.clone()),
                providers: Arc::new(ProviderBook::new(providers, store.clone(), hasher.clone())),
                store,
                hasher,
                clock,
                settings,
                tokens,
                outbox: Arc::default(),
                hub: LiveHub::default(),
                guard,
            }),
        }
    }

    /// Starts the delivery worker; it stops (releasing what it holds) when `shutdown`
    /// turns true. Each serving process runs one.
    pub fn start_delivery(
        &self,
        settings: OutboxSettings,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let i = &self.inner;
        let webhooks = Arc::new(WebhookWorker {
            store: i.store.clone(),
            hasher: i.hasher.clone(),
            clock: i.clock.clone(),
            client: WebhookWorker::client(i.providers.server().kit().net),
            poll_interval: settings.poll_interval,
            lease: settings.lease,
            owner: format!("webhooks-{}", random_id()),
        });
        let outbox = Arc::new(Outbox {
            store: i.store.clone(),
            providers: i.providers.clone(),
            hasher: i.hasher.clone(),
            clock: i.clock.clone(),
            root_url: i.settings.root_url.clone(),
            send_cap: i.settings.limits.sends_per_address,
            signal: i.outbox.clone(),
            settings,
            breakers: Breakers::default(),
            templates: TemplateBook::default(),
            owner: format!("worker-{}", random_id()),
        });
        tokio::spawn(async move {
            tokio::join!(outbox.run(shutdown.clone()), webhooks.run(shutdown));
        })
    }

    /// The outbox row for a message to `address` through `provider`, along the app's
    /// failover route.
    pub(crate) fn delivery_for(
        &self,
        app: &AppRecord,
        provider: &dyn Provider,
        address: &str,
    ) -> NewDelivery {
        let rules = &app.settings.routes;
        let route = if provider.keeps_messages() || app.settings.captures(address) {
            vec![DEV_INBOX.to_owned()]
        } else {
            route_for(rules, provider.id(), provider.channel(), address)
        };
        NewDelivery {
            route,
            address: address.to_owned(),
            lease: None,
        }
    }

    /// One message to `address` of `app` counted against the send cap at `now` (the
    /// bucket the outbox counts it in).
    pub(crate) fn send_count(&self, app: &AppRecord, address: &str, now: i64) -> SendCount {
        SendCount {
            key: limits::send_key(app.app_id, address),
            window_start: self.inner.settings.limits.sends_per_address.window(now).0,
        }
    }

    pub(crate) fn hasher(&self) -> &CodeHasher {
        &self.inner.hasher
    }

    pub(crate) fn hub(&self) -> &LiveHub {
        &self.inner.hub
    }

    /// Counts one hit against `limit` for `key`; `RateLimited` when over. `None` is no
    /// limit (and no database write).
    pub(crate) async fn limit(&self, key: String, limit: Option<Limit>) -> Result<(), EngineError> {
        let Some(limit) = limit else { return Ok(()) };
        let (window, retry_after_secs) = limit.window(self.inner.clock.now_ms());
        if self.inner.store.hit(&key, window, 1).await? > limit.max {
            return Err(EngineError::RateLimited { retry_after_secs });
        }
        Ok(())
    }

    pub(crate) async fn limit_ip(
        &self,
        kind: &str,
        app: &AppRecord,
        ip: Option<IpAddr>,
        limit: Option<Limit>,
    ) -> Result<(), EngineError> {
        match ip.filter(|_| limit.is_some()) {
            Some(ip) => {
                self.limit(
                    limits::key(kind, app.app_id, &limits::ip_subject(ip)),
                    limit,
                )
                .await
            }
            None => Ok(()),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// The server's providers (the config file's), which every app can use.
    pub fn providers(&self) -> &Providers {
        self.inner.providers.server()
    }

    /// The provider `id` names for `app`: one of its own, else one of the server's.
    pub(crate) async fn provider_for(
        &self,
        app: &AppRecord,
        id: &str,
    ) -> Result<Arc<dyn Provider>, EngineError> {
        self.inner
            .providers
            .find(app.app_id, app.providers_rev, id)
            .await?
            .ok_or(EngineError::UnknownProvider)
    }

    /// One of the server's providers (receipts and inbound messages come to the server's).
    pub(crate) fn server_provider(&self, id: &str) -> Result<Arc<dyn Provider>, EngineError> {
        self.providers()
            .get(id)
            .cloned()
            .ok_or(EngineError::UnknownProvider)
    }

    /// The ids `app` can name as its provider: its own, then the server's.
    pub async fn provider_ids(&self, app: &AppRecord) -> Result<Vec<String>, EngineError> {
        let book = &self.inner.providers;
        let own = book.own(app.app_id, app.providers_rev).await?;
        let server = book.server().ids().filter(|id| !own.contains_key(*id));
        Ok(own
            .keys()
            .map(String::as_str)
            .chain(server)
            .map(str::to_owned)
            .collect())
    }

    /// The keyed hash of an address that history searches match: no plaintext index of
    /// addresses, and none that works without the server's key.
    pub(crate) fn address_key(&self, address: &str) -> Vec<u8> {
        self.hasher().derive(ADDRESS_LABEL, &[address]).to_vec()
    }

    /// [`address_key`](Self::address_key) under every key (older rows were hashed with
    /// keys since rotated).
    pub fn address_keys(&self, address: &str) -> Vec<Vec<u8>> {
        self.hasher()
            .derive_each(ADDRESS_LABEL, &[address])
            .into_iter()
            .map(|k| k.to_vec())
            .collect()
    }

    /// The idempotency store, for adapters that replay answers.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The current time in Unix milliseconds, from the engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Answers when storage does (health checks).
    pub async fn ping(&self) -> Result<(), EngineError> {
        Ok(self.inner.store.ping().await?)
    }

    /// Sets the gauges `/metrics` reads at the moment it is scraped: the outbox's depth
    /// and oldest due message, the database pool and the runtime's tasks.
    pub async fn observe(&self) -> Result<(), EngineError> {
        let (depth, earliest) = self.inner.store.outbox_depth().await?;
        let now = self.inner.clock.now_ms();
        let waited = earliest.map_or(0, |due| (now - due).max(0));
        crate::gateway::metrics::outbox(depth, std::time::Duration::from_millis(waited as u64));
        let (busy, idle) = self.inner.store.pool_usage();
        crate::gateway::metrics::db_connections(busy, idle);
        let runtime = tokio::runtime::Handle::current().metrics();
        crate::gateway::metrics::runtime_tasks(runtime.num_alive_tasks());
        Ok(())
    }

    /// The dev inbox, when the console provider is enabled.
    pub fn inbox(&self) -> Option<Vec<InboxMessage>> {
        self.inner
            .providers
            .server()
            .console()
            .map(|c| c.messages())
    }

    /// The public URL of a verification's hosted page.
    pub fn page_url(&self, namespace: &str, public_id: &str) -> String {
        format!(
            "{}/otp/{namespace}/{public_id}",
            self.inner.settings.root_url
        )
    }
}
