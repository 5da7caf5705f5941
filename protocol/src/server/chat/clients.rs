//! Client connections: registration and the commands a client may send.
//!
//! A client is in Registration until it has given USER and a free, valid
//! nick; only then does it get a UID, a WELCOME with its full identifier,
//! and an introduction (UID) to the rest of the tree. A client still
//! registering is never announced to another server.

use std::sync::Arc;

use rand_core::CryptoRngCore;

use super::{frame, ClientLink, Dest, User};
use crate::message::Msg;
use crate::names::{fold, fold_cow, make_uid, valid_nick, valid_room};
use crate::outbox::{ChatNote, LinkId, Note, Outbox};
use crate::server::Server;
use crate::time::Instant;
use crate::wire::Dec;
use crate::wire::{parse_u64, Frame};

/// The commands that open a client connection.
pub(crate) fn opens_client(command: &str) -> bool {
    matches!(command, "USER" | "NICK" | "HANDOVER" | "TOKEN" | "GLOGIN")
}

impl Server {
    /// The first frame on an inbound link was USER or NICK: it is a client.
    pub(crate) fn become_client(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        self.chat.clients.insert(
            link,
            ClientLink {
                opened: l.opened_at,
                last_rx: now,
                ping_sent: false,
                user: None,
                realname: None,
                nick: None,
                uid: None,
                handover: None,
                timer: None,
            },
        );
        self.queue_client(link);
        out.note(Note::Chat(ChatNote::ClientLink { link }));
    }

    /// One frame from a client.
    pub(crate) fn on_client_frame<R: CryptoRngCore>(
        &mut self,
        now: Instant,
        link: LinkId,
        f: &Frame,
        rng: &mut R,
        out: &mut Outbox,
    ) {
        let Some(c) = self.chat.clients.get_mut(&link) else {
            return;
        };
        c.last_rx = now;
        // Its timer moves later, which its key in the queue allows; only
        // an answered PING brings it nearer (silence limit to ping).
        let c = if std::mem::take(&mut c.ping_sent) {
            self.requeue_client(link);
            self.chat.clients.get_mut(&link).expect("still a client")
        } else {
            c
        };
        let uid = c.uid.clone();
        match (f.command(), uid) {
            ("PING", _) => {
                if let Some([token]) = f.args_exact::<1>() {
                    if let Some(token) = parse_u64(token) {
                        out.send(link, |b| Msg::Pong { token }.encode(b));
                    }
                }
            }
            ("PONG", _) => {}
            // QUIT is acknowledged with ERROR before the server closes,
            // so the client knows its quit was taken; EXIT just closes.
            ("QUIT" | "EXIT", _) => {
                let reason = f.arg(0).unwrap_or(if f.command() == "QUIT" {
                    "quit"
                } else {
                    "exit"
                });
                self.local_quit(link, reason, out);
                if f.command() == "QUIT" {
                    let ack = format!("closing link: {reason}");
                    out.send(link, frame("ERROR", &[&ack]));
                }
                out.push(crate::outbox::Output::Close { link });
            }
            // Only as the first frame: a client that arrived by redirect.
            ("HANDOVER", None) if c.user.is_none() && c.nick.is_none() && c.handover.is_none() => {
                self.on_handover(now, link, f, out)
            }
            _ if c.handover.is_some() => {} // nothing but pings until the move completes
            ("USER" | "NICK" | "TOKEN" | "GLOGIN", None) if self.draining.is_some() => {
                self.let_client_go(link, "server shutting down", out);
            }
            ("REDIRNO", Some(_)) => {
                if !self.on_redirno(link, f, out) {
                    out.send(link, frame("ERROR", &["bad REDIRNO command"]));
                }
            }
            ("MOVEME", Some(uid)) => match f.args_exact::<1>() {
                Some([to]) => {
                    if let Err(why) = self.start_redirect(now, &uid, to, rng, out) {
                        out.send(link, frame("REDIRERR", &[to, why]));
                    }
                }
                None => out.send(link, frame("ERROR", &["bad MOVEME command"])),
            },
            // Only as the first frame: a login with a greeter's token, or
            // a login at the greeter itself.
            ("TOKEN", None) if c.user.is_none() && c.nick.is_none() => {
                self.on_token(now, link, f, out)
            }
            ("GLOGIN", None) if c.user.is_none() && c.nick.is_none() => {
                self.on_glogin(now, link, f, rng, out)
            }
            // USER <user> <mode> <unused> <realname>, as the multi-server
            // spec has it; USER <user> alone is still taken (the real name
            // is then the user name).
            ("USER", None) => {
                let (user, realname) = match (f.args_exact::<1>(), f.args_exact::<4>()) {
                    (Some([u]), _) => (u, u),
                    (_, Some([u, _mode, _unused, r])) => (u, r),
                    _ => {
                        out.send(link, frame("ERROR", &["USER needs 4 arguments (or 1)"]));
                        return;
                    }
                };
                c.user = Some(user.into());
                c.realname = Some(realname.into());
                self.try_register(now, link, out);
            }
            ("NICK", None) => {
                if let Some([nick]) = f.args_exact::<1>() {
                    c.nick = Some(nick.into());
                    self.try_register(now, link, out);
                } else {
                    out.send(link, frame("ERROR", &["NICK needs one argument"]));
                }
            }
            (_, None) => out.send(link, frame("ERROR", &["register first"])),
            (cmd, Some(uid)) => {
                if !self.client_command(now, link, &uid, cmd, f, out) {
                    let why = format!("bad {cmd} command");
                    out.send(link, frame("ERROR", &[&why]));
                }
            }
        }
    }

    pub(super) fn try_register(&mut self, now: Instant, link: LinkId, out: &mut Outbox) {
        let c = &self.chat.clients[&link];
        let (Some(_), Some(nick)) = (c.user.clone(), c.nick.clone()) else {
            return;
        };
        let refuse = if !valid_nick(&nick) {
            Some("invalid nick")
        } else if self.chat.nicks.contains_key(&fold_cow(&nick)) {
            Some("nick in use")
        } else {
            None
        };
        if let Some(why) = refuse {
            self.chat.clients.get_mut(&link).expect("client").nick = None;
            out.send(link, frame("NICKERR", &[&nick, why]));
            return;
        }
        self.chat.next_uid += 1;
        let incarnation = if self.cfg.ablations.no_uid_incarnation {
            0
        } else {
            self.me.incarnation
        };
        let uid: Arc<str> = make_uid(&self.me.sid, incarnation, self.chat.next_uid).into();
        let ts = self.wall_secs(now);
        let c = self.chat.clients.get_mut(&link).expect("client");
        c.uid = Some(uid.clone());
        self.requeue_client(link);
        let c = &self.chat.clients[&link];
        let user = c.user.clone().unwrap_or_default();
        let realname = c.realname.clone().unwrap_or_else(|| user.clone());
        let info = super::UserInfo::new(&user, &self.me.name, &realname);
        self.insert_user(
            uid.clone(),
            User {
                nick: nick.clone(),
                ts,
                reg_ts: ts,
                sid: self.me.sid.clone(),
                via: link,
                local: true,
                rooms: Default::default(),
                gen: 0,
                info: Some(info.clone()),
            },
        );
        let name = self.me.name.clone();
        out.send(link, frame("WELCOME", &[&nick, &uid, &name]));
        let (t, i) = (Dec::new(ts), &info);
        let args: [&str; 7] = [&*uid, &nick, &t, &t, i.user(), i.host(), i.realname()];
        self.flood(None, frame("UID", &args), out);
        Self::chat_note(out, ChatNote::UserRegistered { link, uid });
    }

    /// A registered client's command. False if malformed.
    fn client_command(
        &mut self,
        now: Instant,
        link: LinkId,
        uid: &Arc<str>,
        cmd: &str,
        f: &Frame,
        out: &mut Outbox,
    ) -> bool {
        match cmd.as_bytes() {
            b"NICK" => {
                let Some([nick]) = f.args_exact::<1>() else {
                    return false;
                };
                let current = self.chat.users.get(uid).map(|u| u.nick.clone());
                if current.as_deref() == Some(nick) {
                    out.send(link, frame("NICKOK", &[nick]));
                } else if !valid_nick(nick) {
                    out.send(link, frame("NICKERR", &[nick, "invalid nick"]));
                } else if self
                    .chat
                    .nicks
                    .get(&fold_cow(nick))
                    .is_some_and(|holder| **holder != **uid)
                {
                    out.send(link, frame("NICKERR", &[nick, "nick in use"]));
                } else {
                    // A new nick, or the same one in another case (which
                    // was answered NICKOK and never applied: the client
                    // went by "BOB" while every server held "bob").
                    let ts = self.wall_secs(now).max(self.chat.users[uid].ts + 1);
                    self.change_nick(now, uid, nick, ts, out);
                    out.send(link, frame("NICKOK", &[nick]));
                    let t = Dec::new(ts);
                    self.flood(None, frame("UNICK", &[uid, nick, &t]), out);
                }
                true
            }
            b"CREATEROOM" | b"JOINROOM" => {
                let Some([room]) = f.args_exact::<1>() else {
                    return false;
                };
                if !valid_room(room) {
                    out.send(link, frame("ROOMERR", &[room, "invalid room name"]));
                    return true;
                }
                let key = fold(room);
                if !self.chat.rooms.contains_key(&key) {
                    self.create_room(now, room, out);
                } else if cmd == "CREATEROOM" {
                    out.send(link, frame("ROOMERR", &[room, "room exists"]));
                    return true;
                }
                let r = &self.chat.rooms[&key];
                let (name, e, s) = (
                    r.name.clone(),
                    r.stream.epoch.to_string(),
                    r.stream.seq.clone(),
                );
                // JOINED goes first so that the client knows the room
                // before the sequencer's SYNC.
                out.send(link, frame("JOINED", &[&name, &e, &s]));
                // A member's join is answered as a first one is, start
                // point and all: a client takes every JOINED as the start
                // of a membership whose start point follows, and one moved
                // while its join crossed the old connection dropped the
                // start point the new server sent before that JOINED came,
                // then joined again here (swarm-discovery seed 63441 at
                // 1 s hops, start-lost-to-a-join-across-a-move.toml).
                if !self.join_local(&key, uid, out) && !self.cfg.ablations.no_rejoin_start {
                    self.resume_stream(&key, uid, out);
                }
                true
            }
            b"LEAVEROOM" => {
                let Some([room]) = f.args_exact::<1>() else {
                    return false;
                };
                let key = fold(room);
                if !self.cfg.ablations.no_leave_ends_membership {
                    self.leave_local(&key, uid, out);
                }
                out.send(link, frame("LEFT", &[room]));
                true
            }
            b"ULIST" => {
                let Some([room]) = f.args_exact::<1>() else {
                    return false;
                };
                // Each member as `nick!user@host realname` (the nick alone
                // while its UINFO is on the way).
                let mut args: Vec<Arc<str>> = vec![room.into()];
                if let Some(r) = self.chat.rooms.get(&fold(room)) {
                    for m in r.members.keys() {
                        if let Some(u) = self.chat.users.get(m) {
                            args.push(match &u.info {
                                Some(i) => {
                                    format!("{}!{}@{} {}", u.nick, i.user(), i.host(), i.realname())
                                        .into()
                                }
                                None => u.nick.clone(),
                            });
                        }
                    }
                }
                let refs: Vec<&str> = args.iter().map(|a| &**a).collect();
                out.send(link, frame("USERS", &refs));
                true
            }
            b"LISTROOMS" => {
                let names: Vec<Arc<str>> =
                    self.chat.rooms.values().map(|r| r.name.clone()).collect();
                let refs: Vec<&str> = names.iter().map(|a| &**a).collect();
                out.send(link, frame("ROOMS", &refs));
                true
            }
            b"GETSEQ" => {
                let Some([room]) = f.args_exact::<1>() else {
                    return false;
                };
                let key = fold_cow(room);
                match self.chat.rooms.contains_key(&key) {
                    true => self.request_number(now, &key, uid, out),
                    false => out.send(link, frame("NOSEQ", &[room, "no such room"])),
                }
                true
            }
            b"CSEND" => {
                let Some([name, epoch, seq, n, id, text]) = f.args_exact::<6>() else {
                    return false;
                };
                let (Some(epoch), Some(n)) = (parse_u64(epoch), parse_u64(n)) else {
                    return false;
                };
                let m = super::rooms::Numbered {
                    name,
                    epoch,
                    seq,
                    n,
                };
                self.route_message(m, uid, id, text, None, out);
                true
            }
            b"FINDSEQ" => {
                let Some([room, epoch, seq, n]) = f.args_exact::<4>() else {
                    return false;
                };
                let (Some(epoch), Some(n)) = (parse_u64(epoch), parse_u64(n)) else {
                    return false;
                };
                let key = fold_cow(room);
                if self.chat.rooms.contains_key(&key) {
                    self.find_number(&key, epoch, seq, n, uid, out);
                }
                true
            }
            b"LSEND" => {
                let Some(text) = f.arg(0) else {
                    return false;
                };
                let nicks: Vec<&str> = f.args().skip(1).collect();
                let mut to: Vec<Arc<str>> = Vec::new();
                for nick in nicks {
                    match self.resolve_nick(nick) {
                        Some(t) if !to.contains(&t) => to.push(t),
                        Some(_) => {}
                        None => out.send(link, frame("LERR", &[nick, "no such nick"])),
                    }
                }
                let nick = self.chat.users[uid].nick.clone();
                self.split_list(None, uid, &nick, text, &to, out);
                Self::chat_note(
                    out,
                    ChatNote::ListAddressed {
                        from: uid.clone(),
                        to,
                        text: text.into(),
                    },
                );
                true
            }
            b"PRIVREQ" => {
                let Some([nick, addr]) = f.args_exact::<2>() else {
                    return false;
                };
                let Some(to) = self.resolve_nick(nick) else {
                    out.send(link, frame("PRIVERR", &[nick, "no such nick"]));
                    return true;
                };
                let from_nick = self.chat.users[uid].nick.clone();
                match self.dest_of_uid(&to) {
                    Dest::Client(l) => out.send(l, frame("PRIVREQ", &[&from_nick, uid, addr])),
                    Dest::Link(l) => out.send(l, frame("PRIVREQ2", &[&to, uid, &from_nick, addr])),
                    _ => out.send(link, frame("PRIVERR", &[nick, "unreachable"])),
                }
                true
            }
            b"PRIVANS" => {
                let Some([to, yes, addr]) = f.args_exact::<3>() else {
                    return false;
                };
                let from_nick = self.chat.users[uid].nick.clone();
                match self.dest_of_uid(to) {
                    Dest::Client(l) => out.send(l, frame("PRIVANS", &[&from_nick, yes, addr])),
                    Dest::Link(l) => {
                        out.send(l, frame("PRIVANS2", &[to, uid, &from_nick, yes, addr]))
                    }
                    _ => {}
                }
                true
            }
            _ => false,
        }
    }

    /// Delivers one list message: a copy to each local recipient, and one
    /// LCOPY per link naming the recipients behind it.
    pub(crate) fn split_list(
        &mut self,
        from_link: Option<LinkId>,
        uid: &str,
        nick: &str,
        text: &str,
        to: &[Arc<str>],
        out: &mut Outbox,
    ) {
        let mut per_link: Vec<(LinkId, Vec<&str>)> = Vec::new();
        for t in to {
            match self.dest_of_uid(t) {
                Dest::Client(l) => out.send(l, frame("LMSG", &[nick, text])),
                Dest::Link(l) if Some(l) != from_link || self.goes_back(t) => {
                    match per_link.iter_mut().find(|(x, _)| *x == l) {
                        Some((_, v)) => v.push(t),
                        None => per_link.push((l, vec![t])),
                    }
                }
                _ => {}
            }
        }
        for (l, ts) in per_link {
            let mut args: Vec<&str> = vec![uid, nick, text];
            args.extend(ts);
            out.send(l, frame("LCOPY", &args));
        }
    }

    /// Whether a list copy for `uid` that came on the link this server
    /// routes the user by goes back there. It does for a user that has
    /// moved: the server that sent the copy had not yet heard of the move
    /// (UMOVE), which had already passed this server on its way out from
    /// the old home, and so reaches every server on the way back before
    /// the copy does (each sent it earlier, and a link keeps order): the
    /// copy goes back once at most. Any other copy that would go back is
    /// dropped, as before: the two servers disagree on where the user's
    /// home is, which only a change of the tree does, and a copy passed
    /// between them could go back and forth until it settles.
    fn goes_back(&self, uid: &str) -> bool {
        !self.cfg.ablations.no_list_return && self.chat.users.get(uid).is_some_and(|u| u.gen > 0)
    }

    /// LCOPY, PRIVREQ2, PRIVANS2: messages addressed to users. False if malformed.
    pub(crate) fn on_direct_msg(&mut self, link: LinkId, f: &Frame, out: &mut Outbox) -> bool {
        match f.command() {
            "LCOPY" => {
                let (Some(uid), Some(nick), Some(text)) = (f.arg(0), f.arg(1), f.arg(2)) else {
                    return false;
                };
                let to: Vec<Arc<str>> = f.args().skip(3).map(Arc::from).collect();
                self.split_list(Some(link), uid, nick, text, &to, out);
                true
            }
            "PRIVREQ2" | "PRIVANS2" => {
                let Some(to) = f.arg(0) else {
                    return false;
                };
                match self.dest_of_uid(to) {
                    Dest::Client(l) => {
                        let args: Vec<&str> = if f.command() == "PRIVREQ2" {
                            // fromnick, fromuid, addr
                            vec![
                                f.arg(2).unwrap_or(""),
                                f.arg(1).unwrap_or(""),
                                f.arg(3).unwrap_or(""),
                            ]
                        } else {
                            // fromnick, yes, addr
                            vec![
                                f.arg(2).unwrap_or(""),
                                f.arg(3).unwrap_or(""),
                                f.arg(4).unwrap_or(""),
                            ]
                        };
                        let cmd = if f.command() == "PRIVREQ2" {
                            "PRIVREQ"
                        } else {
                            "PRIVANS"
                        };
                        out.send(l, frame(cmd, &args));
                    }
                    Dest::Link(l) if l != link => {
                        let args: Vec<&str> = f.args().collect();
                        out.send(l, frame(f.command(), &args));
                    }
                    _ => {}
                }
                true
            }
            _ => false,
        }
    }

    /// Registration deadlines and pings on client links.
    pub(crate) fn client_timeouts(&mut self, now: Instant, out: &mut Outbox) {
        let cfg = self.cfg.clone();
        let mut due: Vec<LinkId> = Vec::new();
        for q in [&mut self.chat.client_timers, &mut self.chat.handover_timers] {
            while q.first().is_some_and(|&(t, _)| t <= now) {
                let (_, l) = q.pop_first().expect("checked");
                due.push(l);
            }
        }
        // In link order, as when every client was visited: the PING tokens
        // and the order of what goes out do not depend on the queue.
        due.sort_unstable();
        let mut expired: Vec<(LinkId, &'static str)> = Vec::new();
        for l in due {
            let c = self.chat.clients.get_mut(&l).expect("queued clients exist");
            c.timer = None;
            if c.uid.is_none() {
                if now.saturating_since(c.opened) >= cfg.handshake_timeout
                    && !cfg.ablations.no_handshake_timeout
                {
                    expired.push((l, "registration timeout"));
                    continue;
                }
            } else {
                let silent = now.saturating_since(c.last_rx);
                if silent >= cfg.client_ping_timeout {
                    expired.push((l, "ping timeout"));
                    continue;
                } else if silent >= cfg.client_ping_interval && !c.ping_sent {
                    c.ping_sent = true;
                    let token = self.next_token;
                    self.next_token += 1;
                    out.send(l, |b| Msg::Ping { token }.encode(b));
                }
            }
            self.queue_client(l);
        }
        for (l, why) in expired {
            out.send(l, frame("ERROR", &[why]));
            self.local_quit(l, why, out);
            out.push(crate::outbox::Output::Close { link: l });
            out.note(Note::LinkDown {
                link: l,
                reason: if why == "ping timeout" {
                    crate::outbox::CloseReason::PingTimeout
                } else {
                    crate::outbox::CloseReason::HandshakeTimeout
                },
            });
        }
    }

    /// When a client's timer is due: the end of its registration (none
    /// under the `no_handshake_timeout` ablation), else its PING, else the
    /// end of its silence.
    pub(super) fn client_due(cfg: &crate::Config, c: &ClientLink) -> Option<Instant> {
        if c.uid.is_none() {
            (!cfg.ablations.no_handshake_timeout).then(|| c.opened + cfg.handshake_timeout)
        } else if c.ping_sent {
            Some(c.last_rx + cfg.client_ping_timeout)
        } else {
            Some(c.last_rx + cfg.client_ping_interval)
        }
    }

    /// Puts an unqueued client's timer in its queue, exactly.
    pub(crate) fn queue_client(&mut self, link: LinkId) {
        let Some(c) = self.chat.clients.get_mut(&link) else {
            return;
        };
        debug_assert!(c.timer.is_none(), "queued twice");
        c.timer = Self::client_due(&self.cfg, c);
        let Some(t) = c.timer else { return };
        if c.handover.is_some() {
            self.chat.handover_timers.insert((t, link));
        } else {
            self.chat.client_timers.insert((t, link));
            // The server may be asleep until later (the deadline is
            // recomputed only when it wakes): a client that just
            // registered is pinged after `client_ping_interval`, not at the next
            // wake.
            self.arm(t);
        }
    }

    /// Takes a client's timer out of its queue (before its removal, or a
    /// change that may bring it nearer or move it to the other queue).
    pub(crate) fn unqueue_client(&mut self, link: LinkId) {
        let Some(c) = self.chat.clients.get_mut(&link) else {
            return;
        };
        if let Some(t) = c.timer.take() {
            let q = if c.handover.is_some() {
                &mut self.chat.handover_timers
            } else {
                &mut self.chat.client_timers
            };
            q.remove(&(t, link));
        }
    }

    pub(crate) fn requeue_client(&mut self, link: LinkId) {
        self.unqueue_client(link);
        self.queue_client(link);
    }

    /// A client connection ends here: its record and its timer go.
    pub(crate) fn remove_client(&mut self, link: LinkId) -> Option<ClientLink> {
        self.unqueue_client(link);
        self.chat.clients.remove(&link)
    }

    /// When the first client timer is due (handovers aside), putting
    /// right the keys that come first and are early.
    pub(crate) fn next_client_due(&mut self) -> Option<Instant> {
        while let Some(&(t, l)) = self.chat.client_timers.first() {
            let c = self.chat.clients.get_mut(&l).expect("queued clients exist");
            let due = Self::client_due(&self.cfg, c);
            if due == Some(t) {
                return Some(t);
            }
            self.chat.client_timers.pop_first();
            c.timer = due;
            if let Some(d) = due {
                self.chat.client_timers.insert((d, l));
            }
        }
        None
    }

    /// The client closed its connection.
    pub(crate) fn client_closed(&mut self, link: LinkId, out: &mut Outbox) {
        self.local_quit(link, "connection closed", out);
        out.note(Note::LinkDown {
            link,
            reason: crate::outbox::CloseReason::PeerClosed,
        });
    }
}
