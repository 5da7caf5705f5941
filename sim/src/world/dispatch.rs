//! Inputs handed to a host's server or client, and its outputs carried
//! out: sends onto the network, connects, closes, and notes for the
//! checkers and the trace.

use super::*;

impl World {
    /// Hands one input to the server (or client) on `h` and carries out
    /// its outputs.
    pub fn dispatch(&mut self, h: HostId, input: Input<'_>) {
        let now = self.now;
        let host = &mut self.hosts[h as usize];
        let local = host.local_time(now);
        if host.is_client {
            let ci = match input {
                Input::Connected { link } => ClientInput::Connected { link },
                Input::ConnectFailed { link } => ClientInput::ConnectFailed { link },
                Input::Frame { link, bytes } => ClientInput::Frame { link, bytes },
                Input::Closed { link } => ClientInput::Closed { link },
                Input::Timeout => ClientInput::Timeout,
                Input::Start | Input::Operator(_) | Input::Datagram { .. } => return,
            };
            return self.dispatch_client(h, ci);
        }
        let Some(server) = host.server.as_mut() else {
            return;
        };
        if !host.up {
            return;
        }
        self.outbox.clear();
        server.handle(local, input, &mut host.rng, &mut self.outbox);
        let timeout = matches!(input, Input::Timeout);
        if self.datagrams.is_some() {
            self.send_datagrams(h);
        }
        self.apply_outputs(h);
        self.rearm(h, timeout);
    }

    /// Hands one input to the client on `h`.
    pub fn dispatch_client(&mut self, h: HostId, input: ClientInput<'_>) {
        let now = self.now;
        let host = &mut self.hosts[h as usize];
        let local = host.local_time(now);
        let Some(client) = host.client.as_mut() else {
            return;
        };
        self.outbox.clear();
        client.handle(local, input, &mut self.outbox);
        let timeout = matches!(input, ClientInput::Timeout);
        self.apply_outputs(h);
        self.rearm(h, timeout);
    }

    /// Schedules the host's next timer if it moved earlier.
    #[inline(always)]
    pub(super) fn rearm(&mut self, h: HostId, after_timeout: bool) {
        let now = self.now;
        let host = &mut self.hosts[h as usize];
        let next = match (&host.server, &host.client) {
            (Some(s), _) => s.poll_timeout(),
            (None, Some(c)) => c.poll_timeout(),
            _ => None,
        };
        let Some(local) = next else {
            host.overdue_run = 0;
            return;
        };
        let mut at = host.global_time(local).max(now);
        if after_timeout {
            if at <= now {
                // Never spin at one instant; a deadline left due now and
                // then (a stale key put right at the next wake-up) is
                // fine, one left due at every wake-up is a spin: judged.
                at = now + 1;
                host.overdue_run += 1;
                if host.overdue_run == crate::checkers::OVERDUE_RUN {
                    self.checks.overdue_after_wake(now, &host.label);
                    // Nothing after a spin is worth simulating: it would
                    // creep on a nanosecond an event to the budget.
                    self.spun = Some(host.label.clone());
                    self.stop_at = self.events;
                }
            } else {
                host.overdue_run = 0;
            }
        }
        if host.timer_at != crate::host::NO_TIMER && host.timer_at <= at {
            return;
        }
        host.timer_gen = host.timer_gen.wrapping_add(1);
        host.timer_at = at;
        let gen = host.timer_gen & GEN_MASK as u32;
        self.queue.schedule(at, Event::Timer { host: h, gen });
    }

    /// Inlined, like the rest of the per-frame path (`rearm`, `reschedule`,
    /// `Network::send`): a call per step costs as much as some steps do.
    #[inline(always)]
    pub(super) fn apply_outputs(&mut self, h: HostId) {
        // By index, so the outbox stays where it is (no take and restore per
        // event) while the network and the queue, other fields, change.
        // Sends are nearly all there is; the rest is out of line, and the
        // checkers read the notes where they are once the sends are out.
        for i in 0..self.outbox.items().len() {
            match &self.outbox.items()[i] {
                &Output::Send { link, start, end } => {
                    let Some(conn) = self.hosts[h as usize].conn_of(link) else {
                        continue;
                    };
                    let c = &self.net.conns[conn as usize];
                    let e = c.end_of(h);
                    if !c.open[e] || c.state == ConnState::Dialing && e == 0 && c.links[1].is_none()
                    {
                        continue;
                    }
                    let bytes = self.outbox.bytes(start, end);
                    self.checks.measures.on_send(bytes.len());
                    if let Some(due) = self.net.send(self.now, conn, e, bytes, false) {
                        self.queue
                            .schedule(due, Event::Deliver { conn, dir: e as u8 });
                    }
                    if self.trace.is_some() {
                        self.trace_send(conn, e, start, end);
                    }
                }
                _ => self.apply_other_output(h, i),
            }
        }
        if self.outbox.has_notes() {
            self.digest_notes(h);
        }
    }

    /// [`World::apply_outputs`] for the outputs other than sends.
    #[cold]
    #[inline(never)]
    pub(super) fn apply_other_output(&mut self, h: HostId, i: usize) {
        match &self.outbox.items()[i] {
            Output::Connect { link, to } => {
                let (link, to) = (*link, to.clone());
                self.connect(h, link, &to);
            }
            &Output::Close { link } => {
                let Some(conn) = self.hosts[h as usize].conn_of(link) else {
                    return;
                };
                let c = &mut self.net.conns[conn as usize];
                let e = c.end_of(h);
                if !c.open[e] {
                    return;
                }
                c.open[e] = false;
                if !c.open[1 - e] && c.links[1 - e].is_some() {
                    c.state = ConnState::Closed;
                }
                if c.links[1 - e].is_some() {
                    self.send_fin(conn, e);
                }
            }
            Output::Send { .. } => unreachable!("applied inline"),
        }
    }

    /// Hands the notes of one event, all of host `h` and still in the
    /// outbox, to the checkers (and the trace). Read in place: nothing
    /// between the outputs and here changes the outbox (carrying out an
    /// output schedules; it never hands a host an input).
    #[cold]
    #[inline(never)]
    pub(super) fn digest_notes(&mut self, h: HostId) {
        self.checks.on_notes(
            self.now,
            &self.hosts,
            &mut self.net,
            h,
            self.outbox.notes().iter(),
        );
        if self.trace.is_some() {
            // Out of the way while the trace (part of `self`) takes each.
            let outbox = std::mem::take(&mut self.outbox);
            let mut changed = false;
            for n in outbox.notes() {
                self.trace_note(h, n);
                changed |= matches!(
                    n,
                    Note::LinkRegistered { .. }
                        | Note::LinkDown { .. }
                        | Note::ServerAdded { .. }
                        | Note::ServerRemoved { .. }
                );
            }
            self.outbox = outbox;
            if changed {
                self.trace_view(h);
            }
        }
    }
}
