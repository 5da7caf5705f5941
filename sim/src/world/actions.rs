//! Scenario actions: faults (partitions, cuts, stalls, crashes), operator
//! commands and client actions.

use super::*;

impl World {
    pub(super) fn host(&self, label: &str) -> HostId {
        self.by_label[label]
    }

    /// No running server that stays that `h` could reach over its links
    /// (a partition or a crash takes a link away before any timeout
    /// notices), directly or through servers shutting down too: two
    /// servers split off together that both shut down hand their streams
    /// to each other, the last to close keeps them, and no server that
    /// stays can learn of it (swarm-greeter at 1 s hops, seed 42697,
    /// shutdowns-split-off-together.toml).
    fn isolated(&self, h: HostId) -> bool {
        // Most calls end at a neighbour that stays, with nothing allocated.
        let stays = |p: HostId| {
            let host = &self.hosts[p as usize];
            self.net.partition.reachable(h, p)
                && host.running()
                && !host.server.as_ref().is_some_and(|s| s.is_draining())
        };
        if self
            .checks
            .graph
            .neighbours(h)
            .iter()
            .any(|&(p, _)| stays(p))
        {
            return false;
        }
        let mut seen = vec![h];
        let mut next = 0;
        while let Some(&x) = seen.get(next) {
            next += 1;
            for &(p, _) in self.checks.graph.neighbours(x) {
                let host = &self.hosts[p as usize];
                if seen.contains(&p) || !self.net.partition.reachable(x, p) || !host.running() {
                    continue;
                }
                if !host.server.as_ref().is_some_and(|s| s.is_draining()) {
                    return false;
                }
                seen.push(p);
            }
        }
        true
    }

    /// A server that shuts down may lose its last reachable neighbour while
    /// it drains (a crash, a partition): from then on nobody can take its
    /// streams, so `room.sequenced` treats it as one alone at its shutdown.
    pub(super) fn note_isolated_drainers(&mut self) {
        // Only the servers told to shut down (a server drains only at
        // that command), and those only while they drain: this runs after
        // every action, and a walk of every server here was 18
        // instructions a hop of the flood benchmark, whose broadcasts are
        // actions (one walk of 64 servers each), and grew with the network.
        let hosts = &self.hosts;
        self.shutting.retain(|&h| {
            let host = &hosts[h as usize];
            host.running() && host.server.as_ref().is_some_and(|s| s.is_draining())
        });
        for i in 0..self.shutting.len() {
            let h = self.shutting[i];
            if self.isolated(h) {
                self.checks.moves.alone_at_shutdown.insert(h);
            }
        }
    }

    pub(super) fn act(&mut self, action: &Action) {
        if self.checks.enabled
            && self.checks.sends.fault.is_none()
            && crate::checkers::sends::fault_kind(action).is_some()
        {
            // The calm part of the run ends here: judge what it did to
            // the room streams before the fault may excuse anything.
            let found =
                crate::checkers::streams::streams_kept(self.now, self.cfg.ordering, &self.hosts);
            self.checks.violations.extend(found);
        }
        self.checks.sends.on_action(self.now, action);
        if self.checks.sends.fault.is_some() {
            self.checks.lists.forgive_all();
        }
        match action {
            Action::Partition { groups } => {
                let mut groups: Vec<Vec<HostId>> = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .filter_map(|id| self.by_label.get(id).copied())
                            .collect()
                    })
                    .collect();
                self.place_unnamed_clients(&mut groups);
                self.net.partition.set(self.hosts.len(), &groups);
                self.wake_all();
            }
            Action::Heal => {
                self.net.partition.heal();
                self.wake_all();
            }
            Action::Cut { a, b } => {
                let (a, b) = (self.host(a), self.host(b));
                for conn in self.conns_between(a, b) {
                    if self.trace.is_some() {
                        self.trace_discard(conn, 0, "cut");
                        self.trace_discard(conn, 1, "cut");
                    }
                    self.net.discard(conn, 0);
                    self.net.discard(conn, 1);
                    let c = &mut self.net.conns[conn as usize];
                    c.state = ConnState::Closed;
                    let ends: Vec<(HostId, LinkId)> = (0..2)
                        .filter(|&e| c.open[e])
                        .filter_map(|e| Some((c.ends[e], c.links[e]?)))
                        .collect();
                    c.open = [false, false];
                    for (h, link) in ends {
                        let host = &self.hosts[h as usize];
                        let c = &self.net.conns[conn as usize];
                        if host.up && c.joined_in(c.end_of(h), host.incarnation) {
                            self.dispatch(h, Input::Closed { link });
                        }
                    }
                }
            }
            Action::Stall { a, b, duration } => {
                let (a, b) = (self.host(a), self.host(b));
                let until = self.now + duration.as_nanos();
                for conn in self.conns_between(a, b) {
                    let c = &mut self.net.conns[conn as usize];
                    c.stall_until(until);
                    self.queue.schedule(until, Event::StallEnd { conn });
                }
            }
            Action::Crash { server } => self.crash(self.host(server)),
            Action::Restart { server } => {
                let h = self.host(server);
                if self.hosts[h as usize].up {
                    self.crash(h);
                }
                self.boot(h);
            }
            Action::Storm {
                duration,
                loss_ppm,
                duplicate_ppm,
            } => {
                let until = self.now + duration.as_nanos();
                self.storm(until, *loss_ppm, *duplicate_ppm);
            }
            Action::Shutdown { server } => {
                let h = self.host(server);
                if let Some(s) = self.hosts[h as usize]
                    .server
                    .as_ref()
                    .filter(|_| self.hosts[h as usize].running())
                {
                    // Its clients as the server knows them: a client may
                    // still think it is on a server that restarted.
                    let local: std::collections::BTreeSet<&str> = s.local_uids().collect();
                    let clients: Vec<HostId> = (0..self.hosts.len() as HostId)
                        .filter(|&c| {
                            self.hosts[c as usize].client.as_ref().is_some_and(|cl| {
                                cl.server() == Some(server.as_str())
                                    && cl.uid().is_some_and(|u| local.contains(u))
                            })
                        })
                        .collect();
                    let alone = self.isolated(h);
                    self.checks.moves.on_shutdown(self.now, h, clients, alone);
                }
                self.dispatch(h, Input::Operator(Command::Shutdown));
                if !self.shutting.contains(&h) {
                    self.shutting.push(h);
                }
            }
            Action::Link { a, b } => {
                let h = self.host(a);
                self.dispatch(h, Input::Operator(Command::Connect { to: b }));
            }
            Action::Unlink { a, b, via: None } => {
                let h = self.host(a);
                self.dispatch(h, Input::Operator(Command::Unlink { peer: b }));
            }
            Action::Unlink {
                a,
                b,
                via: Some(via),
            } => {
                let h = self.host(via);
                let cmd = Command::UnlinkAt { server: a, peer: b };
                self.dispatch(h, Input::Operator(cmd));
            }
            Action::Kill {
                server,
                nick,
                comment,
            } => {
                let h = self.host(server);
                self.dispatch(h, Input::Operator(Command::Kill { nick, comment }));
            }
            Action::AddServer { name, via } => {
                let h = self.host(name);
                let (sid, key) = {
                    let host = &mut self.hosts[h as usize];
                    host.autoconnect = vec![Arc::from(via.as_str())];
                    (host.sid.clone(), host.server_keys().public())
                };
                // The operator's own records, which a process booted later
                // starts from; running servers learn it by protocol.
                Arc::make_mut(&mut self.registry).register(name, &sid, key);
                self.checks.discovery.registered.insert(name.clone());
                let sponsor = self.host(via);
                if self.hosts[sponsor as usize].running() {
                    let cmd = Command::Register {
                        name,
                        sid: &sid,
                        key,
                    };
                    self.dispatch(sponsor, Input::Operator(cmd));
                }
                self.hosts[h as usize].join_via = Some(Arc::from(via.as_str()));
                self.boot(h);
            }
            Action::Skew { server, by_nanos } => {
                let h = self.host(server);
                let host = &mut self.hosts[h as usize];
                host.skew += by_nanos;
                let off = host.wall_offset();
                if let Some(s) = host.server.as_mut() {
                    s.set_wall_offset(off);
                }
            }
            Action::Broadcast { server, text } => {
                let h = self.host(server);
                self.dispatch(h, Input::Operator(Command::Broadcast { text }));
            }
            Action::Redirect {
                client,
                to,
                by_client: false,
            } => {
                // The operator asks the client's server, whichever it is now.
                let h = self.host(client);
                let host = &self.hosts[h as usize];
                let found = host.client.as_ref().and_then(|c| {
                    let uid = c.uid()?.to_string();
                    let server = *self.by_label.get(c.server()?)?;
                    Some((uid, server))
                });
                if let Some((uid, server)) = found {
                    if self.hosts[server as usize].running() {
                        let cmd = Command::Redirect { user: &uid, to };
                        self.dispatch(server, Input::Operator(cmd));
                    }
                }
            }
            Action::PresentToken {
                client,
                server,
                token,
            } => self.present_token(client, server, token),
            client_action => self.client_action(client_action),
        }
    }

    /// The nick a client id goes by now, as its own client knows it.
    pub(super) fn nick_of(&self, id: &str) -> String {
        self.by_label
            .get(id)
            .and_then(|&h| self.hosts[h as usize].client.as_ref())
            .map_or_else(|| id.to_string(), |c| c.nick().to_string())
    }

    pub(super) fn client_action(&mut self, action: &Action) {
        use ClientCommand as C;
        // Recipients are named by client id in the file, by nick on the wire.
        let nicks: Vec<String> = match action {
            Action::SendList { to, .. } => to.iter().map(|t| self.nick_of(t)).collect(),
            Action::Private { to, text, .. } => {
                self.checks.chat.private_texts.push(text.clone());
                vec![self.nick_of(to)]
            }
            _ => Vec::new(),
        };
        let (id, cmd) = match action {
            Action::Connect {
                client,
                server,
                nick,
            } => (
                client,
                C::Connect {
                    server,
                    nick: nick.as_deref(),
                },
            ),
            Action::Nick { client, nick } => (client, C::Nick(nick)),
            Action::Create { client, room } => (client, C::Create(room)),
            Action::Join { client, room } => (client, C::Join(room)),
            Action::Leave { client, room } => (client, C::Leave(room)),
            Action::Say { client, room, text } => (client, C::Say { room, text }),
            Action::SendList { client, text, .. } => (client, C::SendList { to: &nicks, text }),
            Action::Private { client, text, .. } => (
                client,
                C::Private {
                    to: &nicks[0],
                    text,
                },
            ),
            Action::Quit { client, exit: None } => (client, C::Quit),
            Action::Quit {
                client,
                exit: Some(m),
            } => (client, C::Exit(m)),
            Action::Ulist { client, room } => (client, C::Ulist(room)),
            Action::ListRooms { client } => (client, C::ListRooms),
            Action::Redirect { client, to, .. } => (client, C::Move { to }),
            _ => return,
        };
        let h = self.host(id);
        let connected = self.hosts[h as usize]
            .client
            .as_ref()
            .is_some_and(|c| c.state() == drc_protocol::client::ClientState::Connected);
        let ms = self.now / 1_000_000;
        self.checks.clients.on_action(h, action, connected, ms);
        match action {
            Action::Say { room, .. } => self.checks.chat.said.on_say(h, room),
            Action::Private { .. } => self.checks.chat.said.on_private(h),
            _ => {}
        }
        if let Action::Quit { .. } = action {
            self.checks.moves.on_quit(self.now, h);
        }
        self.dispatch_client(h, ClientInput::Command(cmd));
    }

    /// A client no group names goes with the server it is connected to or
    /// dialling, as its traffic would; one with no server stays with the
    /// hosts nobody named.
    pub(super) fn place_unnamed_clients(&self, groups: &mut [Vec<HostId>]) {
        let named: std::collections::BTreeSet<HostId> = groups.iter().flatten().copied().collect();
        for (i, host) in self.hosts.iter().enumerate() {
            let h = i as HostId;
            let Some(c) = host.client.as_ref().filter(|_| !named.contains(&h)) else {
                continue;
            };
            let Some(&s) = c.server().and_then(|s| self.by_label.get(s)) else {
                continue;
            };
            if let Some(g) = groups.iter_mut().find(|g| g.contains(&s)) {
                g.push(h);
            }
        }
    }

    pub(super) fn wake_all(&mut self) {
        for conn in 0..self.net.conns.len() as ConnId {
            self.wake(conn);
        }
        self.checks.paths_changed(self.now, &self.net);
    }

    /// The process dies with no goodbye: peers learn by their own timeouts.
    pub(super) fn crash(&mut self, h: HostId) {
        let host = &mut self.hosts[h as usize];
        host.up = false;
        host.server = None;
        host.timer_gen = host.timer_gen.wrapping_add(1);
        host.timer_at = crate::host::NO_TIMER;
        for c in &mut self.net.conns {
            for e in 0..2 {
                if c.ends[e] == h && c.open[e] {
                    c.open[e] = false;
                }
            }
        }
        self.checks.host_down(self.now, h, &mut self.net);
    }
}
