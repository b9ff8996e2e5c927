//! Queue administration scripts (pause, drain, clean, getters...).

/// Every script of this module.
pub(crate) static SCRIPTS: &[&super::ScriptDef] = &[];
