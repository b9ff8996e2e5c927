//! Scripts of the processing side (fetch, finish, retry, locks, stalled check).

/// Every script of this module.
pub(crate) static SCRIPTS: &[&super::ScriptDef] = &[];
