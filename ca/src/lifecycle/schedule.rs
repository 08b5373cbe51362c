//! SPIRE's key schedule: one lifecycle step over the keys of one kind, and pruning what has
//! expired.

use std::sync::Arc;

use crate::audit::{AuditAction, AuthorityKind};
use crate::error::Error;
use crate::state::{AuthorityStatus, Entry, Lifetime};

/// The longest a key is activated before its expiry: SPIRE activates the next key at
/// `lifetime - min(lifetime / 6, 7 days)`.
const MAX_ACTIVATION_LEAD: u64 = 7 * 24 * 3600;

/// Why a lifecycle step runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Scheduled,
    /// Prepare (and publish) the next key now if none is prepared; activate nothing.
    Prepare,
    Force,
    Taint,
}

/// A lifecycle event waiting to be audited.
pub(super) struct Pending {
    pub(super) action: AuditAction,
    pub(super) kind: AuthorityKind,
    pub(super) id: String,
    /// The key's reference in the key manager (destroyed with a removed authority).
    pub(super) key_ref: String,
    pub(super) not_before: u64,
    pub(super) not_after: u64,
}

pub(super) fn pending<A: Lifetime>(action: AuditAction, kind: AuthorityKind, a: &A) -> Pending {
    Pending {
        action,
        kind,
        id: a.id().to_owned(),
        key_ref: a.key_ref().to_owned(),
        not_before: a.not_before(),
        not_after: a.not_after(),
    }
}

/// One lifecycle step over the entries of one kind. Returns whether anything changed and
/// whether the active authority changed.
pub(super) fn step<A: Lifetime>(
    entries: &mut Vec<Entry<A>>,
    kind: AuthorityKind,
    now: u64,
    mode: Mode,
    prepare: &mut dyn FnMut() -> Result<Arc<A>, Error>,
    events: &mut Vec<Pending>,
) -> Result<(bool, bool), Error> {
    let Some(active) = entries
        .iter()
        .position(|e| e.status == AuthorityStatus::Active)
    else {
        return Err(Error::StoredState {
            reason: "no active authority".into(),
        });
    };
    let (not_before, not_after) = entries
        .get(active)
        .map(|e| (e.authority.not_before(), e.authority.not_after()))
        .unwrap_or_default();
    let lifetime = not_after.saturating_sub(not_before);
    let prepare_at = not_before.saturating_add(lifetime / 2);
    let activate_at = not_after.saturating_sub((lifetime / 6).min(MAX_ACTIVATION_LEAD));
    let activate = match mode {
        Mode::Scheduled => now >= activate_at,
        Mode::Prepare => false,
        Mode::Force | Mode::Taint => true,
    };
    let mut changed = false;
    let has_prepared = entries
        .iter()
        .any(|e| e.status == AuthorityStatus::Prepared);
    if !has_prepared && (activate || mode == Mode::Prepare || now >= prepare_at) {
        let next = prepare()?;
        events.push(pending(AuditAction::AuthorityPrepared, kind, next.as_ref()));
        entries.push(Entry::new(AuthorityStatus::Prepared, next));
        changed = true;
    }
    if !activate {
        return Ok((changed, false));
    }
    let (old_status, old_action) = if mode == Mode::Taint {
        (AuthorityStatus::Tainted, AuditAction::AuthorityTainted)
    } else {
        (AuthorityStatus::Retired, AuditAction::AuthorityRetired)
    };
    for entry in entries.iter_mut() {
        match entry.status {
            AuthorityStatus::Active => {
                entry.status = old_status;
                events.push(pending(old_action, kind, entry.authority.as_ref()));
            }
            AuthorityStatus::Prepared => {
                entry.status = AuthorityStatus::Active;
                events.push(pending(
                    AuditAction::AuthorityActivated,
                    kind,
                    entry.authority.as_ref(),
                ));
            }
            AuthorityStatus::Retired | AuthorityStatus::Tainted => {}
        }
    }
    Ok((true, true))
}

/// Drops retired and tainted authorities once everything they signed has expired (and their
/// own validity, for a prepared key that never signed, is irrelevant: it is not retired).
///
/// Authorities retired by this same call (`just_retired`) are kept until the next one: a mint
/// that loaded the previous hot state before the swap may still be signing with them.
pub(super) fn prune<A: Lifetime>(
    entries: &mut Vec<Entry<A>>,
    kind: AuthorityKind,
    now: u64,
    just_retired: &[String],
    events: &mut Vec<Pending>,
) -> Vec<String> {
    let mut removed = Vec::new();
    entries.retain(|e| {
        let done = matches!(
            e.status,
            AuthorityStatus::Retired | AuthorityStatus::Tainted
        ) && now >= e.authority.issued_until()
            && !just_retired.iter().any(|id| id == e.authority.id());
        if done {
            events.push(pending(
                AuditAction::AuthorityRemoved,
                kind,
                e.authority.as_ref(),
            ));
            removed.push(e.authority.id().to_owned());
        }
        !done
    });
    removed
}
