//! The development provider: keeps messages in an in-memory inbox the operator opens at
//! `/dev/inbox`, and logs that a message arrived (never its body).

use super::{DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::{gateway::address::Channel, model::InboxMessage};
use async_trait::async_trait;
use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

/// How many messages the inbox keeps; older ones fall out.
const INBOX_SIZE: usize = 200;

/// Delivers into the dev inbox.
pub struct ConsoleProvider {
    templates: TemplateSet,
    inbox: Mutex<VecDeque<InboxMessage>>,
}

impl Default for ConsoleProvider {
    fn default() -> Self {
        Self {
            templates: TemplateSet::default_email(),
            inbox: Mutex::new(VecDeque::new()),
        }
    }
}

impl ConsoleProvider {
    /// The inbox, newest first.
    pub fn messages(&self) -> Vec<InboxMessage> {
        let inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        inbox.iter().rev().cloned().collect()
    }
}

#[async_trait]
impl Provider for ConsoleProvider {
    fn id(&self) -> &str {
        "console"
    }

    /// Accepts any printable address, so e-mail and phone flows can both be tried.
    fn channel(&self) -> Channel {
        Channel::Other
    }

    fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let sent_at_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        {
            let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
            if inbox.len() == INBOX_SIZE {
                inbox.pop_front();
            }
            inbox.push_back(InboxMessage {
                sent_at_unix,
                provider: "console".into(),
                to: message.to.to_string(),
                subject: message.subject.clone(),
                body: message.text.clone(),
            });
        }
        tracing::info!(to = %message.to.masked(), "console provider: message kept in the dev inbox at /dev/inbox");
        Ok(Sent { message_id: None })
    }
}
