//! Logging in, turning a bearer token into a `Principal`, and creating the
//! first admin on a fresh database.

use std::net::IpAddr;

use jsonwebtoken::errors::ErrorKind;
use sha2::{Digest, Sha256};

use super::ports::AgentRecord;
use super::{AgentPrincipal, Core, Principal, VisitorPrincipal, clock};
use crate::auth::{Role, password};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::value::Username;
use crate::domain::{login, new_id, permission::ADMIN_GROUP};
use crate::error::{CoreError, CoreResult};
use serde_json::json;

const BAD_CREDENTIALS: &str = "invalid username or password";

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub access_token: String,
    pub expires_in: u64,
    pub agent: AgentRecord,
}

/// Runs PBKDF2 off the async worker threads.
pub(super) async fn hash_password(password: String) -> CoreResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| CoreError::Unexpected(e.into()))?
        .map_err(CoreError::Unexpected)
}

/// The throttle's keys of a login: the account, and the account from this
/// address. Hashed: bounded in size whatever was sent, and no name or
/// address is kept in the clear.
fn throttle_keys(account: &str, from: Option<IpAddr>) -> (String, String) {
    let digest =
        |s: &str| -> String { Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect() };
    let address = from.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    (format!("account:{}", digest(account)), format!("address:{}", digest(&format!("{account}|{address}"))))
}

impl Core {
    /// Wrong password, unknown user and disabled account all get the same
    /// answer after the same amount of work. Failures slow the next
    /// attempts (`domain::login`), for every entry point and replica alike:
    /// `from` is the client's address, as the gateway saw it.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> CoreResult<LoginOutcome> {
        let account = Username::parse(username).ok().map(Username::into_inner);
        let keys = account.as_deref().map(|a| throttle_keys(a, from));
        if let Some(keys) = &keys {
            self.may_try_login(keys).await?;
        }
        let outcome = self.check_password(account.as_deref(), password).await;
        if let Some((account_key, address_key)) = &keys {
            let now = self.now_ms();
            match &outcome {
                Ok(_) => self.store.forget_login_failures(address_key).await?,
                Err(_) => {
                    metrics::counter!("livechat_login_failures_total").increment(1);
                    let both = [account_key.clone(), address_key.clone()];
                    self.store.login_failed(&both, now, now - login::WINDOW_MS).await?;
                    self.audit_failed_login(account.as_deref().unwrap_or_default(), from, &both).await?;
                }
            }
        }
        outcome
    }

    /// Records the failure, and a lockout when this failure is the one
    /// that makes the throttle start refusing (once per lockout, so that
    /// attempts refused meanwhile add nothing to the trail).
    async fn audit_failed_login(
        &self,
        account: &str,
        from: Option<IpAddr>,
        keys: &[String; 2],
    ) -> CoreResult<()> {
        let entry = |action, details| AuditEntry {
            id: 0,
            at: self.now_ms(),
            actor: None,
            address: from.map(|a| a.to_string()),
            action,
            target: Some(account.to_string()),
            details,
        };
        self.record_audit(entry(AuditAction::LoginFailed, json!({}))).await;
        let policy = self.policies.login;
        let failures = self.store.login_failures(keys).await?;
        let count = |key: &String| failures.iter().find(|(k, _)| k == key).map_or(0, |(_, f)| f.count);
        let (account_count, address_count) = (count(&keys[0]), count(&keys[1]));
        let locked = if address_count == policy.failures_per_address {
            Some(("address", address_count))
        } else if account_count == policy.failures_per_account {
            Some(("account", account_count))
        } else {
            None
        };
        if let Some((by, failures)) = locked {
            self.record_audit(entry(AuditAction::LoginLockedOut, json!({ "by": by, "failures": failures })))
                .await;
        }
        Ok(())
    }

    /// Refuses (429) while this address backs off from this account, or
    /// while the account is slowed and its attempt slot is taken.
    async fn may_try_login(&self, (account_key, address_key): &(String, String)) -> CoreResult<()> {
        let now = self.now_ms();
        let policy = self.policies.login;
        let failures = self.store.login_failures(&[account_key.clone(), address_key.clone()]).await?;
        let of = |key: &String| failures.iter().find(|(k, _)| k == key).map(|(_, f)| *f);
        if let Some(until) = policy.address_waits_until(of(address_key), now) {
            metrics::counter!("livechat_login_refused_total", "why" => "address").increment(1);
            return Err(CoreError::RateLimited { retry_after_secs: login::seconds_until(until, now) });
        }
        if policy.account_slowed(of(account_key), now)
            && !self.store.take_login_slot(account_key, now, now - login::SPACING_MS).await?
        {
            metrics::counter!("livechat_login_refused_total", "why" => "account").increment(1);
            let retry_after_secs = login::seconds_until(now + login::SPACING_MS, now);
            return Err(CoreError::RateLimited { retry_after_secs });
        }
        Ok(())
    }

    async fn check_password(&self, account: Option<&str>, password: &str) -> CoreResult<LoginOutcome> {
        let record = match account {
            Some(a) => self.store.agent_by_username(a).await?,
            None => None,
        };
        let stored =
            record.as_ref().map_or_else(|| password::decoy().to_string(), |r| r.password_hash.clone());
        let given = password.to_string();
        let matches = tokio::task::spawn_blocking(move || password::verify(&given, &stored))
            .await
            .map_err(|e| CoreError::Unexpected(e.into()))?;
        match record {
            Some(agent) if matches && !agent.disabled => self.issue(agent),
            _ => Err(CoreError::Unauthorized(BAD_CREDENTIALS.into())),
        }
    }

    /// A new token for an agent whose current one is still valid.
    pub async fn refresh(&self, p: &Principal) -> CoreResult<LoginOutcome> {
        let a = p.agent()?;
        let agent =
            self.store.agent(&a.id).await?.ok_or_else(|| CoreError::Unauthorized("token revoked".into()))?;
        self.issue(agent)
    }

    fn issue(&self, agent: AgentRecord) -> CoreResult<LoginOutcome> {
        let ttl = self.policies.agent_secs;
        let access_token = self
            .keys
            .agent_token(&agent.id, agent.token_version, clock::wall_clock_ms() / 1000, ttl)
            .map_err(CoreError::Unexpected)?;
        Ok(LoginOutcome { access_token, expires_in: ttl, agent })
    }

    /// Verifies a bearer token and, for agents, that it is not revoked.
    pub async fn authenticate(&self, token: Option<&str>) -> CoreResult<Principal> {
        let token = token.ok_or_else(|| CoreError::Unauthorized("a bearer token is required".into()))?;
        let claims = self.keys.verify(token).map_err(|e| {
            CoreError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired".into(),
                _ => "invalid token".into(),
            })
        })?;
        match claims.role {
            Role::Visitor => Ok(Principal::Visitor(
                VisitorPrincipal {
                    id: claims.sub,
                    name: claims.name.unwrap_or_default(),
                    room_id: claims.room.unwrap_or_default(),
                },
                claims.exp,
            )),
            Role::Agent => {
                let revoked = || CoreError::Unauthorized("token revoked".into());
                let agent = match self.principals.get(&claims.sub) {
                    Some(a) => a,
                    None => {
                        let a = self.store.agent(&claims.sub).await?.ok_or_else(revoked)?;
                        self.principals.put(a.clone());
                        a
                    }
                };
                if agent.disabled || Some(agent.token_version) != claims.ver {
                    return Err(revoked());
                }
                Ok(Principal::Agent(
                    AgentPrincipal {
                        id: agent.id,
                        username: agent.username,
                        name: agent.name,
                        group: agent.group,
                        permissions: agent.permissions,
                        address: None,
                    },
                    claims.exp,
                ))
            }
        }
    }

    /// On a database with no agents, creates `admin` (group admin). Returns
    /// the generated password when none was configured, to be shown once.
    pub async fn bootstrap_admin(&self, configured: Option<&str>) -> CoreResult<Option<String>> {
        if self.store.agent_count().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match configured {
            Some(p) => (p.to_string(), false),
            None => (random_password(), true),
        };
        let record = AgentRecord {
            id: new_id(),
            username: "admin".into(),
            name: "Administrator".into(),
            group: ADMIN_GROUP.into(),
            disabled: false,
            password_hash: hash_password(password.clone()).await?,
            token_version: 0,
            permissions: Default::default(),
            away: false,
            capacity: None,
            last_assigned_at: 0,
        };
        match self.store.create_agent(record, self.now_ms()).await {
            Ok(_) => Ok(generated.then_some(password)),
            // Another replica bootstrapped at the same moment.
            Err(CoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}
