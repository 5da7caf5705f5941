//! Users of a server that is now routed through another link.
//!
//! Users, nick changes and memberships travel from their home server along
//! the tree, and each server accepts them only from the direction of that
//! home (the direction check). When the loop rule reshapes the tree, a
//! server can start routing a home H through another link without any new
//! link being made, so no burst follows: updates about H that the new
//! neighbour sent while H was routed elsewhere were refused as misdirected,
//! and ones that the old neighbour sends now are refused too. Users learned
//! once and dropped with a broken loop link were never sent again (a hub
//! that broke a loop on the link that brought it a UID, then re-learned the
//! servers behind it through its other link, never knew the user again).
//!
//! So whenever a server adopts a route to H through a link that did not
//! carry H before (a switch, or a fresh route after that link's burst), it
//! asks the neighbour on that link for H's users (`USYNC,sid`). The
//! neighbour answers with its current view of them (`ROOM`s, `UID`s and
//! `RJOIN`s, the same frames a burst carries) and `USYNCEND,sid,1`; or with
//! `USYNCEND,sid,0` if it routes H back through the asker and has nothing
//! of its own to vouch for. The asker applies the answer like any update
//! from that direction and, at the end, removes the users and memberships
//! of H that the neighbour did not name: what it now follows is the
//! neighbour's view, and the neighbour reports every later change. What it
//! adds, changes or removes it passes on (UID, UNICK, UQUIT, RLEAVE), like
//! any result it applied, so servers that route H through it follow.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::frame;
use crate::outbox::{LinkId, Outbox};
use crate::server::Server;
use crate::wire::Frame;

/// A USYNC sent and not yet answered: what the asker knew of the server's
/// users then, minus what the answer has confirmed so far.
#[derive(Clone, Debug)]
pub(crate) struct PendingSync {
    pub link: LinkId,
    pub users: BTreeSet<Arc<str>>,
    /// (UID, folded room) memberships.
    pub members: BTreeSet<(Arc<str>, String)>,
    /// Neighbours that asked us about the same server meanwhile: they get
    /// our answer once we have ours, not a view we are about to correct.
    pub waiting: Vec<LinkId>,
}

impl Server {
    /// Whether we hold no users at all, said in every SERVER we send
    /// (`NO_USERS`): asked for any server's users, we would name nobody.
    /// (Users we may learn later from a USYNC of our own still reach the
    /// receiver: we pass on what an answer adds, like any update.)
    pub(crate) fn holds_no_users(&self) -> bool {
        self.chat.users.is_empty()
    }

    /// The server with SID `sid` is now routed through `link` (it was
    /// routed elsewhere, was unknown, or its route behind `link` changed).
    /// Its users follow the route, and if `ask`, the neighbour is asked
    /// for its view of them, unless it said it holds no users (`quiet`)
    /// and we hold none of that server's: then its answer could neither
    /// add nor remove anything.
    pub(crate) fn rerouted(
        &mut self,
        sid: &str,
        link: LinkId,
        ask: bool,
        quiet: bool,
        out: &mut Outbox,
    ) {
        let mut users = BTreeSet::new();
        let mut members = BTreeSet::new();
        for (uid, u) in self.chat.users.iter_mut() {
            if u.local || *u.sid != *sid {
                continue;
            }
            u.via = link;
            users.insert(uid.clone());
            for key in &u.rooms {
                members.insert((uid.clone(), key.clone()));
            }
        }
        for (_, key) in &members {
            if let Some(r) = self.chat.rooms.get_mut(key) {
                r.fanout = None;
            }
        }
        let waiting = self
            .chat
            .syncs
            .remove(sid)
            .map(|p| p.waiting)
            .unwrap_or_default();
        let moot = quiet && users.is_empty();
        if !ask || moot || self.cfg.ablations.no_user_resync {
            for w in waiting {
                self.answer_sync(w, sid, out);
            }
            return;
        }
        let members = members
            .into_iter()
            .map(|(u, k)| (u, k.to_string()))
            .collect();
        self.chat.syncs.insert(
            crate::intern::arc(sid),
            PendingSync {
                link,
                users,
                members,
                waiting,
            },
        );
        out.send(link, frame("USYNC", &[sid]));
    }

    /// A UID or RJOIN for a user of `sid` arrived from `link`, the
    /// server's direction: it is part of what that neighbour holds.
    pub(crate) fn sync_confirm(&mut self, sid: &str, link: LinkId, uid: &str, room: Option<&str>) {
        let Some(p) = self.chat.syncs.get_mut(sid) else {
            return;
        };
        if p.link != link {
            return;
        }
        match room {
            None => {
                p.users.remove(uid);
            }
            Some(key) => {
                p.members.remove(&(Arc::from(uid), key.to_string()));
            }
        }
    }

    /// USYNC and USYNCEND from a server link. False if malformed.
    pub(crate) fn on_sync_msg(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) -> bool {
        match f.command() {
            "USYNC" => {
                let Some([sid]) = f.args_exact::<1>() else {
                    return false;
                };
                if crate::server::sid_code(sid).is_none() {
                    return false;
                }
                self.answer_sync(link, sid, out);
                true
            }
            "USYNCEND" => {
                let Some([sid, ok]) = f.args_exact::<2>() else {
                    return false;
                };
                if crate::server::sid_code(sid).is_none() || !matches!(ok, "0" | "1") {
                    return false;
                }
                self.end_sync(link, sid, ok == "1", out);
                true
            }
            _ => false,
        }
    }

    /// Our view of the users of `sid`, for the neighbour on `link`.
    fn answer_sync(&mut self, link: LinkId, sid: &str, out: &mut Outbox) {
        if !self.links.contains_key(&link) {
            return;
        }
        if let Some(p) = self.chat.syncs.get_mut(sid) {
            if p.link != link {
                // We are asking about it ourselves: answer with what we
                // learn, not with a view we are about to correct (the
                // asker would drop users we are about to add).
                if !p.waiting.contains(&link) {
                    p.waiting.push(link);
                }
                return;
            }
        }
        let ours = sid == &*self.me.sid;
        // Routed back through the asker: what we hold came from it.
        let vouch = ours || self.route_by_sid(sid).is_some_and(|l| l != link);
        if !vouch {
            out.send(link, frame("USYNCEND", &[sid, "0"]));
            return;
        }
        let users: Vec<(&Arc<str>, &super::User)> = self
            .chat
            .users
            .iter()
            .filter(|(_, u)| &*u.sid == sid)
            .collect();
        self.describe_users(link, &users, out);
        if ours {
            self.described_own_users(link);
        }
        out.send(link, frame("USYNCEND", &[sid, "1"]));
    }

    /// `users` as a burst has them, on `link`: their rooms (`ROOM`), the
    /// users (`UID`), their memberships (`RJOIN`).
    pub(crate) fn describe_users(
        &self,
        link: LinkId,
        users: &[(&Arc<str>, &super::User)],
        out: &mut Outbox,
    ) {
        let mut rooms: BTreeSet<&str> = BTreeSet::new();
        for (_, u) in users {
            rooms.extend(u.rooms.iter().map(|k| &**k));
        }
        for key in &rooms {
            if let Some(r) = self.chat.rooms.get(key) {
                let (ts, epoch) = (r.ts.to_string(), r.stream.epoch.to_string());
                out.send(link, frame("ROOM", &[&r.name, &ts, &epoch, &r.stream.seq]));
            }
        }
        for (uid, u) in users {
            super::send_uid(out, link, uid, u);
        }
        for (uid, u) in users {
            for key in &u.rooms {
                let Some(r) = self.chat.rooms.get(key) else {
                    continue;
                };
                if let Some(memid) = r.members.get(*uid) {
                    let m = memid.to_string();
                    out.send(link, frame("RJOIN", &[&r.name, uid, &m]));
                }
            }
        }
    }

    /// The neighbour has sent its whole view of the users of `sid`: what
    /// it did not name is gone (when it could vouch for its view). Then
    /// whoever asked us meanwhile gets our answer.
    fn end_sync(&mut self, link: LinkId, sid: &str, vouched: bool, out: &mut Outbox) {
        if self.chat.syncs.get(sid).is_none_or(|p| p.link != link) {
            return; // an answer to a request since superseded
        }
        let p = self.chat.syncs.remove(sid).expect("just checked");
        if vouched && self.route_by_sid(sid) == Some(link) {
            self.drop_unconfirmed(link, sid, &p, out);
        }
        for w in p.waiting {
            self.answer_sync(w, sid, out);
        }
    }

    /// Removes the users and memberships a USYNC answer about `sid` did
    /// not confirm, and tells the servers that route them through us.
    /// A user that moved to another server since we asked (a UMOVE came
    /// in between) is that server's now: the answer, about `sid`, rightly
    /// leaves it out, and dropping it lost a moved user here for good
    /// (users.agree: swarm-chat seed 9097, sync-after-a-move.toml).
    fn drop_unconfirmed(&mut self, link: LinkId, sid: &str, p: &PendingSync, out: &mut Outbox) {
        let moved_on = |s: &Self, uid: &str| {
            !s.cfg.ablations.no_sync_moved && s.chat.users.get(uid).is_some_and(|u| *u.sid != *sid)
        };
        for uid in &p.users {
            if moved_on(self, uid) {
                continue;
            }
            if self
                .chat
                .users
                .get(uid)
                .is_some_and(|u| !u.local && u.via == link)
                && self.remove_user(uid, out).is_some()
            {
                self.flood(Some(link), frame("UQUIT", &[uid, "resync"]), out);
            }
        }
        for (uid, key) in &p.members {
            if moved_on(self, uid) {
                continue;
            }
            let Some(room) = self.chat.rooms.get(key) else {
                continue;
            };
            let Some(&memid) = room.members.get(uid) else {
                continue;
            };
            let name = room.name.clone();
            self.drop_membership(key, uid, out);
            if let Some(u) = self.chat.users.get_mut(uid) {
                u.rooms.remove(key);
            }
            let m = memid.to_string();
            self.flood(Some(link), frame("RLEAVE", &[&name, uid, &m]), out);
        }
    }

    /// A UID from the user's direction for a user we already know, with
    /// another nick: the answer to a USYNC (or a burst) carries a nick
    /// change we refused while the route pointed elsewhere.
    pub(crate) fn sync_nick(
        &mut self,
        now: crate::time::Instant,
        link: LinkId,
        uid: &Arc<str>,
        nick: &str,
        ts: u64,
        out: &mut Outbox,
    ) {
        let Some(u) = self.chat.users.get(uid) else {
            return;
        };
        if *u.nick == *nick || u.ts >= ts || u.local {
            return;
        }
        let saved = self.saved(uid, ts);
        let target: Arc<str> = if saved { uid.clone() } else { nick.into() };
        if self.change_nick(now, uid, &target, ts, out) {
            let t = ts.to_string();
            self.flood(Some(link), frame("UNICK", &[uid, nick, &t]), out);
            if saved {
                self.follow_with_save(Some(link), uid, ts, out);
            }
        }
    }
}
