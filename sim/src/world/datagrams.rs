//! Discovery's datagrams in the world: who listens on the group, what each
//! server sends, and the copies that arrive.

use super::*;
use crate::network::datagram::{Datagrams, Odds};
use crate::scenario::DiscoverySection;
use drc_protocol::server::{DatagramTo, DiscoveryConfig};

/// Every server advertises this port; hosts differ by address.
const PORT: u16 = 6667;

impl World {
    /// Gives every server host an address on the discovery network and
    /// the seekers their role. Called before clients are added, so the
    /// hosts so far are the servers.
    pub(super) fn setup_discovery(&mut self, scn: &Scenario, d: &DiscoverySection) {
        let latency = (
            scn.network.latency_min.as_nanos(),
            scn.network.latency_max.as_nanos(),
        );
        let odds = Odds {
            loss_ppm: d.loss_ppm,
            duplicate_ppm: d.duplicate_ppm,
        };
        self.datagrams = Some(Datagrams::new(self.seed, latency, odds));
        for h in 0..self.hosts.len() {
            let addr = format!("10.0.{}.{}", h >> 8, h & 0xff);
            self.addrs.insert(format!("{addr}:{PORT}"), h as HostId);
            let host = &mut self.hosts[h];
            host.discovery = Some(DiscoveryConfig {
                addr: addr.into(),
                port: PORT,
                seeker: d.seekers.contains(&host.label),
                period: d.period,
            });
        }
    }

    /// Sends every datagram the server on `h` has queued: one copy per
    /// listener for the group, one for a unicast address.
    pub(super) fn send_datagrams(&mut self, h: HostId) {
        loop {
            let Some(dg) = self.hosts[h as usize]
                .server
                .as_mut()
                .and_then(|s| s.poll_datagram())
            else {
                return;
            };
            let to: Vec<HostId> = match &dg.to {
                DatagramTo::Group => {
                    self.checks.discovery.hello_sent += 1;
                    (0..self.hosts.len() as HostId)
                        .filter(|&r| r != h && self.hosts[r as usize].discovery.is_some())
                        .collect()
                }
                DatagramTo::Unicast { addr, port } => {
                    self.checks.discovery.welcome_sent += 1;
                    self.addrs
                        .get(&format!("{addr}:{port}"))
                        .copied()
                        .into_iter()
                        .collect()
                }
            };
            for r in to {
                let dgs = self.datagrams.as_mut().expect("discovery is on");
                let (fate, copies) = dgs.send(self.now, h, r, &dg.bytes);
                for (slot, due) in copies {
                    self.queue.schedule(due, Event::Datagram { slot });
                }
                if self.trace.is_some() {
                    let text = String::from_utf8_lossy(&dg.bytes).into_owned();
                    self.record(|| {
                        serde_json::json!({"ev": "datagram_send", "from": h, "to": r,
                            "msg": text, "lost": fate.lost, "duplicated": fate.duplicated})
                    });
                }
            }
        }
    }

    /// A copy arrives: dropped if a partition separates the two hosts now
    /// or the receiver's server is not running, else handed to it.
    pub(super) fn datagram_arrives(&mut self, slot: u32) {
        let Some(dgs) = self.datagrams.as_mut() else {
            return;
        };
        let Some(d) = dgs.take(slot) else {
            return;
        };
        self.hash.bytes(&d.bytes);
        let reachable = self.net.partition.reachable(d.from, d.to);
        let running = self.hosts[d.to as usize].running();
        if !reachable {
            dgs.stats.lost += 1;
        }
        if self.trace.is_some() {
            let text = String::from_utf8_lossy(&d.bytes).into_owned();
            let (from, to) = (d.from, d.to);
            let dropped = if !reachable {
                Some("partitioned")
            } else if !running {
                Some("receiver down")
            } else {
                None
            };
            self.record(|| {
                serde_json::json!({"ev": "datagram_deliver", "from": from, "to": to,
                    "msg": text, "dropped": dropped})
            });
        }
        if reachable && running {
            self.dispatch(d.to, Input::Datagram { bytes: &d.bytes });
        }
    }

    /// A datagram storm: other odds until it ends.
    pub(super) fn storm(&mut self, until: SimTime, loss_ppm: u32, duplicate_ppm: u32) {
        if let Some(d) = self.datagrams.as_mut() {
            d.storm = Some((
                until,
                Odds {
                    loss_ppm,
                    duplicate_ppm,
                },
            ));
        }
    }
}
