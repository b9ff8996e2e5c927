//! The only layer that knows Lua. Each script in `lua/` has one typed function here that packs
//! KEYS/ARGV and decodes the reply; negative replies become [`crate::ScriptError`]s.
//!
//! Conventions shared by all our scripts: `KEYS[1]` is the queue base `prefix:name:` and every
//! other key of the queue is derived from it inside Lua (all keys of a queue share one hash tag,
//! see DESIGN.md §7); numbers travel as decimal strings; "now" is always passed by the caller.

use std::sync::OnceLock;

use redis::aio::ConnectionLike;

pub(crate) mod add;
pub(crate) mod admin;
pub(crate) mod msgpack;
pub(crate) mod worker;

/// One script: its file name (`<name>-<numkeys>`) and stitched source.
pub(crate) struct ScriptDef {
    pub(crate) name: &'static str,
    source: &'static str,
    script: OnceLock<redis::Script>,
}

impl ScriptDef {
    pub(crate) const fn new(name: &'static str, source: &'static str) -> Self {
        ScriptDef { name, source, script: OnceLock::new() }
    }

    /// The redis-rs script object; `invoke_async` sends EVALSHA and falls back to loading the
    /// script when Redis answers NOSCRIPT (after `SCRIPT FLUSH` or a restart).
    pub(crate) fn script(&self) -> &redis::Script {
        self.script.get_or_init(|| redis::Script::new(self.source))
    }
}

/// Declares a `ScriptDef` static for `lua/<file>.lua` (stitched by build.rs).
macro_rules! script_def {
    ($ident:ident, $file:literal) => {
        pub(crate) static $ident: $crate::scripts::ScriptDef =
            $crate::scripts::ScriptDef::new($file, include_str!(concat!(env!("OUT_DIR"), "/lua/", $file, ".lua")));
    };
}
pub(crate) use script_def;

/// Every script, for loading at connect.
pub(crate) fn all() -> impl Iterator<Item = &'static ScriptDef> {
    add::SCRIPTS.iter().chain(admin::SCRIPTS.iter()).chain(worker::SCRIPTS.iter()).copied()
}

/// `SCRIPT LOAD`s every script, so that the first EVALSHA of each (and any pipeline or
/// MULTI, where the NOSCRIPT fallback cannot run) finds it.
pub(crate) async fn load_all<C: ConnectionLike>(conn: &mut C) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for def in all() {
        tracing::trace!(script = def.name, "SCRIPT LOAD");
        pipe.cmd("SCRIPT").arg("LOAD").arg(def.source);
    }
    pipe.query_async::<()>(conn).await
}
