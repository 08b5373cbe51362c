//! One PKCS#11 token: its module (loaded and initialised once per process and path), its slot,
//! the user PIN and a small pool of logged-in sessions.

use core::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::{Pkcs11Error, Pkcs11Token};

/// Idle sessions kept for reuse; more are opened under contention and closed when returned.
const MAX_IDLE_SESSIONS: usize = 4;

/// A loaded, initialised module. PKCS#11 allows one `C_Initialize` per process and module, and
/// `C_Finalize` ends it for every user, so all tokens of one module path share this value.
struct Module {
    pkcs11: Pkcs11,
    /// Whether we initialised it (and so finalise it): not when another part of the process
    /// had already done so.
    finalize: bool,
}

impl Drop for Module {
    fn drop(&mut self) {
        // Under the registry lock: a new `Module` for the same path waits for this finalise.
        let _registry = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
        if self.finalize {
            // Nothing useful to do when finalising fails at drop.
            let _ = self.pkcs11.clone().finalize();
        }
    }
}

/// The modules of this process, by path.
static MODULES: Mutex<Vec<(PathBuf, Weak<Module>)>> = Mutex::new(Vec::new());

fn load_module(path: &Path) -> Result<Arc<Module>, Pkcs11Error> {
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    modules.retain(|(_, module)| module.strong_count() > 0);
    let loaded = modules
        .iter()
        .find(|(p, _)| p == path)
        .and_then(|(_, module)| module.upgrade());
    if let Some(module) = loaded {
        return Ok(module);
    }
    let pkcs11 = Pkcs11::new(path).map_err(|e| Pkcs11Error::Module(Box::new(e)))?;
    let finalize = match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => true,
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
        Err(e) => return Err(Pkcs11Error::Module(Box::new(e))),
    };
    let module = Arc::new(Module { pkcs11, finalize });
    modules.push((path.to_owned(), Arc::downgrade(&module)));
    Ok(module)
}

/// A token of a loaded module, with the user PIN and idle logged-in sessions.
pub(super) struct Token {
    // Dropped after the sessions (field order): sessions close before the module finalises.
    idle: Mutex<Vec<Session>>,
    module: Arc<Module>,
    slot: Slot,
    label: String,
    pin: AuthPin,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the PIN.
        f.debug_struct("Token")
            .field("label", &self.label)
            .field("slot", &self.slot.id())
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Loads `module`, finds `token` and logs in once (a wrong PIN fails here, not at the
    /// first rotation).
    pub(super) fn open(
        module: &Path,
        token: &Pkcs11Token,
        pin: AuthPin,
    ) -> Result<Self, Pkcs11Error> {
        let module = load_module(module)?;
        let slots = module.pkcs11.get_slots_with_token().map_err(token_error)?;
        let mut found = Vec::with_capacity(slots.len());
        let mut chosen = None;
        for slot in slots {
            let label = module
                .pkcs11
                .get_token_info(slot)
                .map(|info| info.label().trim_end().to_owned())
                .map_err(token_error)?;
            let matches = match token {
                Pkcs11Token::Label(wanted) => *wanted == label,
                Pkcs11Token::Slot(id) => *id == slot.id(),
            };
            if matches && chosen.is_none() {
                chosen = Some((slot, label.clone()));
            }
            found.push(label);
        }
        let Some((slot, label)) = chosen else {
            return Err(Pkcs11Error::TokenNotFound { found });
        };
        let token = Self {
            idle: Mutex::new(Vec::new()),
            module,
            slot,
            label,
            pin,
        };
        let session = token.open_session()?;
        token.put_back(session);
        Ok(token)
    }

    /// The token's label.
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    /// The slot the token is in.
    pub(super) fn slot_id(&self) -> u64 {
        self.slot.id()
    }

    /// Runs `op` on a logged-in session. When the token reports the session closed or logged
    /// out (token reset, another application logged out), opens a new one, logs in again and
    /// runs `op` once more.
    pub(super) fn with_session<T>(
        &self,
        op: impl Fn(&Session) -> Result<T, CkError>,
    ) -> Result<T, Pkcs11Error> {
        let session = match self.take_idle() {
            Some(session) => session,
            None => self.open_session()?,
        };
        match op(&session) {
            Err(CkError::Pkcs11(rv, _)) if session_lost(rv) => {
                drop(session);
                // The other idle sessions are most likely gone as well.
                self.idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                let session = self.open_session()?;
                let result = op(&session).map_err(token_error);
                self.put_back(session);
                result
            }
            result => {
                self.put_back(session);
                result.map_err(token_error)
            }
        }
    }

    fn take_idle(&self) -> Option<Session> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn put_back(&self, session: Session) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_SESSIONS {
            idle.push(session);
        }
    }

    fn open_session(&self) -> Result<Session, Pkcs11Error> {
        let session = self
            .module
            .pkcs11
            .open_rw_session(self.slot)
            .map_err(token_error)?;
        // The login state is per application and token: a second session is already in.
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(Pkcs11Error::PinIncorrect),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::PinLocked),
            Err(e) => Err(token_error(e)),
        }
    }
}

/// Whether `rv` says the session (or its login) is gone, so that a new one may succeed.
fn session_lost(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid | RvError::SessionClosed | RvError::UserNotLoggedIn
    )
}

pub(super) fn token_error(error: CkError) -> Pkcs11Error {
    Pkcs11Error::Token(Box::new(error))
}
