//! Event buses: how an event stored on one replica reaches the subscribers
//! of every replica. The in-process bus is the single-process case.

pub mod amqp;

use std::sync::Arc;

use async_trait::async_trait;

use crate::app::hub::Hub;
use crate::app::ports::Bus;
use crate::domain::Event;
use crate::error::CoreResult;

/// Delivers straight into this process's hub: one replica, no broker.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    hub: Arc<Hub>,
}

impl InProcessBus {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, events: Vec<Event>) -> CoreResult<()> {
        for e in events {
            self.hub.dispatch(e);
        }
        Ok(())
    }
}
