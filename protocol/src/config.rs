//! Protocol settings and research switches.

use crate::time::Duration;

/// How a nick claimed on two servers at once is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum NickCollision {
    KillBoth,
    #[default]
    TsKill,
    TsRename,
    Reject,
}

impl NickCollision {
    pub const ALL: [NickCollision; 4] = [
        NickCollision::KillBoth,
        NickCollision::TsKill,
        NickCollision::TsRename,
        NickCollision::Reject,
    ];

    /// The spelling used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            NickCollision::KillBoth => "kill-both",
            NickCollision::TsKill => "ts-kill",
            NickCollision::TsRename => "ts-rename",
            NickCollision::Reject => "reject",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How room messages are sequenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Ordering {
    #[default]
    Epoch,
    Home,
}

impl Ordering {
    pub const ALL: [Ordering; 2] = [Ordering::Epoch, Ordering::Home];

    /// The spelling used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::Epoch => "epoch",
            Ordering::Home => "home",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Protections that can be switched off to study what catches their absence.
/// A production network never sets any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ablations {
    /// Accept a SERVER for a name already known instead of breaking the loop.
    pub no_loop_check: bool,
    /// Apply a SQUIT whatever link it arrives on.
    pub no_squit_direction: bool,
    /// Burst servers children-first instead of parents-first.
    pub no_burst_order: bool,
    /// Record the peer's claimed identity before the handshake proves it.
    pub no_auth_before_state: bool,
    /// Never give up on a handshake that stalls.
    pub no_handshake_timeout: bool,
    /// Apply a SQUIT but do not pass it on.
    pub no_squit_forward: bool,
}

/// Every ablation by its scenario name, what it removes, and the invariant
/// that should catch its absence.
pub const ABLATIONS: &[(&str, &str, &str)] = &[
    (
        "loop-check",
        "accept a SERVER for a name already known instead of breaking the loop",
        "tree.acyclic",
    ),
    (
        "squit-direction",
        "apply a SQUIT from any direction",
        "msg.direction",
    ),
    (
        "burst-order",
        "burst servers children before parents",
        "tree.view",
    ),
    (
        "auth-before-state",
        "record the claimed identity before the handshake proves it",
        "auth.before_state",
    ),
    (
        "handshake-timeout",
        "never abandon a stalled handshake",
        "handshake.finishes",
    ),
    (
        "squit-forward",
        "apply a SQUIT without passing it on",
        "ghost.server",
    ),
];

/// The names of [`ABLATIONS`].
pub const ABLATION_NAMES: [&str; 6] = [
    ABLATIONS[0].0,
    ABLATIONS[1].0,
    ABLATIONS[2].0,
    ABLATIONS[3].0,
    ABLATIONS[4].0,
    ABLATIONS[5].0,
];

impl Ablations {
    /// Switches one ablation on by name; false for an unknown name.
    pub fn enable(&mut self, name: &str) -> bool {
        let flag = match name {
            "loop-check" => &mut self.no_loop_check,
            "squit-direction" => &mut self.no_squit_direction,
            "burst-order" => &mut self.no_burst_order,
            "auth-before-state" => &mut self.no_auth_before_state,
            "handshake-timeout" => &mut self.no_handshake_timeout,
            "squit-forward" => &mut self.no_squit_forward,
            _ => return false,
        };
        *flag = true;
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub nick_collision: NickCollision,
    pub ordering: Ordering,
    /// Silence on a link after which its end sends PING.
    pub ping_interval: Duration,
    /// Silence on a link after which its end closes it.
    pub ping_timeout: Duration,
    /// First autoconnect retry delay; doubles per failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// A link must finish authenticating within this long of opening.
    pub handshake_timeout: Duration,
    pub ablations: Ablations,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nick_collision: NickCollision::default(),
            ordering: Ordering::default(),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(15),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            ablations: Ablations::default(),
        }
    }
}
