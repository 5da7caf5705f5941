//! The network side of the loop: frames delivered, handshakes of the
//! virtual TCP (SYN, SYN-ACK, FIN), stalls and dials.

use super::*;

impl World {
    /// Delivers the head of a direction. The paths of a frame to a running
    /// server or client in an untraced run are kept free of the rest (FINs,
    /// closed or restarted receivers, traces), which is out of line.
    #[inline(never)]
    pub(super) fn deliver(&mut self, conn: ConnId, dir: usize) {
        let now = self.now;
        let d = &mut self.net.conns[conn as usize].dirs[dir];
        d.scheduled = false;
        let Some(due) = d.head_due() else {
            return;
        };
        if due > now {
            d.scheduled = true;
            let dir = dir as u8;
            self.queue.schedule(due, Event::Deliver { conn, dir });
            return;
        }
        if !self.net.passable(conn, now) {
            self.net.conns[conn as usize].dirs[dir].blocked = true;
            return;
        }
        let c = &self.net.conns[conn as usize];
        let recv = 1 - dir;
        let to = c.ends[recv];
        let host = &self.hosts[to as usize];
        let alive = host.up && c.joined_in(recv, host.incarnation) && c.open[recv];
        let plain = alive && self.trace.is_none();
        let server = plain
            && host.client.is_none()
            && host.server.is_some()
            && self.checks.chat.private_texts.is_empty();
        let client = plain && host.client.is_some();
        match self.net.head(conn, dir) {
            Some(Head::Frame(bytes)) if server => {
                self.hash.bytes(bytes);
                let link = c.links[recv].expect("open end has a link");
                let host = &mut self.hosts[to as usize];
                Self::serve(host, &mut self.checks, &mut self.outbox, now, link, bytes);
                self.handed(conn, dir, to);
            }
            // A frame to a client: a room delivery's last event (16 of the
            // 45 a message takes at 16/16/16, more in larger rooms).
            Some(Head::Frame(bytes)) if client => {
                self.hash.bytes(bytes);
                let link = c.links[recv].expect("open end has a link");
                let host = &mut self.hosts[to as usize];
                Self::serve_client(
                    to,
                    host,
                    &mut self.checks,
                    &mut self.outbox,
                    now,
                    link,
                    bytes,
                );
                self.handed(conn, dir, to);
            }
            _ => self.deliver_other(conn, dir),
        }
    }

    /// What follows a frame handed to its receiver: the frame leaves the
    /// network, the receiver's outputs are carried out, and its timer and
    /// the direction are scheduled again.
    #[inline(always)]
    fn handed(&mut self, conn: ConnId, dir: usize, to: HostId) {
        self.net.pop(conn, dir);
        self.apply_outputs(to);
        self.rearm(to, false);
        self.reschedule(conn, dir);
    }

    /// [`World::serve`] for the client on `host`.
    #[inline(always)]
    pub(super) fn serve_client(
        to: HostId,
        host: &mut Host,
        checks: &mut Checkers,
        outbox: &mut Outbox,
        now: SimTime,
        link: LinkId,
        bytes: &[u8],
    ) {
        let local = host.local_time(now);
        let client = host.client.as_mut().expect("a client");
        if bytes.starts_with(b"<ROOMERR,") {
            checks.clients.refused(to, bytes);
        } else if bytes.starts_with(b"<NICKOK,") || bytes.starts_with(b"<NICKERR,") {
            checks.clients.nick_answered(to, bytes);
        }
        outbox.clear();
        client.handle(local, ClientInput::Frame { link, bytes }, outbox);
    }

    /// The server on `host` handles a frame, the checkers looking before
    /// and after. Takes the parts of the world it needs rather than the
    /// world, so that the frame can stay where it is in the network.
    #[inline(always)]
    pub(super) fn serve(
        host: &mut Host,
        checks: &mut Checkers,
        outbox: &mut Outbox,
        now: SimTime,
        link: LinkId,
        bytes: &[u8],
    ) {
        let local = host.local_time(now);
        let server = host.server.as_mut().expect("a running server");
        let probe = checks.before_frame(server, link, bytes);
        outbox.clear();
        server.handle(local, Input::Frame { link, bytes }, &mut host.rng, outbox);
        checks.after_frame(now, host, link, probe);
    }

    /// [`World::deliver`] for everything but a frame to a running server
    /// or client in an untraced run: the same steps in the same order,
    /// plus the rest.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver_other(&mut self, conn: ConnId, dir: usize) {
        let now = self.now;
        let c = &self.net.conns[conn as usize];
        let recv = 1 - dir;
        let to = c.ends[recv];
        let host = &self.hosts[to as usize];
        let alive = host.up && c.joined_in(recv, host.incarnation) && c.open[recv];
        let stale = host.up && !c.joined_in(recv, host.incarnation) && c.open[recv];
        match self.net.head(conn, dir) {
            None => return,
            Some(Head::Fin) => {
                self.net.pop(conn, dir);
                let c = &mut self.net.conns[conn as usize];
                self.hash.word(0xF1);
                if alive {
                    c.open[recv] = false;
                    if !c.open[dir] {
                        c.state = ConnState::Closed;
                    }
                    let link = c.links[recv].expect("open end has a link");
                    let from = c.ends[dir];
                    self.record(
                        || serde_json::json!({"ev": "fin", "conn": conn, "from": from, "to": to}),
                    );
                    self.dispatch(to, Input::Closed { link });
                }
            }
            Some(Head::Frame(bytes)) => {
                self.hash.bytes(bytes);
                if alive {
                    let link = c.links[recv].expect("open end has a link");
                    if self.trace.is_some() {
                        self.trace_arrival(conn, dir, None);
                    }
                    let Some(Head::Frame(bytes)) = self.net.head(conn, dir) else {
                        unreachable!("the head is a frame")
                    };
                    // Disjoint borrows: the frame stays in the network's
                    // buffer while the server reads it.
                    let host = &mut self.hosts[to as usize];
                    if host.client.is_some() {
                        Self::serve_client(
                            to,
                            host,
                            &mut self.checks,
                            &mut self.outbox,
                            now,
                            link,
                            bytes,
                        );
                        return self.handed(conn, dir, to);
                    }
                    if !self.checks.chat.private_texts.is_empty() {
                        self.checks
                            .private_through(now, &self.hosts[to as usize].label, bytes);
                    }
                    let host = &mut self.hosts[to as usize];
                    Self::serve(host, &mut self.checks, &mut self.outbox, now, link, bytes);
                    self.net.pop(conn, dir);
                    self.apply_outputs(to);
                    self.rearm(to, false);
                } else {
                    if self.trace.is_some() {
                        let why = if !self.hosts[to as usize].up {
                            "receiver down"
                        } else if stale {
                            "receiver restarted"
                        } else {
                            "receiver closed"
                        };
                        self.trace_arrival(conn, dir, Some(why));
                    }
                    self.net.pop(conn, dir);
                    let c = &mut self.net.conns[conn as usize];
                    if stale {
                        // A restarted host knows nothing of this connection:
                        // its kernel answers with a reset.
                        c.open[recv] = false;
                        if self.trace.is_some() {
                            self.trace_discard(conn, recv, "reset");
                        }
                        self.net.discard(conn, recv);
                        let c = &mut self.net.conns[conn as usize];
                        if c.open[dir] {
                            self.send_fin(conn, recv);
                        }
                    }
                }
            }
        }
        self.reschedule(conn, dir);
    }

    #[inline(always)]
    pub(super) fn reschedule(&mut self, conn: ConnId, dir: usize) {
        let now = self.now;
        let d = &mut self.net.conns[conn as usize].dirs[dir];
        if d.scheduled || d.blocked {
            return;
        }
        if let Some(due) = d.head_due() {
            d.scheduled = true;
            self.queue.schedule(
                due.max(now),
                Event::Deliver {
                    conn,
                    dir: dir as u8,
                },
            );
        }
    }

    /// Wakes held directions of a connection whose path has cleared.
    pub(super) fn wake(&mut self, conn: ConnId) {
        if !self.net.passable(conn, self.now) {
            return;
        }
        for dir in 0..2 {
            let d = &mut self.net.conns[conn as usize].dirs[dir];
            if d.blocked {
                d.blocked = false;
                self.reschedule(conn, dir);
            }
        }
    }

    pub(super) fn send_fin(&mut self, conn: ConnId, from_end: usize) {
        if let Some(due) = self.net.send(self.now, conn, from_end, &[], true) {
            self.queue.schedule(
                due,
                Event::Deliver {
                    conn,
                    dir: from_end as u8,
                },
            );
        }
    }

    pub(super) fn syn(&mut self, conn: ConnId) {
        let now = self.now;
        if self.trace.is_some() {
            let c = &self.net.conns[conn as usize];
            let (from, to) = (
                self.hosts[c.ends[0] as usize].label.clone(),
                self.hosts[c.ends[1] as usize].label.clone(),
            );
            self.record(|| serde_json::json!({"ev": "syn", "conn": conn, "from": from, "to": to}));
        }
        let c = &self.net.conns[conn as usize];
        let (from, to) = (c.ends[0], c.ends[1]);
        if !c.open[0] || !self.net.partition.reachable(from, to) {
            return; // lost; the dialler times out
        }
        let ok = self.hosts[to as usize].listening();
        if ok {
            let host = &mut self.hosts[to as usize];
            self.outbox.clear();
            let local = host.local_time(now);
            let link = match host.server.as_mut() {
                Some(s) => s.accept(local, &mut self.outbox),
                None => host
                    .client
                    .as_mut()
                    .expect("a listening host runs a server or a client")
                    .accept(local, &mut self.outbox),
            };
            host.map_link(link, conn);
            let epoch = host.incarnation;
            let c = &mut self.net.conns[conn as usize];
            c.links[1] = Some(link);
            c.open[1] = true;
            c.join(1, epoch);
            self.apply_outputs(to);
            self.rearm(to, false);
        }
        let at = now + self.net.latency(conn);
        self.queue.schedule(at, Event::SynAck { conn, ok });
    }

    pub(super) fn syn_ack(&mut self, conn: ConnId, ok: bool) {
        self.record(|| serde_json::json!({"ev": "syn_ack", "conn": conn, "ok": ok}));
        let c = &mut self.net.conns[conn as usize];
        let h = c.ends[0];
        let host = &self.hosts[h as usize];
        if c.state != ConnState::Dialing
            || !c.open[0]
            || !c.joined_in(0, host.incarnation)
            || !host.up
        {
            return;
        }
        if !self.net.partition.reachable(c.ends[0], c.ends[1]) {
            return; // the answer is lost; the dialler times out
        }
        let link = c.links[0].expect("dialler link");
        if ok {
            c.state = ConnState::Open;
            self.dispatch(h, Input::Connected { link });
        } else {
            c.state = ConnState::Closed;
            c.open[0] = false;
            self.dispatch(h, Input::ConnectFailed { link });
        }
    }

    pub(super) fn connect(&mut self, h: HostId, link: LinkId, to: &str) {
        let now = self.now;
        let target = self.by_label.get(to).copied();
        let epoch = self.hosts[h as usize].incarnation;
        // Each connection draws from a stream named by its endpoints and
        // how many connections that pair has opened before.
        let nth = self.pair_conns.entry((h, target.unwrap_or(h))).or_insert(0);
        *nth += 1;
        let name = format!("conn/{}/{to}/{nth}", self.hosts[h as usize].label);
        let conn = self.net.dial(
            now,
            h,
            target.unwrap_or(h),
            link,
            epoch,
            rng::stream(self.seed, &name),
        );
        self.hosts[h as usize].map_link(link, conn);
        let lat = self.net.latency(conn);
        match target {
            None => self
                .queue
                .schedule(now + lat, Event::SynAck { conn, ok: false }),
            Some(t) => {
                if self.net.partition.reachable(h, t) {
                    self.queue.schedule(now + lat, Event::Syn { conn });
                }
                self.queue.schedule(
                    now + self.net.connect_timeout,
                    Event::ConnectTimeout { conn },
                );
            }
        }
    }

    pub(super) fn conns_between(&self, a: HostId, b: HostId) -> Vec<ConnId> {
        (0..self.net.conns.len() as ConnId)
            .filter(|&c| {
                let conn = &self.net.conns[c as usize];
                conn.state != ConnState::Closed && conn.joins(a, b)
            })
            .collect()
    }
}
