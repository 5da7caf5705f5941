//! The client's side of a seamless redirect.
//!
//! On `REDIRECT,id,target` the client opens a second connection to the
//! target and hands over there (`HANDOVER,id,uid`), or refuses (`REDIRNO`)
//! if configured to. From the handover on, whatever it would send to its
//! server is held: the source may close the old connection at any moment
//! and would drop it. It keeps reading the old connection until it closes
//! (messages the source sent before letting go), and reads the new one
//! as soon as it opens; room messages that arrive on both are delivered
//! once, by their numbers. `HANDOK` on the new connection makes it the
//! server connection, and what was held goes out there, with a join
//! again for every room whose join went unanswered (one sent on the old
//! connection just before the handover may have reached the source after
//! it let go). Nick changes and leaves sent on the old connection and not
//! answered yet go out again there too, first, for the same reason; a
//! second answer to one of them is dropped. If the move fails while the
//! old connection is still open, the held frames go out on it instead and
//! nothing changed; if both are gone, the client is disconnected and
//! reconnects like after any lost session.

use std::sync::Arc;

use super::{Client, ClientState};
use crate::names::fold;
use crate::outbox::{ChatNote, LinkId, Outbox, Output};
use crate::server::chat_frame as frame;
use crate::time::Instant;
use crate::wire::Frame;

/// The most nick changes and leaves awaiting their answers that a client
/// keeps (a server that never answers must not grow it without end).
const MAX_UNANSWERED: usize = 64;

/// A nick change (`NICK`, answered `NICKOK` or `NICKERR`) or a leave
/// (`LEAVEROOM`, answered `LEFT`) sent and not answered yet.
#[derive(Clone, Debug)]
pub(crate) struct Unanswered {
    cmd: &'static str,
    arg: Arc<str>,
    /// Held by a handover: it will go out on the new connection anyway.
    held: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Moving {
    id: Arc<str>,
    from: Arc<str>,
    to: Arc<str>,
    pub(crate) link: LinkId,
    deadline: Instant,
    /// HANDOVER went out: from now on frames for the server are held.
    pub(crate) handed: bool,
    /// The old connection has closed.
    pub(super) old_closed: bool,
}

impl Client {
    /// REDIRECT from the server.
    pub(crate) fn on_redirect(&mut self, now: Instant, id: &str, to: &str, out: &mut Outbox) {
        let from = self.server.as_ref().map(|(_, s)| s.clone());
        let (Some(from), Some(_)) = (from, self.uid.clone()) else {
            return;
        };
        if self.moving.is_some() {
            self.send_now(out, "REDIRNO", &[id, "busy"]);
            return;
        }
        if !self.cfg.accept_redirect {
            self.send_now(out, "REDIRNO", &[id, "refused"]);
            let to: Arc<str> = to.into();
            self.moves.push((from.clone(), to.clone(), "refused"));
            Self::note(
                out,
                ChatNote::Moved {
                    from,
                    to,
                    outcome: "refused",
                },
            );
            return;
        }
        let link = self.new_link();
        let to: Arc<str> = to.into();
        out.push(Output::Connect {
            link,
            to: to.clone(),
        });
        self.moving = Some(Box::new(Moving {
            id: id.into(),
            from,
            to,
            link,
            deadline: now + self.cfg.redirect_timeout,
            handed: false,
            old_closed: false,
        }));
    }

    /// The new connection opened: hand over.
    pub(crate) fn move_connected(&mut self, out: &mut Outbox) {
        let Some(m) = self.moving.as_mut() else {
            return;
        };
        m.handed = true;
        let uid = self.uid.clone().unwrap_or_else(|| "".into());
        out.send(m.link, frame("HANDOVER", &[&m.id, &uid]));
    }

    /// A frame on the new connection before the swap.
    pub(crate) fn move_frame(&mut self, now: Instant, f: &Frame, out: &mut Outbox) {
        let Some(m) = self.moving.as_ref() else {
            return;
        };
        match f.command() {
            "PING" => {
                if let Some(t) = f.arg(0) {
                    out.send(m.link, frame("PONG", &[t]));
                }
            }
            "HANDOK" if f.arg(0) == Some(&*m.id) => self.swap(now, out),
            // Room traffic may come either way during the swap.
            _ => self.on_server_frame(now, f, out),
        }
    }

    /// The move succeeded: the new connection is the server connection.
    fn swap(&mut self, now: Instant, out: &mut Outbox) {
        let Some(m) = self.moving.take() else {
            return;
        };
        if let Some((old, _)) = self.server.take() {
            if !m.old_closed {
                // Read until the source closes it (what it sent before
                // letting go), but send nothing more there.
                self.old_link = Some(old);
            }
        }
        self.server = Some((m.link, m.to.clone()));
        self.state = ClientState::Connected;
        self.last_rx = now;
        self.ping_sent = false;
        self.redial_home(&m.to);
        // A nick change or leave sent on the old connection before the
        // HANDOVER can reach the source after it let the user go, and is
        // dropped there unanswered, as a join can (below). Each is sent
        // again, in the order first sent and before what was held after
        // it; one the source did take is answered a second time, which
        // `take_answer` drops.
        if !self.cfg.no_move_resend {
            for u in self.unanswered.iter().filter(|u| !u.held) {
                out.send(m.link, frame(u.cmd, &[&u.arg]));
            }
        }
        self.unanswered.iter_mut().for_each(|u| u.held = false);
        let held = std::mem::take(&mut self.held);
        for (cmd, args) in &held {
            let refs: Vec<&str> = args.iter().map(|a| &**a).collect();
            out.send(m.link, frame(cmd, &refs));
        }
        // A JOINROOM sent on the old connection before the HANDOVER can
        // still arrive after the source let the user go (the target told
        // it sooner than the old connection carried the join), and is
        // dropped there unanswered (swarm-discovery seed 12117). Every room
        // wanted and not confirmed is asked for again here; a join the
        // source did take is answered JOINED again with the start point
        // (`rejoin-start`): the one the target sent at the swap came before
        // the source's JOINED, while the room was not joined, and was
        // dropped.
        if !self.cfg.no_move_rejoin {
            let unconfirmed: Vec<Arc<str>> = self
                .wanted_rooms
                .iter()
                .filter(|r| !self.rooms.get(&fold(r)).is_some_and(|s| s.joined))
                .filter(|r| {
                    !held.iter().any(|(cmd, args)| {
                        matches!(&**cmd, "JOINROOM" | "CREATEROOM")
                            && args.first().is_some_and(|a| fold(a) == fold(r))
                    })
                })
                .cloned()
                .collect();
            for r in unconfirmed {
                out.send(m.link, frame("JOINROOM", &[&r]));
            }
        }
        let (from, to) = (m.from, m.to);
        self.moves.push((from.clone(), to.clone(), "completed"));
        Self::note(
            out,
            ChatNote::Moved {
                from,
                to,
                outcome: "completed",
            },
        );
    }

    /// The move failed at `outcome`. The new connection is closed; held
    /// frames go to the old one if it is still open.
    pub(crate) fn move_failed(
        &mut self,
        now: Instant,
        outcome: &'static str,
        tell_source: bool,
        out: &mut Outbox,
    ) {
        let Some(m) = self.moving.take() else {
            return;
        };
        out.push(Output::Close { link: m.link });
        if tell_source && !m.old_closed {
            self.send_now(out, "REDIRNO", &[&m.id, outcome]);
        }
        let held = std::mem::take(&mut self.held);
        if m.old_closed {
            // Both connections are gone: a lost session.
            let reason: Arc<str> = format!("redirect {outcome}").into();
            Self::note(out, ChatNote::Disconnected { reason });
            self.server = None;
            self.state = ClientState::Disconnected;
            self.session_ended(out);
            self.schedule_redial(now, true, false);
        } else {
            for (cmd, args) in held {
                let refs: Vec<&str> = args.iter().map(|a| &**a).collect();
                self.send_now(out, &cmd, &refs);
            }
            self.unanswered.iter_mut().for_each(|u| u.held = false);
        }
        let (from, to) = (m.from, m.to);
        self.moves.push((from.clone(), to.clone(), outcome));
        Self::note(out, ChatNote::Moved { from, to, outcome });
    }

    /// The old connection closed during a move. True if the move absorbs
    /// it (the client is not disconnected).
    pub(crate) fn move_old_closed(&mut self) -> bool {
        match self.moving.as_mut() {
            Some(m) if m.handed => {
                m.old_closed = true;
                true
            }
            _ => false,
        }
    }

    /// The session ends some other way (quit, kill, a new connect): the
    /// move goes with it.
    pub(crate) fn abandon_move(&mut self, out: &mut Outbox) {
        self.held.clear();
        if let Some(m) = self.moving.take() {
            out.push(Output::Close { link: m.link });
            let (from, to) = (m.from, m.to);
            self.moves.push((from.clone(), to.clone(), "cancelled"));
            Self::note(
                out,
                ChatNote::Moved {
                    from,
                    to,
                    outcome: "cancelled",
                },
            );
        }
    }

    /// REDIRCANCEL from the source: it gave the request up.
    pub(crate) fn on_redircancel(&mut self, now: Instant, f: &Frame, out: &mut Outbox) {
        if self
            .moving
            .as_ref()
            .is_some_and(|m| f.arg(0) == Some(&*m.id))
        {
            let outcome = match f.arg(1) {
                Some("timed-out") => "timed-out",
                _ => "cancelled",
            };
            self.move_failed(now, outcome, false, out);
        }
    }

    pub(crate) fn move_deadline(&self) -> Option<Instant> {
        self.moving.as_ref().map(|m| m.deadline)
    }

    pub(crate) fn move_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.moving.as_ref().is_some_and(|m| m.deadline <= now) {
            self.move_failed(now, "timed-out", true, out);
        }
    }

    /// `cmd arg` went to the server (or into the hold): its answer is
    /// awaited.
    pub(crate) fn await_answer(&mut self, cmd: &'static str, arg: &str) {
        if self.unanswered.len() == MAX_UNANSWERED {
            self.unanswered.remove(0);
        }
        let held = self.moving.as_ref().is_some_and(|m| m.handed);
        self.unanswered.push(Unanswered {
            cmd,
            arg: arg.into(),
            held,
        });
    }

    /// An answer to `cmd arg` arrived: true if it answers one awaited.
    /// One server answers in the order asked, so an answer also settles
    /// every earlier `cmd` still awaited: those were answered on the old
    /// connection after a move (an answer still on its way there is then
    /// a second one) or dropped there and sent again (answered here
    /// first). The answer names what was asked byte for byte: the server
    /// echoes the argument.
    pub(crate) fn take_answer(&mut self, cmd: &'static str, arg: &str) -> bool {
        let is = |u: &Unanswered| u.cmd == cmd && *u.arg == *arg;
        let Some(i) = self.unanswered.iter().position(is) else {
            return false;
        };
        let mut k = 0;
        self.unanswered.retain(|u| {
            k += 1;
            k > i + 1 || u.cmd != cmd
        });
        true
    }

    /// Sends on the server connection now, bypassing the hold.
    fn send_now(&self, out: &mut Outbox, cmd: &str, args: &[&str]) {
        if let Some((l, _)) = &self.server {
            out.send(*l, frame(cmd, args));
        }
    }
}
