//! The generation counter that bundles and sets take a fresh value from whenever their content
//! changes, so a verifier can tell that what it cached is stale.

use std::sync::atomic::{AtomicU64, Ordering};

/// The process-wide generation counter. Starting at 1 leaves 0 free for callers that want a
/// "nothing cached yet" marker.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A generation no bundle or set built in this process has had. At one per nanosecond the
/// counter would take over 500 years to wrap.
pub(crate) fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}
