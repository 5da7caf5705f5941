//! Operator requests carried out by another server: KILL of a user the
//! operator's server does not hold, and SCLOSE of a link it is not an end
//! of.
//!
//! Both travel the tree hop by hop toward the one server that can carry
//! them out, as a routed request: **OKILL `<home sid>` `<uid>`
//! `<comment>`** to the user's home (the server holding its connection),
//! which KILLs it as for a collision (KILLED to the client, KILL flooded
//! with itself as the issuer, so every server takes it from the right
//! direction); **OUNLINK `<sid>` `<peer>`** to the server at one end of the
//! link, which closes it with SCLOSE as a local `unlink` does. A request
//! whose target left the view on the way is dropped: the operator's
//! command named a state that no longer exists.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::Server;
use super::{chat_frame as frame, verbatim_frame as verbatim};
use crate::outbox::{LinkId, Outbox};
use crate::time::Instant;
use crate::wire::Frame;

impl Server {
    /// The operator here asks to KILL `nick`.
    pub(crate) fn operator_kill(&mut self, nick: &str, comment: &str, out: &mut Outbox) {
        let Some(uid) = self.resolve_nick(nick) else {
            return;
        };
        self.kill_at_home(&uid, comment, None, out);
    }

    fn kill_at_home(
        &mut self,
        uid: &Arc<str>,
        comment: &str,
        came: Option<LinkId>,
        out: &mut Outbox,
    ) {
        let Some(u) = self.chat.users.get(uid) else {
            return;
        };
        if u.local {
            return self.kill(uid, comment, None, out);
        }
        let (home, via) = (u.sid.clone(), u.via);
        if Some(via) != came {
            out.send(via, frame("OKILL", &[&home, uid, comment]));
        }
    }

    /// The operator here asks to close the link between `server` and
    /// `peer` (SCLOSE at `server`).
    pub(crate) fn operator_unlink<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        server: &str,
        peer: &str,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        if server == &*self.me.name {
            return self.unlink_peer(now, peer, rng, out);
        }
        if let Some(k) = self.known.get(server) {
            let (sid, via) = (k.sid.arc(), k.via);
            out.send(via, frame("OUNLINK", &[&sid, peer]));
        }
    }

    /// OKILL or OUNLINK on a server link: ours to carry out, or passed on
    /// toward the server it names.
    pub(crate) fn on_operator_msg<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        raw: &[u8],
        rng: &mut R,
        out: &mut Outbox,
    ) -> bool {
        match f.command() {
            "OKILL" => {
                // The user's home as we know it now decides, not the
                // request's: the user may have moved on the way.
                let Some([_home, uid, comment]) = f.args_exact::<3>() else {
                    return false;
                };
                let uid: Arc<str> = uid.into();
                self.kill_at_home(&uid, comment, Some(link), out);
                true
            }
            "OUNLINK" => {
                let Some([sid, peer]) = f.args_exact::<2>() else {
                    return false;
                };
                if sid == &*self.me.sid {
                    self.unlink_peer(now, peer, rng, out);
                } else if let Some(l) = self.route_by_sid(sid).filter(|l| *l != link) {
                    out.send(l, verbatim(raw));
                }
                true
            }
            _ => false,
        }
    }
}
