//! Protocol settings and research switches.

use crate::time::Duration;

/// How a nick claimed on two servers at once is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum NickCollision {
    KillBoth,
    #[default]
    TsKill,
    TsRename,
    Reject,
}

/// How room messages are sequenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Ordering {
    #[default]
    Epoch,
    Home,
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
}

/// Every ablation by its scenario name, with the field it sets.
pub const ABLATIONS: &[(&str, &str)] = &[
    ("loop-check", "accept a SERVER for a name already known instead of breaking the loop"),
    ("squit-direction", "apply a SQUIT from any direction"),
    ("burst-order", "burst servers children before parents"),
    ("auth-before-state", "record the claimed identity before the handshake proves it"),
];

impl Ablations {
    /// Switches one ablation on by name; false for an unknown name.
    pub fn enable(&mut self, name: &str) -> bool {
        let flag = match name {
            "loop-check" => &mut self.no_loop_check,
            "squit-direction" => &mut self.no_squit_direction,
            "burst-order" => &mut self.no_burst_order,
            "auth-before-state" => &mut self.no_auth_before_state,
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
