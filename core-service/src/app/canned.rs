//! Canned responses: every agent's own, plus shared ones that need
//! canned.manage_shared to change. Someone else's personal response is
//! "not found", so that ids reveal nothing.

use super::ports::CannedRecord;
use super::{Core, Principal};
use crate::domain::value::{Checks, Shortcut, text, title};
use crate::domain::{Permission, new_id};
use crate::error::{CoreError, CoreResult};

/// Longest canned body.
const BODY_CHARS: usize = 10_000;

/// Personal (the owner's alone) or shared (every agent's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedScope {
    Personal,
    Shared,
}

/// A canned response to create.
#[derive(Debug, Clone)]
pub struct NewCanned {
    pub shortcut: String,
    pub title: String,
    pub body: String,
    pub scope: Option<CannedScope>,
}

/// Changes to a canned response; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CannedUpdate {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub scope: Option<CannedScope>,
}

impl Core {
    pub async fn canned_responses(&self, p: &Principal, q: Option<&str>) -> CoreResult<Vec<CannedRecord>> {
        let a = p.agent()?;
        let mut all = self.store.visible_to(&a.id).await?;
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            let q = q.to_lowercase();
            all.retain(|c| [&c.shortcut, &c.title, &c.body].iter().any(|f| f.to_lowercase().contains(&q)));
        }
        all.sort_by(|x, y| x.shortcut.cmp(&y.shortcut).then(x.shared.cmp(&y.shared)));
        Ok(all)
    }

    pub async fn create_canned(&self, p: &Principal, new: NewCanned) -> CoreResult<CannedRecord> {
        let a = p.agent()?;
        let shared = new.scope == Some(CannedScope::Shared);
        if shared {
            p.agent_with(Permission::CannedManageShared)?;
        }
        let mut c = Checks::default();
        let shortcut = c.check(Shortcut::parse(&new.shortcut));
        let title = c.check(title(&new.title));
        let body = c.check(text("body", &new.body, BODY_CHARS));
        c.finish()?;
        let record = CannedRecord {
            id: new_id(),
            owner_id: a.id.clone(),
            shared,
            shortcut: shortcut.expect("checked").into_inner(),
            title: title.expect("checked"),
            body: body.expect("checked"),
        };
        self.store.create_canned(record, self.now_ms()).await
    }

    pub async fn update_canned(&self, p: &Principal, id: &str, u: CannedUpdate) -> CoreResult<CannedRecord> {
        let mut record = self.editable_canned(p, id).await?;
        if u.scope == Some(CannedScope::Shared) {
            p.agent_with(Permission::CannedManageShared)?;
        }
        let mut c = Checks::default();
        if let Some(s) = u.shortcut.as_deref().and_then(|s| c.check(Shortcut::parse(s))) {
            record.shortcut = s.into_inner();
        }
        if let Some(t) = u.title.as_deref().and_then(|t| c.check(title(t))) {
            record.title = t;
        }
        if let Some(b) = u.body.as_deref().and_then(|b| c.check(text("body", b, BODY_CHARS))) {
            record.body = b;
        }
        c.finish()?;
        if let Some(scope) = u.scope {
            record.shared = scope == CannedScope::Shared;
        }
        self.store.update_canned(record, self.now_ms()).await
    }

    pub async fn delete_canned(&self, p: &Principal, id: &str) -> CoreResult<()> {
        self.editable_canned(p, id).await?;
        self.store.delete_canned(id).await?;
        Ok(())
    }

    /// The response if the caller may change it: their own personal one, or
    /// a shared one with canned.manage_shared.
    async fn editable_canned(&self, p: &Principal, id: &str) -> CoreResult<CannedRecord> {
        let a = p.agent()?;
        let record = self.store.canned(id).await?;
        let record = record
            .filter(|c| c.shared || c.owner_id == a.id)
            .ok_or_else(|| CoreError::not_found("canned response"))?;
        if record.shared {
            p.agent_with(Permission::CannedManageShared)?;
        }
        Ok(record)
    }
}
