//! What the differential tests against a peer implementation (go-spiffe, the `spiffe` crate)
//! share: the list of cases on which we knowingly differ, each with the side we take and the
//! rule that makes it right, and the one judgement of a case against that list.

/// Which side accepts in an expected disagreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ours {
    /// We refuse what the peer accepts.
    Rejects,
    /// We accept what the peer refuses.
    Accepts,
}

/// A case on which we knowingly differ from the peer, with the rule that decides it
/// (`shared/spec/SPIFFE-DIGEST.md` sections, an SVID / SPIFFE-ID spec section or an RFC).
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    /// The case's name in the corpus.
    pub case: &'static str,
    /// The side we take.
    pub ours: Ours,
    /// Why we are right.
    pub rule: &'static str,
}

/// How one case compares, given the list of expected disagreements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Both sides accept the same ID, or both refuse, and the case is not listed.
    Agree,
    /// The sides differ as the listed entry says.
    ExpectedDisagreement,
    /// Both accept, with different IDs: never an expected disagreement.
    IdMismatch,
    /// The case is listed, but the sides agree now: the list must drop it.
    Stale,
    /// The sides differ and no entry says so (or the entry names the other side).
    Unexpected,
}

/// Judges one case: `ours` and `peer` are the accepted ID, or `None` for a refusal.
pub fn judge(ours: Option<&str>, peer: Option<&str>, listed: Option<&Expected>) -> Judgement {
    match (ours, peer, listed) {
        (Some(a), Some(b), _) if a != b => Judgement::IdMismatch,
        (o, p, None) if o.is_some() == p.is_some() => Judgement::Agree,
        (o, p, Some(_)) if o.is_some() == p.is_some() => Judgement::Stale,
        (o, _, Some(e)) if o.is_some() == (e.ours == Ours::Accepts) => {
            Judgement::ExpectedDisagreement
        }
        _ => Judgement::Unexpected,
    }
}

/// The entry for `case`, if listed.
pub fn listed<'a>(list: &'a [Expected], case: &str) -> Option<&'a Expected> {
    list.iter().find(|e| e.case == case)
}

/// Panics unless every case is listed once and every entry cites a rule (one of `cites`).
#[track_caller]
pub fn check_list(list: &[Expected], cites: &[&str]) {
    for (i, e) in list.iter().enumerate() {
        assert!(
            list[..i].iter().all(|f| f.case != e.case),
            "{} listed twice",
            e.case
        );
        assert!(
            cites.iter().any(|doc| e.rule.contains(doc)),
            "{}: cite the spec rule",
            e.case
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REJECTS: Expected = Expected {
        case: "c",
        ours: Ours::Rejects,
        rule: "RFC 5280",
    };

    #[test]
    fn judges_each_combination() {
        let id = Some("spiffe://example.org/w");
        assert_eq!(judge(id, id, None), Judgement::Agree);
        assert_eq!(judge(None, None, None), Judgement::Agree);
        assert_eq!(
            judge(id, Some("spiffe://example.org/x"), None),
            Judgement::IdMismatch
        );
        assert_eq!(judge(id, id, Some(&REJECTS)), Judgement::Stale);
        assert_eq!(
            judge(None, id, Some(&REJECTS)),
            Judgement::ExpectedDisagreement
        );
        assert_eq!(judge(id, None, Some(&REJECTS)), Judgement::Unexpected);
        assert_eq!(judge(None, id, None), Judgement::Unexpected);
    }
}
