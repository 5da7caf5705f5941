//! The spanning tree: bursts, SERVER introductions, SQUIT, and loop breaking.
//!
//! Loop rule. Every SERVER carries the path of links it travelled, each
//! link identified by a [`LinkTag`] (or, when the path is the uplink's and
//! one link more, that last link alone: the receiver holds the rest).
//! When a server hears of a server it already knows by another route, the
//! two paths together close one or more cycles: the links in exactly one
//! of them. The largest-ranked link of those is the one that must go,
//! and every server that sees the cycle computes the same link from the
//! tags alone. An endpoint of that link closes it; every other server
//! keeps or adopts the route that avoids it.
//! Stamps grow with each new link, so a fresh link loses to the tree it
//! would have looped, and of two links made at the same instant the one
//! with the larger names loses.
//!
//! Refused routes. A server that keeps its own route and refuses a
//! neighbour's (or leaves it for another) trusts the endpoints of the
//! losing link to close it. A cycle can run through a ghost, a server's
//! earlier incarnation still held by a neighbour that has not timed its
//! link out: then nobody sees it whole, nobody closes anything, and when
//! the ghost expires the refused route was the live one. So each server
//! remembers which neighbours introduced which servers along routes it did
//! not take (`disputed`); when it loses such a server it names it to them
//! (RESYNC), and one that still knows it answers with its burst again.
//!
//! Moved routes. A server that moves its route onto a neighbour's link
//! had introduced that server to the neighbour by the old route, and the
//! two introductions can cross: taken after the neighbour lost its own
//! route, ours is a route through us that we no longer have. So each
//! server remembers such moves (`moved_onto`), and when that neighbour's
//! SQUIT takes the server away it withdraws its old introduction there.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::known::{KnownRef, Was};
use super::path::Path;
use super::{Known, NewPath, Phase, Server};
use crate::identity::LinkTag;
use crate::message::{encode_resync, encode_server, Msg, NameArgs, ServerIntro, SELF_UPLINK};
use crate::outbox::{CloseReason, LinkId, Note, Outbox};
use crate::time::Instant;
use crate::wire;

/// The largest tag on exactly one of the two paths, and whether it lies on
/// the first.
pub(crate) fn cycle_loser<'p>(a: &[&'p LinkTag], b: &[&'p LinkTag]) -> Option<(&'p LinkTag, bool)> {
    let only_a = a.iter().copied().filter(|t| !b.contains(t)).max();
    let only_b = b.iter().copied().filter(|t| !a.contains(t)).max();
    match (only_a, only_b) {
        (Some(x), Some(y)) if x > y => Some((x, true)),
        (_, Some(y)) => Some((y, false)),
        (Some(x), None) => Some((x, true)),
        (None, None) => None,
    }
}

/// A record as a SERVER introduction, as seen from here.
fn intro<'a>(
    k: &KnownRef<'a>,
    path: &'a [&'a LinkTag],
    shared: bool,
    quiet: bool,
) -> ServerIntro<'a> {
    ServerIntro {
        name: k.name(),
        hops: k.hops,
        sid: k.sid_str(),
        incarnation: k.incarnation,
        uplink: k.uplink(),
        path,
        shared,
        quiet,
    }
}

impl Server {
    /// Introduces this server and everything it knows to a new peer,
    /// parents before children, then marks the end of the burst.
    pub(crate) fn send_burst(&mut self, link: LinkId, out: &mut Outbox) {
        self.send_server_intros(link, out);
        self.send_chat_burst(link, out);
        self.described_own_users(link);
        out.send(link, |b| Msg::Eob.encode(b));
    }

    /// This server and every one it knows (but through `link`), parents
    /// before children.
    pub(crate) fn send_server_intros(&self, link: LinkId, out: &mut Outbox) {
        let me = self.me.clone();
        let quiet = self.holds_no_users();
        out.send(link, |b| {
            encode_server(
                b,
                &ServerIntro {
                    name: &me.name,
                    hops: 0,
                    sid: &me.sid,
                    incarnation: me.incarnation,
                    uplink: SELF_UPLINK,
                    path: &[],
                    shared: false,
                    quiet,
                },
            )
        });
        let mut order: Vec<KnownRef<'_>> = self.known.iter().filter(|k| k.via != link).collect();
        order.sort_by(|a, b| (a.hops, a.name()).cmp(&(b.hops, b.name())));
        if self.cfg.ablations.no_burst_order {
            order.reverse();
        }
        let mut path = Vec::new();
        for k in order {
            let shared = self.intro_path(&k, &mut path);
            out.send(link, |b| encode_server(b, &intro(&k, &path, shared, quiet)));
        }
    }

    /// Whether `k`'s path is its uplink's and one link more, both through
    /// the same neighbour. Every link but that neighbour's has then been
    /// told the uplink's path last, so the receiver holds it already.
    fn shares_path(&self, k: &KnownRef<'_>) -> bool {
        k.uplink_id != self.known.me()
            && self
                .known
                .get_id(k.uplink_id)
                .is_some_and(|u| u.via == k.via && (k.after_uplink() || k.path().extends(u.path())))
    }

    /// The links a SERVER for `k` carries, into `path`: the last alone
    /// if the path is shared (true), else all.
    fn intro_path<'k>(&self, k: &KnownRef<'k>, path: &mut Vec<&'k LinkTag>) -> bool {
        let shared = self.shares_path(k);
        if shared {
            path.clear();
            path.extend(k.path().last());
        } else {
            k.path().near_first(path);
        }
        shared
    }

    /// Tells every registered link but `except` about a server we now know
    /// (by name id).
    fn forward_server(&mut self, id: u32, except: LinkId, out: &mut Outbox) {
        let Some(k) = self.known.get_id(id) else {
            return;
        };
        let quiet = self.holds_no_users();
        let mut range = None;
        for (&l, link) in &self.links {
            if l == except || !matches!(link.phase, Phase::Registered) {
                continue;
            }
            if range.is_none() {
                let mut path = Vec::new();
                let shared = self.intro_path(&k, &mut path);
                range = out.encode(|b| encode_server(b, &intro(&k, &path, shared, quiet)));
            }
            if let Some(r) = range {
                out.send_again(l, r);
            }
        }
    }

    fn broadcast_squit(
        &mut self,
        name: &str,
        incarnation: u64,
        reason: &str,
        except: &[LinkId],
        out: &mut Outbox,
    ) {
        let mut range = None;
        for (&l, link) in &self.links {
            if except.contains(&l) || !matches!(link.phase, Phase::Registered) {
                continue;
            }
            if range.is_none() {
                range = out.encode(|b| {
                    Msg::Squit {
                        name,
                        incarnation,
                        reason,
                    }
                    .encode(b)
                });
            }
            if let Some(r) = range {
                out.send_again(l, r);
            }
        }
    }

    pub(crate) fn on_server<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        msg: Msg<'_>,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Msg::Server {
            name,
            hops,
            sid,
            incarnation,
            uplink,
            path,
        } = msg
        else {
            return;
        };
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let (Some(tag), Some(peer)) = (l.tag.clone(), l.peer.clone()) else {
            return;
        };
        // The links before the last, when we hold them already: nearly
        // always the uplink's path, from this same neighbour (see path.rs).
        // The sender says so (SHARED_PATH) and sends the last tag alone; a
        // whole path that matches is shared too. Their stamps are ones we
        // have seen.
        let n = path.len();
        let quiet = path.quiet();
        if path.shared() && n != 1 {
            return self.protocol_error(now, link, "bad link tag", rng, out);
        }
        // The uplink's record, read once: its id and route decide below
        // where the server hangs.
        let up = self.known.get(uplink);
        let up_route = up.map(|u| (u.id, u.via));
        let shared = up.is_some_and(|u| {
            u.via == link && (path.shared() || (n > 0 && u.path().is_wire(&tag, &path, n - 1)))
        });
        // Else a shared path is the link and the one tag: the sender's
        // path to itself is empty (and an uplink we do not route through
        // it is refused below).
        let mut intern = crate::intern::arc;
        let tags = match shared {
            true => path
                .arg(n - 1)
                .and_then(|s| LinkTag::parse_with(s, &mut intern))
                .map(|t| vec![t]),
            false => path.tags_with(&mut intern),
        };
        let Some(tags) = tags else {
            return self.protocol_error(now, link, "bad link tag", rng, out);
        };
        let Some(sid) = super::Sid::new(sid) else {
            return self.protocol_error(now, link, "bad SID", rng, out);
        };
        for t in &tags {
            self.lamport = self.lamport.max(t.stamp);
        }
        // Where does it hang? The sender itself, or under a server that we
        // reach through this same link.
        let uplink: u32 = if uplink == SELF_UPLINK {
            if name != &*peer || hops != 0 {
                return self.protocol_error(now, link, "SERVER * names someone else", rng, out);
            }
            self.known.me()
        } else if uplink == &*peer || up_route.is_some_and(|(_, via)| via == link) {
            match up_route {
                Some((id, _)) => id,
                None => self.known.ids().intern(uplink),
            }
        } else {
            self.stats.misdirected += 1;
            out.note(Note::Misdirected {
                link,
                what: "SERVER uplink",
            });
            self.dispute(name, link);
            return;
        };
        let new_path = match (shared, tags.len()) {
            (true, 1) => {
                // Its stamps were seen when it was stored.
                debug_assert!(self
                    .known
                    .get_id(uplink)
                    .is_some_and(|u| u.path().far_first().all(|t| t.stamp <= self.lamport)));
                NewPath::AfterUplink(tags.into_iter().next().expect("one tag"))
            }
            _ => NewPath::Whole(Path::from_tags(std::iter::once(tag.clone()).chain(tags))),
        };
        let entry = Known {
            sid,
            incarnation,
            hops: hops.saturating_add(1),
            uplink,
            via: link,
            path: new_path,
        };
        if name == &*self.me.name {
            // Our own introduction came back: the path is a cycle.
            if self.cfg.ablations.no_loop_check {
                return;
            }
            let loser = self.known.new_path(&entry).max().cloned();
            if loser.as_ref() == Some(&tag) {
                self.stats.loops_broken += 1;
                self.drop_link(now, link, CloseReason::LoopBroken, true, rng, out);
            }
            return;
        }
        let Some(old) = self.known.get(name) else {
            return self.adopt(name, entry, quiet, out);
        };
        let id = old.id;
        if incarnation < old.incarnation {
            return; // stale news of an earlier incarnation
        }
        if incarnation > old.incarnation {
            let was = old.was();
            self.forget_ghost(now, name, was, None, rng, out);
            if self.links.contains_key(&link) {
                self.adopt(name, entry, quiet, out);
            }
            return;
        }
        if old.via == link {
            // Same direction: the route behind the link changed shape.
            let changed = old.hops != entry.hops
                || old.uplink_id != entry.uplink
                || !old.path().same(self.known.new_path(&entry));
            if changed {
                let sid = entry.sid;
                self.set_known(id, entry);
                self.forward_server(id, link, out);
                // The neighbour's own route changed: it may have lost the
                // server and learned it afresh, with other users, without
                // our ever seeing it go (see chat/sync.rs).
                let in_burst = self.links.get(&link).is_some_and(|l| !l.burst_received);
                if !in_burst {
                    self.rerouted(&sid, link, true, quiet, out);
                }
            }
            return;
        }
        if self.cfg.ablations.no_loop_check {
            self.set_known(id, entry);
            self.forward_server(id, link, out);
            return;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        old.path().near_first(&mut a);
        self.known.new_path(&entry).near_first(&mut b);
        let Some((loser, on_old)) = cycle_loser(&a, &b) else {
            return;
        };
        let loser = loser.clone();
        let old_first = old.path().first().cloned();
        let old_via = old.via;
        drop((a, b));
        self.stats.loops_broken += 1;
        if on_old {
            // The route we had crosses the losing link: adopt the new one.
            if Some(&loser) == old_first.as_ref() {
                self.drop_link(now, old_via, CloseReason::LoopBroken, true, rng, out);
            }
            if self.links.contains_key(&link) {
                self.adopt(name, entry, quiet, out);
                // The old neighbour still routes it the other way.
                self.dispute(name, old_via);
                // We introduced it to this neighbour along the old route;
                // see `withdraw_moved`.
                if !self.cfg.ablations.no_route_withdraw {
                    self.moved_onto.insert((name.into(), link), incarnation);
                }
            }
        } else if loser == tag {
            self.drop_link(now, link, CloseReason::LoopBroken, true, rng, out);
        } else {
            // Kept the old route, trusting the endpoints of the losing link
            // to close it. They may never see the cycle (it can run through
            // a ghost): remember that this neighbour routes it otherwise.
            self.dispute(name, link);
        }
    }

    /// Records that the neighbour on `link` introduced `name` along a route
    /// we do not use.
    fn dispute(&mut self, name: &str, link: LinkId) {
        if self.links.contains_key(&link) {
            self.disputed.insert((name.into(), link));
        }
    }

    /// We lost these servers. A neighbour whose introduction of one of them
    /// we refused, or whose route we left, may have known the live route
    /// all along: it sent it once and has no reason to send it again. So we
    /// name them to it (RESYNC), and if it still knows one it sends its
    /// burst again: its current view, not the old introduction, so nothing
    /// stale comes back, and whatever we already share is a no-op.
    fn ask_again(&mut self, lost: &[Arc<str>], out: &mut Outbox) {
        if self.disputed.is_empty() || lost.is_empty() {
            return;
        }
        let mut ask: BTreeMap<LinkId, Vec<Arc<str>>> = BTreeMap::new();
        self.disputed.retain(|(n, l)| {
            let hit = lost.contains(n);
            if hit {
                ask.entry(*l).or_default().push(n.clone());
            }
            !hit
        });
        if self.stopped {
            return;
        }
        for (l, names) in ask {
            if !self
                .links
                .get(&l)
                .is_some_and(|x| matches!(x.phase, Phase::Registered))
            {
                continue;
            }
            for chunk in names.chunks(wire::MAX_ARGS) {
                out.send(l, |b| encode_resync(b, chunk));
            }
        }
    }

    /// A neighbour lost servers we introduced to it along a route it
    /// refused: if we still know one of them other than through it, it
    /// gets our burst again.
    pub(crate) fn on_resync(&mut self, link: LinkId, names: NameArgs<'_>, out: &mut Outbox) {
        let known_here = names
            .iter()
            .any(|n| n == &*self.me.name || self.known.get(n).is_some_and(|k| k.via != link));
        if known_here {
            self.send_burst(link, out);
        }
    }

    /// `quiet`: the neighbour that introduced it holds no users.
    fn adopt(&mut self, name: &str, entry: Known, quiet: bool, out: &mut Outbox) {
        let via = entry.via;
        let sid = entry.sid;
        let id = self.known.ids().intern(name);
        let old = self.set_known(id, entry);
        let fresh = old.is_none();
        if fresh {
            if let Some(g) = &mut self.chat.grace {
                g.release = true;
            }
            out.note(Note::ServerAdded {
                name: self.known.ids().name(id).clone(),
                via,
            });
            self.sequencer_back(&sid);
        }
        self.forward_server(id, via, out);
        if old.is_none_or(|o| o.via != via) {
            // A new direction for its users too. A link's burst carries
            // its users after its servers; outside a burst nothing will
            // unless we ask (see chat/sync.rs).
            let in_burst = self.links.get(&via).is_some_and(|l| !l.burst_received);
            // A user moved to it while it was out of our view: the burst
            // may not carry that user (chat/moves.rs, `apply_home`).
            let unseen =
                fresh && !self.chat.moved_unseen.is_empty() && self.chat.moved_unseen.remove(&*sid);
            self.rerouted(&sid, via, !(fresh && in_burst) || unseen, quiet, out);
        }
    }

    pub(crate) fn on_squit(
        &mut self,
        link: LinkId,
        name: &str,
        incarnation: u64,
        reason: &str,
        out: &mut Outbox,
    ) {
        // The neighbour no longer introduces it: nothing left to dispute.
        if !self.disputed.is_empty() {
            self.disputed.remove(&(Arc::from(name), link));
        }
        let Some(k) = self.known.get(name) else {
            return; // already gone: SQUIT is idempotent
        };
        if k.incarnation != incarnation {
            return;
        }
        let graceful = CloseReason::reforms_by_text(reason);
        if k.via != link && !self.cfg.ablations.no_squit_direction {
            self.stats.misdirected += 1;
            out.note(Note::Misdirected {
                link,
                what: "SQUIT",
            });
            // We route it elsewhere, but what we still route through the
            // neighbour by way of it is gone all the same.
            if !self.cfg.ablations.no_squit_strays {
                let lost = self.remove_strays(link, name, reason, graceful, out);
                self.withdraw_moved(&lost, link, out);
                self.ask_again(&lost, out);
            }
            return;
        }
        if reason == CloseReason::PeerShutdown.as_str() {
            let sid = k.sid.arc();
            self.note_gone(&sid, incarnation);
        }
        let lost = self.remove_subtree(name, graceful, out);
        if !self.cfg.ablations.no_squit_forward {
            self.broadcast_squit(name, incarnation, reason, &[link], out);
        }
        self.withdraw_moved(&lost, link, out);
        self.ask_again(&lost, out);
    }

    /// The neighbour on `link` took `lost` from us with a SQUIT. For each
    /// we had moved onto its route after introducing it there by the old
    /// one, that introduction may have crossed the neighbour's own and
    /// reached it after it lost its route: taken as new, it names a route
    /// through us that no longer exists, a ghost of a live server that
    /// nothing removes (crossed-introduction-ghost.toml, swarm-chat-at-once
    /// seed 9679: the hub held n3a by way of n2 and n1a for 100 s,
    /// refusing n3's links as loops). So we withdraw it
    /// there: the neighbour removes the ghost if it took it, ignores the
    /// SQUIT if it holds nothing, and drops it as misdirected if it has
    /// found another route meanwhile.
    fn withdraw_moved(&mut self, lost: &[Arc<str>], link: LinkId, out: &mut Outbox) {
        if self.moved_onto.is_empty() || lost.is_empty() {
            return;
        }
        let mut withdraw = Vec::new();
        self.moved_onto.retain(|(n, l), inc| {
            let hit = lost.contains(n);
            if hit && *l == link {
                withdraw.push((n.clone(), *inc));
            }
            !hit
        });
        let reason = CloseReason::LoopBroken.as_str();
        for (name, incarnation) in withdraw {
            out.send(link, |b| {
                Msg::Squit {
                    name: &name,
                    incarnation,
                    reason,
                }
                .encode(b)
            });
        }
    }

    /// The neighbour on `link` lost `root`, which we have moved onto
    /// another route (the loop rule had us adopt a route that avoids the
    /// losing link). A server that hung under it and that the new route
    /// has not introduced (yet) stayed behind on the old one: routed
    /// through this link, its path running through `root`, its uplink now
    /// elsewhere, so no uplink chain and no SQUIT the neighbour sends
    /// reaches it. The neighbour has just dropped it with `root`; kept,
    /// it is a route through the neighbour that the neighbour does not
    /// have, never introduced to it again, and it makes the loop rule
    /// refuse the live route when that comes (it crosses a newer link).
    /// tree-view-after-partitions-at-1s.toml: n3a held n2a through n3
    /// for good, and n3 never learned it back. So those go too, and we
    /// SQUIT the roots of them to our other links, which had them from us.
    fn remove_strays(
        &mut self,
        link: LinkId,
        root: &str,
        reason: &str,
        graceful: bool,
        out: &mut Outbox,
    ) -> Vec<Arc<str>> {
        struct Stray {
            id: u32,
            name: Arc<str>,
            incarnation: u64,
            uplink: u32,
        }
        let mut strays: Vec<Stray> = self
            .known
            .iter()
            .filter(|k| {
                k.via == link
                    && k.path()
                        .far_first()
                        .any(|t| &*t.lo == root || &*t.hi == root)
            })
            .map(|k| Stray {
                id: k.id,
                name: k.name().clone(),
                incarnation: k.incarnation,
                uplink: k.uplink_id,
            })
            .collect();
        if strays.is_empty() {
            return Vec::new();
        }
        strays.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let ids: Vec<u32> = strays.iter().map(|s| s.id).collect();
        let was = self.unset_known(&ids);
        let mut sids = Vec::with_capacity(strays.len());
        for (s, k) in strays.iter().zip(was) {
            if let Some(k) = k {
                sids.push(k.sid.arc());
                out.note(Note::ServerRemoved {
                    name: s.name.clone(),
                    via: k.via,
                });
            }
        }
        self.servers_lost(&sids, graceful, out);
        // Not one of them is the server said to shut down.
        let why = if reason == CloseReason::PeerShutdown.as_str() {
            CloseReason::BehindShutdown.as_str()
        } else {
            reason
        };
        for s in strays.iter().filter(|s| !ids.contains(&s.uplink)) {
            self.broadcast_squit(&s.name, s.incarnation, why, &[link], out);
        }
        strays.into_iter().map(|s| s.name).collect()
    }

    /// Removes `root` and every server whose uplink chain passes through it,
    /// and returns their names.
    fn remove_subtree(&mut self, root: &str, graceful: bool, out: &mut Outbox) -> Vec<Arc<str>> {
        // A name never heard has no id, and nobody hangs under it.
        let Some(root) = self.known.ids().id(root) else {
            return Vec::new();
        };
        let mut doomed: Vec<(u32, Arc<str>)> = self
            .known
            .iter()
            .filter(|k| self.descends_from(k.id, root))
            .map(|k| (k.id, k.name().clone()))
            .collect();
        doomed.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let ids: Vec<u32> = doomed.iter().map(|d| d.0).collect();
        let was = self.unset_known(&ids);
        let mut sids = Vec::with_capacity(doomed.len());
        for ((_, n), k) in doomed.iter().zip(was) {
            if let Some(k) = k {
                sids.push(k.sid.arc());
                out.note(Note::ServerRemoved {
                    name: n.clone(),
                    via: k.via,
                });
            }
        }
        self.servers_lost(&sids, graceful, out);
        doomed.into_iter().map(|d| d.1).collect()
    }

    fn descends_from(&self, id: u32, root: u32) -> bool {
        let mut cur = id;
        for _ in 0..=self.known.len() {
            if cur == root {
                return true;
            }
            match self.known.get_id(cur) {
                Some(k) => cur = k.uplink_id,
                None => return false,
            }
        }
        false
    }

    /// A link that carried tree traffic is gone: forget what lay behind it
    /// and tell the rest of the tree.
    pub(crate) fn lose_link(
        &mut self,
        link: LinkId,
        peer: Option<&str>,
        reason: CloseReason,
        out: &mut Outbox,
    ) {
        self.disputed.retain(|(_, l)| *l != link);
        self.moved_onto.retain(|(_, l), _| *l != link);
        struct Behind {
            id: u32,
            name: Arc<str>,
            incarnation: u64,
            uplink: u32,
            sid: Arc<str>,
        }
        let mut behind: Vec<Behind> = self
            .known
            .iter()
            .filter(|k| k.via == link)
            .map(|k| Behind {
                id: k.id,
                name: k.name().clone(),
                incarnation: k.incarnation,
                uplink: k.uplink_id,
                sid: k.sid.arc(),
            })
            .collect();
        behind.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let ids: Vec<u32> = behind.iter().map(|b| b.id).collect();
        self.unset_known(&ids);
        for b in &behind {
            out.note(Note::ServerRemoved {
                name: b.name.clone(),
                via: link,
            });
        }
        let sids: Vec<Arc<str>> = behind.iter().map(|b| b.sid.clone()).collect();
        // The roots of what was lost: the neighbour, and whatever hung
        // from it alone.
        let is_root = |b: &Behind| !behind.iter().any(|m| m.id == b.uplink);
        if reason == CloseReason::PeerShutdown {
            // The neighbour that closed is the one shutting down; the
            // servers behind it are only out of reach. Not every root of
            // what was lost: a server routed through this link whose
            // uplink lies elsewhere (the tree reshaped by a loop break, its
            // uplink not yet corrected) is a root too, and marked gone it
            // let the servers left elect, under `home`, a sequencer for
            // its rooms while it was up (stream.kept: swarm-slow-links at
            // 1 s hops, seed 15353, uplink-stale-at-a-shutdown.toml).
            for b in behind.iter().filter(|b| Some(&*b.name) == peer) {
                self.note_gone(&b.sid, b.incarnation);
            }
        }
        self.servers_lost(&sids, reason.tree_reforms(), out);
        // Announce the roots of what was lost; receivers remove the rest.
        // A server closing down announces nothing: each neighbour's own
        // SCLOSE tells it, and a SQUIT for the servers behind another
        // link would reach it first and read as a crash there.
        let announce = if self.stopped { &[][..] } else { &behind[..] };
        for b in announce.iter().filter(|b| is_root(b)) {
            // Only the neighbour is said to shut down: a receiver marks
            // the server a SQUIT names that way as gone.
            let why = match reason {
                CloseReason::PeerShutdown if Some(&*b.name) != peer => CloseReason::BehindShutdown,
                r => r,
            };
            self.broadcast_squit(&b.name, b.incarnation, why.as_str(), &[], out);
        }
        let lost: Vec<Arc<str>> = behind.into_iter().map(|b| b.name).collect();
        self.ask_again(&lost, out);
    }

    /// Drops what we knew of an earlier incarnation of `name`.
    ///
    /// `announce`: the link the new incarnation came by, when it
    /// registered there itself and its introduction waits for its burst.
    /// Then the ghost is SQUIT to our other links (not the ghost's own,
    /// which still holds it): they had it from us, and nothing else may
    /// ever tell them it is gone. Its replacement would, forwarded from
    /// the burst; but the link can close before the burst arrives (the
    /// new incarnation crashed or shut down at once), and the ghost's
    /// own SQUIT, from the neighbour that times it out, finds it gone
    /// here and goes no further (ghost-after-a-relink-cut-short.toml: g
    /// held d2#1 by way of hub for good). A SERVER for the new
    /// incarnation needs none: it is adopted and forwarded at once.
    pub(crate) fn forget_ghost<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        name: &str,
        was: Was,
        announce: Option<LinkId>,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let direct = was.hops == 1
            && self
                .links
                .get(&was.via)
                .is_some_and(|l| l.peer.as_deref() == Some(name));
        if direct {
            // Losing the link SQUITs what was behind it.
            self.drop_link(now, was.via, CloseReason::Superseded, true, rng, out);
        } else {
            let lost = self.remove_subtree(name, false, out);
            if let Some(new) = announce.filter(|_| !self.cfg.ablations.no_ghost_squit) {
                let reason = CloseReason::Superseded.as_str();
                self.broadcast_squit(name, was.incarnation, reason, &[was.via, new], out);
            }
            self.ask_again(&lost, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_loser_picks_the_largest_link_on_one_side_only() {
        let a = LinkTag::new(1, "a", "b", "a");
        let b = LinkTag::new(2, "b", "c", "b");
        let c = LinkTag::new(3, "c", "d", "c");
        let d = LinkTag::new(3, "d", "e", "d");
        // Shared links never decide.
        let old = [&a, &c, &d];
        let new = [&b, &c, &d];
        assert_eq!(cycle_loser(&old, &new), Some((&b, false)));
        assert_eq!(cycle_loser(&new, &old), Some((&b, true)));
        // Equal stamps fall back to names.
        assert_eq!(cycle_loser(&[&c], &[&d]), Some((&d, false)));
        assert_eq!(cycle_loser(&old, &old), None);
    }
}
