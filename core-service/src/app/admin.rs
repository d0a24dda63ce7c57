//! Administration: settings, agent accounts and permission groups.

use super::auth::hash_password;
use super::ports::{AgentChanges, AgentRecord};
use super::{AgentPrincipal, Core, Principal};
use crate::domain::audit::{AuditAction, changes, made};
use crate::domain::permission::ADMIN_GROUP;
use crate::domain::value::{Checks, DisplayName, GroupName, NewPassword, Username};
use crate::domain::{
    Audience, Event, EventKind, FieldError, Permission, PermissionSet, Person, Settings, SettingsUpdate,
    new_id,
};
use crate::error::{CoreError, CoreResult};
use serde_json::json;

/// An agent's fields as the audit trail compares them.
fn agent_fields(a: &AgentRecord) -> serde_json::Value {
    json!({ "username": a.username, "name": a.name, "group": a.group, "disabled": a.disabled })
}

/// Changes an admin makes to an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentUpdate {
    pub name: Option<String>,
    pub group: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

impl Core {
    /// Any agent may read the settings.
    pub async fn settings(&self, p: &Principal) -> CoreResult<Settings> {
        p.agent()?;
        self.settings.get().await
    }

    /// All given keys or none.
    pub async fn update_settings(&self, p: &Principal, u: &SettingsUpdate) -> CoreResult<Settings> {
        let me = p.agent_with(Permission::SettingsManage)?;
        let current = self.store.load_settings().await?;
        let next = current.apply(u)?;
        self.store.save_settings(&next).await?;
        self.settings.put(next.clone());
        let as_json = |s: &Settings| serde_json::to_value(s).unwrap_or_default();
        let changed = changes(&as_json(&current), &as_json(&next));
        if changed.as_object().is_some_and(|c| !c.is_empty()) {
            self.audit(me, AuditAction::SettingsUpdated, "settings", changed).await;
        }
        Ok(next)
    }

    /// The sites that may frame the widget: public (every browser sees
    /// them in the widget page's policy anyway), for the ws-gateway.
    pub async fn widget_origins(&self) -> CoreResult<Vec<String>> {
        Ok(self.settings.get().await?.widget_allowed_origins)
    }

    pub async fn agents(&self, p: &Principal) -> CoreResult<Vec<AgentRecord>> {
        p.agent_with(Permission::AgentsManage)?;
        self.store.agents().await
    }

    pub async fn create_agent(
        &self,
        p: &Principal,
        username: &str,
        password: &str,
        name: &str,
        group: &str,
    ) -> CoreResult<AgentRecord> {
        let me = p.agent_with(Permission::AgentsManage)?;
        let mut c = Checks::default();
        let username = c.check(Username::parse(username));
        let password = c.check(NewPassword::parse(password));
        let name = c.check(DisplayName::parse("name", name));
        let group = self.existing_group(&mut c, group).await?;
        c.finish()?;
        let (group, perms) = group.expect("checked");
        may_grant(me, &group, perms)?;
        let record = AgentRecord {
            id: new_id(),
            username: username.expect("checked").into_inner(),
            name: name.expect("checked").into_inner(),
            group,
            disabled: false,
            password_hash: hash_password(password.expect("checked").expose().to_string()).await?,
            token_version: 0,
            permissions: PermissionSet::default(),
            away: false,
            capacity: None,
            last_assigned_at: 0,
        };
        let created = self.store.create_agent(record, self.now_ms()).await?;
        self.audit(me, AuditAction::AgentCreated, &created.id, made(agent_fields(&created))).await;
        Ok(created)
    }

    pub async fn update_agent(&self, p: &Principal, id: &str, u: AgentUpdate) -> CoreResult<AgentRecord> {
        let me = p.agent_with(Permission::AgentsManage)?;
        let current = self.store.agent(id).await?.ok_or_else(|| CoreError::not_found("agent"))?;
        let mut c = Checks::default();
        let name = u.name.as_deref().and_then(|n| c.check(DisplayName::parse("name", n)));
        let password = u.password.as_deref().and_then(|pw| c.check(NewPassword::parse(pw)));
        let group = match u.group.as_deref() {
            Some(g) => self.existing_group(&mut c, g).await?,
            None => None,
        };
        c.finish()?;
        may_act_on(me, &current)?;
        let group = group.filter(|(g, _)| *g != current.group);
        let regrouping = group.is_some();
        if id == me.id && (u.disabled == Some(true) || regrouping) {
            return Err(CoreError::Conflict("you cannot disable yourself or change your own group".into()));
        }
        if let Some((g, perms)) = &group {
            may_grant(me, g, *perms)?;
        }
        let group = group.map(|(g, _)| g);
        let password_hash = match password {
            Some(pw) => Some(hash_password(pw.expose().to_string()).await?),
            None => None,
        };
        let disabling = u.disabled == Some(true) && !current.disabled;
        let new_password = password_hash.is_some();
        let revoke = password_hash.is_some() || disabling;
        let changes = AgentChanges {
            name: name.map(DisplayName::into_inner),
            group,
            password_hash,
            disabled: u.disabled,
            revoke_tokens: revoke,
        };
        let updated =
            self.store.update_agent(id, changes).await?.ok_or_else(|| CoreError::not_found("agent"))?;
        let mut changed = crate::domain::audit::changes(&agent_fields(&current), &agent_fields(&updated));
        if new_password && let Some(c) = changed.as_object_mut() {
            c.insert("password".into(), json!({ "changed": true }));
        }
        self.audit(me, AuditAction::AgentUpdated, &updated.id, changed).await;
        self.principals.forget(&updated.id);
        if revoke {
            self.revoke(&updated.id).await;
        } else if regrouping {
            self.rights_changed(vec![updated.id.clone()]).await;
        }
        if disabling {
            self.give_back_all(&Person { id: updated.id.clone(), name: updated.name.clone() }).await?;
        }
        Ok(updated)
    }

    pub async fn delete_agent(&self, p: &Principal, id: &str) -> CoreResult<()> {
        let me = p.agent_with(Permission::AgentsManage)?;
        if id == me.id {
            return Err(CoreError::Conflict("you cannot delete yourself".into()));
        }
        let agent = self.store.agent(id).await?.ok_or_else(|| CoreError::not_found("agent"))?;
        may_act_on(me, &agent)?;
        if !self.store.delete_agent(id).await? {
            return Err(CoreError::not_found("agent"));
        }
        self.principals.forget(id);
        self.revoke(id).await;
        self.audit(me, AuditAction::AgentDeleted, &agent.id, agent_fields(&agent)).await;
        self.give_back_all(&Person { id: agent.id, name: agent.name }).await
    }

    /// Every engaged room of the agent goes back to the queue.
    pub(super) async fn give_back_all(&self, agent: &Person) -> CoreResult<()> {
        for (room_id, agent_id, _) in self.store.engaged_rooms().await? {
            if agent_id == agent.id {
                self.give_back(&room_id, agent).await?;
            }
        }
        Ok(())
    }

    /// Ends the agents' live streams so that they subscribe again with
    /// their new permissions (on every replica, through the bus).
    async fn rights_changed(&self, agent_ids: Vec<String>) {
        let events = agent_ids
            .into_iter()
            .map(|agent_id| Event::new(Audience::default(), EventKind::AgentRightsChanged { agent_id }))
            .collect();
        self.publish(events).await;
    }

    async fn revoke(&self, agent_id: &str) {
        self.publish(vec![Event::new(
            Audience::default(),
            EventKind::AgentRevoked { agent_id: agent_id.into() },
        )])
        .await;
    }

    /// The named group and its permissions, or a field error.
    async fn existing_group(&self, c: &mut Checks, raw: &str) -> CoreResult<Option<(String, PermissionSet)>> {
        let Some(name) = c.check(GroupName::parse("group", raw)) else {
            return Ok(None);
        };
        let name = name.into_inner();
        match self.store.group(&name).await? {
            Some(perms) => Ok(Some((name, perms))),
            None => {
                c.push(FieldError::new("group", "no such group"));
                Ok(None)
            }
        }
    }

    pub async fn groups(&self, p: &Principal) -> CoreResult<Vec<(String, PermissionSet)>> {
        p.agent_with(Permission::AgentsManage)?;
        self.store.groups().await
    }

    pub async fn create_group(
        &self,
        p: &Principal,
        name: &str,
        permissions: &[String],
    ) -> CoreResult<PermissionSet> {
        let me = p.agent_with(Permission::AgentsManage)?;
        let (name, perms) = parse_group(name, permissions)?;
        if !me.permissions.covers(perms) {
            return Err(CoreError::forbidden("a group cannot have permissions you do not have"));
        }
        self.store.create_group(&name, perms).await?;
        self.audit(me, AuditAction::GroupCreated, &name, json!({ "permissions": perms.names() })).await;
        Ok(perms)
    }

    pub async fn update_group(
        &self,
        p: &Principal,
        name: &str,
        permissions: &[String],
    ) -> CoreResult<PermissionSet> {
        let me = p.agent_with(Permission::AgentsManage)?;
        let (name, perms) = parse_group(name, permissions)?;
        if name == ADMIN_GROUP {
            return Err(CoreError::Conflict("the admin group always has every permission".into()));
        }
        let before = self.store.group(&name).await?.ok_or_else(|| CoreError::not_found("group"))?;
        if !me.permissions.covers(before) || !me.permissions.covers(perms) {
            return Err(CoreError::forbidden("changing this group needs permissions you do not have"));
        }
        if name == me.group {
            return Err(CoreError::Conflict("you cannot change the permissions of your own group".into()));
        }
        if !self.store.update_group(&name, perms).await? {
            return Err(CoreError::not_found("group"));
        }
        let changed =
            changes(&json!({ "permissions": before.names() }), &json!({ "permissions": perms.names() }));
        self.audit(me, AuditAction::GroupUpdated, &name, changed).await;
        // Permissions of every agent in the group changed.
        self.principals.forget_all();
        let members = self.store.agents().await?.into_iter().filter(|a| a.group == name).map(|a| a.id);
        self.rights_changed(members.collect()).await;
        Ok(perms)
    }
}

/// Putting someone in `group` grants its permissions: only an agent who
/// holds all of them may.
fn may_grant(me: &AgentPrincipal, group: &str, perms: PermissionSet) -> CoreResult<()> {
    if me.permissions.covers(perms) {
        Ok(())
    } else {
        Err(CoreError::forbidden(format!("the group {group} has permissions you do not have")))
    }
}

/// Nobody changes, disables or deletes an agent who holds permissions they
/// do not (an `agents.manage` group is not an admin in disguise).
fn may_act_on(me: &AgentPrincipal, target: &AgentRecord) -> CoreResult<()> {
    if me.permissions.covers(target.permissions) {
        Ok(())
    } else {
        Err(CoreError::forbidden("this agent has permissions you do not have"))
    }
}

fn parse_group(name: &str, permissions: &[String]) -> CoreResult<(String, PermissionSet)> {
    let mut c = Checks::default();
    let name = c.check(GroupName::parse("name", name));
    let perms = match PermissionSet::parse_names(permissions) {
        Ok(p) => Some(p),
        Err(unknown) => {
            c.push(FieldError::new("permissions", format!("unknown permissions: {}", unknown.join(", "))));
            None
        }
    };
    c.finish()?;
    Ok((name.expect("checked").into_inner(), perms.expect("checked")))
}
