//! Whether a fetched bundle replaces the one held (SPIFFE Federation 4.2; digest 7.5).
//!
//! Bundles are ordered by `spiffe_sequence`. The spec leaves open what to do with a *lower*
//! sequence: refusing it resists a rollback to keys the peer has removed, accepting it
//! tolerates a peer rebuilt on a new database (SPIRE then starts its sequence again). Each
//! relationship chooses ([`SequencePolicy`]); refusing is the default, and an operator who
//! knows the peer was rebuilt resets the held sequence once.

use trust_bundle::SpiffeBundle;

/// What to do with a fetched bundle whose `spiffe_sequence` is lower than the held one's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SequencePolicy {
    /// Keep the held bundle and report the refusal (rollback resistance).
    #[default]
    RefuseLower,
    /// Take the fetched bundle, with a warning (a peer that restarted its sequence).
    AcceptLower,
}

/// What a fetched bundle does to the held one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// It replaces the held bundle.
    Update,
    /// It is the held bundle again (same content): nothing to distribute.
    Unchanged,
    /// Its sequence is lower than the held one's and the policy refuses that.
    RefusedLowerSequence {
        /// The held bundle's sequence.
        held: u64,
        /// The fetched one's.
        fetched: u64,
    },
    /// Its sequence is lower, and accepted by the policy (or after a reset).
    AcceptedLowerSequence {
        /// The held bundle's sequence.
        held: u64,
        /// The fetched one's.
        fetched: u64,
    },
}

/// Judges `fetched` against `held`. `reset` is an operator's one-time permission to take a
/// lower sequence.
pub fn judge(
    held: Option<&SpiffeBundle>,
    fetched: &SpiffeBundle,
    policy: SequencePolicy,
    reset: bool,
) -> Verdict {
    let Some(held) = held else {
        return Verdict::Update;
    };
    if held == fetched {
        return Verdict::Unchanged;
    }
    match (held.sequence(), fetched.sequence()) {
        (Some(held), Some(fetched)) if fetched < held => {
            if policy == SequencePolicy::AcceptLower || reset {
                Verdict::AcceptedLowerSequence { held, fetched }
            } else {
                Verdict::RefusedLowerSequence { held, fetched }
            }
        }
        // Higher or equal, or no sequence on either side: the most recent fetch is current
        // (digest 7.5). An equal sequence with other keys is taken too: the peer's document
        // is the authority on its keys, and refusing it would pin removed keys forever.
        _ => Verdict::Update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(sequence: Option<u64>, hint: u64) -> SpiffeBundle {
        let sequence = sequence.map_or(String::new(), |s| format!(r#","spiffe_sequence":{s}"#));
        SpiffeBundle::parse(
            "peer.example".parse().unwrap(),
            format!(r#"{{"keys":[],"spiffe_refresh_hint":{hint}{sequence}}}"#),
        )
        .unwrap()
    }

    #[test]
    fn a_first_bundle_and_higher_sequences_update() {
        assert_eq!(
            judge(None, &bundle(Some(1), 60), SequencePolicy::default(), false),
            Verdict::Update
        );
        assert_eq!(
            judge(
                Some(&bundle(Some(1), 60)),
                &bundle(Some(2), 60),
                SequencePolicy::default(),
                false
            ),
            Verdict::Update
        );
    }

    #[test]
    fn the_same_document_is_unchanged() {
        let held = bundle(Some(3), 60);
        assert_eq!(
            judge(Some(&held), &held.clone(), SequencePolicy::default(), false),
            Verdict::Unchanged
        );
    }

    /// Digest 7.5 [rec]: a lower sequence is refused by default, accepted when the policy or
    /// an operator's reset says so.
    #[test]
    fn a_lower_sequence_is_refused_unless_allowed() {
        let (held, lower) = (bundle(Some(7), 60), bundle(Some(2), 60));
        let refused = Verdict::RefusedLowerSequence {
            held: 7,
            fetched: 2,
        };
        let accepted = Verdict::AcceptedLowerSequence {
            held: 7,
            fetched: 2,
        };
        assert_eq!(
            judge(Some(&held), &lower, SequencePolicy::RefuseLower, false),
            refused
        );
        assert_eq!(
            judge(Some(&held), &lower, SequencePolicy::RefuseLower, true),
            accepted
        );
        assert_eq!(
            judge(Some(&held), &lower, SequencePolicy::AcceptLower, false),
            accepted
        );
    }

    /// Without sequence numbers the most recent fetch is current (digest 7.5).
    #[test]
    fn without_sequences_the_latest_fetch_wins() {
        assert_eq!(
            judge(
                Some(&bundle(None, 60)),
                &bundle(None, 30),
                SequencePolicy::RefuseLower,
                false
            ),
            Verdict::Update
        );
        assert_eq!(
            judge(
                Some(&bundle(Some(9), 60)),
                &bundle(None, 60),
                SequencePolicy::RefuseLower,
                false
            ),
            Verdict::Update
        );
    }
}
