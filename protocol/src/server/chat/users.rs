//! The user table, nick changes, and nick collisions.
//!
//! Collision rule. Two claims on one nick are ordered by (nick timestamp,
//! UID): both come from the messages, so every server that sees the same
//! two claims picks the same winner whatever its clock or position in the
//! tree. The loser is handled per policy:
//! - `kill-both`: both users are killed;
//! - `ts-kill`: the later claim's user is killed;
//! - `ts-rename`: the later claim's user is renamed to its UID (a SAVE);
//! - `reject`: a later registration is refused and removed everywhere
//!   (REJECT); its client is sent back to registration. A later nick
//!   change is renamed to the UID, since its previous nick may have been
//!   claimed meanwhile.
//!
//! KILL and REJECT leave a tombstone (UIDs are never reused), so a UID that
//! arrives after its KILL is not brought back, and each server floods each
//! resolution once. A side that brings such a user back (or a saved claim)
//! never got the resolution, cut off when it flooded: it is sent it again.
//!
//! Any server that sees both claims resolves the collision, so a KILL,
//! SAVE or REJECT names the server that issued it and, like a BCAST, is
//! taken only from the link toward that server; copies that come round a
//! transient cycle from the other side are refused. While the tree is
//! reshaped such a copy can be the only one a server holding the user
//! gets: it then tells the sender the user, and the sender answers with
//! the resolution as its issuer.

use std::borrow::Cow;
use std::sync::Arc;

use super::{frame, verbatim, User, UserInfo};
use crate::config::NickCollision;
use crate::id_map::Found;
use crate::names::{fold_cow, uid_sid, valid_nick};
use crate::outbox::{ChatNote, LinkId, Outbox, Output};
use crate::server::Server;
use crate::time::Instant;
use crate::wire::Dec;
use crate::wire::{parse_u64, Frame};

/// What happens to a claim that arrives for a nick someone holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The claim takes the nick.
    Won,
    /// The claiming user is gone (killed or rejected).
    Lost,
    /// The claiming user stays, renamed to its UID.
    Renamed,
}

/// Which claims lose, from message data alone. `a` is the claim already
/// held, `b` the new one; each is (timestamp, UID, is a registration).
/// Returns (a loses, b loses).
pub fn collision_losers(
    policy: NickCollision,
    a: (u64, &str, bool),
    b: (u64, &str, bool),
) -> (bool, bool) {
    if policy == NickCollision::KillBoth {
        return (true, true);
    }
    let a_later = (a.0, a.1) > (b.0, b.1);
    (a_later, !a_later)
}

impl Server {
    /// Adds a user to the table (no collision may remain on its nick).
    pub(crate) fn insert_user(&mut self, uid: Arc<str>, u: User) {
        self.insert_user_found(Found::Nowhere, uid, u);
    }

    /// [`Server::insert_user`] of a UID [`IdMap::find`] found (where, in
    /// the users' table).
    ///
    /// [`IdMap::find`]: crate::id_map::IdMap::find
    pub(crate) fn insert_user_found(&mut self, found: Found, uid: Arc<str>, u: User) {
        self.chat.nicks.insert_str(&fold_cow(&u.nick), uid.clone());
        self.chat.users.insert_found(found, uid, u);
    }

    /// Removes a user from the table and from every room it was in.
    pub(crate) fn remove_user(&mut self, uid: &str, out: &mut Outbox) -> Option<User> {
        let u = self.chat.users.remove(uid)?;
        let key = fold_cow(&u.nick);
        if self.chat.nicks.get(&key).is_some_and(|x| &**x == uid) {
            self.chat.nicks.remove(&key);
        }
        for room in &u.rooms {
            self.drop_membership_via(room, uid, Some(u.via), out);
        }
        Some(u)
    }

    /// Resolves a claim by `uid` on `nick` against the current holder, if
    /// any, carrying out whatever the policy does to the holder.
    pub(crate) fn claim_nick(
        &mut self,
        now: Instant,
        uid: &Arc<str>,
        nick: &str,
        ts: u64,
        registration: bool,
        out: &mut Outbox,
    ) -> Claim {
        let Some(holder) = self.chat.nicks.get(&fold_cow(nick)).cloned() else {
            return Claim::Won;
        };
        if holder == *uid {
            return Claim::Won;
        }
        let h = &self.chat.users[&holder];
        let held = (h.ts, &*holder, h.ts == h.reg_ts);
        let policy = self.cfg.nick_collision;
        let (mut a_loses, mut b_loses) = collision_losers(policy, held, (ts, uid, registration));
        if self.cfg.ablations.no_collision_order && policy != NickCollision::KillBoth {
            // Research switch: the claim seen first keeps the nick, so
            // servers that saw the claims in different orders disagree.
            (a_loses, b_loses) = (false, true);
        }
        let survivor = match (a_loses, b_loses) {
            (true, false) => Some(uid.clone()),
            (false, true) => Some(holder.clone()),
            _ => None,
        };
        Self::chat_note(
            out,
            ChatNote::Collision {
                nick: nick.into(),
                a: holder.clone(),
                a_ts: held.0,
                b: uid.clone(),
                b_ts: ts,
                survivor,
            },
        );
        let held_registration = held.2;
        if a_loses {
            self.resolve_loser(now, &holder, held_registration, out);
        }
        if !b_loses {
            return Claim::Won;
        }
        match self.loser_fate(registration) {
            Fate::Kill => {
                self.kill(uid, "nick collision", None, out);
                Claim::Lost
            }
            Fate::Reject => {
                self.reject(now, uid, None, out);
                Claim::Lost
            }
            Fate::Save => {
                self.flood_save(uid, ts, None, out);
                Claim::Renamed
            }
        }
    }

    fn loser_fate(&self, registration: bool) -> Fate {
        match self.cfg.nick_collision {
            NickCollision::KillBoth | NickCollision::TsKill => Fate::Kill,
            NickCollision::TsRename => Fate::Save,
            NickCollision::Reject if registration => Fate::Reject,
            NickCollision::Reject => Fate::Save,
        }
    }

    /// Applies the policy's fate to a user already in the table.
    fn resolve_loser(
        &mut self,
        now: Instant,
        uid: &Arc<str>,
        registration: bool,
        out: &mut Outbox,
    ) {
        match self.loser_fate(registration) {
            Fate::Kill => self.kill(uid, "nick collision", None, out),
            Fate::Reject => self.reject(now, uid, None, out),
            Fate::Save => {
                let ts = self.chat.users[uid].ts;
                self.rename_to_uid(uid);
                self.flood_save(uid, ts, None, out);
            }
        }
    }

    /// Kills a user: removes it, tells its client if local, and floods
    /// KILL on every link but the one it came on. Once per UID. `from` is
    /// that link and the SID of the server that issued the KILL; `None`
    /// when this server issues it.
    pub(crate) fn kill(
        &mut self,
        uid: &Arc<str>,
        reason: &str,
        from: Option<(LinkId, &str)>,
        out: &mut Outbox,
    ) {
        if self.chat.dead.insert(uid.clone(), "KILL").is_some()
            && !self.cfg.ablations.no_resolution_once
        {
            return;
        }
        if from.is_some() {
            self.stats.resolutions += 1;
        }
        if let Some(u) = self.remove_user(uid, out) {
            if u.local {
                out.send(u.via, frame("KILLED", &[reason]));
                self.close_client(u.via, out);
            }
        }
        let me = self.me.sid.clone();
        let (link, issuer) = from.map_or((None, &*me), |(l, i)| (Some(l), i));
        self.flood(link, frame("KILL", &[issuer, uid, reason]), out);
        Self::chat_note(
            out,
            ChatNote::Resolution {
                uid: uid.clone(),
                kind: "KILL",
                claim: None,
            },
        );
    }

    /// Refuses a registration: removes the user everywhere; its client is
    /// told and goes back to choosing a nick. Once per UID; `from` as for
    /// [`Server::kill`].
    pub(crate) fn reject(
        &mut self,
        now: Instant,
        uid: &Arc<str>,
        from: Option<(LinkId, &str)>,
        out: &mut Outbox,
    ) {
        if self.chat.dead.insert(uid.clone(), "REJECT").is_some() {
            return;
        }
        if from.is_some() {
            self.stats.resolutions += 1;
        }
        if let Some(u) = self.remove_user(uid, out) {
            if u.local {
                out.send(
                    u.via,
                    frame("NICKERR", &[&u.nick, "rejected: nick collision"]),
                );
                if let Some(c) = self.chat.clients.get_mut(&u.via) {
                    c.uid = None;
                    c.nick = None;
                    c.opened = now;
                    // Its registration clock starts again (and wakes us).
                    self.requeue_client(u.via);
                }
            }
        }
        let me = self.me.sid.clone();
        let (link, issuer) = from.map_or((None, &*me), |(l, i)| (Some(l), i));
        self.flood(link, frame("REJECT", &[issuer, uid]), out);
        Self::chat_note(
            out,
            ChatNote::Resolution {
                uid: uid.clone(),
                kind: "REJECT",
                claim: None,
            },
        );
    }

    fn rename_to_uid(&mut self, uid: &Arc<str>) {
        let Some(u) = self.chat.users.get_mut(uid) else {
            return;
        };
        if *u.nick == **uid {
            return;
        }
        let old = std::mem::replace(&mut u.nick, uid.clone());
        let (local, via) = (u.local, u.via);
        let key = fold_cow(&old);
        if self.chat.nicks.get(&key) == Some(uid) {
            self.chat.nicks.remove(&key);
        }
        self.chat.nicks.insert_str(&fold_cow(uid), uid.clone());
        if local {
            self.chat.pending_renames.push((via, uid.clone()));
        }
    }

    /// Whether the claim of `uid` with timestamp `ts` was saved (renamed
    /// to the UID) already.
    pub(crate) fn saved(&self, uid: &str, ts: u64) -> bool {
        self.chat.renamed.get(uid).is_some_and(|c| c.contains(&ts))
    }

    /// Floods a SAVE, once per (UID, timestamp): a user can lose one
    /// collision per nick it claims. `from` as for [`Server::kill`].
    fn flood_save(
        &mut self,
        uid: &Arc<str>,
        ts: u64,
        from: Option<(LinkId, &str)>,
        out: &mut Outbox,
    ) {
        let first = self.chat.renamed.entry(uid.clone()).or_default().insert(ts);
        if !first && !self.cfg.ablations.no_resolution_once {
            return;
        }
        if from.is_some() {
            self.stats.resolutions += 1;
        }
        let t = Dec::new(ts);
        let me = self.me.sid.clone();
        let (link, issuer) = from.map_or((None, &*me), |(l, i)| (Some(l), i));
        self.flood(link, frame("SAVE", &[issuer, uid, &t]), out);
        Self::chat_note(
            out,
            ChatNote::Resolution {
                uid: uid.clone(),
                kind: "SAVE",
                claim: Some(ts),
            },
        );
        self.flush_renames(out);
    }

    /// Tells local clients renamed to their UID.
    pub(crate) fn flush_renames(&mut self, out: &mut Outbox) {
        for (link, uid) in std::mem::take(&mut self.chat.pending_renames) {
            out.send(link, frame("RENAMED", &[&uid]));
        }
    }

    /// Closes a client link from this side.
    pub(crate) fn close_client(&mut self, link: LinkId, out: &mut Outbox) {
        if self.remove_client(link).is_some() {
            out.push(Output::Close { link });
        }
    }

    /// A nick this user gave up, kept so that commands aimed at it still
    /// find the user for a while.
    pub(crate) fn remember_nick(&mut self, now: Instant, old: &Arc<str>, uid: &Arc<str>) {
        let until = now + self.cfg.nick_history;
        // The nick itself when it folds to itself, as nearly every nick
        // does: no search of the interner at every server.
        let key = match fold_cow(old) {
            Cow::Borrowed(_) => old.clone(),
            Cow::Owned(k) => crate::intern::arc(&k),
        };
        self.chat.history.remember(key, uid.clone(), until);
        self.arm(until);
    }

    /// The UID a nick names now, or named until recently.
    pub(crate) fn resolve_nick(&self, nick: &str) -> Option<Arc<str>> {
        let key = fold_cow(nick);
        if let Some(uid) = self.chat.nicks.get(&key) {
            return Some(uid.clone());
        }
        self.chat
            .history
            .get(&key)
            .filter(|uid| self.chat.users.contains_key(uid))
            .cloned()
    }

    /// Applies a nick change by `uid` (local or remote), resolving any
    /// collision. Returns false if the user did not survive it.
    pub(crate) fn change_nick(
        &mut self,
        now: Instant,
        uid: &Arc<str>,
        nick: &str,
        ts: u64,
        out: &mut Outbox,
    ) -> bool {
        let claim = self.claim_nick(now, uid, nick, ts, false, out);
        if claim == Claim::Lost {
            return false;
        }
        let chat = &mut self.chat;
        let Some(u) = chat.users.get_mut(uid) else {
            return false;
        };
        let new_key = fold_cow(if claim == Claim::Renamed { uid } else { nick });
        // The nick index's search of the new nick, made once: it gives the
        // other servers' copy of a nick that folds to itself (every
        // server after the first a change crosses), and the insert below.
        let found = chat.nicks.find(&new_key);
        let new = if claim == Claim::Renamed {
            uid.clone()
        } else {
            match (found, &new_key) {
                (Found::Here(id) | Found::Elsewhere(id), Cow::Borrowed(_)) => {
                    chat.nicks.name_of(id)
                }
                _ => None,
            }
            .unwrap_or_else(|| crate::intern::arc(nick))
        };
        let old = std::mem::replace(&mut u.nick, new.clone());
        u.ts = ts;
        let old_key = fold_cow(&old);
        if chat.nicks.get(&old_key) == Some(uid) {
            chat.nicks.remove(&old_key);
        }
        // A key that is not the nick: the other servers' copy, if any.
        let key = match new_key {
            Cow::Borrowed(_) => new,
            Cow::Owned(k) => match found {
                Found::Here(id) | Found::Elsewhere(id) => chat.nicks.name_of(id),
                Found::Nowhere => None,
            }
            .filter(|held| **held == *k)
            .unwrap_or_else(|| crate::intern::arc(&k)),
        };
        chat.nicks.insert_found(found, key, uid.clone());
        self.remember_nick(now, &old, uid);
        true
    }

    /// UID, UNICK, UQUIT, KILL, SAVE, REJECT from a server link. False if
    /// the frame is malformed.
    ///
    /// A UID, UNICK or UQUIT that a server takes is passed on as it came
    /// (`raw`): encoding its arguments again gave the same bytes for any
    /// frame a server writes, at the cost of an encoding at every hop.
    pub(crate) fn on_user_msg(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        raw: &[u8],
        out: &mut Outbox,
    ) -> bool {
        let ok = match f.command().as_bytes() {
            b"UID" => {
                // Four arguments, two more once the user has moved (its
                // home and move count), and three more once its USER
                // fields are known (user, host, real name).
                // Read in place by count: a UID crosses every server (the
                // arguments gathered into a vector first were a tenth of a
                // hop's instructions).
                let n = f.arg_count();
                let (info, base) = match n {
                    7 | 9 => match (f.arg(n - 3), f.arg(n - 2), f.arg(n - 1)) {
                        (Some(a), Some(b), Some(c)) => (Some((a, b, c)), n - 3),
                        _ => return false,
                    },
                    _ => (None, n),
                };
                let (uid, nick, ts, reg, moved) = match base {
                    4 => match f.args_prefix::<4>() {
                        Some([u, n, t, r]) => (u, n, t, r, None),
                        None => return false,
                    },
                    6 => match f.args_prefix::<6>() {
                        Some([u, n, t, r, h, g]) => match parse_u64(g) {
                            Some(g) if h.len() == 3 && g > 0 => (u, n, t, r, Some((h, g))),
                            _ => return false,
                        },
                        None => return false,
                    },
                    _ => return false,
                };
                let info = info.map(|(user, host, realname)| UserInfo::new(user, host, realname));
                let (Some(uid_home), Some(ts), Some(reg)) =
                    (uid_sid(uid), parse_u64(ts), parse_u64(reg))
                else {
                    return false;
                };
                let (sid, gen) = moved.unwrap_or((uid_home, 0));
                if !(valid_nick(nick) || nick == uid) {
                    return false;
                }
                let answer = !self.cfg.ablations.no_resolution_answer;
                if !self.check_direction(link, sid, "UID", out) {
                    // Refused, but the neighbour holds a user we know the
                    // fate of: tell it, as the issuer (we are its neighbour,
                    // so the answer passes its direction check). A re-ask
                    // (`reask_refused`) comes as a UID, and while the tree
                    // is reshaped the asker's view of the user's home can
                    // differ from ours: refused without a word, the asker
                    // kept the user it asked about. Nothing is introduced.
                    if answer && !self.cfg.ablations.no_resolution_reask {
                        if let Some(&kind) = self.chat.dead.get(uid) {
                            self.answer_dead(link, uid, kind, out);
                        } else if self.saved(uid, ts) && nick != uid {
                            self.answer_saved(link, uid, ts, out);
                        }
                    }
                    return true;
                }
                self.sync_confirm(sid, link, uid, None);
                if let Some(&kind) = self.chat.dead.get(uid) {
                    if answer {
                        self.answer_dead(link, uid, kind, out);
                    }
                    return true;
                }
                if answer && self.saved(uid, ts) && nick != uid {
                    self.answer_saved(link, uid, ts, out);
                }
                // One search of the shared ids for test, name and insert.
                let found = self.chat.users.find(uid);
                if let Some((uid, u)) = match found {
                    Found::Here(id) => self.chat.users.at_mut(id),
                    _ => None,
                } {
                    let uid = uid.clone();
                    if u.info.is_none() && info.is_some() {
                        u.info = info;
                    }
                    // A move this server missed: passed on, so that the
                    // servers behind us catch up too, though we may take
                    // its UMOVE as seen when it comes (a target's
                    // introduction of a user that moved in, moves.rs).
                    if self.catch_up_move(&uid, sid, gen, out)
                        && !self.cfg.ablations.no_move_introduce
                    {
                        self.flood(Some(link), verbatim(raw), out);
                    }
                    self.sync_nick(now, link, &uid, nick, ts, out);
                    return true;
                }
                // The other servers' copy, when they know the user (all but
                // the first server a UID reaches).
                let uid = match found {
                    Found::Elsewhere(id) => self.chat.users.name_of(id),
                    _ => None,
                }
                .unwrap_or_else(|| crate::intern::arc(uid));
                let saved = self.saved(&uid, ts);
                let claim = if saved {
                    Claim::Renamed
                } else {
                    self.claim_nick(now, &uid, nick, ts, ts == reg, out)
                };
                if claim != Claim::Lost {
                    let user = User {
                        nick: if claim == Claim::Renamed {
                            uid.clone()
                        } else {
                            crate::intern::arc(nick)
                        },
                        ts,
                        reg_ts: reg,
                        sid: crate::intern::arc(sid),
                        via: link,
                        local: false,
                        rooms: Default::default(),
                        gen,
                        info: info.clone(),
                    };
                    self.insert_user_found(found, uid.clone(), user);
                    self.flood(Some(link), verbatim(raw), out);
                    if saved && nick != &*uid {
                        self.follow_with_save(Some(link), &uid, ts, out);
                    }
                }
                true
            }
            b"UNICK" => {
                let Some([uid, nick, ts]) = f.args_exact::<3>() else {
                    return false;
                };
                let (Some(_), Some(ts)) = (uid_sid(uid), parse_u64(ts)) else {
                    return false;
                };
                if !valid_nick(nick) {
                    return false;
                }
                if !self.check_user_direction(link, uid, "UNICK", out) {
                    return true;
                }
                let Some((uid, u)) = self.chat.users.get_key_value(uid) else {
                    return true;
                };
                if u.ts >= ts && *u.nick != *nick {
                    // Older than what we hold (a SAVE got here first).
                    return true;
                }
                let uid = uid.clone();
                let saved = self.saved(&uid, ts);
                let alive = if saved {
                    self.change_nick(now, &uid, &uid.clone(), ts, out)
                } else {
                    self.change_nick(now, &uid, nick, ts, out)
                };
                if alive {
                    self.flood(Some(link), verbatim(raw), out);
                    if saved {
                        // Back too: the user's side took the nick the
                        // SAVE undid, so it never applied the SAVE.
                        self.follow_with_save(None, &uid, ts, out);
                    }
                }
                true
            }
            b"UQUIT" => {
                let Some([uid, _reason]) = f.args_exact::<2>() else {
                    return false;
                };
                if uid_sid(uid).is_none() {
                    return false;
                }
                if !self.check_user_direction(link, uid, "UQUIT", out) {
                    return true;
                }
                if self.remove_user(uid, out).is_some() {
                    self.flood(Some(link), verbatim(raw), out);
                }
                true
            }
            b"KILL" => {
                let Some([issuer, uid, reason]) = f.args_exact::<3>() else {
                    return false;
                };
                if issuer.len() != 3 || uid_sid(uid).is_none() {
                    return false;
                }
                if !self.check_issuer(link, issuer, "KILL", out) {
                    self.reask_refused(link, uid, None, out);
                    return true;
                }
                let uid: Arc<str> = uid.into();
                self.kill(&uid, reason, Some((link, issuer)), out);
                true
            }
            b"REJECT" => {
                let Some([issuer, uid]) = f.args_exact::<2>() else {
                    return false;
                };
                if issuer.len() != 3 || uid_sid(uid).is_none() {
                    return false;
                }
                if !self.check_issuer(link, issuer, "REJECT", out) {
                    self.reask_refused(link, uid, None, out);
                    return true;
                }
                let uid: Arc<str> = uid.into();
                self.reject(now, &uid, Some((link, issuer)), out);
                true
            }
            b"SAVE" => {
                let Some([issuer, uid, ts]) = f.args_exact::<3>() else {
                    return false;
                };
                let (Some(_), Some(ts)) = (uid_sid(uid), parse_u64(ts)) else {
                    return false;
                };
                if issuer.len() != 3 {
                    return false;
                }
                if !self.check_issuer(link, issuer, "SAVE", out) {
                    self.reask_refused(link, uid, Some(ts), out);
                    return true;
                }
                let uid: Arc<str> = uid.into();
                if self.saved(&uid, ts) && !self.cfg.ablations.no_resolution_once {
                    return true; // seen before
                }
                if self.chat.users.get(&uid).is_some_and(|u| u.ts == ts) {
                    self.rename_to_uid(&uid);
                }
                self.flood_save(&uid, ts, Some((link, issuer)), out);
                true
            }
            _ => false,
        };
        self.flush_renames(out);
        ok
    }

    /// A UID we hold a tombstone for came from its own server's
    /// direction: that side never applied the KILL or REJECT (it was cut
    /// off while the resolution flooded, or it crossed this UID on the
    /// link). Tell that side alone, as the issuer: this server is the
    /// sender the neighbour routes us through, so the direction check
    /// passes there and on every hop away from here. Without it the user
    /// lived on behind the link and the rest of the network never took it
    /// back (`kill-lost-at-split.toml`). A crossing copy is dropped as a
    /// repeat, so the answer costs one frame and cannot echo.
    fn answer_dead(&mut self, link: LinkId, uid: &str, kind: &'static str, out: &mut Outbox) {
        let me = self.me.sid.clone();
        if kind == "REJECT" {
            out.send(link, frame("REJECT", &[&me, uid]));
        } else {
            out.send(link, frame("KILL", &[&me, uid, "nick collision"]));
        }
    }

    /// A KILL, SAVE or REJECT for `uid` (for its claim `claim`, a SAVE's)
    /// was refused as misdirected: it came from the neighbour on `link`,
    /// not from the issuer's direction (the tree was being reshaped, and
    /// our route to the issuer already ran another way). The neighbour
    /// applied it and will not send it again, and the issuer's own copy
    /// went the way the issuer saw the tree, which may not lead here: at
    /// 1 s hops the refusing server's side held the user for good while
    /// the rest had killed it
    /// (`kill-refused-across-a-reshaped-tree-at-1s.toml`). If the
    /// resolution would still change what we hold, we tell the neighbour
    /// the user as we hold it (its UID), as a burst would: the neighbour
    /// holds the resolution and answers as its issuer
    /// ([`Server::answer_dead`], [`Server::answer_saved`]), which passes
    /// our direction check, since it comes from the neighbour itself.
    /// Only while we route the neighbour through `link`, so that a refused
    /// answer is never asked about again, and not for a user whose home
    /// lies behind `link`, where our UID would be refused in turn.
    fn reask_refused(&mut self, link: LinkId, uid: &str, claim: Option<u64>, out: &mut Outbox) {
        if self.cfg.ablations.no_resolution_reask {
            return;
        }
        let Some(u) = self.chat.users.get(uid) else {
            return; // gone already, or never here: nothing to change
        };
        if claim.is_some_and(|ts| u.ts != ts || *u.nick == *uid) {
            return; // another claim than the one saved, or renamed already
        }
        if self.route_by_sid(&u.sid) == Some(link) {
            return;
        }
        let sender_here = self
            .links
            .get(&link)
            .and_then(|l| l.peer.as_deref())
            .and_then(|peer| self.known.get(peer))
            .is_some_and(|k| k.via == link);
        if sender_here {
            super::send_uid(out, link, uid, u);
        }
    }

    /// A UID still carrying a nick claim that lost as a SAVE: as in
    /// [`Server::answer_dead`], its side never applied the SAVE.
    fn answer_saved(&mut self, link: LinkId, uid: &str, ts: u64, out: &mut Outbox) {
        let me = self.me.sid.clone();
        let t = Dec::new(ts);
        out.send(link, frame("SAVE", &[&me, uid, &t]));
    }

    /// Passes on, after an introduction or nick change that carries a
    /// claim this server knows was saved, the SAVE itself, on every link
    /// but `except`: a server behind us that never got the SAVE would
    /// otherwise take the nick (`save-lost-at-split.toml`). Sent again
    /// each time such a claim comes through, not once per claim like
    /// [`Server::flood_save`], whose record is what marks it as saved;
    /// servers that hold the record drop the copy.
    pub(crate) fn follow_with_save(
        &mut self,
        except: Option<LinkId>,
        uid: &str,
        ts: u64,
        out: &mut Outbox,
    ) {
        if self.cfg.ablations.no_resolution_answer {
            return;
        }
        let me = self.me.sid.clone();
        let t = Dec::new(ts);
        self.flood(except, frame("SAVE", &[&me, uid, &t]), out);
    }

    /// Whether a KILL, SAVE or REJECT came from the direction of the
    /// server that issued it. The victim's server is no guide: the issuer
    /// is whichever server saw both claims, often between the two users,
    /// so its resolution reaches the loser's side from the winner's.
    fn check_issuer(
        &mut self,
        link: LinkId,
        issuer: &str,
        what: &'static str,
        out: &mut Outbox,
    ) -> bool {
        self.cfg.ablations.no_collision_direction || self.check_direction(link, issuer, what, out)
    }

    /// A local user leaves: tell the tree and drop it.
    pub(crate) fn local_quit(&mut self, link: LinkId, reason: &str, out: &mut Outbox) {
        let Some(c) = self.remove_client(link) else {
            return;
        };
        self.moves_client_gone(link, out);
        let Some(uid) = c.uid else {
            return;
        };
        if self.remove_user(&uid, out).is_some() {
            self.flood(None, frame("UQUIT", &[&uid, reason]), out);
        }
    }
}

#[derive(Clone, Copy)]
enum Fate {
    Kill,
    Reject,
    Save,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_claim_wins_and_ties_go_to_the_smaller_uid() {
        let p = NickCollision::TsKill;
        assert_eq!(
            collision_losers(p, (5, "0AA-1-1", true), (7, "0AB-1-1", true)),
            (false, true)
        );
        assert_eq!(
            collision_losers(p, (7, "0AA-1-1", true), (5, "0AB-1-1", true)),
            (true, false)
        );
        // Equal timestamps: the UID decides, the same way from either side.
        assert_eq!(
            collision_losers(p, (5, "0AB-1-1", true), (5, "0AA-1-1", true)),
            (true, false)
        );
        assert_eq!(
            collision_losers(p, (5, "0AA-1-1", true), (5, "0AB-1-1", true)),
            (false, true)
        );
        assert_eq!(
            collision_losers(
                NickCollision::KillBoth,
                (5, "0AA-1-1", true),
                (9, "0AB-1-1", true)
            ),
            (true, true)
        );
    }
}
